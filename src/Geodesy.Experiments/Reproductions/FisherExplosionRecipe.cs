using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Catastrophic Fisher explosion (Jastrzebski et al. 2021): with a small learning rate the trace of
/// the Fisher rises early to a larger peak than with a large one, the run with the higher early
/// Tr(F) ends with the larger generalization gap, and the Fisher penalty at the small learning rate
/// lowers the peak and closes part of the gap. Three configurations (small lr, large lr, small lr
/// with `--fisher-penalty`) are trained with the `fisher-trace` probe on the probe set; the peak is
/// the largest value the probe records, the gap is final train accuracy minus test accuracy.
/// </summary>
public sealed class FisherExplosionRecipe : Recipe
{
    public override string Name => "fisher-explosion";
    public override string Claim => "With a small learning rate Tr(F) rises early to a larger peak than with a large one, the early Tr(F) orders the final generalization gaps, and the Fisher penalty at the small learning rate lowers the peak and closes part of the gap.";
    public override string Source => "Jastrzebski et al. 2021, Catastrophic Fisher explosion: early phase Fisher matrix impacts generalization (ICML), Fig. 1 and Table 1";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-128-10", "mlp:784-64-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "1000", "500", "training examples (seeded stratified subset)"),
        new("small_lr", RecipeOptionKind.Double, "0.005", "0.005", "the small learning rate (SGD with momentum 0.9)"),
        new("large_lr", RecipeOptionKind.Double, "0.1", "0.1", "the large learning rate (SGD with momentum 0.9)"),
        new("batch", RecipeOptionKind.Int, "64", "64", "batch size"),
        new("fisher_penalty", RecipeOptionKind.Text, "0.3@every=4", "0.3@every=4", "the --fisher-penalty value of the third configuration (small lr), docs/regularizers.md"),
        new("until_loss", RecipeOptionKind.Double, "0.05", "0.1", "train each run until its train cross-entropy is below this (the same point of training for every run)"),
        new("max_epochs", RecipeOptionKind.Int, "200", "120", "give up after this many epochs"),
        new("probe_every", RecipeOptionKind.Int, "8", "8", "probe Tr(F) every K steps"),
        new("probe_examples", RecipeOptionKind.Int, "256", "128", "examples of the probe set"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"every run trains until its train cross-entropy is below {o.Double("until_loss"):G3} (at most {o.Int("max_epochs")} epochs); " +
        "the peak is the largest Tr(F) the fisher-trace probe records on the probe set, the gap is final train accuracy minus test accuracy; " +
        $"with means over seeds and differences judged at {Verdicts.Z:G} standard errors: (a) peak Tr(F) at lr {o.Double("small_lr"):G3} exceeds the peak at lr {o.Double("large_lr"):G3}; " +
        "(b) the gap at the small lr exceeds the gap at the large lr (the higher early Tr(F), the larger gap); " +
        $"(c) with --fisher-penalty {o.Text("fisher_penalty")} at the small lr the peak is lower and (d) the gap is smaller than without it " +
        "(all four: supported; any part reversed by more than 2 s.e.: not-supported; otherwise inconclusive)";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var configurations = new JsonArray();
        var curves = new List<(string, double[], double[])>();
        foreach (var (label, lr, penalty) in new[] { ("small lr", o.Double("small_lr"), ""), ("large lr", o.Double("large_lr"), ""), ("small lr + Fisher penalty", o.Double("small_lr"), o.Text("fisher_penalty")) })
        {
            var peaks = new List<double>();
            var gaps = new List<double>();
            var tests = new List<double>();
            var steps = new List<double>();
            foreach (long seed in o.Seeds)
            {
                var spec = new RunSpec
                {
                    Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), Optimizer = "momentum",
                    Lr = lr, Batch = o.Int("batch"), UntilLoss = o.Double("until_loss"), MaxEpochs = o.Int("max_epochs"), Seed = seed,
                    ProbeExamples = o.Int("probe_examples"), FisherPenalty = penalty,
                    Probe = [$"fisher-trace:on=probe@every={o.Int("probe_every")}"],
                };
                string name = string.Create(CultureInfo.InvariantCulture, $"lr{lr:G4}{(penalty.Length > 0 ? "-fp" : "")}-s{seed}");
                var run = c.Train(name, spec);
                var trace = run.Series("fisher-trace");
                peaks.Add(trace.Values.DefaultIfEmpty(double.NaN).Max());
                var final = run.Outcome.Training.Final;
                gaps.Add(final is null ? double.NaN : final.TrainAccuracy - final.TestAccuracy);
                tests.Add(final?.TestAccuracy ?? double.NaN);
                steps.Add(run.Outcome.Training.Steps);
                if (seed == 0) curves.Add(($"{label} (lr {lr:G3})", trace.Steps, trace.Values));
            }
            configurations.Add(new JsonObject
            {
                ["label"] = label, ["lr"] = lr, ["fisher_penalty"] = penalty,
                ["peak_fisher_trace"] = Estimate.Of(peaks).ToJson(),
                ["gap"] = Estimate.Of(gaps).ToJson(),
                ["test_accuracy"] = Estimate.Of(tests).ToJson(),
                ["steps"] = Estimate.Of(steps).ToJson(),
            });
        }
        c.LinePlot("fisher-trace.png", "Tr(F) on the probe set during training (seed 0)", "step", "Tr F", curves, logY: true);
        return new JsonObject { ["configurations"] = configurations, ["data"] = o.Text("data"), ["arch"] = o.Text("arch") };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var configs = (evidence["configurations"] as JsonArray ?? []).OfType<JsonObject>().ToDictionary(x => (string?)x["label"] ?? "", StringComparer.Ordinal);
        if (!configs.TryGetValue("small lr", out var small) || !configs.TryGetValue("large lr", out var large) || !configs.TryGetValue("small lr + Fisher penalty", out var penalized))
            return new(Verdict.Inconclusive, "the evidence lacks one of the three configurations");
        static Estimate E(JsonObject x, string key) => Estimate.FromJson(x[key]);
        return Judgement.All(
            Verdicts.Greater(E(small, "peak_fisher_trace"), E(large, "peak_fisher_trace"), "peak Tr(F), small minus large lr"),
            Verdicts.Greater(E(small, "gap"), E(large, "gap"), "gap, small minus large lr"),
            Verdicts.Greater(E(small, "peak_fisher_trace"), E(penalized, "peak_fisher_trace"), "peak Tr(F) at the small lr, without minus with the Fisher penalty"),
            Verdicts.Greater(E(small, "gap"), E(penalized, "gap"), "gap at the small lr, without minus with the Fisher penalty"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["configurations"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(x => new[]
        {
            ($"{x["label"]}: peak Tr(F)", Estimate.FromJson(x["peak_fisher_trace"]).ToString()),
            ($"{x["label"]}: gap (train − test acc)", Estimate.FromJson(x["gap"]).ToString()),
            ($"{x["label"]}: test accuracy", Estimate.FromJson(x["test_accuracy"]).ToString()),
        }).ToList();
}
