using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>The verdict of the low-loss-simplex recipe on hand-made evidence, for each of the three outcomes.</summary>
public class LowLossSimplexJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(double[] direct, double[] margin)
    {
        var recipe = RecipeRegistry.Get("low-loss-simplex");
        var evidence = new JsonObject { ["fraction"] = 0.25, ["direct_height"] = Est(direct), ["margin"] = Est(margin) };
        return recipe.Judge(evidence, RecipeOptions.Resolve(recipe, quick: false)).Verdict;
    }

    [Fact]
    public void LowLossSimplexVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge([0.30, 0.25, 0.28], [0.04, 0.03, 0.05]));
        // The path through the trained vertex rises more than a quarter of the direct barrier.
        Assert.Equal(Verdict.NotSupported, Judge([0.30, 0.25, 0.28], [-0.10, -0.12, -0.09]));
        // No barrier to remove: the solutions are linearly connected already.
        Assert.Equal(Verdict.NotSupported, Judge([-0.02, -0.01, -0.015], [0.01, 0.02, 0.01]));
        Assert.Equal(Verdict.Inconclusive, Judge([0.30, 0.25, 0.28], [0.05, -0.04, 0.01]));   // the margin straddles 0
        Assert.Equal(Verdict.Inconclusive, Judge([0.30], [0.04]));                           // one seed: no standard error
    }
}
