using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class ConditionalMutualInformationTests
{
    private const double Exact = 1e-12;

    private static List<IReadOnlyDictionary<string, string>> NoHparams(int n) =>
        Enumerable.Range(0, n).Select(_ => (IReadOnlyDictionary<string, string>)new Dictionary<string, string>()).ToList();

    [Fact]
    public void ThreeModels_NoConditioning_HandComputed()
    {
        // gap [.1,.2,.3], measure [1,3,2]. The 9 ordered pairs (i,j), V = + iff value_i > value_j:
        // (0,0) −− (0,1) −− (0,2) −− (1,0) ++ (1,1) −− (1,2) g−μ+ (2,0) ++ (2,1) g+μ− (2,2) −−
        // counts g+μ+ 2, g+μ− 1, g−μ+ 1, g−μ− 5; p(g+) = p(μ+) = 1/3.
        // I = (2/9)·log2 2 + 2·(1/9)·log2(1/2) + (5/9)·log2(5/4) = 0.17884894160409
        // H(V_g) = H(1/3) = 0.91829583405449, normalized 0.19476179132212.
        var r = ConditionalMutualInformation.Score(NoHparams(3), [1, 3, 2], [0.1, 0.2, 0.3]);
        var t = Assert.Single(r.PerSet);
        Assert.Empty(t.ConditioningSet);
        Assert.Equal(9, r.Pairs);
        Assert.Equal(0.1788489416040902, t.MutualInformationBits, Exact);
        Assert.Equal(0.9182958340544896, t.ConditionalEntropyBits, Exact);
        Assert.Equal(0.19476179132211735, r.Score, Exact);

        // Without self pairs: counts 2,1,1,2 of 6; I = (2/3)log2(4/3) + (1/3)log2(2/3) = 0.08170416594551.
        var noSelf = ConditionalMutualInformation.Score(NoHparams(3), [1, 3, 2], [0.1, 0.2, 0.3], includeSelfPairs: false);
        Assert.Equal(6, noSelf.Pairs);
        Assert.Equal(0.08170416594551039, noSelf.Score, Exact);
    }

    [Fact]
    public void TiesInGapAndMeasure_AndAConstantMeasure_HandComputed()
    {
        // gap [.1,.2,.2], measure [1,1,2]; ties compare as "not greater", i.e. −.
        // (0,0) −− (0,1) −− (0,2) −− (1,0) g+μ− (1,1) −− (1,2) −− (2,0) ++ (2,1) g−μ+ (2,2) −−
        // counts ++ 1, +− 1, −+ 1, −− 6 of 9; p(g+) = p(μ+) = 2/9.
        // I = (1/9)log2(9/4) + 2·(1/9)log2(9/14) + (6/9)log2(54/49) = 0.08179234538903224
        // H(V_g) = H(2/9) = 0.7642045065086203, normalized 0.10702939421636297.
        var r = ConditionalMutualInformation.Score(NoHparams(3), [1, 1, 2], [0.1, 0.2, 0.2]);
        var t = Assert.Single(r.PerSet);
        Assert.Equal(0.08179234538903224, t.MutualInformationBits, Exact);
        Assert.Equal(0.7642045065086203, t.ConditionalEntropyBits, Exact);
        Assert.Equal(0.10702939421636297, r.Score, Exact);

        // A constant measure makes V_μ always −: it carries no information about V_g, score 0.
        var flat = ConditionalMutualInformation.Score(NoHparams(3), [5, 5, 5], [0.1, 0.2, 0.2]);
        Assert.Equal(0.0, flat.Score, Exact);
        Assert.Equal(0.7642045065086203, flat.PerSet[0].ConditionalEntropyBits, Exact);
    }

    [Fact]
    public void MeasureEqualToGap_ScoresOne_ForEveryConditioningSet()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree();
        var gap = PopulationFixtures.Gap(hp, 11);
        var monotone = gap.Select(g => Math.Exp(3 * g)).ToArray(); // same order as the gap
        var r = ConditionalMutualInformation.Score(hp, monotone, gap);
        Assert.Equal(1 + 3 + 3, r.PerSet.Count); // ∅, 3 singletons, 3 pairs
        foreach (var t in r.PerSet) Assert.Equal(1.0, t.Normalized, 1e-12);
        Assert.Equal(1.0, r.Score, 1e-12);
    }

    [Fact]
    public void MeasureEncodingOneHyperparameter_ScoresZeroOnceConditionedOnIt()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree();
        var gap = PopulationFixtures.Gap(hp, 12);
        // Larger batch → larger gap in the fixture, so the batch size alone predicts much of it ...
        var measure = hp.Select(h => PopulationFixtures.Parse(h["batch"])).ToArray();
        var r = ConditionalMutualInformation.Score(hp, measure, gap);
        double unconditioned = r.PerSet.Single(t => t.ConditioningSet.Count == 0).Normalized;
        Assert.True(unconditioned > 0.15, $"unconditioned {unconditioned}: the measure should look informative");
        // ... but given both models' batch sizes, V_μ is fixed, so it carries no information.
        foreach (var t in r.PerSet.Where(t => t.ConditioningSet.Contains("batch")))
            Assert.Equal(0.0, t.Normalized, Exact);
        Assert.Equal(0.0, r.Score, Exact);
        Assert.Contains("batch", r.MinimizingSet);
        Assert.Equal(0.0, r.MinOverSetsOfSize(2), Exact);
        // Conditioning on another hyperparameter does not remove it.
        Assert.True(r.PerSet.Single(t => t.ConditioningSet.SequenceEqual(["lr"])).Normalized > 0.1);
    }

    [Fact]
    public void IndependentRandomMeasure_ScoresNearZero_WhileTheGapScoresOne()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree(seeds: 3);
        var gap = PopulationFixtures.Gap(hp, 13);
        var rng = new SeededRandom(99);
        var random = gap.Select(_ => rng.NextDouble()).ToArray();
        var r = ConditionalMutualInformation.Score(hp, random, gap);
        // Plug-in MI is biased upward by about 1/(2 N ln 2) bits per cell; cells of |S| = 2 hold
        // 81 pairs here, so the bias is ≈ 0.009 bits.
        Assert.True(r.Score < 0.02, $"random measure scored {r.Score}");
        Assert.True(r.PerSet.All(t => t.Normalized < 0.05), "every conditioning set should show no information");
    }

    [Fact]
    public void NoisyGap_ScoresBetweenRandomAndExact()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree();
        var gap = PopulationFixtures.Gap(hp, 14);
        var noisy = Baselines.NoisyOracle(gap, 0.01, 5);
        double score = ConditionalMutualInformation.Score(hp, noisy, gap).Score;
        Assert.InRange(score, 0.05, 0.95);
    }

    [Fact]
    public void ConditioningSetSize_LimitsTheSetsExamined()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree(seeds: 1);
        var gap = PopulationFixtures.Gap(hp, 15);
        Assert.Single(ConditionalMutualInformation.Score(hp, gap, gap, maxConditioningSetSize: 0).PerSet);
        Assert.Equal(4, ConditionalMutualInformation.Score(hp, gap, gap, maxConditioningSetSize: 1).PerSet.Count);
        // |S| = 3 fixes every hyperparameter of both models: with one seed each cell holds one
        // pair, H(V_g | U_S) = 0 and the normalized value is undefined (NaN, skipped by the min).
        var full = ConditionalMutualInformation.Score(hp, gap, gap, maxConditioningSetSize: 3);
        Assert.Equal(8, full.PerSet.Count);
        Assert.True(double.IsNaN(full.PerSet[^1].Normalized));
        Assert.Equal(1.0, full.Score, 1e-12);
    }

    [Fact]
    public void BadInput_Throws()
    {
        Assert.Throws<InputException>(() => ConditionalMutualInformation.Score(NoHparams(1), [1], [1]));
        Assert.Throws<InputException>(() => ConditionalMutualInformation.Score(NoHparams(2), [1, 2], [1, 2], maxConditioningSetSize: -1));
        Assert.Throws<InputException>(() => ConditionalMutualInformation.Score(NoHparams(2), [1, double.NaN], [1, 2]));
    }
}
