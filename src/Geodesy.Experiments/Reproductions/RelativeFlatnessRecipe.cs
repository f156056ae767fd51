using System.Text.Json.Nodes;
using Geodesy.Core.Stats;
using Geodesy.Core.Training;
using Geodesy.Experiments.Analyses;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Relative flatness (Petzka et al. 2021). (a) Multiplying the last hidden layer (weight and bias)
/// of a ReLU network by α and the output weights by 1/α leaves the function unchanged; relative
/// flatness does not change, the Hessian trace does. (b) Over a population of converged models,
/// relative flatness ranks the generalization gap better (Kendall τ) than the Hessian trace.
/// Both measures come from the catalog of `geodesy measure`; (a) uses the population's first models.
/// </summary>
public sealed class RelativeFlatnessRecipe : PopulationRecipe
{
    private const string Relative = "relative-flatness", Trace = "hessian-trace";

    public override string Name => "relative-flatness";
    public override string Claim => "Relative flatness is unchanged by a layer-wise rescaling that leaves the network's function unchanged, where the Hessian trace is not, and it predicts the generalization gap across a population better than the Hessian trace.";
    public override string Source => "Petzka et al. 2021, Relative flatness and generalization (NeurIPS), Theorem 3 (invariance) and Fig. 2 / Table 1 (correlation with the gap)";
    protected override IReadOnlyList<string> Measures => [Relative, Trace];

