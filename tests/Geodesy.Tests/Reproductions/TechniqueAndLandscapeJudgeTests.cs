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

    // mode-connectivity: the barrier at k against 0.02, and the paired accuracy gain at the final sparsity against 0.
    private static JsonObject Connectivity(double[] barrierAtK, double[] gain) => new()
    {
        ["rewind_step"] = 32,
        ["stable_threshold"] = 0.02,
        ["instability_at_0"] = Est(0.3, 0.32, 0.31),
        ["instability_at_k"] = Est(barrierAtK),
        ["final_accuracy_gain"] = Est(gain),
    };

    [Fact]
    public void ModeConnectivityVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("mode-connectivity", Connectivity([0.001, 0.002, 0.003], [0.02, 0.022, 0.024])));
        Assert.Equal(Verdict.NotSupported, Judge("mode-connectivity", Connectivity([0.10, 0.11, 0.12], [0.02, 0.022, 0.024])));
        Assert.Equal(Verdict.NotSupported, Judge("mode-connectivity", Connectivity([0.001, 0.002, 0.003], [-0.02, -0.022, -0.024])));
        Assert.Equal(Verdict.Inconclusive, Judge("mode-connectivity", Connectivity([0.001, 0.002, 0.003], [-0.01, 0.0, 0.012])));
        Assert.Equal(Verdict.Inconclusive, Judge("mode-connectivity", Connectivity([0.0, 0.02, 0.04], [0.02, 0.022, 0.024]))); // straddles 0.02
    }
}
