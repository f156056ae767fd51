using Geodesy.Core.Curvature;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using static Geodesy.Experiments.Analyses.JsonNumbers;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Analyses;

/// <summary>One measure's outcome with the work it spent (differences of the context's counters).</summary>
/// <remarks>CpuSeconds is the process's processor time over the measure: on a shared machine it tells the work apart from waiting.</remarks>
public sealed record MeasureRow(MeasureOutcome Outcome, long ForwardExamples, long Matvecs, long Gradients, double CpuSeconds);

/// <summary>
/// Generalization measures of one model, computed one at a time (so a caller can show progress)
/// with the work each spent. The measure context is built here and only here, for `geodesy measure`
/// and for the sweep worker.
/// </summary>
public sealed class MeasureSession(MeasureContext context) : IDisposable
{
    private readonly List<MeasureRow> _rows = [];

    public MeasureContext Context { get; } = context;
    public IReadOnlyList<MeasureRow> Rows => _rows;

    /// <summary>
    /// The context of a trained model: its initial weights, the data it is measured on, its
    /// training record and batch size (from the run, when there is one), the seed and options.
    /// </summary>
    public static MeasureContext CreateContext(nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor>? init, Dataset data, string arch,
        IReadOnlyList<MetricsRow>? record, int? trainingBatch, long seed, MeasureOptions? options = null,
        IReadOnlyList<RunningLossRow>? runningLoss = null) => new()
    {
        Model = model,
        InitModel = init,
        Data = data,
        ArchSpec = arch,
        TrainingRecord = record,
        RunningLoss = runningLoss,
        TrainingBatchSize = trainingBatch,
        Seed = seed,
        Options = options ?? new MeasureOptions(),
    };

    /// <summary>Computes one measure (a skip or failure becomes a reason) and records its work.</summary>
    public MeasureRow Compute(IMeasure measure)
    {
        var ctx = Context;
        long f = ctx.ForwardExamples, mv = ctx.Matvecs, g = ctx.Gradients;
        var cpu = CpuTime();
        var outcome = MeasureRunner.Compute(ctx, [measure]).Single();
        var row = new MeasureRow(outcome, ctx.ForwardExamples - f, ctx.Matvecs - mv, ctx.Gradients - g, (CpuTime() - cpu).TotalSeconds);
        _rows.Add(row);
        return row;
    }

    /// <summary>Work of every measure computed so far.</summary>
    public Cost Cost => Cost.Of(Context.Matvecs, Context.Gradients, _rows.Sum(r => r.Outcome.Seconds));

    /// <summary>
    /// The measure keys of the "geodesy.measure/1" document: "measures" {NAME: value, stderr,
    /// seconds, work, details}, "skipped" {NAME: reason}, "options", and the cost.
    /// </summary>
    public void WriteTo(JsonObject root, JsonObject cost)
    {
        root["params"] = ParameterVector.Count(Context.Model);
        root["examples"] = Context.Data.Count;
        root["options"] = OptionsJson(Context.Options);
        var values = new JsonObject();
        var skipped = new JsonObject();
        foreach (var row in _rows)
        {
            var o = row.Outcome;
            if (o.Value is not { } v)
            {
                skipped[o.Name] = o.SkippedReason;
                continue;
            }
            var entry = new JsonObject
            {
                ["value"] = Finite(v.Value),
                ["stderr"] = v.StdErr is double s ? Finite(s) : null,
                ["status"] = v.Status.ToSnakeCase(),
                ["bracket_halfwidth"] = v.BracketHalfwidth is double h ? Finite(h) : null,
                ["seconds"] = Math.Round(o.Seconds, 4),
                ["cpu_seconds"] = Math.Round(row.CpuSeconds, 4),
                ["forward_examples"] = row.ForwardExamples,
                ["matvecs"] = row.Matvecs,
                ["gradients"] = row.Gradients,
            };
            foreach (var (key, x) in v.Details ?? new Dictionary<string, double>())
                if (!entry.ContainsKey(key)) entry[key] = Finite(x);
            values[o.Name] = entry;
        }
        root["measures"] = values;
        root["skipped"] = skipped;
        var total = Cost;
        cost["matvecs"] = total.Matvecs;
        cost["gradients"] = total.Gradients;
        cost["forward_examples"] = Context.ForwardExamples;
        cost["measure_seconds"] = Math.Round(_rows.Sum(x => x.Outcome.Seconds), 4);
        cost["measure_cpu_seconds"] = Math.Round(_rows.Sum(x => x.CpuSeconds), 4);
    }

    /// <summary>The measure options used, snake_case, so a result can be reproduced.</summary>
    public static JsonObject OptionsJson(MeasureOptions options)
    {
        var o = new JsonObject();
        foreach (var p in typeof(MeasureOptions).GetProperties().OrderBy(p => p.MetadataToken))
        {
            object? v = p.GetValue(options);
            o[Specs.RunSetting.SnakeCase(p.Name)] = v switch
            {
                int i => i,
                double d => d,
                bool b => b,
                ScalarType t => DTypeName(t),
                _ => v?.ToString(),
            };
        }
        return o;
    }

    public static string DTypeName(ScalarType t) => t == ScalarType.Float64 ? "float64" : t == ScalarType.Float32 ? "float32" : t.ToString().ToLowerInvariant();

    private static TimeSpan CpuTime()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    public void Dispose() => Context.Dispose();
}
