using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>The verdicts of the stiffness and Goldilocks recipes on hand-made evidence, for each of the three outcomes.</summary>
public class LandscapeRecipeJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(string recipe, JsonObject evidence) =>
        RecipeRegistry.Get(recipe).Judge(evidence, RecipeOptions.Resolve(RecipeRegistry.Get(recipe), quick: false)).Verdict;

    private static JsonObject Stiffness(double[] same, double[] diff, double[] near, double[] far) => new()
    {
        ["same_class_cosine"] = Est(same), ["diff_class_cosine"] = Est(diff),
        ["near_same_class_cosine"] = Est(near), ["far_same_class_cosine"] = Est(far),
    };

    [Fact]
    public void StiffnessVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("stiffness", Stiffness([0.5, 0.51, 0.52], [-0.04, -0.05, -0.04], [0.55, 0.56, 0.54], [0.38, 0.39, 0.4])));
        Assert.Equal(Verdict.NotSupported, Judge("stiffness", Stiffness([0.5, 0.51, 0.52], [-0.04, -0.05, -0.04], [0.3, 0.31, 0.32], [0.38, 0.39, 0.4])));   // rises with distance
        Assert.Equal(Verdict.NotSupported, Judge("stiffness", Stiffness([0.0, 0.01, 0.02], [0.2, 0.21, 0.22], [0.55, 0.56, 0.54], [0.38, 0.39, 0.4])));      // different classes stiffer
        Assert.Equal(Verdict.Inconclusive, Judge("stiffness", Stiffness([0.5, 0.51, 0.52], [-0.04, -0.05, -0.04], [0.2, 0.5, 0.8], [0.38, 0.39, 0.4])));
        Assert.Equal(Verdict.Inconclusive, Judge("stiffness", Stiffness([0.5], [-0.04], [0.55], [0.38])));   // one seed: no standard error
    }

    [Fact]
    public void NearAndFarHalvesSplitAtTheMedianPair()
    {
        // 10 pairs; 0, 1 and 4 pairs come before the first three non-empty bins (fewer than 5: nearer half,
        // the third holds the median pair), 8 before the last (farther half).
        var (near, far) = StiffnessRecipe.NearFar([(0, double.NaN), (1, 0.9), (3, 0.5), (4, 0.2), (2, 0.1)]);
        Assert.Equal((1 * 0.9 + 3 * 0.5 + 4 * 0.2) / 8, near, 12);
        Assert.Equal(0.1, far, 12);
        var (onlyNear, noFar) = StiffnessRecipe.NearFar([(5, 0.3)]);
        Assert.Equal(0.3, onlyNear, 12);
        Assert.True(double.IsNaN(noFar));
    }
}
