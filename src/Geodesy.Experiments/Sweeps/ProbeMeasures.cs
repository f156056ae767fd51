using Geodesy.Core.Curvature;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Sweeps;

/// <summary>
/// The probes of a trial as measures of it in the store, so `geodesy rank` and the study rank them
/// like any other measure: for each probe series (docs/probes.md) <c>probe:SERIES:final</c> (the value
/// at the last measurement, at the end of training), <c>probe:SERIES:peak</c> (the largest value
/// recorded) and <c>probe:SERIES:peak_step</c> (the step of the first measurement reaching it),
/// e.g. probe:fisher-trace/batch:peak or probe:hessian-top:peak_step (the break-even point).
/// A row whose own "status" is not converged passes that status on (rank leaves it out by default).
/// </summary>
public static class ProbeMeasures
{
    public const string Prefix = "probe:";

    public static IReadOnlyList<MeasureRecord> FromRun(string runDir) => From(ProbeRecord.Read(runDir));

    public static IReadOnlyList<MeasureRecord> From(IReadOnlyList<ProbeRecord> rows)
    {
        var result = new List<MeasureRecord>();
        foreach (var series in rows.GroupBy(r => r.Series).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var ordered = series.OrderBy(r => r.Step).ToList();
            var finite = ordered.Where(r => double.IsFinite(r.Value)).ToList();
            string name = Prefix + series.Key;
            if (finite.Count == 0)
            {
                string reason = Text(ordered[^1], "skipped") ?? "the probe recorded no finite value";
                foreach (var what in new[] { "final", "peak", "peak_step" })
                    result.Add(new MeasureRecord($"{name}:{what}", null, null, 0, Status: null, SkipReason: reason));
                continue;
            }
            var last = ordered[^1];
            var peak = finite.Aggregate((best, r) => r.Value > best.Value ? r : best);
            result.Add(Record($"{name}:final", double.IsFinite(last.Value) ? last.Value : null, last));
            result.Add(Record($"{name}:peak", peak.Value, peak));
            result.Add(Record($"{name}:peak_step", peak.Step, peak) with { Stderr = null });
        }
        return result;
    }

    private static MeasureRecord Record(string name, double? value, ProbeRecord row)
    {
        double seconds = ProbeRecord.Number(row.Row["seconds"]) ?? 0;
        double? stderr = ProbeRecord.Number(row.Row["stderr"]);
        return new MeasureRecord(name, value, stderr, seconds, StatusOf(Text(row, "status")));
    }

    private static string? Text(ProbeRecord row, string key) =>
        row.Row[key] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static SolverStatus StatusOf(string? status) => status switch
    {
        "budget_exhausted" => SolverStatus.BudgetExhausted,
        "diverged" => SolverStatus.Diverged,
        _ => SolverStatus.Converged,
    };
}
