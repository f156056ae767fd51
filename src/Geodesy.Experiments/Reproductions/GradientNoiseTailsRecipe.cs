using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Non-Gaussian gradient noise (Simsekli et al. 2019; Panigrahi et al. 2019): at small batch sizes
/// the tail index α̂ of the mini-batch gradient noise is below 2 (the Gaussian value) and
/// Shapiro-Wilk rejects Gaussianity for most coordinates. One run per seed is trained with one
/// `sgn` probe per batch size (`sgn:batch=B`) at the end of each scheduled epoch; the evidence is
/// the mean over those rows per seed, then the mean and standard error over seeds.
/// </summary>
public sealed class GradientNoiseTailsRecipe : Recipe
{
    public override string Name => "gradient-noise-tails";
    public override string Claim => "At small batch sizes the tail index of the mini-batch gradient noise is below 2 and Gaussianity of the noise is rejected.";
    public override string Source => "Simsekli, Sagun & Gürbüzbalaban 2019, A tail-index analysis of stochastic gradient noise in deep neural networks (ICML), Fig. 3; Panigrahi, Somani, Goyal & Netrapalli 2019, Non-Gaussianity of stochastic gradient noise (arXiv:1910.09626), Sec. 3";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-64-10", "mlp:784-32-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset)"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate (SGD with momentum 0.9, batch 64)"),
        new("epochs", RecipeOptionKind.Int, "6", "3", "training epochs; the noise is measured at the start and after every 'probe_epochs' epochs"),
        new("probe_epochs", RecipeOptionKind.Int, "2", "1", "measure every K epochs and after the last (the start is left out: the noise of the initialization is not the noise of training)"),
        new("noise_batch_sizes", RecipeOptionKind.IntList, "4,16,64", "4,16", "mini-batch sizes of the noise; the claim is judged at the smallest"),
        new("noise_batches", RecipeOptionKind.Int, "100", "60", "mini-batches drawn per measurement (the sample size of each Shapiro-Wilk test)"),
        new("probe_examples", RecipeOptionKind.Int, "512", "256", "examples of the probe set the mini-batches are drawn from"),
        new("rejected", RecipeOptionKind.Double, "0.5", "0.5", "the fraction of coordinates Shapiro-Wilk (level 0.05) must reject for 'Gaussianity rejected'"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"at the smallest batch size ({o.Ints("noise_batch_sizes").Min()}), with the mean over seeds of each run's mean over its measurements after the start: " +
        $"(a) the tail index α̂ ± {Verdicts.Z:G} s.e. lies in [0, 2] (entirely above 2: not-supported) and " +
        $"(b) the fraction of coordinates whose noise Shapiro-Wilk rejects at level 0.05 exceeds {o.Double("rejected"):G3} by {Verdicts.Z:G} s.e. " +
        $"(below it by {Verdicts.Z:G} s.e.: not-supported); otherwise inconclusive";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        int[] batches = o.Ints("noise_batch_sizes");
        var alpha = batches.ToDictionary(b => b, _ => new List<double>());
        var coordinates = batches.ToDictionary(b => b, _ => new List<double>());
        var projections = batches.ToDictionary(b => b, _ => new List<double>());
        int every = o.Int("probe_epochs");
        string epochs = string.Join(",", Enumerable.Range(1, o.Int("epochs")).Where(e => e % every == 0 || e == o.Int("epochs")));
        foreach (long seed in o.Seeds)
        {
            var spec = new RunSpec
            {
                Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), Optimizer = "momentum",
                Lr = o.Double("lr"), Batch = 64, Epochs = o.Int("epochs"), Seed = seed, ProbeExamples = o.Int("probe_examples"),
                Probe = batches.Select(b => $"sgn:batch={b},batches={o.Int("noise_batches")}@epochs={epochs}").ToArray(),
            };
            var run = c.Train($"s{seed}", spec);
            foreach (int b in batches)
            {
                var rows = run.Rows("sgn").Where(r => (long?)r["batch"] == b).ToList();
                static double Mean(IEnumerable<JsonObject> rows, string key) =>
                    rows.Select(r => r[key] is JsonValue v && v.TryGetValue<double>(out double d) ? d : double.NaN).DefaultIfEmpty(double.NaN).Average();
                alpha[b].Add(Mean(rows, "value"));
                coordinates[b].Add(Mean(rows, "coordinates_rejected"));
                projections[b].Add(Mean(rows, "projections_rejected"));
            }
        }
        var perBatch = new JsonArray(batches.Select(b => (JsonNode)new JsonObject
        {
            ["batch"] = b,
            ["tail_index"] = Estimate.Of(alpha[b]).ToJson(),
            ["coordinates_rejected"] = Estimate.Of(coordinates[b]).ToJson(),
            ["projections_rejected"] = Estimate.Of(projections[b]).ToJson(),
        }).ToArray());
        double[] xs = batches.Select(b => (double)b).ToArray();
        c.LinePlot("tail-index.png", "tail index α̂ of the gradient noise against the mini-batch size (mean over seeds)", "batch size", "α̂",
            [("α̂", xs, batches.Select(b => alpha[b].Average()).ToArray())], [("Gaussian (α = 2)", 2.0)]);
        return new JsonObject { ["batches"] = perBatch, ["data"] = o.Text("data"), ["arch"] = o.Text("arch"), ["epochs_measured"] = epochs };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        var smallest = (evidence["batches"] as JsonArray ?? []).OfType<JsonObject>().MinBy(x => (int?)x["batch"] ?? int.MaxValue);
        if (smallest is null) return new(Verdict.Inconclusive, "no batch size measured");
        return Judgement.All(
            Verdicts.Within(Estimate.FromJson(smallest["tail_index"]), 0, 2, $"tail index at batch {smallest["batch"]}"),
            Verdicts.AtLeast(Estimate.FromJson(smallest["coordinates_rejected"]), options.Double("rejected"), $"fraction of coordinates rejected at batch {smallest["batch"]}"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
        (evidence["batches"] as JsonArray ?? []).OfType<JsonObject>().SelectMany(x => new[]
        {
            ($"batch {x["batch"]}: tail index α̂", Estimate.FromJson(x["tail_index"]).ToString()),
            ($"batch {x["batch"]}: coordinates rejected", Estimate.FromJson(x["coordinates_rejected"]).ToString()),
            ($"batch {x["batch"]}: projections rejected", Estimate.FromJson(x["projections_rejected"]).ToString()),
        }).ToList();
}
