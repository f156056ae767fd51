using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>The statistics every verdict rests on, against hand-computed values.</summary>
public class VerdictTests
{
    [Fact]
    public void EstimateIsTheMeanWithTheStandardErrorOfTheMean()
    {
        // 1, 2, 3: mean 2, sample s.d. 1, s.e. 1/sqrt(3).
        var e = Estimate.Of([1.0, 2.0, 3.0]);
        Assert.Equal(2.0, e.Mean, 12);
        Assert.Equal(1 / Math.Sqrt(3), e.StdErr, 12);
        Assert.True(double.IsNaN(Estimate.Of([5.0]).StdErr));
        var back = Estimate.FromJson(e.ToJson());
        Assert.Equal(e.Mean, back.Mean, 12);
        Assert.Equal(e.StdErr, back.StdErr, 12);
    }

    [Theory]
    // a = 10 ± 1, b = 5 ± 1: difference 5, s.e. sqrt(2) = 1.414, 2 s.e. = 2.83.
    [InlineData(10, 5, Verdict.Supported)]
    [InlineData(5, 10, Verdict.NotSupported)]
    [InlineData(7, 5, Verdict.Inconclusive)]
    public void GreaterComparesTheDifferenceWithTwoStandardErrors(double a, double b, Verdict expected)
    {
        var x = new Estimate(a, 1, [a]);
        var y = new Estimate(b, 1, [b]);
        Assert.Equal(expected, Verdicts.Greater(x, y, "test").Verdict);
    }

    [Fact]
    public void OneSeedIsNeverSupportedOrRefuted()
    {
        Assert.Equal(Verdict.Inconclusive, Verdicts.Greater(Estimate.Of([100.0]), Estimate.Of([1.0]), "one seed").Verdict);
    }

    [Theory]
    [InlineData(1.0, 0.05, Verdict.Supported)]     // [0.9, 1.1] inside [0.8, 1.25]
    [InlineData(0.5, 0.05, Verdict.NotSupported)]  // [0.4, 0.6] below 0.8
    [InlineData(0.8, 0.05, Verdict.Inconclusive)]  // [0.7, 0.9] straddles 0.8
    public void WithinNeedsTheWholeIntervalInsideTheBand(double mean, double se, Verdict expected)
    {
        Assert.Equal(expected, Verdicts.Within(new Estimate(mean, se, [mean]), 0.8, 1.25, "ratio").Verdict);
    }

    [Fact]
    public void AllPartsMustBeSupportedAndOneRefutedPartRefutes()
    {
        var yes = new Judgement(Verdict.Supported, "a");
        var no = new Judgement(Verdict.NotSupported, "b");
        var maybe = new Judgement(Verdict.Inconclusive, "c");
        Assert.Equal(Verdict.Supported, Judgement.All(yes, yes).Verdict);
        Assert.Equal(Verdict.Inconclusive, Judgement.All(yes, maybe).Verdict);
        Assert.Equal(Verdict.NotSupported, Judgement.All(maybe, no, yes).Verdict);
    }

    [Fact]
    public void VerdictNamesRoundTrip()
    {
        foreach (var v in Enum.GetValues<Verdict>()) Assert.Equal(v, Verdicts.Parse(v.Name()));
        Assert.Equal(["supported", "not-supported", "inconclusive"], Enum.GetValues<Verdict>().Select(v => v.Name()));
    }

    [Fact]
    public void PearsonMatchesAHandComputedValue()
    {
        // x = 1,2,3,4; y = 2,4,5,4: sxy = 3.5, sxx = 5, syy = 4.75 -> r = 3.5 / sqrt(23.75) (numpy.corrcoef: 0.7181848464596079).
        Assert.Equal(0.7181848464596079, PopulationRecipe.Pearson([1.0, 2, 3, 4], [2.0, 4, 5, 4]), 12);
        Assert.True(double.IsNaN(PopulationRecipe.Pearson([1.0, 1, 1], [1.0, 2, 3])));
    }
}

