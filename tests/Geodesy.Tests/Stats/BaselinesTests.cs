using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class BaselinesTests
{
    [Fact]
    public void OracleWithZeroNoise_IsTheGap_TauOne()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree();
        var gap = PopulationFixtures.Gap(hp, 21);
        var oracle = Baselines.NoisyOracle(gap, 0.0, 1);
        Assert.Equal(gap, oracle);
        Assert.Equal(1.0, KendallTau.TauB(oracle, gap), 1e-12);
    }

    [Fact]
    public void OracleNoise_HasTheRequestedSpread_AndIsSeeded()
    {
        const int n = 20000;
        var gap = new double[n];
        var a = Baselines.NoisyOracle(gap, 0.05, 42);
        double mean = a.Average();
        double sd = Math.Sqrt(a.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        Assert.Equal(0.05, sd, 0.05 * 0.03);  // standard error of sd ≈ 0.5%
        Assert.Equal(0.0, mean, 4 * 0.05 / Math.Sqrt(n));
        Assert.Equal(a, Baselines.NoisyOracle(gap, 0.05, 42));
        Assert.NotEqual(a, Baselines.NoisyOracle(gap, 0.05, 43));
        Assert.Throws<InputException>(() => Baselines.NoisyOracle(gap, -0.1, 1));
    }

    [Fact]
    public void CanonicalOrdering_HandComputed()
    {
        var hp = PopulationFixtures.Grid(1,
            ("learning-rate", ["0.1", "0.01"]),
            ("batch_size", ["32", "128", "64"]),
            ("optimizer", ["sgd", "adam"]));
        var r = Baselines.CanonicalOrdering(hp);
        Assert.Equal(-1, r.Used["learning-rate"]);   // larger lr, smaller gap
        Assert.Equal(+1, r.Used["batch_size"]);      // larger batch, larger gap
        Assert.Equal("no canonical direction", r.Ignored["optimizer"]);
        // Model 0: lr 0.1 (rank 1 of 2 → 1.0), batch 32 (rank 0 of 3 → 0): −1 + 0 = −1.
        // Model 2: lr 0.1, batch 128 (rank 2 → 1.0): −1 + 1 = 0. Model 5: lr 0.1, batch 64 → −1 + 0.5.
        // Model 6: lr 0.01 (rank 0), batch 32: 0.
        Assert.Equal(-1.0, r.Values[0], 1e-15);
        Assert.Equal(0.0, r.Values[2], 1e-15);
        Assert.Equal(-0.5, r.Values[4], 1e-15);
        Assert.Equal(0.0, r.Values[6], 1e-15);
        Assert.Equal(r.Values[0], r.Values[1]); // differ only in optimizer
    }

    [Fact]
    public void CanonicalOrdering_OverridesAndNonNumericValues()
    {
        var hp = PopulationFixtures.Grid(1, ("width", ["8", "wide"]), ("depth", ["1", "2"]), ("lr", ["0.1", "0.1"]));
        var r = Baselines.CanonicalOrdering(hp, new Dictionary<string, int> { ["Depth"] = +1 });
        Assert.Equal("values are not all numbers", r.Ignored["width"]);
        Assert.Equal("a single value", r.Ignored["lr"]);
        Assert.Equal(+1, r.Used["depth"]);
        Assert.Throws<InputException>(() => Baselines.CanonicalOrdering(hp, new Dictionary<string, int> { ["depth"] = 2 }));
    }

    [Fact]
    public void CanonicalOrdering_RecoversAFolkloreGap()
    {
        var hp = PopulationFixtures.ThreeByThreeByThree(seeds: 1);
        // A gap following the folklore directions exactly: additive in the value ranks.
        var gap = PopulationFixtures.Gap(hp, 22, noise: 0.0);
        var canonical = Baselines.CanonicalOrdering(hp).Values;
        double tau = KendallTau.TauB(canonical, gap);
        Assert.True(tau > 0.6, $"tau {tau}");
        Assert.Equal(1.0, GranulatedKendall.Compute(hp, canonical, gap).Psi, 1e-12);
    }
}
