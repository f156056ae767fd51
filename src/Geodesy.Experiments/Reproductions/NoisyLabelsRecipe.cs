using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Noisy labels are learned late (Arpit et al. 2017; Liu et al. 2020), and early-learning
/// regularization (Liu et al. 2020) and the Fisher penalty (Jastrzebski et al. 2021) delay them
/// further. Three arms on the same label-noised subset — plain cross-entropy, `--elr` and
/// `--fisher-penalty` — each trained for a fixed number of epochs with the `examples` probe at its
/// default schedule (the start and every epoch). An example's learning epoch is the first epoch from
/// which the model predicts its training label (the flipped one for a noisy example) to the end;
/// the recipe summarizes it per seed by the restricted mean learning epoch (see
/// <see cref="RestrictedMeanEpoch"/>), which counts "never" and so covers both a delay and a prevention.
/// </summary>
public sealed class NoisyLabelsRecipe : Recipe
{
    public override string Name => "noisy-labels";
    public override string Claim => "With a fraction of the training labels flipped, the network learns the clean examples first and memorizes the noisy ones later, and early-learning regularization and the Fisher penalty delay (or prevent) the memorization of the noisy ones further.";
    public override string Source => "Arpit et al. 2017, A closer look at memorization in deep networks (ICML), Sec. 3; Liu et al. 2020, Early-learning regularization prevents memorization of noisy labels (NeurIPS), Fig. 1; Jastrzebski et al. 2021, Catastrophic Fisher explosion: early phase Fisher matrix impacts generalization (ICML), the section on the Fisher penalty and memorization";

