using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>Verdicts of fisher-explosion and gradient-noise-tails on hand-made evidence, for each of the three outcomes.</summary>
public class RecipesaJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(string recipe, JsonObject evidence) =>
        RecipeRegistry.Get(recipe).Judge(evidence, RecipeOptions.Resolve(RecipeRegistry.Get(recipe), quick: false)).Verdict;

    // fisher-explosion: peak Tr(F) and gap of the three configurations.
    private static JsonObject Fisher(double[] smallPeak, double[] smallGap, double[] largePeak, double[] largeGap, double[] fpPeak, double[] fpGap)
    {
        JsonObject Config(string label, double[] peak, double[] gap) => new() { ["label"] = label, ["peak_fisher_trace"] = Est(peak), ["gap"] = Est(gap) };
        return new()
        {
            ["configurations"] = new JsonArray(Config("small lr", smallPeak, smallGap), Config("large lr", largePeak, largeGap),
                Config("small lr + Fisher penalty", fpPeak, fpGap)),
        };
    }

    [Fact]
    public void FisherExplosionVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("fisher-explosion", Fisher([80, 82, 84], [0.10, 0.11, 0.12], [60, 61, 62], [0.05, 0.06, 0.07], [50, 51, 52], [0.08, 0.085, 0.09])));
        // the large lr peaks higher: not-supported
        Assert.Equal(Verdict.NotSupported, Judge("fisher-explosion", Fisher([60, 61, 62], [0.10, 0.11, 0.12], [80, 82, 84], [0.05, 0.06, 0.07], [50, 51, 52], [0.08, 0.085, 0.09])));
        // the penalty widens the gap: not-supported
        Assert.Equal(Verdict.NotSupported, Judge("fisher-explosion", Fisher([80, 82, 84], [0.10, 0.11, 0.12], [60, 61, 62], [0.05, 0.06, 0.07], [50, 51, 52], [0.2, 0.21, 0.22])));
        // the gaps do not differ beyond noise: inconclusive
        Assert.Equal(Verdict.Inconclusive, Judge("fisher-explosion", Fisher([80, 82, 84], [0.05, 0.11, 0.17], [60, 61, 62], [0.05, 0.1, 0.15], [50, 51, 52], [0.08, 0.085, 0.09])));
        Assert.Equal(Verdict.Inconclusive, Judge("fisher-explosion", new JsonObject()));
    }

    // gradient-noise-tails: tail index and rejected fraction per batch size; judged at the smallest (threshold 0.5).
    private static JsonObject Tails(double[] alphaSmall, double[] rejectedSmall) => new()
    {
        ["batches"] = new JsonArray(
            new JsonObject { ["batch"] = 64, ["tail_index"] = Est(1.9, 1.95, 2.0), ["coordinates_rejected"] = Est(0.1, 0.12, 0.14) },
            new JsonObject { ["batch"] = 4, ["tail_index"] = Est(alphaSmall), ["coordinates_rejected"] = Est(rejectedSmall) }),
    };

    [Fact]
    public void GradientNoiseTailVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("gradient-noise-tails", Tails([1.5, 1.55, 1.6], [0.8, 0.85, 0.9])));
        Assert.Equal(Verdict.NotSupported, Judge("gradient-noise-tails", Tails([2.4, 2.5, 2.6], [0.8, 0.85, 0.9])));   // Gaussian-like tails
        Assert.Equal(Verdict.NotSupported, Judge("gradient-noise-tails", Tails([1.5, 1.55, 1.6], [0.05, 0.06, 0.07]))); // Gaussianity not rejected
        Assert.Equal(Verdict.Inconclusive, Judge("gradient-noise-tails", Tails([1.5, 2.0, 2.5], [0.8, 0.85, 0.9])));   // straddles 2
        Assert.Equal(Verdict.Inconclusive, Judge("gradient-noise-tails", new JsonObject()));
    }
}
