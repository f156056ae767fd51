using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class GranulatedKendallTests
{
    private const double Exact = 1e-12;

    private static readonly IReadOnlyDictionary<string, string>[] TwoByTwo =
    [
        new Dictionary<string, string> { ["A"] = "a1", ["B"] = "b1" },
        new Dictionary<string, string> { ["A"] = "a2", ["B"] = "b1" },
        new Dictionary<string, string> { ["A"] = "a1", ["B"] = "b2" },
        new Dictionary<string, string> { ["A"] = "a2", ["B"] = "b2" },
    ];

    [Fact]
    public void TwoByTwoGrid_HandComputed()
    {
        double[] gap = [0.1, 0.3, 0.2, 0.4];
        double[] measure = [1, 2, 5, 3];
        // ψ_A: cells share B. b1: (m 1→2, g .1→.3) τ=+1; b2: (m 5→3, g .2→.4) τ=−1 → ψ_A = 0.
        // ψ_B: cells share A. a1: (m 1→5, g .1→.2) +1; a2: (m 2→3, g .3→.4) +1 → ψ_B = 1.
        // Ψ = (0 + 1)/2 = 0.5, while overall τ = (4 − 2)/6 = 1/3.
        var r = GranulatedKendall.Compute(TwoByTwo, measure, gap);
        Assert.Equal(0.0, r.PerHyperparameter["A"], Exact);
        Assert.Equal(1.0, r.PerHyperparameter["B"], Exact);
        Assert.Equal(0.5, r.Psi, Exact);
        Assert.Equal(new CellCounts(2, 2, 0, 0), r.Cells["A"]);
        Assert.Equal(1.0 / 3.0, KendallTau.TauB(measure, gap), Exact);
    }

    [Fact]
    public void CellWithConstantMeasure_IsSkippedAndCounted()
    {
        double[] gap = [0.1, 0.3, 0.2, 0.4];
        double[] measure = [1, 2, 7, 7]; // constant in cell b2 of A → τ undefined there
        // ψ_A = τ(b1) = +1 only; ψ_B: a1 (1→7, .1→.2) +1, a2 (2→7, .3→.4) +1 → Ψ = 1.
        var r = GranulatedKendall.Compute(TwoByTwo, measure, gap);
        Assert.Equal(new CellCounts(2, 1, 0, 1), r.Cells["A"]);
        Assert.Equal(1.0, r.PerHyperparameter["A"], Exact);
        Assert.Equal(1.0, r.Psi, Exact);
    }

    [Fact]
    public void ThreeValuesWithTies_UsesTauBInsideCells()
    {
        // One cell for A (B fixed): A = a1,a2,a3 with measure [1,2,2], gap [1,3,2]:
        // pairs (0,1) C, (0,2) C, (1,2) tied in measure → τ-b = 2/sqrt(2·3).
        var hp = new[] { "a1", "a2", "a3" }
            .Select(a => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["A"] = a, ["B"] = "b" }).ToList();
        var r = GranulatedKendall.Compute(hp, [1, 2, 2], [1, 3, 2]);
        Assert.Equal(2 / Math.Sqrt(6), r.PerHyperparameter["A"], Exact);
        // B has a single value: every cell holds one model, so ψ_B is undefined and left out of Ψ.
        Assert.True(double.IsNaN(r.PerHyperparameter["B"]));
        Assert.Equal(new CellCounts(3, 0, 3, 0), r.Cells["B"]);
        Assert.Equal(2 / Math.Sqrt(6), r.Psi, Exact);
        // tau-a in cells: (2 − 0)/3.
        Assert.Equal(2.0 / 3.0, GranulatedKendall.Compute(hp, [1, 2, 2], [1, 3, 2], TauVariant.A).Psi, Exact);
    }

    [Fact]
    public void MeasureEqualToGap_HasPsiOne_OnAGridWithSeeds()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree();
        var gap = PopulationFixtures.Gap(hp, 3);
        var r = GranulatedKendall.Compute(hp, gap, gap);
        Assert.Equal(1.0, r.Psi, Exact);
        foreach (var c in r.Cells.Values) Assert.Equal(new CellCounts(9, 9, 0, 0), c);
    }

    [Theory]
    [InlineData(20)] // cells this small use the direct pair loop
    [InlineData(40)] // larger ones Knight's sort
    public void SingleCell_EqualsOverallTauB_WithTies(int n)
    {
        // One hyperparameter, so every model is in the one cell: ψ_A = Ψ = τ-b of all models.
        var rng = new SeededRandom(n);
        var hp = Enumerable.Range(0, n).Select(i => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["A"] = $"{i % 7}" }).ToList();
        var measure = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(5)).ToArray();
        var gap = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(4)).ToArray();
        var (c, d, tx, ty) = KendallTauTests.BruteForce(measure, gap);
        long n0 = n * (n - 1L) / 2;
        double expected = (c - d) / Math.Sqrt((double)(n0 - tx) * (n0 - ty));
        Assert.Equal(expected, GranulatedKendall.Compute(hp, measure, gap).Psi, 1e-12);
        Assert.Equal((double)(c - d) / n0, GranulatedKendall.Compute(hp, measure, gap, TauVariant.A).Psi, 1e-12);
    }

    [Fact]
    public void MismatchedInput_Throws()
    {
        Assert.Throws<InputException>(() => GranulatedKendall.Compute(TwoByTwo, [1, 2, 3], [1, 2, 3, 4]));
        var bad = TwoByTwo.ToList();
        bad[3] = new Dictionary<string, string> { ["A"] = "a2" };
        Assert.Throws<InputException>(() => GranulatedKendall.Compute(bad, [1, 2, 3, 4], [1, 2, 3, 4]));
    }
}
