using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class FlatnessSearchTests
{
    private static readonly MeasureOptions Options = new() { SearchExamples = 300, MonteCarloDraws = 8, AscentSteps = 10 };

    /// <summary>The Bayes classifier of three well-separated clusters: its error under weight noise grows with sigma.</summary>
    private static (SequentialModel Model, Dataset Data) LinearClassifier()
    {
        var data = Clusters(100, 5, 3, 3.0, 11);
        var model = Mlp(5, 3);
        Fit(model, data, 200, 0.2);
        return (model, data);
    }

    [Fact]
    public void PacBayesSigmaReproducesTheTargetDeviation()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        using var ctx = Context(model, data, options: Options);
        var value = new PacBayesFlatnessMeasure().Compute(ctx);
        double sigma = value.Details!["sigma"];
        Assert.Equal(1 / (sigma * sigma), value.Value, 1e-12);
        Assert.Equal(1.0, value.Details["converged"]);

        // an independent estimate at the found sigma, with fresh draws
        var set = MeasureData.Subset(ctx, Options.SearchExamples, "search");
        using var weights = new ParameterSnapshot(model);
        double baseError = MeasureData.LossError(model, set, 1000).Error;
        var (dev, se) = PacBayesSearch.Deviation(model, weights, set, baseError, sigma, false, 1e-3, 40, seed: 99, batchSize: 1000);
        Assert.InRange(dev, 0.1 - Options.SearchTolerance - 4 * se, 0.1 + Options.SearchTolerance + 4 * se);
        // the model was restored
        Assert.Equal(baseError, MeasureData.LossError(model, set, 1000).Error);
    }

    [Fact]
    public void MagnitudeAwareSigmaReproducesTheTargetDeviation()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        using var ctx = Context(model, data, options: Options);
        var value = new PacBayesMagFlatnessMeasure().Compute(ctx);
        double sigma = value.Details!["sigma"];
        var set = MeasureData.Subset(ctx, Options.SearchExamples, "search");
        using var weights = new ParameterSnapshot(model);
        double baseError = MeasureData.LossError(model, set, 1000).Error;
        var (dev, se) = PacBayesSearch.Deviation(model, weights, set, baseError, sigma, true, 1e-3, 40, seed: 98, batchSize: 1000);
        Assert.InRange(dev, 0.1 - Options.SearchTolerance - 4 * se, 0.1 + Options.SearchTolerance + 4 * se);
    }

    [Fact]
    public void SharpnessAlphaReproducesTheTargetDeviationAndSmallerBoxesDoNot()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        using var ctx = Context(model, data, options: Options);
        var value = new SharpnessFlatnessMeasure().Compute(ctx);
        double alpha = value.Details!["alpha"];
        Assert.Equal(1.0, value.Details["converged"]);
        var set = MeasureData.Subset(ctx, Options.SearchExamples, "search");
        using var weights = new ParameterSnapshot(model);
        double baseError = MeasureData.LossError(model, set, 1000).Error;
        long seed = MeasureData.SeedFor(ctx, "sharpness");
        var (dev, _) = SharpnessSearch.Deviation(model, weights, set, baseError, alpha, false, 1e-3, Options.AscentSteps, seed);
        Assert.InRange(dev, 0.1 - Options.SearchTolerance, 0.1 + Options.SearchTolerance);
        var (devSmall, _) = SharpnessSearch.Deviation(model, weights, set, baseError, alpha / 4, false, 1e-3, Options.AscentSteps, seed);
        Assert.True(devSmall < 0.1 - Options.SearchTolerance, $"a box of alpha/4 deviates by {devSmall}");
        Assert.True(ctx.ForwardExamples > 0);
    }

    [Fact]
    public void ASearchOutOfDepthIsBudgetExhaustedAndItsBracketIsNotAStandardError()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        // Deviations are multiples of 1/2400 (300 examples, 8 draws); a target half-way between two of them
        // cannot be met within 1e-9, so eight bisection steps end on an unfinished bracket.
        using var ctx = Context(model, data, options: Options with { SearchDepth = 8, SearchTolerance = 1e-9, TargetDeviation = 0.1 + 1.0 / 4800 });
        var value = new PacBayesFlatnessMeasure().Compute(ctx);
        Assert.Equal(Geodesy.Core.Curvature.SolverStatus.BudgetExhausted, value.Status);
        Assert.Null(value.StdErr);
        double lo = value.Details!["sigma_lower"], hi = value.Details["sigma_upper"];
        Assert.True(lo > 0, "the first bracket should not touch 0 here");
        Assert.Equal(Math.Abs(1 / (lo * lo) - 1 / (hi * hi)) / 2, value.BracketHalfwidth!.Value, 1e-9);

        using var full = Context(model, data, options: Options);
        Assert.Equal(Geodesy.Core.Curvature.SolverStatus.Converged, new PacBayesFlatnessMeasure().Compute(full).Status);
    }

    [Fact]
    public void ASearchThatNeverReachesTheTargetReportsAnOpenBracketUnconverged()
    {
        var r = DeviationSearch.Bisect(_ => (0.0, 0.0), new MeasureOptions(), baseError: 0, () => 0, "flat");
        Assert.False(r.Converged);
        Assert.True(double.IsPositiveInfinity(r.Upper));
        Assert.Equal(r.Lower, r.Scale);
        Assert.InRange(r.Scale, DeviationSearch.MaxUpper / 2, DeviationSearch.MaxUpper);
        Assert.Null(r.HalfSpread(s => 1 / (s * s)));
    }

    [Fact]
    public void FlatnessFormulasUseTheSearchedScale()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        var init = Mlp(5, 3);
        using var ctx = Context(model, data, init, Options);
        double sigma = PacBayesSearch.Sigma(ctx, false).Scale;
        var w = ParameterVector.Flatten(model);
        var w0 = ParameterVector.Flatten(init);
        double m = data.Count;
        double expectedInit = (w - w0).pow(2).sum().item<double>() / (4 * sigma * sigma) + Math.Log(m / sigma) + 10;
        double expectedOrig = w.pow(2).sum().item<double>() / (4 * sigma * sigma) + Math.Log(m / sigma) + 10;
        Assert.Equal(expectedInit, new PacBayesInitMeasure().Compute(ctx).Value, 1e-9);
        Assert.Equal(expectedOrig, new PacBayesOrigMeasure().Compute(ctx).Value, 1e-9);
    }

    [Fact]
    public void EpsilonSharpnessIsARelativeLossIncreaseThatGrowsWithTheBox()
    {
        var (model, data) = LinearClassifier();
        using var _ = data;
        using var ctx = Context(model, data, options: Options);
        var set = MeasureData.Subset(ctx, Options.SearchExamples, "search");
        var small = SharpnessSearch.EpsilonSharpness(model, set, 1e-3, 10);
        var large = SharpnessSearch.EpsilonSharpness(model, set, 1e-2, 10);
        Assert.Equal(100 * (small.MaxLoss - small.BaseLoss) / (1 + small.BaseLoss), small.Value, 1e-12);
        Assert.True(small.Value > 0 && large.Value > small.Value, $"{small.Value} then {large.Value}");
    }
}