    /// <summary>The three arms: label, folder prefix, and the key of the option that holds its regularizer (null: none).</summary>
    private static readonly (string Label, string Slug, string? Option)[] Arms =
    [
        ("plain", "plain", null),
        ("ELR", "elr", "elr"),
        ("Fisher penalty", "fp", "fisher_penalty"),
    ];

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-128-10", "mlp:784-128-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "1000", "500", "training examples (seeded stratified subset)"),
        new("noisy_fraction", RecipeOptionKind.Double, "0.4", "0.4", "the --label-noise of every arm: each training label becomes another class with this probability (seeded by the run seed)"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate (SGD with momentum 0.9)"),
        new("batch", RecipeOptionKind.Int, "32", "32", "batch size"),
        new("epochs", RecipeOptionKind.Int, "40", "40", "epochs of every arm (long enough for the plain arm to memorize the noisy labels)"),
        new("elr", RecipeOptionKind.Text, "3", "3", "the --elr value of the ELR arm (LAMBDA[,beta=B], docs/regularizers.md)"),
        new("fisher_penalty", RecipeOptionKind.Text, "0.3", "0.3", "the --fisher-penalty value of the Fisher-penalty arm (docs/regularizers.md)"),
        new("min_memorized", RecipeOptionKind.Double, "0.5", "0.5", "the plain arm must end with at least this fraction of the noisy labels memorized, or the comparison of the arms says nothing"),
    ];

    protected override (int Default, int Quick) SeedCounts => (4, 2);

    public override string Criterion(RecipeOptions o) =>
        $"every arm trains {o.Int("epochs")} epochs on {o.Int("subset")} examples with label noise {o.Double("noisy_fraction"):G3}; " +
        "an example's learning epoch is the first epoch from which it is predicted with its training label to the end (the examples probe); " +
        $"per seed, the restricted mean learning epoch of the clean and of the noisy examples (never learned counted as {o.Int("epochs")} + 1); " +
        $"with means over seeds and differences judged at {Verdicts.Z:G} standard errors: (a) in the plain arm the noisy examples' mean learning epoch exceeds the clean examples'; " +
        $"(b) with --elr {o.Text("elr")} and (c) with --fisher-penalty {o.Text("fisher_penalty")} the noisy examples' mean learning epoch exceeds the plain arm's; " +
        $"precondition: the plain arm's fraction of noisy labels memorized at the end, mean minus {Verdicts.Z:G} s.e., is at least {o.Double("min_memorized"):G3} " +
        "(a plain arm that clearly does not memorize makes the verdict inconclusive, not not-supported: the setting does not test the claim); " +
        "(a), (b), (c) and the precondition supported: supported; any of (a), (b), (c) reversed by more than 2 s.e.: not-supported; otherwise inconclusive";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        int epochs = o.Int("epochs");
        double fraction = o.Double("noisy_fraction");
        // Without flipped labels there is no noisy group to compare (and --label-noise refuses 1 or more).
        if (!(fraction > 0 && fraction < 1)) throw new Core.InputException($"--set noisy_fraction: must be in (0, 1) (got {o.Text("noisy_fraction")})");
        var arms = new JsonArray();
        var learnedCurves = new List<(string, double[], double[])>();
        foreach (var (label, slug, option) in Arms)
        {
            var clean = new List<double>();
            var noisy = new List<double>();
            var memorized = new List<double>();
            var cleanFinal = new List<double>();
            var tests = new List<double>();
            var curveRows = new List<IReadOnlyList<JsonObject>>();
            foreach (long seed in o.Seeds)
            {
                var spec = new RunSpec
                {
                    Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), LabelNoise = fraction,
                    Optimizer = "momentum", Lr = o.Double("lr"), Batch = o.Int("batch"), Epochs = epochs, Seed = seed,
                    Elr = option == "elr" ? o.Text("elr") : "",
                    FisherPenalty = option == "fisher_penalty" ? o.Text("fisher_penalty") : "",
                    Probe = ["examples"],
                };
                var run = c.Train($"{slug}-s{seed}", spec);
                var times = LearningTimes(run.Directory);
                var rows = run.Rows("examples");
                int last = (int?)rows.LastOrDefault()?["epoch"] ?? epochs;
                clean.Add(RestrictedMeanEpoch(times.Where(t => !t.Noisy).Select(t => t.Epoch), last));
                noisy.Add(RestrictedMeanEpoch(times.Where(t => t.Noisy).Select(t => t.Epoch), last));
                memorized.Add(FractionLearned(times.Where(t => t.Noisy).Select(t => t.Epoch)));
                cleanFinal.Add(FractionLearned(times.Where(t => !t.Noisy).Select(t => t.Epoch)));
                tests.Add(run.Outcome.Training.Final?.TestAccuracy ?? double.NaN);
                curveRows.Add(rows);
                if (seed == o.Seeds[0])
                    c.CleanNoisyPlot($"clean-vs-noisy-{slug}.png", $"{label}: accuracy of clean and noisy-label examples on their training label (solid) and fraction learned for good (dashed), seed {seed}", [run]);
            }
            learnedCurves.Add(($"{label}: clean", MeanCurve(curveRows, "epoch"), MeanCurve(curveRows, "clean_learned")));
            learnedCurves.Add(($"{label}: noisy", MeanCurve(curveRows, "epoch"), MeanCurve(curveRows, "noisy_learned")));
            arms.Add(new JsonObject
            {
                ["label"] = label,
                ["elr"] = option == "elr" ? o.Text("elr") : "",
                ["fisher_penalty"] = option == "fisher_penalty" ? o.Text("fisher_penalty") : "",
                ["clean_mean_learned_epoch"] = Estimate.Of(clean).ToJson(),
                ["noisy_mean_learned_epoch"] = Estimate.Of(noisy).ToJson(),
                // Not judged: how much later the noisy examples come than the clean ones of the same run
                // (Jastrzebski et al.: the penalty slows the noisy examples more than the clean ones).
                ["noisy_minus_clean_epoch"] = Estimate.Of(noisy.Zip(clean, (n, k) => n - k)).ToJson(),
                ["noisy_memorized_final"] = Estimate.Of(memorized).ToJson(),
                ["clean_learned_final"] = Estimate.Of(cleanFinal).ToJson(),
                ["test_accuracy"] = Estimate.Of(tests).ToJson(),
            });
        }
        c.LinePlot("learned-fraction.png", "Clean and noisy-label examples learned for good, mean over seeds",
            "epoch", "fraction learned", learnedCurves);
        return new JsonObject
        {
            ["arms"] = arms, ["epochs"] = epochs, ["never_counted_as"] = epochs + 1, ["min_memorized"] = o.Double("min_memorized"),
            ["data"] = o.Text("data"), ["arch"] = o.Text("arch"), ["noisy_fraction"] = fraction,
        };
    }

    /// <summary>One key of the examples-probe rows, averaged over seeds measurement by measurement (the runs share one schedule).</summary>
    private static double[] MeanCurve(IReadOnlyList<IReadOnlyList<JsonObject>> runs, string key) =>
        Enumerable.Range(0, runs.Min(r => r.Count))
            .Select(i => runs.Average(r => r[i][key] is JsonValue v && v.TryGetValue<double>(out double x) ? x : double.NaN)).ToArray();

    /// <summary>
    /// The mean learning epoch with "never" (null) counted as <paramref name="lastEpoch"/> + 1: the mean of
    /// min(T, E + 1), which equals the area above the fraction-learned curve over the measurements 0..E.
    /// It is a lower bound on the mean of the real learning times, so a late group is only ever underestimated.
    /// NaN for an empty group.
    /// </summary>
    public static double RestrictedMeanEpoch(IEnumerable<long?> learnedEpochs, int lastEpoch)
    {
        var t = learnedEpochs.Select(e => (double)(e ?? lastEpoch + 1)).ToArray();
        return t.Length == 0 ? double.NaN : t.Average();
    }

    /// <summary>The fraction of a group learned by the end (correct at the last measurement); NaN for an empty group.</summary>
    public static double FractionLearned(IEnumerable<long?> learnedEpochs)
    {
        var t = learnedEpochs.ToArray();
        return t.Length == 0 ? double.NaN : t.Count(e => e is not null) / (double)t.Length;
    }

    /// <summary>Per training example of a run folder: whether its label was flipped and its learning epoch (null = never), from examples.jsonl.</summary>
    public static IReadOnlyList<(bool Noisy, long? Epoch)> LearningTimes(string runDir)
    {
        string file = Path.Combine(runDir, "examples.jsonl");
        return File.ReadLines(file).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)
            .Select(r => ((bool)r["noisy"]!, r["learned_epoch"] is JsonValue v ? v.GetValue<long>() : (long?)null)).ToList();
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var arms = (evidence["arms"] as JsonArray ?? []).OfType<JsonObject>().ToDictionary(x => (string?)x["label"] ?? "", StringComparer.Ordinal);
        if (Arms.Any(a => !arms.ContainsKey(a.Label))) return new(Verdict.Inconclusive, "the evidence lacks one of the three arms");
        static Estimate E(JsonObject x, string key) => Estimate.FromJson(x[key]);
        var plain = arms["plain"];
        var memorizes = Verdicts.AtLeast(E(plain, "noisy_memorized_final"), options.Double("min_memorized"), "plain arm: fraction of noisy labels memorized at the end");
        // A plain arm that does not memorize does not refute the claim: the setting cannot show a delay.
        if (memorizes.Verdict == Verdict.NotSupported) memorizes = memorizes with { Verdict = Verdict.Inconclusive, Reason = memorizes.Reason + " (the plain arm does not memorize: this setting does not test the claim)" };
        return Judgement.All(
            memorizes,
            Verdicts.Greater(E(plain, "noisy_mean_learned_epoch"), E(plain, "clean_mean_learned_epoch"), "plain arm: mean learning epoch, noisy minus clean"),
            Verdicts.Greater(E(arms["ELR"], "noisy_mean_learned_epoch"), E(plain, "noisy_mean_learned_epoch"), "noisy examples' mean learning epoch, ELR minus plain"),
            Verdicts.Greater(E(arms["Fisher penalty"], "noisy_mean_learned_epoch"), E(plain, "noisy_mean_learned_epoch"), "noisy examples' mean learning epoch, Fisher penalty minus plain"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["arms"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(x => new[]
        {
            ($"{x["label"]}: mean learning epoch, clean / noisy", $"{Estimate.FromJson(x["clean_mean_learned_epoch"])} / {Estimate.FromJson(x["noisy_mean_learned_epoch"])}"),
            ($"{x["label"]}: noisy minus clean (same run)", Estimate.FromJson(x["noisy_minus_clean_epoch"]).ToString()),
            ($"{x["label"]}: noisy labels memorized at the end", Estimate.FromJson(x["noisy_memorized_final"]).ToString()),
            ($"{x["label"]}: test accuracy", Estimate.FromJson(x["test_accuracy"]).ToString()),
        }).ToList();
}
