using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>The noisy-labels recipe: its verdict on hand-made evidence for each outcome, and its summary of learning times against hand-computed values.</summary>
public class NoisyLabelsJudgeTests
{
    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(JsonObject evidence)
    {
        var recipe = RecipeRegistry.Get("noisy-labels");
        return recipe.Judge(evidence, RecipeOptions.Resolve(recipe, quick: false)).Verdict;
    }

    /// <summary>Evidence of the three arms: the plain arm's clean and noisy mean learning epochs and memorized fraction, the regularized arms' noisy ones.</summary>
    private static JsonObject Evidence(double[] plainClean, double[] plainNoisy, double[] plainMemorized, double[] elrNoisy, double[] fpNoisy)
    {
        JsonObject Arm(string label, double[] clean, double[] noisy, double[] memorized) => new()
        {
            ["label"] = label, ["clean_mean_learned_epoch"] = Est(clean), ["noisy_mean_learned_epoch"] = Est(noisy), ["noisy_memorized_final"] = Est(memorized),
        };
        return new()
        {
            ["arms"] = new JsonArray(Arm("plain", plainClean, plainNoisy, plainMemorized), Arm("ELR", [9, 10, 11], elrNoisy, [0.6, 0.7, 0.8]),
                Arm("Fisher penalty", [12, 13, 14], fpNoisy, [0.5, 0.6, 0.7])),
        };
    }

    [Fact]
    public void VerdictOfEachOutcome()
    {
        double[] clean = [4, 5, 6], noisy = [11, 12, 13], memorized = [1, 1, 0.98];
        Assert.Equal(Verdict.Supported, Judge(Evidence(clean, noisy, memorized, [25, 27, 29], [30, 31, 32])));
        // ELR memorizes the noisy labels earlier than plain training: not-supported
        Assert.Equal(Verdict.NotSupported, Judge(Evidence(clean, noisy, memorized, [8, 9, 10], [30, 31, 32])));
        // the noisy labels are learned before the clean ones: not-supported
        Assert.Equal(Verdict.NotSupported, Judge(Evidence(clean, [2, 3, 4], memorized, [25, 27, 29], [30, 31, 32])));
        // the Fisher penalty's delay is within the noise: inconclusive
        Assert.Equal(Verdict.Inconclusive, Judge(Evidence(clean, noisy, memorized, [25, 27, 29], [8, 13, 18])));
        // the plain arm does not memorize: the setting does not test the claim, inconclusive (not not-supported)
        Assert.Equal(Verdict.Inconclusive, Judge(Evidence(clean, noisy, [0.1, 0.12, 0.14], [25, 27, 29], [30, 31, 32])));
        Assert.Equal(Verdict.Inconclusive, Judge(new JsonObject()));
    }

    [Fact]
    public void RestrictedMeanCountsNeverAsOneEpochPastTheEnd()
    {
        // Learned at epochs 0, 2, 5 and never, 9 epochs: (0 + 2 + 10 + 5) / 4. By hand from the fraction-learned curve
        // F = 1/4 (t = 0, 1), 2/4 (t = 2..4), 3/4 (t = 5..9): the area above it, 2·0.75 + 3·0.5 + 5·0.25, is the same 4.25.
        long?[] epochs = [0, 2, null, 5];
        Assert.Equal(4.25, NoisyLabelsRecipe.RestrictedMeanEpoch(epochs, 9), 12);
        Assert.Equal(0.75, NoisyLabelsRecipe.FractionLearned(epochs), 12);
        Assert.True(double.IsNaN(NoisyLabelsRecipe.RestrictedMeanEpoch([], 9)));
    }

    [Fact]
    public void LearningTimesReadTheExamplesTable()
    {
        using var tmp = new TestSupport.TempDir();
        File.WriteAllLines(tmp["examples.jsonl"],
        [
            """{"index":0,"label":3,"noisy":false,"learned_epoch":1,"learned_step":16,"correct_final":true}""",
            """{"index":1,"label":7,"noisy":true,"learned_epoch":null,"learned_step":null,"correct_final":false}""",
        ]);
        Assert.Equal([(false, 1L), (true, (long?)null)], NoisyLabelsRecipe.LearningTimes(tmp.Path));
    }
}
