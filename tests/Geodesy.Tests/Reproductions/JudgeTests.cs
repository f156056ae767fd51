using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>
/// Each recipe's verdict function on hand-made evidence, for each of the three outcomes: the
/// verdict must follow from the numbers by the stated criterion (no hard-coded verdicts).
/// </summary>
public class JudgeTests
{
    private static RecipeOptions Defaults(string recipe) => RecipeOptions.Resolve(RecipeRegistry.Get(recipe), quick: false);

    private static JsonObject Est(params double[] values) => Estimate.Of(values).ToJson();

    private static Verdict Judge(string recipe, JsonObject evidence) => RecipeRegistry.Get(recipe).Judge(evidence, Defaults(recipe)).Verdict;

    // break-even: peaks at the smallest and largest lr/batch ratio.
    private static JsonObject BreakEven(double[] lambdaLow, double[] lambdaHigh, double[] noiseLow, double[] noiseHigh) => new()
    {
        ["configurations"] = new JsonArray(
            new JsonObject { ["lr"] = 0.05, ["batch"] = 64, ["ratio"] = 0.05 / 64, ["peak_lambda_max"] = Est(lambdaLow), ["peak_trace_k"] = Est(noiseLow) },
            new JsonObject { ["lr"] = 0.5, ["batch"] = 64, ["ratio"] = 0.5 / 64, ["peak_lambda_max"] = Est(lambdaHigh), ["peak_trace_k"] = Est(noiseHigh) }),
    };

