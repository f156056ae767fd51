using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Grokking on modular addition with corrupted training labels (Doshi, Das, He &amp; Gromov 2024):
/// full-batch AdamW on the one-hot pairs first fits the training set, corrupted labels included,
/// and generalizes only later; the Fourier IPR of the first-layer weights rises as it does; and
/// with weight decay the network stops predicting the corrupted labels, where without it keeps
/// them. Each seed trains the same network twice, with the recipe's weight decay and with the
/// baseline decay, through `geodesy train` with the `ipr` and `examples` probes; the comparisons
/// are paired within a seed.
/// </summary>
public sealed class GrokkingCorruptedRecipe : Recipe
{
    public override string Name => "grokking-corrupted";
    public override string Claim => "On modular addition with corrupted training labels, a network trained with weight decay memorizes first and generalizes later, its first-layer weights become periodic (the Fourier IPR rises), and weight decay makes it drop the corrupted labels it fitted and generalize better than without.";
    public override string Source => "Doshi, Das, He & Gromov 2024, To grok or not to grok: disentangling generalization and memorization on corrupted algorithmic datasets (ICLR): the abstract (with regularization, grokking first, then the corrupted examples are unlearned), and the sections on grokking with label noise (the phases over weight decay and corruption, the IPR) and on the effect of regularization";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("grok_data", RecipeOptionKind.Text, "modular:p=31,op=add,train=0.5,corrupt=0.1", "modular:p=31,op=add,train=0.5,corrupt=0.1",
            "modular-arithmetic data spec with corrupted training labels (the split and the corruption are fixed; seeds change the initialization)"),
        new("grok_arch", RecipeOptionKind.Text, "mlp:62-256-31:square:nobias", "mlp:62-256-31:square:nobias",
            "the network (Doshi et al.'s: x² activation, no biases); its first layer must be Linear over the 2p one-hot inputs (the ipr probe)"),
        new("grok_lr", RecipeOptionKind.Double, "0.01", "0.01", "AdamW learning rate (full batch)"),
        new("grok_beta2", RecipeOptionKind.Double, "0.98", "0.98", "AdamW β₂"),
        new("grok_decay", RecipeOptionKind.Double, "5", "5", "decoupled weight decay of the regularized runs"),
        new("grok_baseline_decay", RecipeOptionKind.Double, "0", "0", "weight decay of the comparison runs"),
        new("grok_steps", RecipeOptionKind.Int, "3000", "1000", "full-batch steps of every run"),
        new("grok_probe_every", RecipeOptionKind.Int, "10", "10", "steps between the ipr and examples probe rows"),
        new("memorized_accuracy", RecipeOptionKind.Double, "0.99", "0.99", "train accuracy (on the training labels) that counts as memorized"),
        new("generalized_accuracy", RecipeOptionKind.Double, "0.9", "0.9", "test accuracy that counts as generalized"),
    ];

    protected override (int Default, int Quick) SeedCounts => (4, 2);

    public override string Criterion(RecipeOptions o) =>
        $"Over seeds, with decoupled weight decay {o.Double("grok_decay"):G3}: (1) delay = first step with test accuracy ≥ {o.Double("generalized_accuracy"):G3} minus first step with " +
        $"train accuracy ≥ {o.Double("memorized_accuracy"):G3}, mean minus {Verdicts.Z:G} s.e. above 0 (a seed that never reaches either within {o.Int("grok_steps")} steps makes this part inconclusive); " +
        $"(2) the mean Fourier IPR of the first layer at the end minus at the memorization step, mean minus {Verdicts.Z:G} s.e. above 0; " +
        $"(3) final accuracy on the corrupted training examples (their corrupted labels) with weight decay {o.Double("grok_baseline_decay"):G3} minus with {o.Double("grok_decay"):G3}, paired per seed, above 0 by {Verdicts.Z:G} s.e.; " +
        $"(4) final test accuracy with {o.Double("grok_decay"):G3} minus with {o.Double("grok_baseline_decay"):G3}, paired per seed, above 0 by {Verdicts.Z:G} s.e.; " +
        "a part whose mean plus 2 s.e. is below 0 is not supported; all four supported: supported, any not supported: not-supported, otherwise inconclusive";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        double decay = o.Double("grok_decay"), baseline = o.Double("grok_baseline_decay");
        double memorizedAt = o.Double("memorized_accuracy"), generalizedAt = o.Double("generalized_accuracy");
        var memorized = new List<double>();
        var generalized = new List<double>();
        var iprBefore = new List<double>();
        var iprAfter = new List<double>();
        var corrupted = (Decay: new List<double>(), Baseline: new List<double>());
        var test = (Decay: new List<double>(), Baseline: new List<double>());
        var accuracyCurves = new List<(string, double[], double[])>();
        var iprCurves = new List<(string, double[], double[])>();
        foreach (long seed in o.Seeds)
        {
            var regularized = c.Train(string.Create(CultureInfo.InvariantCulture, $"decay{decay:G4}-s{seed}"), Spec(o, decay, seed));
            var plain = c.Train(string.Create(CultureInfo.InvariantCulture, $"decay{baseline:G4}-s{seed}"), Spec(o, baseline, seed));

            var rows = RunFiles.ReadMetrics(regularized.Directory);
            double memorizedStep = FirstStep(rows.Select(r => (r.Step, r.TrainAccuracy)), memorizedAt);
            memorized.Add(memorizedStep);
            generalized.Add(FirstStep(rows.Select(r => (r.Step, r.TestAccuracy)), generalizedAt));
            var ipr = regularized.Series("ipr");
            iprBefore.Add(double.IsFinite(memorizedStep) ? AtOrAfter(ipr, memorizedStep) : double.NaN);
            iprAfter.Add(ipr.Values.DefaultIfEmpty(double.NaN).Last());
            corrupted.Decay.Add(Last(regularized.Series("examples", "noisy_accuracy")));
            corrupted.Baseline.Add(Last(plain.Series("examples", "noisy_accuracy")));
            test.Decay.Add(regularized.Outcome.Training.Final?.TestAccuracy ?? double.NaN);
            test.Baseline.Add(plain.Outcome.Training.Final?.TestAccuracy ?? double.NaN);

            if (seed == o.Seeds.First())
            {
                foreach (var (label, run, m) in new[] { ($"λ = {decay:G3}", regularized, rows), ($"λ = {baseline:G3}", plain, RunFiles.ReadMetrics(plain.Directory)) })
                {
                    accuracyCurves.Add(($"{label}: train", m.Select(r => (double)r.Step).ToArray(), m.Select(r => r.TrainAccuracy).ToArray()));
                    accuracyCurves.Add(($"{label}: test", m.Select(r => (double)r.Step).ToArray(), m.Select(r => r.TestAccuracy).ToArray()));
                    var noisy = run.Series("examples", "noisy_accuracy");
                    accuracyCurves.Add(($"{label}: corrupted (their labels)", noisy.Steps, noisy.Values));
                    var runIpr = run.Series("ipr");
                    iprCurves.Add((label, runIpr.Steps, runIpr.Values));
                }
            }
        }
        c.LinePlot("accuracy.png", $"Train, test and corrupted-example accuracy (seed {o.Seeds.First()})", "step", "accuracy", accuracyCurves);
        c.LinePlot("ipr.png", $"Mean Fourier IPR of the first-layer weights (seed {o.Seeds.First()})", "step", "IPR", iprCurves);

        return new JsonObject
        {
            ["data"] = o.Text("grok_data"),
            ["arch"] = o.Text("grok_arch"),
            ["optimizer"] = "adamw",
            ["lr"] = o.Double("grok_lr"),
            ["beta2"] = o.Double("grok_beta2"),
            ["steps"] = o.Int("grok_steps"),
            ["weight_decay"] = decay,
            ["baseline_weight_decay"] = baseline,
            ["memorized_accuracy"] = memorizedAt,
            ["generalized_accuracy"] = generalizedAt,
            ["memorized_step"] = Estimate.Of(memorized).ToJson(),
            ["generalized_step"] = Estimate.Of(generalized).ToJson(),
            ["delay"] = Estimate.Of(generalized.Zip(memorized, (g, m) => g - m)).ToJson(),
            ["ipr_at_memorization"] = Estimate.Of(iprBefore).ToJson(),
            ["ipr_final"] = Estimate.Of(iprAfter).ToJson(),
            ["ipr_rise"] = Estimate.Of(iprAfter.Zip(iprBefore, (a, b) => a - b)).ToJson(),
            ["corrupted_accuracy"] = Estimate.Of(corrupted.Decay).ToJson(),
            ["corrupted_accuracy_baseline"] = Estimate.Of(corrupted.Baseline).ToJson(),
            ["corrupted_drop"] = Estimate.Of(corrupted.Baseline.Zip(corrupted.Decay, (b, d) => b - d)).ToJson(),
            ["test_accuracy"] = Estimate.Of(test.Decay).ToJson(),
            ["test_accuracy_baseline"] = Estimate.Of(test.Baseline).ToJson(),
            ["test_gain"] = Estimate.Of(test.Decay.Zip(test.Baseline, (d, b) => d - b)).ToJson(),
        };
    }

    private static RunSpec Spec(RecipeOptions o, double decay, long seed) => new()
    {
        Data = o.Text("grok_data"), Arch = o.Text("grok_arch"), Optimizer = "adamw", Lr = o.Double("grok_lr"), AdamBeta2 = o.Double("grok_beta2"), WeightDecay = decay,
        Batch = FullBatch, Epochs = o.Int("grok_steps"), Seed = seed,
        Probe = [$"ipr@every={o.Int("grok_probe_every")}", $"examples@every={o.Int("grok_probe_every")}"],
    };

    /// <summary>Larger than any modular training set (p ≤ 400), so one batch is the whole set and one epoch is one step.</summary>
    private const int FullBatch = 160_000;

    /// <summary>The first step whose value reaches <paramref name="threshold"/>; NaN if none does.</summary>
    private static double FirstStep(IEnumerable<(long Step, double Value)> rows, double threshold) =>
        rows.Where(r => r.Value >= threshold).Select(r => (double)r.Step).DefaultIfEmpty(double.NaN).First();

    /// <summary>The first probe value at or after <paramref name="step"/> (the probe rows are every K steps).</summary>
    private static double AtOrAfter((double[] Steps, double[] Values) series, double step) =>
        series.Steps.Zip(series.Values).Where(p => p.First >= step).Select(p => p.Second).DefaultIfEmpty(double.NaN).First();

    private static double Last((double[] Steps, double[] Values) series) => series.Values.DefaultIfEmpty(double.NaN).Last();

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var memorized = Estimate.FromJson(evidence["memorized_step"]);
        var generalized = Estimate.FromJson(evidence["generalized_step"]);
        int missing = memorized.Values.Concat(generalized.Values).Count(v => !double.IsFinite(v));
        var delay = missing > 0
            ? new Judgement(Verdict.Inconclusive, $"generalization after memorization: {missing} of the memorization/generalization steps were never reached within the run")
            : Verdicts.AtLeast(Estimate.FromJson(evidence["delay"]), 0, "generalization after memorization: steps from memorized to generalized");
        return Judgement.All(
            delay,
            Verdicts.AtLeast(Estimate.FromJson(evidence["ipr_rise"]), 0, "Fourier IPR at the end minus at memorization"),
            Verdicts.AtLeast(Estimate.FromJson(evidence["corrupted_drop"]), 0, "corrupted-example accuracy without minus with weight decay"),
            Verdicts.AtLeast(Estimate.FromJson(evidence["test_gain"]), 0, "test accuracy with minus without weight decay"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        string E(string key) => Estimate.FromJson(evidence[key]).ToString();
        return
        [
            ("step train accuracy memorized", E("memorized_step")),
            ("step test accuracy generalized", E("generalized_step")),
            ("delay (steps)", E("delay")),
            ("IPR at memorization → final", $"{E("ipr_at_memorization")} → {E("ipr_final")}"),
            ("corrupted-example accuracy, with / without decay", $"{E("corrupted_accuracy")} / {E("corrupted_accuracy_baseline")}"),
            ("test accuracy, with / without decay", $"{E("test_accuracy")} / {E("test_accuracy_baseline")}"),
        ];
    }
}
