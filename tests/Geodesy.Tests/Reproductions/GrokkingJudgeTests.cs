using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>Verdicts of grokking-corrupted on hand-made evidence, for each of the three outcomes.</summary>
public class GrokkingJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(JsonObject evidence)
    {
        var recipe = RecipeRegistry.Get("grokking-corrupted");
        return recipe.Judge(evidence, RecipeOptions.Resolve(recipe, quick: false)).Verdict;
    }

    /// <summary>Three seeds: steps memorized / generalized, IPR before / after, corrupted and test accuracy with / without decay.</summary>
    private static JsonObject Evidence(double[] memorized, double[] generalized, double[] iprBefore, double[] iprAfter,
        double[] corruptedDecay, double[] corruptedBaseline, double[] testDecay, double[] testBaseline)
    {
        double[] Diff(double[] a, double[] b) => a.Zip(b, (x, y) => x - y).ToArray();
        return new()
        {
            ["memorized_step"] = Est(memorized),
            ["generalized_step"] = Est(generalized),
            ["delay"] = Est(Diff(generalized, memorized)),
            ["ipr_at_memorization"] = Est(iprBefore),
            ["ipr_final"] = Est(iprAfter),
            ["ipr_rise"] = Est(Diff(iprAfter, iprBefore)),
            ["corrupted_accuracy"] = Est(corruptedDecay),
            ["corrupted_accuracy_baseline"] = Est(corruptedBaseline),
            ["corrupted_drop"] = Est(Diff(corruptedBaseline, corruptedDecay)),
            ["test_accuracy"] = Est(testDecay),
            ["test_accuracy_baseline"] = Est(testBaseline),
            ["test_gain"] = Est(Diff(testDecay, testBaseline)),
        };
    }

    private static readonly double[] Memorized = [40, 42, 41], Generalized = [340, 350, 360];
    private static readonly double[] IprLow = [0.18, 0.19, 0.17], IprHigh = [0.60, 0.62, 0.61];
    private static readonly double[] Half = [0.55, 0.6, 0.58], All = [1, 1, 1];
    private static readonly double[] TestHigh = [0.96, 0.97, 0.95], TestLow = [0.02, 0.03, 0.02];

    [Fact]
    public void AllFourPartsHoldIsSupported() =>
        Assert.Equal(Verdict.Supported, Judge(Evidence(Memorized, Generalized, IprLow, IprHigh, Half, All, TestHigh, TestLow)));

    [Fact]
    public void GeneralizingBeforeMemorizingIsNotSupported() =>
        Assert.Equal(Verdict.NotSupported, Judge(Evidence(Generalized, Memorized, IprLow, IprHigh, Half, All, TestHigh, TestLow)));

    [Fact]
    public void WeightDecayKeepingTheCorruptedLabelsIsNotSupported() =>
        Assert.Equal(Verdict.NotSupported, Judge(Evidence(Memorized, Generalized, IprLow, IprHigh, All, Half, TestHigh, TestLow)));

    [Fact]
    public void NeverGeneralizingOrNoisyIprIsInconclusive()
    {
        Assert.Equal(Verdict.Inconclusive, Judge(Evidence(Memorized, [340, double.NaN, 360], IprLow, IprHigh, Half, All, TestHigh, TestLow)));
        Assert.Equal(Verdict.Inconclusive, Judge(Evidence(Memorized, Generalized, [0.2, 0.5, 0.3], [0.5, 0.2, 0.4], Half, All, TestHigh, TestLow)));
        Assert.Equal(Verdict.Inconclusive, Judge(new JsonObject()));
    }
}
