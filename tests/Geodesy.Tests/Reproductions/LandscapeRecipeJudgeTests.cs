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

    // goldilocks: per radius (0.0625, 0.25, 1, 4, 16 x the init radius; band factor 4) the per-seed means of both quantities.
    private static JsonObject Goldilocks(double[][] trace, double[][] fraction) => new()
    {
        ["radii_over_init"] = new JsonArray(0.0625, 0.25, 1.0, 4.0, 16.0),
        ["trace_over_frobenius"] = new JsonArray(trace.Select(v => (JsonNode)Est(v)).ToArray()),
        ["fraction_positive"] = new JsonArray(fraction.Select(v => (JsonNode)Est(v)).ToArray()),
    };

    private static readonly double[][] PeakAtInit = [[0.1, 0.12, 0.11], [0.5, 0.52, 0.51], [2.0, 2.1, 2.05], [1.0, 1.1, 1.05], [0.2, 0.22, 0.21]];
    private static readonly double[][] RisingToTheEnd = [[0.1, 0.12, 0.11], [0.5, 0.52, 0.51], [1.0, 1.1, 1.05], [2.0, 2.1, 2.05], [3.0, 3.1, 3.05]];
    private static readonly double[][] PeakAtTheSmallest = [[3.0, 3.1, 3.05], [0.5, 0.52, 0.51], [1.0, 1.1, 1.05], [1.0, 1.1, 1.05], [0.2, 0.22, 0.21]];
    private static readonly double[][] FlatTop = [[0.1, 0.12, 0.11], [0.5, 0.52, 0.51], [2.0, 2.1, 2.05], [2.0, 2.1, 2.05], [1.9, 2.3, 2.1]];

    [Fact]
    public void GoldilocksVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("goldilocks", Goldilocks(PeakAtInit, PeakAtInit)));
        Assert.Equal(Verdict.NotSupported, Judge("goldilocks", Goldilocks(PeakAtInit, RisingToTheEnd)));      // the fraction peaks at 16x, above every radius in the band
        Assert.Equal(Verdict.NotSupported, Judge("goldilocks", Goldilocks(PeakAtTheSmallest, PeakAtInit)));
        Assert.Equal(Verdict.Inconclusive, Judge("goldilocks", Goldilocks(FlatTop, PeakAtInit)));            // the peak is not above the largest radius by 2 s.e.
        Assert.Equal(Verdict.Inconclusive, Judge("goldilocks", Goldilocks(PeakAtInit, [[0.5], [0.6], [0.9], [0.7], [0.5]])));   // one seed
    }
}
