using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Dynamical stability and the edge of stability (Wu, Ma &amp; E 2018; Cohen et al. 2021): under
/// full-batch gradient descent with step η the sharpness λmax rises until it reaches the stability
/// threshold 2/η of a quadratic and then hovers there. Each η is trained with plain SGD on the
/// whole (subset) training set as one batch, with the hessian-top probe on the same examples; the
/// probe's sharpness-ratio λmax·η/2 is 1 at the threshold.
/// </summary>
public sealed class EdgeOfStabilityRecipe : Recipe
{
    public override string Name => "edge-of-stability";
    public override string Claim => "With full-batch gradient descent at step size η, the top Hessian eigenvalue rises to about 2/η and stays there.";
    public override string Source => "Cohen et al. 2021, Gradient descent on neural networks typically occurs at the edge of stability (ICLR), Fig. 1; Wu, Ma & E 2018, How SGD selects the global minima (NeurIPS), Sec. 3";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-64-64-10:tanh", "mlp:784-64-64-10:tanh", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "1000", "500", "training examples: the full batch, and the probe set"),
        new("lrs", RecipeOptionKind.DoubleList, "0.3,0.6", "0.4", "step sizes η"),
        new("until_loss", RecipeOptionKind.Double, "0.1", "0.1", "stop when the train cross-entropy is below this (about 99% train accuracy; with the cross-entropy λmax falls once the loss nears 0)"),
        new("steps", RecipeOptionKind.Int, "400", "200", "at most this many gradient-descent steps"),
        new("probe_every", RecipeOptionKind.Int, "10", "5", "probe every K steps"),
        new("late", RecipeOptionKind.Double, "0.5", "0.5", "the late phase: this last fraction of the probe rows"),
        new("band", RecipeOptionKind.DoubleList, "0.8,1.25", "0.8,1.25", "the band of λmax·η/2 that counts as 'about 2/η'"),
    ];

    protected override (int Default, int Quick) SeedCounts => (3, 2);

    public override string Criterion(RecipeOptions o)
    {
        var band = o.Doubles("band");
        return $"every run stops when its train cross-entropy is below {o.Double("until_loss"):G3} (at most {o.Int("steps")} steps); for every η: (a) the mean over seeds of λmax·η/2 over the last {o.Double("late"):P0} of training, ± {Verdicts.Z:G} s.e., lies in [{band[0]:G3}, {band[^1]:G3}] " +
            $"(entirely outside: not-supported); (b) it exceeds the ratio at the first probe by more than {Verdicts.Z:G} s.e. of the difference (λmax rose)";
    }

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var runs = new JsonArray();
        var curves = new List<(string, double[], double[])>();
        int subset = o.Int("subset");
        foreach (double lr in o.Doubles("lrs"))
        {
            var late = new List<double>();
            var first = new List<double>();
            foreach (long seed in o.Seeds)
            {
                var spec = new RunSpec
                {
                    Data = o.Text("data"), Arch = o.Text("arch"), Subset = subset, Optimizer = "sgd", Lr = lr,
                    Batch = subset, UntilLoss = o.Double("until_loss"), MaxEpochs = o.Int("steps"), Seed = seed, ProbeExamples = subset,
                    Probe = [$"hessian-top:k=1@every={o.Int("probe_every")}"],
                };
                var run = c.Train(string.Create(CultureInfo.InvariantCulture, $"lr{lr:G4}-s{seed}"), spec);
                var ratio = run.Series("sharpness-ratio");
                int start = (int)Math.Floor(ratio.Values.Length * (1 - o.Double("late")));
                late.Add(ratio.Values.Skip(start).DefaultIfEmpty(double.NaN).Average());
                first.Add(ratio.Values.DefaultIfEmpty(double.NaN).First());
                if (seed == 0) curves.Add((string.Create(CultureInfo.InvariantCulture, $"η = {lr:G4}"), ratio.Steps, ratio.Values));
            }
            runs.Add(new JsonObject
            {
                ["lr"] = lr,
                ["threshold"] = 2 / lr,
                ["late_ratio"] = Estimate.Of(late).ToJson(),
                ["first_ratio"] = Estimate.Of(first).ToJson(),
            });
        }
        var band = o.Doubles("band");
        c.LinePlot("sharpness-ratio.png", "λmax·η/2 under full-batch gradient descent (1 = the threshold 2/η; seed 0)", "step", "λmax·η/2", curves,
            [("2/η", 1.0), ("band", band[0]), ("band", band[^1])]);
        return new JsonObject { ["step_sizes"] = runs, ["data"] = o.Text("data"), ["arch"] = o.Text("arch"), ["subset"] = subset };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var band = options.Doubles("band");
        var parts = (evidence["step_sizes"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(s =>
        {
            string eta = $"η = {(double)s["lr"]!:G4}";
            var late = Estimate.FromJson(s["late_ratio"]);
            return new[]
            {
                Verdicts.Within(late, band[0], band[^1], $"{eta}: late λmax·η/2"),
                Verdicts.Greater(late, Estimate.FromJson(s["first_ratio"]), $"{eta}: late minus first λmax·η/2"),
            };
        }).ToArray();
        return parts.Length == 0 ? new(Verdict.Inconclusive, "no step size was run") : Judgement.All(parts);
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["step_sizes"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(s => new[]
        {
            ($"η = {(double)s["lr"]!:G4}: first λmax·η/2", Estimate.FromJson(s["first_ratio"]).ToString()),
            ($"η = {(double)s["lr"]!:G4}: late λmax·η/2", Estimate.FromJson(s["late_ratio"]).ToString()),
        }).ToList();
}
