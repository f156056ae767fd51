using System.Text.Json.Nodes;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Linear mode connectivity and the lottery ticket (Frankle, Dziugaite, Roy and Carbin 2020): two
/// copies of a network trained from step k with different data orders end in one linearly connected
/// basin once k is past a small step (the instability, the test error barrier over the endpoints'
/// mean, falls below 2%), and iterative magnitude pruning that rewinds to that k keeps more accuracy
/// at high sparsity than rewinding to the initialization. Each seed trains one run with a checkpoint
/// at k, then `geodesy landscape instability` at 0 and k, and `geodesy prune` rewinding to 0 and to k.
/// </summary>
public sealed class ModeConnectivityRecipe : Recipe
{
    public override string Name => "mode-connectivity";
    public override string Claim => "The error barrier between two copies trained from step k falls to near zero after a small k, and pruning with rewinding to that k keeps accuracy at sparsities where rewinding to 0 does not.";
    public override string Source => "Frankle, Dziugaite, Roy & Carbin 2020, Linear mode connectivity and the lottery ticket hypothesis (ICML), Fig. 3 (instability against k) and Fig. 5 (rewinding)";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-100-10", "mlp:784-64-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset)"),
        new("lr", RecipeOptionKind.Double, "0.1", "0.1", "learning rate (momentum SGD); larger rates make early training less stable"),
        new("epochs", RecipeOptionKind.Int, "8", "5", "epochs of the run, of each copy and of each pruning round"),
        new("rewind_step", RecipeOptionKind.Int, "32", "16", "k: the step the copies branch from and pruning rewinds to"),
        new("rounds", RecipeOptionKind.Int, "5", "3", "pruning rounds"),
        new("rate", RecipeOptionKind.Double, "0.5", "0.5", "fraction of the remaining weights pruned per round (global magnitude)"),
        new("points", RecipeOptionKind.Int, "11", "7", "points on the linear path between the copies"),
        new("examples", RecipeOptionKind.Int, "1000", "500", "training and test examples of the barrier"),
    ];

    protected override (int Default, int Quick) SeedCounts => (4, 3);

    public override string Criterion(RecipeOptions o) =>
        $"(a) the test error barrier over the endpoints' mean between two copies trained from step k = {o.Int("rewind_step")}: mean + {Verdicts.Z:G} s.e. over seeds " +
        $"below {InstabilitySettings.StableThreshold:G2} (Frankle et al.'s 'stable'; mean − {Verdicts.Z:G} s.e. above it: not-supported); " +
        $"(b) after {o.Int("rounds")} rounds of pruning at rate {o.Double("rate"):G3}, the per-seed test accuracy rewinding to k minus rewinding to 0: " +
        $"mean − {Verdicts.Z:G} s.e. above 0 (mean + {Verdicts.Z:G} s.e. below 0: not-supported); both parts by Judgement.All";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        // k must be a step of the run (a checkpoint before its end), and the barrier's examples at most the training set:
        // with a small subset or few epochs both are cut down, and the evidence records the k used.
        var plain = new RunSpec();
        long runSteps = (long)Math.Ceiling(o.Int("subset") / (double)plain.Batch) * o.Int("epochs");
        long k = Math.Max(1, Math.Min(o.Int("rewind_step"), runSteps - 1));
        long examples = Math.Min(o.Int("examples"), o.Int("subset"));
        var barrier0 = new List<double>();
        var barrierK = new List<double>();
        var rewind0 = new List<double[]>();
        var rewindK = new List<double[]>();
        double[] sparsity = [];
        foreach (long seed in o.Seeds)
        {
            var run = c.Train($"run-s{seed}", new RunSpec
            {
                Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), Lr = o.Double("lr"),
                Epochs = o.Int("epochs"), Seed = seed, CheckpointSteps = [k],
            });
            var instability = c.Instability(new InstabilitySettings
            {
                Run = run.Directory, Steps = [0, k], Points = o.Int("points"), Examples = examples, Seed = seed,
            });
            barrier0.Add(instability.Points[0].Test.ErrorOverEndpointMean);
            barrierK.Add(instability.Points[1].Test.ErrorOverEndpointMean);
            var p0 = c.PruneRewind($"rewind0-s{seed}", run.Directory, o.Int("rounds"), o.Double("rate"), 0);
            var pk = c.PruneRewind($"rewind{k}-s{seed}", run.Directory, o.Int("rounds"), o.Double("rate"), k);
            rewind0.Add(p0.Rounds.Select(r => r.TestAccuracy).ToArray());
            rewindK.Add(pk.Rounds.Select(r => r.TestAccuracy).ToArray());
            sparsity = p0.Rounds.Select(r => r.Sparsity).ToArray();
        }
        var table = new JsonArray();
        for (int r = 0; r < sparsity.Length; r++)
            table.Add(new JsonObject
            {
                ["round"] = r,
                ["sparsity"] = sparsity[r],
                ["test_accuracy_rewind_0"] = Estimate.Of(rewind0.Select(a => a[r])).ToJson(),
                ["test_accuracy_rewind_k"] = Estimate.Of(rewindK.Select(a => a[r])).ToJson(),
            });
        int last = sparsity.Length - 1;
        c.LinePlot("pruning.png", "Test accuracy after pruning, rewinding to 0 and to k (mean over seeds)", "sparsity", "test accuracy",
        [
            ("rewind to 0", sparsity, sparsity.Select((_, r) => rewind0.Average(a => a[r])).ToArray()),
            ($"rewind to step {k}", sparsity, sparsity.Select((_, r) => rewindK.Average(a => a[r])).ToArray()),
        ]);
        return new JsonObject
        {
            ["rewind_step"] = k,
            ["rewind_step_requested"] = o.Int("rewind_step"),
            ["stable_threshold"] = InstabilitySettings.StableThreshold,
            ["instability_at_0"] = Estimate.Of(barrier0).ToJson(),
            ["instability_at_k"] = Estimate.Of(barrierK).ToJson(),
            ["pruning"] = table,
            ["final_sparsity"] = last >= 0 ? sparsity[last] : null,
            ["final_accuracy_gain"] = Estimate.Of(rewindK.Zip(rewind0, (a, b) => a[^1] - b[^1])).ToJson(),
            ["data"] = o.Text("data"), ["arch"] = o.Text("arch"),
        };
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        double threshold = evidence["stable_threshold"] is JsonValue t ? (double)t : InstabilitySettings.StableThreshold;
        // Error barriers lie in [-1, 1]; "below the threshold" is the interval [-1, threshold].
        return Judgement.All(
            Verdicts.Within(Estimate.FromJson(evidence["instability_at_k"]), -1, threshold, "instability (test error barrier) at k"),
            Verdicts.AtLeast(Estimate.FromJson(evidence["final_accuracy_gain"]), 0, "test accuracy at the final sparsity, rewinding to k minus to 0"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        var rows = new List<(string, string)>
        {
            ("instability at step 0", Estimate.FromJson(evidence["instability_at_0"]).ToString()),
            ($"instability at step {evidence["rewind_step"]}", Estimate.FromJson(evidence["instability_at_k"]).ToString()),
        };
        foreach (var r in (evidence["pruning"] as JsonArray ?? []).OfType<JsonObject>())
            rows.Add(($"sparsity {(double)r["sparsity"]!:P1}: test acc rewind 0 / rewind k",
                $"{Estimate.FromJson(r["test_accuracy_rewind_0"])} / {Estimate.FromJson(r["test_accuracy_rewind_k"])}"));
        rows.Add(("final gain, rewind k minus rewind 0", Estimate.FromJson(evidence["final_accuracy_gain"]).ToString()));
        return rows;
    }
}
