using System.Text.Json.Nodes;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Flat minima and margins (Lengyel et al. 2021): under the cross-entropy loss, once the training
/// error is small, the flatness of a minimum (the Hessian trace) is strongly correlated (Pearson)
/// with the output margin, so that a margin measure carries what flatness says about generalization.
/// Geodesy tests the correlation over a population of converged models, between log Tr(H)
/// (hessian-trace) and the log of the output margin (margin: the 10th percentile of the margins,
/// Fantastic's definition) — a larger margin should mean a flatter minimum.
/// </summary>
public sealed class FlatnessMarginRecipe : PopulationRecipe
{
    private const string Trace = "hessian-trace", Margin = "margin";

    public override string Name => "flatness-margin";
    public override string Claim => "Under the cross-entropy loss, once the training error is small, flatness (the Hessian trace) is strongly negatively correlated with the classification margin across trained models.";
    public override string Source => "Lengyel, Jennings, Parpas & Kantas 2021, On flat minima, large margins and generalizability (ICLR 2021 submission), Sec. 4, Fig. 2 (Pearson correlation of flatness and margin)";
    protected override IReadOnlyList<string> Measures => [Trace, Margin];

    protected override IReadOnlyList<RecipeOption> MoreOptions =>
    [
        new("correlation", RecipeOptionKind.Double, "0.5", "0.5", "|r| that counts as a strong correlation"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"the 95% bootstrap interval (resampling models) of the Pearson correlation r between log Tr(H) and log margin lies below −{o.Double("correlation"):G3} " +
        $"(above −{o.Double("correlation"):G3}: not-supported; otherwise inconclusive)";

    public override JsonObject Run(RecipeContext c)
    {
        var (population, table) = Study(c);
        var models = Complete(population, Trace, Margin).Where(m => m.Measures[Trace] > 0 && m.Measures[Margin] > 0).ToList();
        var logTrace = models.Select(m => Math.Log(m.Measures[Trace])).ToArray();
        var logMargin = models.Select(m => Math.Log(m.Measures[Margin])).ToArray();
        var evidence = new JsonObject { ["population"] = PopulationJson(population), ["models_with_both"] = models.Count };
        if (models.Count >= 3)
        {
            double R(int[] idx) => Pearson(idx.Select(i => logTrace[i]).ToArray(), idx.Select(i => logMargin[i]).ToArray());
            evidence["pearson_log_trace_log_margin"] = IntervalJson(R(Enumerable.Range(0, models.Count).ToArray()), Bootstrap.Interval(R, models.Count, seed: 0));
        }
        foreach (string name in new[] { Trace, Margin })
            if (table.Rows.FirstOrDefault(r => r.Measure == name) is { } row)
                evidence[$"tau_{name.Replace('-', '_')}_gap"] = JsonNumbers.Finite(row.KendallTau);
        c.ScatterPlot("trace-vs-margin.png", "Hessian trace against the output margin (natural logs)", "log margin", "log Tr H", [("models", logMargin, logTrace)]);
        return evidence;
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var r = evidence["pearson_log_trace_log_margin"];
        if (r is null) return new(Verdict.Inconclusive, "fewer than 3 converged models with both measures");
        double t = options.Double("correlation");
        // "r below −t" is "−r above t".
        return Verdicts.Above(-Num(r["upper"]), -Num(r["lower"]), t, $"−r(log Tr H, log margin), r = {F(Num(r["estimate"]))}");
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
    [
        ("models with both measures", evidence["models_with_both"]?.ToJsonString() ?? "-"),
        ("Pearson r(log Tr H, log margin) [95% CI]", Interval(evidence["pearson_log_trace_log_margin"])),
        ("τ(Hessian trace, gap)", F(Num(evidence["tau_hessian_trace_gap"]))),
        ("τ(margin, gap)", F(Num(evidence["tau_margin_gap"]))),
    ];
}