    protected override IReadOnlyList<RecipeOption> MoreOptions =>
    [
        new("alpha", RecipeOptionKind.Double, "4", "4", "the rescaling factor of the last hidden layer (the output layer gets 1/alpha)"),
        new("invariance_models", RecipeOptionKind.Int, "3", "2", "models of the population the rescaling is tested on"),
        new("invariance_tolerance", RecipeOptionKind.Double, "0.001", "0.001", "largest relative change of relative flatness that counts as unchanged"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"(a) on each tested model, rescaling by α = {o.Double("alpha"):G3} changes relative flatness by less than {o.Double("invariance_tolerance"):G3} (relative) " +
        $"and the Hutch++ Hessian trace by more than {Verdicts.Z:G} standard errors (trace unchanged on every model: not-supported); " +
        "(b) over the population, the 95% bootstrap interval of τ(relative flatness, gap) − τ(Hessian trace, gap) (Kendall τ-b, paired resampling of models) lies above 0 (below 0: not-supported)";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var (population, _) = Study(c);
        var models = Complete(population, Relative, Trace);
        var invariance = new JsonArray();
        foreach (var m in models.Take(o.Int("invariance_models")))
            invariance.Add(Rescaled(c, Path.Combine(c.StudyRuns, m.Id), o.Double("alpha"), o.Int("measure_examples")));

        var gap = models.Select(x => x.Gap).ToArray();
        double[] Values(string name) => models.Select(x => x.Measures[name]).ToArray();
        double[] relative = Values(Relative), trace = Values(Trace);
        double Difference(int[] idx) =>
            KendallTau.TauB(idx.Select(i => relative[i]).ToArray(), idx.Select(i => gap[i]).ToArray())
            - KendallTau.TauB(idx.Select(i => trace[i]).ToArray(), idx.Select(i => gap[i]).ToArray());
        var all = Enumerable.Range(0, models.Count).ToArray();
        var evidence = new JsonObject
        {
            ["population"] = PopulationJson(population),
            ["invariance"] = invariance,
        };
        if (models.Count >= 2)
        {
            evidence["tau_relative_flatness"] = JsonNumbers.Finite(KendallTau.TauB(relative, gap));
            evidence["tau_hessian_trace"] = JsonNumbers.Finite(KendallTau.TauB(trace, gap));
            evidence["tau_difference"] = IntervalJson(Difference(all), Bootstrap.Interval(Difference, models.Count, seed: 0));
        }
        c.ScatterPlot("relative-flatness-vs-gap.png", "Relative flatness against the generalization gap", "relative flatness κ", "gap",
            [("models", relative, gap)]);
        c.ScatterPlot("hessian-trace-vs-gap.png", "Hessian trace against the generalization gap", "Tr H", "gap", [("models", trace, gap)]);
        return evidence;
    }

    /// <summary>Both measures before and after rescaling one model (the loss shows the function is unchanged).</summary>
    private static JsonObject Rescaled(RecipeContext c, string runDir, double alpha, int examples)
    {
        using var loaded = new ModelSource { Run = runDir, DType = ScalarType.Float64 }.Load();
        long n = Math.Min(examples, loaded.Data.Train.Count);
        var data = loaded.FirstExamples(n, "measure_examples");
        double lossBefore = Evaluation.Evaluate(loaded.Model, data).Loss;
        var before = c.Measure(loaded, [Relative, Trace], n, seed: 0);
        RescaleLastTwoLayers(loaded.Model, alpha);
        double lossAfter = Evaluation.Evaluate(loaded.Model, data).Loss;
        var after = c.Measure(loaded, [Relative, Trace], n, seed: 0);
        return new JsonObject
        {
            ["run"] = Path.GetFileName(runDir),
            ["alpha"] = alpha,
            ["loss_before"] = JsonNumbers.Finite(lossBefore),
            ["loss_after"] = JsonNumbers.Finite(lossAfter),
            ["relative_flatness_before"] = JsonNumbers.Finite(before[Relative].Value),
            ["relative_flatness_after"] = JsonNumbers.Finite(after[Relative].Value),
            ["hessian_trace_before"] = new JsonObject { ["value"] = JsonNumbers.Finite(before[Trace].Value), ["stderr"] = JsonNumbers.Finite(before[Trace].StdErr) },
            ["hessian_trace_after"] = new JsonObject { ["value"] = JsonNumbers.Finite(after[Trace].Value), ["stderr"] = JsonNumbers.Finite(after[Trace].StdErr) },
        };
    }

    /// <summary>
    /// W_{L-1}, b_{L-1} ← α W_{L-1}, α b_{L-1} and W_L ← W_L / α for the last two weight matrices: with
    /// a positively homogeneous activation (ReLU) between them the network computes the same function.
    /// </summary>
    public static void RescaleLastTwoLayers(nn.Module model, double alpha)
    {
        var named = model.named_parameters().ToList();
        var matrices = named.Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal) && p.parameter.dim() == 2).ToList();
        if (matrices.Count < 2) throw new Core.InputException("the rescaling needs at least two weight matrices (a hidden layer)");
        var hidden = matrices[^2];
        string bias = hidden.name[..^".weight".Length] + ".bias";
        using var _ = no_grad();
        hidden.parameter.mul_(alpha);
        named.FirstOrDefault(p => p.name == bias).parameter?.mul_(alpha);
        matrices[^1].parameter.div_(alpha);
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        double tolerance = options.Double("invariance_tolerance");
        var tests = (evidence["invariance"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        Judgement invariance;
        if (tests.Count == 0) invariance = new(Verdict.Inconclusive, "no model to rescale");
        else
        {
            double worst = tests.Max(t => Math.Abs(Num(t["relative_flatness_after"]) / Num(t["relative_flatness_before"]) - 1));
            var moved = tests.Select(t =>
            {
                double b = Num(t["hessian_trace_before"]?["value"]), a = Num(t["hessian_trace_after"]?["value"]);
                double se = Math.Sqrt(Sq(Num(t["hessian_trace_before"]?["stderr"])) + Sq(Num(t["hessian_trace_after"]?["stderr"])));
                return Math.Abs(a - b) > Verdicts.Z * (double.IsFinite(se) ? se : 0);
            }).ToList();
            string text = $"relative flatness changed by at most {F(worst)} (relative), the Hessian trace moved beyond {Verdicts.Z:G} s.e. on {moved.Count(x => x)} of {tests.Count} models";
            invariance = !(worst <= tolerance) ? new(Verdict.NotSupported, text + $"; relative flatness is not invariant (tolerance {F(tolerance)})")
                : moved.All(x => x) ? new(Verdict.Supported, text)
                : moved.Any(x => x) ? new(Verdict.Inconclusive, text)
                : new(Verdict.NotSupported, text + "; the Hessian trace did not change either");
        }
        var d = evidence["tau_difference"];
        var prediction = d is null
            ? new Judgement(Verdict.Inconclusive, "fewer than 2 converged models")
            : Verdicts.Above(Num(d["lower"]), Num(d["upper"]), 0, $"τ(relative flatness) − τ(Hessian trace) = {F(Num(d["estimate"]))}");
        return Judgement.All(invariance, prediction);
    }

    private static double Sq(double x) => x * x;

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        var rows = new List<(string, string)> { ("models ranked", evidence["population"]?["models"]?.ToJsonString() ?? "-") };
        foreach (var t in (evidence["invariance"] as JsonArray ?? []).OfType<JsonObject>())
        {
            string run = ((string?)t["run"] ?? "")[..Math.Min(8, ((string?)t["run"] ?? "").Length)];
            rows.Add(($"{run}: relative flatness before → after", $"{F(Num(t["relative_flatness_before"]))} → {F(Num(t["relative_flatness_after"]))}"));
            rows.Add(($"{run}: Hessian trace before → after", $"{F(Num(t["hessian_trace_before"]?["value"]))} → {F(Num(t["hessian_trace_after"]?["value"]))}"));
            rows.Add(($"{run}: loss before → after", $"{F(Num(t["loss_before"]))} → {F(Num(t["loss_after"]))}"));
        }
        rows.Add(("τ(relative flatness, gap)", F(Num(evidence["tau_relative_flatness"]))));
        rows.Add(("τ(Hessian trace, gap)", F(Num(evidence["tau_hessian_trace"]))));
        rows.Add(("τ difference [95% CI]", Interval(evidence["tau_difference"])));
        return rows;
    }
}
