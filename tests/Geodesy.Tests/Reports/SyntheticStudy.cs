using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;

namespace Geodesy.Tests.Reports;

/// <summary>
/// A store holding a finished 3×3×3 sweep written directly (no training), with every kind of
/// trial and measure outcome: 22 trials that met the stopping rule, 3 that stopped at max-epochs,
/// one diverged and one failed; a measure tracking the gap (rounded, so with ties), one that only
/// sees the width, one skipped on 4 models and one whose search ran out of budget on 2.
/// </summary>
internal static class SyntheticStudy
{
    public const string Sweep = "synthetic-sweep";
    public const int Converged = 22, MaxEpochs = 3;
    public static readonly int[] MaxEpochsAt = [4, 13, 22], SkippedAt = [0, 1, 2, 9], UnconvergedAt = [5, 6];
    public const int DivergedAt = 8, FailedAt = 17;

    public static string TrialId(int i) => $"trial-{i:D2}";

    public static void Write(IExperimentStore store)
    {
        var sweepJson = new JsonObject
        {
            ["name"] = "synthetic",
            ["base"] = new JsonObject { ["data"] = "mnist", ["arch"] = "mlp:784-{width}-10", ["until_loss"] = 0.01, ["max_epochs"] = 40 },
            ["grid"] = new JsonObject
            {
                ["lr"] = new JsonArray(0.01, 0.03, 0.1),
                ["batch"] = new JsonArray(32, 64, 128),
                ["width"] = new JsonArray(16, 64, 256),
            },
            ["seeds"] = new JsonArray(0),
            ["measures"] = "all",
            ["measure_examples"] = 0,
        };
        store.UpsertSweep(Sweep, sweepJson.ToJsonString());
        string hash = MeasureSpec.FromSweepJson(sweepJson).Hash();
        var rng = new SeededRandom(11);
        var grid = new List<(double Lr, int Batch, int Width)>();
        foreach (double lr in new[] { 0.01, 0.03, 0.1 })
            foreach (int batch in new[] { 32, 64, 128 })
                foreach (int width in new[] { 16, 64, 256 })
                    grid.Add((lr, batch, width));
        store.AddTrials(Sweep, grid.Select((g, i) => new TrialSpec(TrialId(i), "{}",
            new JsonObject { ["lr"] = g.Lr.ToString(CultureInfo.InvariantCulture), ["batch"] = g.Batch.ToString(CultureInfo.InvariantCulture), ["width"] = g.Width.ToString(CultureInfo.InvariantCulture) }.ToJsonString())));

        for (int i = 0; i < grid.Count; i++)
        {
            var (lr, batch, width) = grid[i];
            string id = TrialId(i);
            if (i == FailedAt)
            {
                store.Complete(id, "w", new TrialOutcome(TrialStatus.Failed, "{\"error\":\"arch does not fit the data\"}"));
                continue;
            }
            if (i == DivergedAt)
            {
                store.Complete(id, "w", new TrialOutcome(TrialStatus.Diverged, "{\"status\":\"diverged\",\"message\":\"loss became NaN at step 40\"}"));
                continue;
            }
            // Accuracies on a 2000-example test set, so gaps repeat now and then.
            double test = Math.Round((0.95 + 0.01 * Math.Log10(lr / 0.01) - 0.01 * Math.Log2(batch / 32.0) + 0.004 * Math.Log2(width / 16.0)
                + 0.004 * rng.NextGaussian()) * 2000) / 2000;
            double train = MaxEpochsAt.Contains(i) ? 0.985 : 1.0;
            double gap = train - test;
            string status = MaxEpochsAt.Contains(i) ? "max-epochs" : "completed";
            store.Complete(id, "w", new TrialOutcome(TrialStatus.Completed,
                $"{{\"status\":\"{status}\",\"message\":\"{(status == "completed" ? "train cross-entropy reached 0.01" : "train cross-entropy 0.03 still above 0.01 after 40 epochs")}\"}}",
                new Dictionary<string, double> { ["train_accuracy"] = train, ["test_accuracy"] = test, ["train_loss"] = 0.01, ["test_loss"] = 0.2 }));
            store.AddMetricRows(id, [new MetricRow(0, 0, 2.3, 0.1, 2.3, 0.1), new MetricRow(100, 1, 0.3, 0.9, 0.35, 0.88), new MetricRow(200, 2, 0.01, train, 0.2, test)]);
            var measures = new List<MeasureRecord>
            {
                new("good", Math.Round(gap * 200) / 200 + 0.002 * rng.NextGaussian(), null, 0.1),
                new("width-only", width, null, 0.01),
                SkippedAt.Contains(i)
                    ? new MeasureRecord("partial", null, null, 0.0, Status: null, SkipReason: "needs the initial weights")
                    : new MeasureRecord("partial", rng.NextDouble(), null, 0.2),
                UnconvergedAt.Contains(i)
                    ? new MeasureRecord("searched", 0.5 + rng.NextDouble(), null, 1.0, SolverStatus.BudgetExhausted, BracketHalfwidth: 0.01)
                    : new MeasureRecord("searched", gap + 0.01 * rng.NextGaussian(), null, 1.0, SolverStatus.Converged, BracketHalfwidth: 0.001),
            };
            store.RecordMeasures(id, hash, measures);
        }
    }
}
