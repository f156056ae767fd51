using System.Text.Json.Nodes;
using Geodesy.Core;

namespace Geodesy.Experiments.Runs;

/// <summary>
/// One row of probes.jsonl as the readers see it (plots, TensorBoard, the sweep store): its series,
/// where it was measured, its value, and every number it carries. A series is the probe name, qualified
/// by the row's "set" key when a probe measures on several sets (fisher-trace/batch, fisher-trace/probe),
/// so one probe never mixes two curves.
/// </summary>
public sealed record ProbeRecord(string Series, string Probe, long Step, int Epoch, double Value, JsonObject Row)
{
    /// <summary>The keys every row has; the others are the probe's own.</summary>
    public static readonly IReadOnlySet<string> Standard = new HashSet<string> { "probe", "step", "epoch", "value" };

    public static ProbeRecord FromJson(JsonObject row)
    {
        string probe = (string?)row["probe"] ?? throw new FormatException("no \"probe\" key");
        string series = row["set"] is JsonValue set && set.TryGetValue<string>(out var s) ? $"{probe}/{s}" : probe;
        return new ProbeRecord(series, probe, (long)row["step"]!, (int)row["epoch"]!, Number(row["value"]) ?? double.NaN, row);
    }

    /// <summary>
    /// Every number of the probe's own keys, flattened: a number as its key, an array element as
    /// key/i, a map entry as key/name (booleans and strings are not numbers). Null (non-finite) numbers are NaN.
    /// </summary>
    public IEnumerable<(string Key, double Value)> Scalars()
    {
        foreach (var (key, node) in Row)
        {
            if (Standard.Contains(key)) continue;
            switch (node)
            {
                case JsonArray a:
                    for (int i = 0; i < a.Count; i++)
                        if (a[i] is null || Number(a[i]) is not null) yield return ($"{key}/{i}", Number(a[i]) ?? double.NaN);
                    break;
                case JsonObject o:
                    foreach (var (name, v) in o)
                        if (v is null || Number(v) is not null) yield return ($"{key}/{name}", Number(v) ?? double.NaN);
                    break;
                case JsonValue v when Number(v) is { } x:
                    yield return (key, x);
                    break;
            }
        }
    }

    /// <summary>A JSON number as a double; null for null, strings and booleans.</summary>
    public static double? Number(JsonNode? n) => n is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number
        ? (v.TryGetValue<double>(out var d) ? d : v.TryGetValue<long>(out var l) ? l : v.TryGetValue<int>(out var i) ? i : null)
        : null;

    /// <summary>The rows of DIR/probes.jsonl (empty when the run recorded no probe); a bad line is an InputException naming it.</summary>
    public static IReadOnlyList<ProbeRecord> Read(string runDir)
    {
        string path = Path.Combine(runDir, RunFiles.Probes);
        if (!File.Exists(path)) return [];
        var rows = new List<ProbeRecord>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try { rows.Add(FromJson(JsonNode.Parse(text)!.AsObject())); }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
            { throw new InputException($"{path}:{line}: not a probe row"); }
        }
        return rows;
    }
}