    [Fact]
    public void BreakEvenVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("break-even", BreakEven([20, 21, 22], [5, 6, 7], [50, 52, 54], [20, 21, 22])));
        Assert.Equal(Verdict.NotSupported, Judge("break-even", BreakEven([5, 6, 7], [20, 21, 22], [50, 52, 54], [20, 21, 22])));
        Assert.Equal(Verdict.Inconclusive, Judge("break-even", BreakEven([5, 9, 13], [6, 9, 12], [50, 52, 54], [20, 21, 22])));
    }

    // edge-of-stability: late and first λmax·η/2 per step size; the band is [0.8, 1.25].
    private static JsonObject Edge(double[] late, double[] first) => new()
    {
        ["step_sizes"] = new JsonArray(new JsonObject { ["lr"] = 0.1, ["threshold"] = 20.0, ["late_ratio"] = Est(late), ["first_ratio"] = Est(first) }),
    };

    [Fact]
    public void EdgeOfStabilityVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("edge-of-stability", Edge([0.98, 1.0, 1.02], [0.1, 0.12, 0.11])));
        Assert.Equal(Verdict.NotSupported, Judge("edge-of-stability", Edge([0.3, 0.31, 0.32], [0.1, 0.12, 0.11])));
        Assert.Equal(Verdict.Inconclusive, Judge("edge-of-stability", Edge([0.6, 0.9, 1.2], [0.1, 0.12, 0.11])));
    }

    // hessian-outliers: outlier counts per seed (C = 10) and the late gradient overlap (threshold 0.5).
    private static JsonObject Outliers(int[] counts, double[] overlap) => new()
    {
        ["classes"] = 10,
        ["seeds"] = new JsonArray(counts.Select((k, i) => (JsonNode)new JsonObject { ["seed"] = i, ["outliers"] = k }).ToArray()),
        ["gradient_overlap"] = Est(overlap),
    };

    [Fact]
    public void HessianOutlierVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("hessian-outliers", Outliers([10, 9, 10], [0.9, 0.92, 0.94])));
        Assert.Equal(Verdict.NotSupported, Judge("hessian-outliers", Outliers([2, 3, 10], [0.9, 0.92, 0.94])));
        Assert.Equal(Verdict.NotSupported, Judge("hessian-outliers", Outliers([10, 10, 10], [0.1, 0.12, 0.14])));
        Assert.Equal(Verdict.Inconclusive, Judge("hessian-outliers", Outliers([10, 10, 10], [0.2, 0.5, 0.8])));
    }

    [Fact]
    public void OutlierCountIsTheLargestEigenvalueRatio()
    {
        // ratios: 1.25, 1.333, 6, 1.5 -> the gap after the 3rd eigenvalue.
        Assert.Equal(3, HessianOutliersRecipe.OutlierCount([10, 8, 6, 1, 0.5 + 1.0 / 6]));
        Assert.Equal(2, HessianOutliersRecipe.OutlierCount([4, 3, -0.1, -0.2])); // a non-positive eigenvalue ends the outliers
        Assert.Equal(0, HessianOutliersRecipe.OutlierCount([-1, -2]));
    }

    // relative-flatness: rescaling tests and the paired τ difference.
    private static JsonObject Relative(double kappaAfter, double traceAfter, double tauLower, double tauUpper) => new()
    {
        ["invariance"] = new JsonArray(new JsonObject
        {
            ["relative_flatness_before"] = 2.0, ["relative_flatness_after"] = kappaAfter,
            ["hessian_trace_before"] = new JsonObject { ["value"] = 100.0, ["stderr"] = 1.0 },
            ["hessian_trace_after"] = new JsonObject { ["value"] = traceAfter, ["stderr"] = 1.0 },
        }),
        ["tau_difference"] = new JsonObject { ["estimate"] = (tauLower + tauUpper) / 2, ["lower"] = tauLower, ["upper"] = tauUpper },
    };

    [Fact]
    public void RelativeFlatnessVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("relative-flatness", Relative(2.0000001, 400, 0.1, 0.5)));
        Assert.Equal(Verdict.NotSupported, Judge("relative-flatness", Relative(2.5, 400, 0.1, 0.5)));      // κ moved
        Assert.Equal(Verdict.NotSupported, Judge("relative-flatness", Relative(2.0, 100.5, 0.1, 0.5)));    // the trace did not move either
        Assert.Equal(Verdict.NotSupported, Judge("relative-flatness", Relative(2.0, 400, -0.5, -0.1)));    // the trace predicts better
        Assert.Equal(Verdict.Inconclusive, Judge("relative-flatness", Relative(2.0, 400, -0.2, 0.3)));
    }

    // flatness-margin: the bootstrap interval of Pearson r(log Tr H, log margin), threshold 0.5.
    private static JsonObject Margin(double lower, double upper) => new()
    {
        ["pearson_log_trace_log_margin"] = new JsonObject { ["estimate"] = (lower + upper) / 2, ["lower"] = lower, ["upper"] = upper },
    };

    [Fact]
    public void FlatnessMarginVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("flatness-margin", Margin(-0.95, -0.7)));
        Assert.Equal(Verdict.NotSupported, Judge("flatness-margin", Margin(-0.3, 0.4)));
        Assert.Equal(Verdict.Inconclusive, Judge("flatness-margin", Margin(-0.9, -0.2)));
        Assert.Equal(Verdict.Inconclusive, Judge("flatness-margin", new JsonObject()));
    }

    // fantastic-ranking: τ (with its interval) and Ψ of the two groups.
    private static JsonObject Ranking(double flatTau, double flatLower, double flatPsi, double normTau, double normPsi) => new()
    {
        ["ranking"] = new JsonArray(
            new JsonObject { ["measure"] = "pacbayes-mag-flatness", ["group"] = "flatness", ["kendall_tau"] = flatTau, ["tau_lower"] = flatLower, ["tau_upper"] = flatTau + 0.2, ["psi"] = flatPsi },
            new JsonObject { ["measure"] = "param-norm", ["group"] = "norm", ["kendall_tau"] = normTau, ["tau_lower"] = normTau - 0.2, ["tau_upper"] = normTau + 0.2, ["psi"] = normPsi },
            new JsonObject { ["measure"] = "path-norm", ["group"] = "norm", ["kendall_tau"] = normTau, ["tau_lower"] = normTau - 0.2, ["tau_upper"] = normTau + 0.2, ["psi"] = normPsi }),
    };

    [Fact]
    public void FantasticRankingVerdicts()
    {
        Assert.Equal(Verdict.Supported, Judge("fantastic-ranking", Ranking(0.6, 0.3, 0.5, -0.1, 0.0)));
        Assert.Equal(Verdict.NotSupported, Judge("fantastic-ranking", Ranking(-0.2, -0.4, -0.1, 0.3, 0.2)));
        Assert.Equal(Verdict.Inconclusive, Judge("fantastic-ranking", Ranking(0.3, -0.1, 0.2, 0.1, 0.0)));   // its interval contains 0
        Assert.Equal(Verdict.Inconclusive, Judge("fantastic-ranking", Ranking(0.5, 0.2, -0.3, 0.1, 0.1)));   // τ and Ψ disagree
    }
}
