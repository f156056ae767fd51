using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// The break-even point (Jastrzebski et al. 2020): early in training, λmax of the Hessian and the
/// trace of the gradient covariance K rise to a peak whose height falls as the ratio of learning
/// rate to batch size grows. Each (lr, batch) is trained with the hessian-top and gradient-noise
/// probes of `geodesy train`; the peak is the largest value the probe records in the run.
/// </summary>
public sealed class BreakEvenRecipe : Recipe
{
    public override string Name => "break-even";
    public override string Claim => "The early peaks of the Hessian's top eigenvalue and of the gradient-noise trace Tr(K) are lower when the learning rate to batch size ratio is larger.";
    public override string Source => "Jastrzebski et al. 2020, The break-even point on optimization trajectories of deep neural networks (ICLR), Fig. 2 and Fig. 3";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-64-10", "mlp:784-32-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset)"),
        new("lrs", RecipeOptionKind.DoubleList, "0.05,0.5", "0.05,0.5", "learning rates (plain SGD); 2/lr should span the height λmax reaches"),
        new("batches", RecipeOptionKind.IntList, "64", "64", "batch sizes"),
        new("until_loss", RecipeOptionKind.Double, "0.3", "0.3", "train each run until its train cross-entropy is below this (the same point of training for every lr)"),
        new("max_epochs", RecipeOptionKind.Int, "60", "30", "give up after this many epochs"),
        new("probe_every", RecipeOptionKind.Int, "10", "8", "probe every K steps"),
        new("probe_examples", RecipeOptionKind.Int, "256", "128", "examples of the probe set"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"every run trains until its train cross-entropy is below {o.Double("until_loss"):G3}; the peak is the largest value a probe records on the way; " +
        "for the (lr, batch) pairs with the smallest and the largest lr/batch ratio, the mean over seeds of the peak λmax and of the peak Tr(K) " +
        $"must be larger at the smallest ratio by more than {Verdicts.Z:G} standard errors of the difference (both: supported; " +
        $"either larger at the largest ratio by more than {Verdicts.Z:G} s.e.: not-supported; otherwise inconclusive)";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var configurations = new JsonArray();
        var lambdaCurves = new List<(string, double[], double[])>();
        var noiseCurves = new List<(string, double[], double[])>();
        foreach (double lr in o.Doubles("lrs"))
            foreach (int batch in o.Ints("batches"))
            {
                var lambdaPeaks = new List<double>();
                var noisePeaks = new List<double>();
                foreach (long seed in o.Seeds)
                {
                    var spec = new RunSpec
                    {
                        Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), Optimizer = "sgd",
                        Lr = lr, Batch = batch, UntilLoss = o.Double("until_loss"), MaxEpochs = o.Int("max_epochs"), Seed = seed, ProbeExamples = o.Int("probe_examples"),
                        Probe = [$"hessian-top:k=1@every={o.Int("probe_every")}", $"gradient-noise@every={o.Int("probe_every")}"],
                    };
                    var run = c.Train(string.Create(CultureInfo.InvariantCulture, $"lr{lr:G4}-b{batch}-s{seed}"), spec);
                    var lambda = run.Series("hessian-top");
                    var noise = run.Series("gradient-noise");
                    lambdaPeaks.Add(lambda.Values.DefaultIfEmpty(double.NaN).Max());
                    noisePeaks.Add(noise.Values.DefaultIfEmpty(double.NaN).Max());
                    if (seed == 0)
                    {
                        string label = string.Create(CultureInfo.InvariantCulture, $"lr {lr:G4}, batch {batch}");
                        lambdaCurves.Add((label, lambda.Steps, lambda.Values));
                        noiseCurves.Add((label, noise.Steps, noise.Values));
                    }
                }
                configurations.Add(new JsonObject
                {
                    ["lr"] = lr, ["batch"] = batch, ["ratio"] = lr / batch,
                    ["peak_lambda_max"] = Estimate.Of(lambdaPeaks).ToJson(),
                    ["peak_trace_k"] = Estimate.Of(noisePeaks).ToJson(),
                });
            }
        c.LinePlot("lambda-max.png", "λmax of the Hessian during early training (seed 0)", "step", "λmax", lambdaCurves);
        c.LinePlot("trace-k.png", "Tr(K), the gradient-noise trace, during early training (seed 0)", "step", "Tr K", noiseCurves, logY: true);
        return new JsonObject { ["configurations"] = configurations, ["data"] = o.Text("data"), ["arch"] = o.Text("arch") };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var configs = (evidence["configurations"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        if (configs.Count < 2) return new(Verdict.Inconclusive, "fewer than two (lr, batch) configurations: nothing to compare");
        var low = configs.MinBy(Ratio)!;
        var high = configs.MaxBy(Ratio)!;
        if (Ratio(low) == Ratio(high)) return new(Verdict.Inconclusive, "every configuration has the same lr/batch ratio");
        return Judgement.All(
            Verdicts.Greater(Estimate.FromJson(low["peak_lambda_max"]), Estimate.FromJson(high["peak_lambda_max"]), "peak λmax, smallest minus largest ratio"),
            Verdicts.Greater(Estimate.FromJson(low["peak_trace_k"]), Estimate.FromJson(high["peak_trace_k"]), "peak Tr(K), smallest minus largest ratio"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["configurations"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(c => new[]
        {
            ($"lr {(double)c["lr"]!:G4}, batch {c["batch"]}: peak λmax", Estimate.FromJson(c["peak_lambda_max"]).ToString()),
            ($"lr {(double)c["lr"]!:G4}, batch {c["batch"]}: peak Tr(K)", Estimate.FromJson(c["peak_trace_k"]).ToString()),
        }).ToList();

    private static double Ratio(JsonObject c) => (double)c["ratio"]!;
}