/// <summary>Resolving a recipe's options: defaults, --quick, --seeds and --set, and the one-line errors.</summary>
public class RecipeOptionsTests
{
    private static readonly Recipe BreakEven = RecipeRegistry.Get("break-even");

    [Fact]
    public void QuickSeedsAndSetOverrideInThatOrder()
    {
        var o = RecipeOptions.Resolve(BreakEven, quick: true, seeds: 4, sets: ["lrs=0.1,0.3", "subset=300"]);
        Assert.Equal([0.1, 0.3], o.Doubles("lrs")); // --set wins over the default
        Assert.Equal(300, o.Int("subset"));
        Assert.Equal([0L, 1, 2, 3], o.Seeds);
        Assert.Equal("mlp:784-32-10", o.Text("arch")); // the quick value
        Assert.Equal("mlp:784-64-10", RecipeOptions.Resolve(BreakEven, quick: false).Text("arch"));
    }

    [Theory]
    [InlineData("nope=1", "has no option 'nope'")]
    [InlineData("lrs=fast", "lrs=fast: expected a comma-separated list of numbers")]
    [InlineData("subset=1.5", "subset=1.5: expected an integer")]
    [InlineData("subset", "expected key=value")]
    [InlineData("seeds=0", "seeds must be at least 1")]
    public void BadSetIsAnInputErrorNamingIt(string set, string fragment)
    {
        var e = Assert.Throws<InputException>(() => RecipeOptions.Resolve(BreakEven, quick: false, sets: [set]));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void EveryRecipeHasADistinctNameClaimSourceAndSeeds()
    {
        Assert.Equal(RecipeRegistry.All.Count, RecipeRegistry.All.Select(r => r.Name).Distinct().Count());
        foreach (var r in RecipeRegistry.All)
        {
            Assert.False(string.IsNullOrWhiteSpace(r.Claim));
            Assert.Matches(@"\d{4}", r.Source); // a year: the paper is named
            Assert.Contains(r.Options, o => o.Key == RecipeOptions.SeedsKey);
            foreach (var o in r.Options) { Assert.Null(o.Check(o.Default)); Assert.Null(o.Check(o.Quick)); }
            Assert.False(string.IsNullOrWhiteSpace(r.Criterion(RecipeOptions.Resolve(r, quick: false))));
        }
    }
}

/// <summary>The rescaling of the relative-flatness recipe really leaves the network's function unchanged.</summary>
public class RescalingTests
{
    [Theory]
    [InlineData("mlp:6-5-3")]
    [InlineData("mlp:6-5-4-3")]
    public void RescalingTheLastTwoLayersKeepsTheOutputsAndScalesTheWeights(string arch)
    {
        using var model = Geodesy.Core.Models.ModelZoo.Create(arch, [6], 3, seed: 1, TorchSharp.torch.ScalarType.Float64);
        using var x = TorchSharp.torch.randn([7, 6], dtype: TorchSharp.torch.ScalarType.Float64, generator: new TorchSharp.torch.Generator(3));
        double[] before = model.call(x).data<double>().ToArray();
        var weights = model.named_parameters().Where(p => p.name.EndsWith(".weight") && p.parameter.dim() == 2).ToList();
        double hiddenBefore = weights[^2].parameter.abs().sum().item<double>(), outBefore = weights[^1].parameter.abs().sum().item<double>();
        RelativeFlatnessRecipe.RescaleLastTwoLayers(model, 4);
        double[] after = model.call(x).data<double>().ToArray();
        for (int i = 0; i < before.Length; i++) Assert.Equal(before[i], after[i], 10);
        Assert.Equal(4 * hiddenBefore, weights[^2].parameter.abs().sum().item<double>(), 10);
        Assert.Equal(outBefore / 4, weights[^1].parameter.abs().sum().item<double>(), 10);
    }
}
