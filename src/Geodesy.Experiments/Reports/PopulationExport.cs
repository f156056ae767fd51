using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core.Interop;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Reports;

/// <summary>
/// A sweep's population as one CSV table, one row per trial (every status, so a reader can apply
/// their own exclusion): id, status, every hyperparameter, train/test accuracy and loss, gap, and
/// for every measure its value and its status ("converged", "budget_exhausted", "diverged",
/// "skipped", or empty when it was never computed). Written atomically. See docs/studies.md.
/// </summary>
public static class PopulationExport
{
    private static readonly string[] Metrics = ["train_accuracy", "test_accuracy", "train_loss", "test_loss"];

    /// <summary>Writes the CSV; returns (rows, measures) written.</summary>
    public static (int Rows, int Measures) WriteCsv(IExperimentStore store, string? sweepId, string path)
    {
        var sweep = Population.FindSweep(store, sweepId);
        string hash = MeasureSpec.FromSweepJson(JsonNode.Parse(sweep.SpecJson)).Hash();
        var trials = store.ListTrials(sweep.Id);
        var measures = store.GetSweepMeasures(sweep.Id, hash).GroupBy(m => m.TrialId)
            .ToDictionary(g => g.Key, g => g.ToDictionary(m => m.Measure.Name, m => m.Measure, StringComparer.Ordinal), StringComparer.Ordinal);
        var hparams = trials.ToDictionary(t => t.Id, Population.HyperparametersOf);
        var hpNames = hparams.Values.SelectMany(h => h.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();
        var measureNames = measures.Values.SelectMany(m => m.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();

        var sb = new StringBuilder();
        var header = new List<string> { "id", "status" };
        header.AddRange(hpNames);
        header.AddRange(Metrics);
        header.Add("gap");
        foreach (string m in measureNames) { header.Add(m); header.Add(m + ":status"); }
        AppendRow(sb, header);
        foreach (var t in trials)
        {
            var row = new List<string> { t.Id, Population.TrainingStatus(t).Status };
            row.AddRange(hpNames.Select(h => hparams[t.Id].GetValueOrDefault(h) ?? ""));
            foreach (string k in Metrics) row.Add(Number(Population.Metric(t, k)));
            row.Add(Number(Population.Metric(t, "train_accuracy") - Population.Metric(t, "test_accuracy")));
            var mine = measures.GetValueOrDefault(t.Id);
            foreach (string m in measureNames)
            {
                var record = mine?.GetValueOrDefault(m);
                row.Add(Number(record?.Value));
                row.Add(record?.StatusName ?? "");
            }
            AppendRow(sb, row);
        }
        AtomicFile.WriteAllText(path, sb.ToString());
        return (trials.Count, measureNames.Count);
    }

    private static string Number(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "";

    /// <summary>One RFC 4180 line: fields with a comma, quote or line break are quoted, quotes doubled.</summary>
    private static void AppendRow(StringBuilder sb, IReadOnlyList<string> fields)
    {
        for (int i = 0; i < fields.Count; i++)
        {
            if (i > 0) sb.Append(',');
            string f = fields[i];
            if (f.IndexOfAny([',', '"', '\n', '\r']) >= 0) sb.Append('"').Append(f.Replace("\"", "\"\"")).Append('"');
            else sb.Append(f);
        }
        sb.Append('\n');
    }
}
