using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>
/// The verdict functions of the BN-only/MIMO, mode-connectivity and simplex recipes on hand-made
/// evidence, for each of the three outcomes (as JudgeTests does for the others).
/// </summary>
public class TechniqueAndLandscapeJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(string recipe, JsonObject evidence) =>
        RecipeRegistry.Get(recipe).Judge(evidence, RecipeOptions.Resolve(RecipeRegistry.Get(recipe), quick: false)).Verdict;

    // bn-only-mimo: BN-only test accuracy against the threshold 0.25; MIMO gain against 0.
    private static JsonObject BnMimo(double[] bnAccuracy, double[] gain) => new()
    {
        ["bn_only"] = new JsonObject { ["threshold"] = 0.25, ["test_accuracy"] = Est(bnAccuracy) },
        ["mimo"] = new JsonObject { ["ensemble_gain"] = Est(gain) },
    };

    [Fact]
    public void BnOnlyMimoVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("bn-only-mimo", BnMimo([0.40, 0.42, 0.44], [0.010, 0.012, 0.014])));
        Assert.Equal(Verdict.NotSupported, Judge("bn-only-mimo", BnMimo([0.11, 0.12, 0.13], [0.010, 0.012, 0.014])));
        Assert.Equal(Verdict.NotSupported, Judge("bn-only-mimo", BnMimo([0.40, 0.42, 0.44], [-0.010, -0.012, -0.014])));
        Assert.Equal(Verdict.Inconclusive, Judge("bn-only-mimo", BnMimo([0.40, 0.42, 0.44], [-0.01, 0.0, 0.012])));
        Assert.Equal(Verdict.Inconclusive, Judge("bn-only-mimo", BnMimo([0.15, 0.25, 0.35], [0.010, 0.012, 0.014])));
        Assert.Equal(Verdict.Inconclusive, Judge("bn-only-mimo", BnMimo([0.40], [0.01]))); // one seed: no standard error
    }
}
