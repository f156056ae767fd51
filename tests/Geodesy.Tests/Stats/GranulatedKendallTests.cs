using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

/// <summary>Ψ against tables worked out by hand from Jiang et al. 2020, Sec. 5, eqs. 3-4.</summary>
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
        foreach (var definition in new[] { PsiDefinition.Fantastic, PsiDefinition.TauBDefinedCells })
        {
            var r = GranulatedKendall.Compute(TwoByTwo, measure, gap, definition);
            Assert.Equal(0.0, r.PerHyperparameter["A"], Exact);
            Assert.Equal(1.0, r.PerHyperparameter["B"], Exact);
            Assert.Equal(0.5, r.Psi, Exact);
            Assert.Equal(new CellCounts(2, 2, 0, 0), r.Cells["A"]);
        }
    }

    [Fact]
    public void CellWithConstantMeasure_ScoresZero_InThePaper_AndIsSkippedByTheVariant()
    {
        double[] gap = [0.1, 0.3, 0.2, 0.4];
        double[] measure = [1, 2, 7, 7]; // constant in cell b2 of A
        // Fantastic: ψ_A = (τ(b1) + τ(b2))/2 = (+1 + 0)/2; ψ_B: a1 (1→7, .1→.2) +1, a2 (2→7, .3→.4) +1.
        var paper = GranulatedKendall.Compute(TwoByTwo, measure, gap);
        Assert.Equal(new CellCounts(2, 2, 0, 0), paper.Cells["A"]);
        Assert.Equal(0.5, paper.PerHyperparameter["A"], Exact);
        Assert.Equal(0.75, paper.Psi, Exact);
        // tau-b-defined-cells: τ-b is 0/0 in b2, the cell is dropped → ψ_A = 1, Ψ = 1.
        var variant = GranulatedKendall.Compute(TwoByTwo, measure, gap, PsiDefinition.TauBDefinedCells);
        Assert.Equal(new CellCounts(2, 1, 0, 1), variant.Cells["A"]);
        Assert.Equal(1.0, variant.Psi, Exact);
    }

    [Fact]
    public void MeasureThatOnlySeesOneHyperparameter_IsAveragedOverAllThatVary()
    {
        // A ∈ {a1, a2} × W ∈ {w1, w2, w3}; the measure is W's index (as num-params only sees width).
        var hp = PopulationFixtures.Grid(1, ("A", ["a1", "a2"]), ("W", ["w1", "w2", "w3"]));
        double[] measure = [1, 2, 3, 1, 2, 3];
        double[] gap = [0.10, 0.30, 0.20, 0.50, 0.40, 0.60];
        // ψ_W: cell a1: (w1,w2) +1, (w1,w3) +1, (w2,w3) −1 → 1/3; cell a2: −1, +1, +1 → 1/3. ψ_W = 1/3.
        // ψ_A: every cell holds two models with the same measure → τ = 0 in each → ψ_A = 0.
        // Fantastic Ψ = (1/3 + 0)/2 = 1/6; the variant drops A and reports 1/3.
        var paper = GranulatedKendall.Compute(hp, measure, gap);
        Assert.Equal(1.0 / 3.0, paper.PerHyperparameter["W"], Exact);
        Assert.Equal(0.0, paper.PerHyperparameter["A"], Exact);
        Assert.Equal(1.0 / 6.0, paper.Psi, Exact);
        Assert.Equal(["A", "W"], paper.Varying);
        var variant = GranulatedKendall.Compute(hp, measure, gap, PsiDefinition.TauBDefinedCells);
        Assert.True(double.IsNaN(variant.PerHyperparameter["A"]));
        Assert.Equal(1.0 / 3.0, variant.Psi, Exact);
    }

    [Fact]
    public void ThreeValuesWithTies_SignProductsInTheCell()
    {
        // One cell for A (B fixed): A = a1,a2,a3 with measure [1,2,2], gap [1,3,2]:
        // pairs (0,1) +1, (0,2) +1, (1,2) tied in measure 0 → τ = 2/3; τ-b = 2/sqrt(2·3).
        var hp = new[] { "a1", "a2", "a3" }
            .Select(a => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["A"] = a, ["B"] = "b" }).ToList();
        var r = GranulatedKendall.Compute(hp, [1, 2, 2], [1, 3, 2]);
        Assert.Equal(2.0 / 3.0, r.PerHyperparameter["A"], Exact);
        // B has a single value: it does not vary, so Ψ averages A alone.
        Assert.True(double.IsNaN(r.PerHyperparameter["B"]));
        Assert.Equal(new CellCounts(3, 0, 3, 0), r.Cells["B"]);
        Assert.Equal(["A"], r.Varying);
        Assert.Equal(2.0 / 3.0, r.Psi, Exact);
        Assert.Equal(2 / Math.Sqrt(6), GranulatedKendall.Compute(hp, [1, 2, 2], [1, 3, 2], PsiDefinition.TauBDefinedCells).Psi, Exact);
    }

    [Fact]
    public void CellWithConstantGap_IsSkipped_AndAHyperparameterWithoutUsableCellsLeavesPsiUndefined()
    {
        // Gap constant in cell b1 of A: skipped. b2: (5→3, .2→.4) −1 → ψ_A = −1.
        // ψ_B: a1 (1→5, .1→.2) +1, a2 (2→3, .1→.4) +1 → 1. Ψ = 0.
        var r = GranulatedKendall.Compute(TwoByTwo, [1, 2, 5, 3], [0.1, 0.1, 0.2, 0.4]);
        Assert.Equal(new CellCounts(2, 1, 0, 1), r.Cells["A"]);
        Assert.Equal(-1.0, r.PerHyperparameter["A"], Exact);
        Assert.Equal(0.0, r.Psi, Exact);

        // Gap constant in both cells of A: A varies but has no usable cell, so Ψ is undefined, not ψ_B.
        var none = GranulatedKendall.Compute(TwoByTwo, [1, 2, 5, 3], [0.1, 0.1, 0.2, 0.2]);
        Assert.True(double.IsNaN(none.Psi));
        Assert.Contains("A", none.UndefinedReason);
    }

    [Fact]
    public void BootstrapRepeats_AreTiedPairs_ThatCountInTheDenominator()
    {
        // Models [0, 0, 1, 2, 3] of the 2×2 grid: cell b1 of A holds {0, 0, 1}: pairs (0,0) 0,
        // (0,1) +1 twice → 2/3; b2 holds {2, 3} → −1; ψ_A = (2/3 − 1)/2 = −1/6.
        // Cell a1 of B holds {0, 0, 2}: 0, +1, +1 → 2/3; a2 {1, 3} → +1; ψ_B = 5/6. Ψ = 1/3.
        var table = new HyperparameterTable(TwoByTwo);
        var r = GranulatedKendall.Compute(table, [1, 2, 5, 3], [0.1, 0.3, 0.2, 0.4], [0, 0, 1, 2, 3]);
        Assert.Equal(-1.0 / 6.0, r.PerHyperparameter["A"], Exact);
        Assert.Equal(5.0 / 6.0, r.PerHyperparameter["B"], Exact);
        Assert.Equal(1.0 / 3.0, r.Psi, Exact);
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
    public void SingleCell_IsTauAOfAllModels_OrTauBInTheVariant(int n)
    {
        // One hyperparameter, so every model is in the one cell: ψ_A = Ψ = τ of all models.
        var rng = new SeededRandom(n);
        var hp = Enumerable.Range(0, n).Select(i => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["A"] = $"{i % 7}" }).ToList();
        var measure = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(5)).ToArray();
        var gap = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(4)).ToArray();
        var (c, d, tx, ty) = KendallTauTests.BruteForce(measure, gap);
        long n0 = n * (n - 1L) / 2;
        Assert.Equal((double)(c - d) / n0, GranulatedKendall.Compute(hp, measure, gap).Psi, 1e-12);
        Assert.Equal((c - d) / Math.Sqrt((double)(n0 - tx) * (n0 - ty)), GranulatedKendall.Compute(hp, measure, gap, PsiDefinition.TauBDefinedCells).Psi, 1e-12);
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
