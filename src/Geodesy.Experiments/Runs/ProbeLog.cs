using System.Text.Json.Nodes;
using Geodesy.Core.Data;
using Geodesy.Core.Training.Probes;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Runs;

/// <summary>An observer that also wants each probe row as it is measured (e.g. the TensorBoard log).</summary>
public interface IProbeRowObserver
{
    void OnProbeRow(ProbeRow row);
}

/// <summary>
/// The probes of a run and their file: a <see cref="ProbeRecorder"/> whose rows are appended to
/// DIR/probes.jsonl as they are measured (one JSON object per line, flushed each time).
/// </summary>
public sealed class ProbeLog : IDisposable
{
    private readonly StreamWriter _file;
    private readonly string _dir;
    private bool _disposed;

    private ProbeLog(RunSpec spec, DataSplit data, string dir, IReadOnlyList<IProbeRowObserver> also)
    {
        _dir = dir;
        _file = new StreamWriter(Path.Combine(dir, RunFiles.Probes), append: false) { AutoFlush = true };
        Recorder = new ProbeRecorder(spec.Probe.Select(ProbeSpec.Parse), data.Train, spec.ProbeExamples, spec.Seed,
            row =>
            {
                _file.WriteLine(ToJson(row).ToJsonString());
                foreach (var o in also) o.OnProbeRow(row);
            }, data.FlippedIndices);
    }

    public ProbeRecorder Recorder { get; }

    /// <summary>The log of the spec's probes in run folder <paramref name="dir"/>, or null when the spec has none;
    /// each row also goes to <paramref name="also"/>.</summary>
    public static ProbeLog? Open(RunSpec spec, DataSplit data, string dir, IReadOnlyList<IProbeRowObserver>? also = null) =>
        spec.Probe.Length == 0 ? null : new ProbeLog(spec, data, dir, also ?? []);

    /// <summary>{"probe", "step", "epoch", "value", ...the probe's own keys}; non-finite numbers are null.</summary>
    public static JsonObject ToJson(ProbeRow row)
    {
        var o = new JsonObject
        {
            ["probe"] = row.Probe,
            ["step"] = row.Step,
            ["epoch"] = row.Epoch,
            ["value"] = Number(row.Value),
        };
        foreach (var (key, value) in row.Extras) o[key] = Node(value);
        return o;
    }

    private static JsonObject Object(IReadOnlyList<KeyValuePair<string, object?>> pairs)
    {
        var o = new JsonObject();
        foreach (var (key, value) in pairs) o[key] = Node(value);
        return o;
    }

    private static JsonNode? Number(double x) => Analyses.JsonNumbers.Finite(x);

    private static JsonNode? Node(object? value) => value switch
    {
        null => null,
        double d => Number(d),
        long l => JsonValue.Create(l),
        int i => JsonValue.Create(i),
        bool b => JsonValue.Create(b),
        string s => JsonValue.Create(s),
        double[] a => new JsonArray(a.Select(Number).ToArray()),
        IReadOnlyDictionary<string, double> m => new JsonObject(m.Select(kv => KeyValuePair.Create(kv.Key, Number(kv.Value)))),
        _ => throw new ArgumentException($"probe rows cannot hold a {value.GetType().Name}"),
    };

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Tables (e.g. examples.jsonl) are complete only now; the run folder is published whole afterwards.
        foreach (var table in Recorder.Tables())
            using (var writer = new StreamWriter(Path.Combine(_dir, table.Table + ".jsonl")))
                foreach (var row in table.TableRows())
                    writer.WriteLine(Object(row).ToJsonString());
        Recorder.Dispose();
        _file.Dispose();
    }
}
