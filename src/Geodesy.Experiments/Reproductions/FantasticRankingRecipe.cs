using System.Text.Json.Nodes;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Ranking generalization measures (Jiang et al. 2020): over a population of models trained to the
/// same train cross-entropy, the magnitude-aware PAC-Bayes and sharpness flatness measures are among
/// the best predictors of the gap by Kendall τ and granulated Ψ, and the norm-based measures are not.
/// The study pipeline trains, measures and ranks (`geodesy study` on a small grid).
/// </summary>
public sealed class FantasticRankingRecipe : PopulationRecipe
{
    /// <summary>Fantastic's best measures (Table 5: pacbayes.mag.flatness and sharpness.mag.flatness).</summary>
    public static readonly string[] Flatness = ["pacbayes-mag-flatness", "sharpness-mag-flatness"];
    /// <summary>Norm-based measures of Fantastic Sec. 7 / Table 2.</summary>
    public static readonly string[] Norms = ["param-norm", "frob-distance", "spec-orig", "prod-of-fro", "sum-of-fro", "prod-of-spec", "path-norm"];

    public override string Name => "fantastic-ranking";
    public override string Claim => "On a population of converged models, the magnitude-aware PAC-Bayes and sharpness flatness measures rank among the best predictors of the generalization gap by Kendall τ and granulated Ψ, and norm-based measures do not.";
    public override string Source => "Jiang, Neyshabur, Mobahi, Krishnan & Bengio 2020, Fantastic generalization measures and where to find them (ICLR), Table 2 and Table 5";
    protected override IReadOnlyList<string> Measures => [.. Flatness, .. Norms];

    public override string Criterion(RecipeOptions o) =>
        "(a) the mean Kendall τ-b with the gap of the magnitude-aware flatness measures exceeds that of the norm-based measures, and so does their mean granulated Ψ; " +
        "(b) the 95% bootstrap interval of τ of the better flatness measure lies above 0 " +
        "(both means lower for the flatness measures, or that interval below 0: not-supported; otherwise inconclusive)";

    public override JsonObject Run(RecipeContext c)
    {
        var (population, table) = Study(c);
        var rows = new JsonArray();
        foreach (var r in table.Rows.Where(r => r.Kind == RowKind.Measure))
            rows.Add(new JsonObject
            {
                ["measure"] = r.Measure,
                ["group"] = Flatness.Contains(r.Measure) ? "flatness" : Norms.Contains(r.Measure) ? "norm" : "other",
                ["kendall_tau"] = JsonNumbers.Finite(r.KendallTau),
                ["tau_lower"] = JsonNumbers.Finite(r.TauCi.Lower),
                ["tau_upper"] = JsonNumbers.Finite(r.TauCi.Upper),
                ["psi"] = JsonNumbers.Finite(r.Psi),
            });
        var withTau = table.Rows.Where(r => r.Kind == RowKind.Measure && double.IsFinite(r.KendallTau)).OrderBy(r => r.KendallTau).ToList();
        c.ScatterPlot("tau-psi.png", "Kendall τ and Ψ of each measure with the gap", "Kendall τ-b", "Ψ",
            [
                ("flatness (magnitude-aware)", Pick(withTau, Flatness, r => r.KendallTau), Pick(withTau, Flatness, r => r.Psi)),
                ("norm-based", Pick(withTau, Norms, r => r.KendallTau), Pick(withTau, Norms, r => r.Psi)),
            ]);
        return new JsonObject { ["population"] = PopulationJson(population), ["ranking"] = rows, ["models"] = table.Models };
    }

    private static double[] Pick(IEnumerable<RankingRow> rows, string[] group, Func<RankingRow, double> value) =>
        rows.Where(r => group.Contains(r.Measure)).Select(value).ToArray();

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var rows = (evidence["ranking"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        double Mean(string group, string key) => rows.Where(r => (string?)r["group"] == group).Select(r => Num(r[key])).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
        double tauF = Mean("flatness", "kendall_tau"), tauN = Mean("norm", "kendall_tau"), psiF = Mean("flatness", "psi"), psiN = Mean("norm", "psi");
        string text = $"mean τ flatness {F(tauF)} vs norms {F(tauN)}, mean Ψ flatness {F(psiF)} vs norms {F(psiN)}";
        if (!double.IsFinite(tauF) || !double.IsFinite(tauN)) return new(Verdict.Inconclusive, text + ": a group has no ranked measure");
        var means = tauF > tauN && !(psiF <= psiN) ? new Judgement(Verdict.Supported, text)
            : tauF < tauN && !(psiF >= psiN) ? new Judgement(Verdict.NotSupported, text)
            : new Judgement(Verdict.Inconclusive, text + ": τ and Ψ disagree");
        var best = rows.Where(r => (string?)r["group"] == "flatness" && double.IsFinite(Num(r["kendall_tau"]))).MaxBy(r => Num(r["kendall_tau"]));
        var positive = best is null ? new Judgement(Verdict.Inconclusive, "no flatness measure was ranked")
            : Verdicts.Above(Num(best["tau_lower"]), Num(best["tau_upper"]), 0, $"τ of {(string?)best["measure"]}");
        return Judgement.All(means, positive);
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["ranking"] as JsonArray ?? []).OfType<JsonObject>().Where(r => (string?)r["group"] != "other")
            .Select(r => ($"{(string?)r["measure"]} ({(string?)r["group"]}): τ [CI], Ψ",
                $"{F(Num(r["kendall_tau"]))} [{F(Num(r["tau_lower"]))}, {F(Num(r["tau_upper"]))}], {F(Num(r["psi"]))}"))
            .Prepend(("models ranked", evidence["models"]?.ToJsonString() ?? "-")).ToList();
}
