using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Sweeps;

public sealed record WorkerOptions
{
    /// <summary>How long a lease lasts without a heartbeat before another worker may take the trial.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan HeartbeatEvery { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Stop after this many trials (0 = until the sweep has nothing left to lease).</summary>
    public int MaxTrials { get; init; }
    /// <summary>With nothing to lease but trials still running elsewhere, wait and retry (to pick up expired leases).</summary>
    public bool WaitForRunning { get; init; } = true;
    public TimeSpan PollEvery { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>A lease of the given seconds with a heartbeat every sixth of it.</summary>
    public static WorkerOptions ForLease(double seconds)
    {
        if (!(seconds >= 1)) throw new InputException($"--lease must be at least 1 second (got {seconds})");
        return new WorkerOptions
        {
            Lease = TimeSpan.FromSeconds(seconds),
            HeartbeatEvery = TimeSpan.FromSeconds(seconds / 6),
            PollEvery = TimeSpan.FromSeconds(Math.Min(2, seconds / 3)),
        };
    }
}

/// <summary>
/// A worker: leases a trial, trains it into runs/ID (resuming from a finished run folder if a
/// killed worker left one), computes the sweep's measures, records curves and measures, then
/// completes the trial (exactly once: the store keeps the first completion). A heartbeat keeps
/// the lease alive; a worker killed at any moment loses at most its current trial.
/// </summary>
public sealed class SweepWorker(IExperimentStore store, string? sweepId, string runsDir, string workerId, WorkerOptions options, Action<string>? log = null)
{
    private readonly Dictionary<string, DataSplit> _data = [];

    public string WorkerId => workerId;

    /// <summary>Runs trials until none are left (or MaxTrials); returns how many this worker completed.</summary>
    public int Run(CancellationToken cancel = default)
    {
        int done = 0;
        while (!cancel.IsCancellationRequested && (options.MaxTrials == 0 || done < options.MaxTrials))
        {
            var trial = store.TryLease(sweepId, workerId, options.Lease);
            if (trial is null)
            {
                if (MeasureSharedTrial(cancel)) continue;
                if (!options.WaitForRunning || sweepId is null || !AnyRunning()) break;
                Thread.Sleep(options.PollEvery);
                continue;
            }
            if (Execute(trial, cancel)) done++;
        }
        return done;
    }

    private readonly HashSet<string> _sharedTried = new(StringComparer.Ordinal);

    /// <summary>
    /// A trial this sweep shares with another one may have been trained (and measured) under the
    /// other sweep's measure spec: the store then has no measures of this sweep's spec for it.
    /// Computes them from its run folder, one trial per call (each trial tried once per worker;
    /// two workers may both do it, which only repeats an idempotent upsert). False when none is left.
    /// </summary>
    private bool MeasureSharedTrial(CancellationToken cancel)
    {
        var settings = MeasureSettings();
        if (sweepId is null || settings.Measures is "none" or "") return false;
        string hash = settings.Hash();
        var measured = store.GetSweepMeasures(sweepId, hash).Select(m => m.TrialId).ToHashSet(StringComparer.Ordinal);
        var trial = store.ListTrials(sweepId).FirstOrDefault(t => t.Status == TrialStatus.Completed && !measured.Contains(t.Id) && _sharedTried.Add(t.Id));
        if (trial is null) return false;
        string dir = trial.ArtifactsPath ?? Path.Combine(runsDir, trial.Id);
        try
        {
            var spec = RunSpec.FromJson(JsonNode.Parse(trial.SpecJson)!.AsObject());
            if (!File.Exists(Path.Combine(dir, RunFiles.FinalWeights)))
                throw new InputException($"its run folder {dir} has no {RunFiles.FinalWeights} here");
            store.RecordMeasures(trial.Id, hash, ComputeMeasures(spec, Data(spec), dir, RunFiles.ReadMetrics(dir), trial.Id, cancel));
            log?.Invoke($"[{workerId}] trial {trial.Id[..12]} (trained for another sweep): measured with this sweep's settings");
        }
        catch (Exception e) when (e is InputException or System.Text.Json.JsonException or IOException)
        {
            log?.Invoke($"[{workerId}] trial {trial.Id[..12]} (trained for another sweep) cannot be measured: {e.Message}");
        }
        return true;
    }

    private bool AnyRunning() => store.CountByStatus(sweepId!).TryGetValue(TrialStatus.Running, out int n) && n > 0;

    /// <summary>Runs one leased trial to completion; false if the lease was lost or it failed.</summary>
    public bool Execute(Trial trial, CancellationToken cancel = default)
    {
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var heartbeat = new Timer(_ =>
        {
            try { if (!store.Heartbeat(trial.Id, workerId, options.Lease)) lost.Cancel(); }
            catch (ComputationException) { /* transient store trouble: the next beat retries */ }
        }, null, options.HeartbeatEvery, options.HeartbeatEvery);

        RunSpec spec;
        try { spec = RunSpec.FromJson(JsonNode.Parse(trial.SpecJson)!.AsObject()); }
        catch (Exception e) when (e is InputException or System.Text.Json.JsonException)
        {
            store.Complete(trial.Id, workerId, new TrialOutcome(TrialStatus.Failed, Json(new JsonObject { ["error"] = e.Message })));
            return false;
        }
        string dir = Path.Combine(runsDir, trial.Id);
        try
        {
            var data = Data(spec);
            var (status, runJson) = TrainOrResume(spec, data, dir, lost.Token);
            var rows = RunFiles.ReadMetrics(dir);
            store.AddMetricRows(trial.Id, rows.Select(r => new MetricRow(r.Step, r.Epoch, Num(r.TrainLoss), Num(r.TrainAccuracy), Num(r.TestLoss), Num(r.TestAccuracy))));
            var metrics = new Dictionary<string, double>
            {
                ["train_accuracy"] = Number(runJson["final"]?["train_accuracy"]),
                ["test_accuracy"] = Number(runJson["final"]?["test_accuracy"]),
                ["train_loss"] = Number(runJson["final"]?["train_loss"]),
                ["test_loss"] = Number(runJson["final"]?["test_loss"]),
                ["epochs"] = Number(runJson["epochs"]),
                ["steps"] = Number(runJson["steps"]),
                ["train_seconds"] = Number(runJson["wall_seconds"]),
            };
            if (status == TrialStatus.Completed)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var measures = ComputeMeasures(spec, data, dir, rows, trial.Id, lost.Token);
                store.RecordMeasures(trial.Id, MeasureSettings().Hash(), measures);
                metrics["measure_seconds"] = clock.Elapsed.TotalSeconds;
            }
            lost.Token.ThrowIfCancellationRequested();
            bool recorded = store.Complete(trial.Id, workerId, new TrialOutcome(status, Json(runJson), metrics, dir));
            log?.Invoke($"[{workerId}] trial {trial.Id[..12]} {(string?)runJson["status"] ?? StatusName(status)}: test acc {metrics["test_accuracy"]:P2}{(recorded ? "" : " (already recorded by another worker)")}");
            return recorded;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            log?.Invoke($"[{workerId}] lost the lease of trial {trial.Id[..12]}; another worker has it");
            return false;
        }
        catch (InputException e)
        {
            // A trial whose spec cannot run (bad data or arch) fails for good; the sweep goes on.
            // But only while we still hold the lease: a worker that lost it (e.g. starved of CPU)
            // may see another worker's run folder mid-flight, and must not record that as failure.
            if (lost.IsCancellationRequested || !store.Heartbeat(trial.Id, workerId, options.Lease))
            {
                log?.Invoke($"[{workerId}] lost the lease of trial {trial.Id[..12]} ({e.Message}); another worker has it");
                return false;
            }
            store.Complete(trial.Id, workerId, new TrialOutcome(TrialStatus.Failed, Json(new JsonObject { ["error"] = e.Message })));
            log?.Invoke($"[{workerId}] trial {trial.Id[..12]} failed: {e.Message}");
            return false;
        }
    }

    private (TrialStatus Status, JsonObject RunJson) TrainOrResume(RunSpec spec, DataSplit data, string dir, CancellationToken cancel)
    {
        string runJsonPath = Path.Combine(dir, RunFiles.RunJson);
        if (File.Exists(runJsonPath) && JsonNode.Parse(File.ReadAllText(runJsonPath)) is JsonObject existing
            && (string?)existing["id"] == spec.Id())
            return (StatusOf((string?)existing["status"]), existing); // a killed worker finished training before dying
        var outcome = RunExecutor.Execute(spec, data, dir, overwrite: true, null, null, cancel);
        return (StatusOf(outcome.Training.Status.Name()), outcome.RunJson);
    }

    private List<MeasureRecord> ComputeMeasures(
        RunSpec spec, DataSplit data, string dir, IReadOnlyList<MetricsRow> rows, string trialId, CancellationToken cancel)
    {
        var settings = MeasureSettings();
        // The probes recorded while training (if any) are measures of the run too.
        var result = ProbeMeasures.FromRun(dir).ToList();
        if (settings.Measures is "none" or "") return result;
        using var scope = NewDisposeScope();
        // The run folder supplies everything, by the rule every verb uses (its data are loaded already).
        using var loaded = new ModelSource { Run = dir, WithInit = true }.Resolve().LoadModels(data);
        int examples = settings.Examples;
        var measureData = examples > 0 && examples < data.Train.Count ? data.Train.Take(examples) : data.Train;
        using var context = MeasureSession.CreateContext(loaded.Model, loaded.Init, measureData, spec.Arch, rows, spec.Batch, spec.Seed, settings.Options, loaded.Source.RunningLoss);
        foreach (var m in MeasureRunner.Compute(context, MeasureRegistry.Select(settings.Measures)))
        {
            cancel.ThrowIfCancellationRequested();
            result.Add(m.Value is { } v
                ? new MeasureRecord(m.Name, double.IsFinite(v.Value) ? v.Value : null, v.StdErr, m.Seconds, v.Status, v.BracketHalfwidth)
                : new MeasureRecord(m.Name, null, null, m.Seconds, Status: null, SkipReason: m.SkippedReason));
        }
        return result;
    }

    private MeasureSpec? _measureSettings;

    /// <summary>The sweep's measure spec, read from the store once per worker.</summary>
    private MeasureSpec MeasureSettings()
    {
        if (_measureSettings is { } known) return known;
        var sweep = sweepId is null ? null : store.ListSweeps().FirstOrDefault(s => s.Id == sweepId);
        _measureSettings = MeasureSpec.FromSweepJson(sweep is null ? null : JsonNode.Parse(sweep.SpecJson));
        return _measureSettings;
    }

    private DataSplit Data(RunSpec spec)
    {
        string key = spec.Data + "|" + spec.DataOptions;
        if (!_data.TryGetValue(key, out var d)) _data[key] = d = RunExecutor.LoadData(spec);
        else ModelZoo.Validate(spec.Arch, d.Train.InputShape, d.Train.NumClasses);
        return d;
    }

    private static TrialStatus StatusOf(string? name) => name switch
    {
        "diverged" => TrialStatus.Diverged,
        _ => TrialStatus.Completed, // completed or max-epochs: a trained model either way
    };

    internal static string StatusName(TrialStatus s) => s.ToString().ToLowerInvariant();
    private static double? Num(double x) => double.IsFinite(x) ? x : null;

    /// <summary>A JSON number of any CLR type as a double (NaN when absent or null).</summary>
    private static double Number(JsonNode? n) => n is JsonValue v
        ? (v.TryGetValue<double>(out var d) ? d : v.TryGetValue<long>(out var l) ? l : v.TryGetValue<int>(out var i) ? i : double.NaN)
        : double.NaN;
    private static string Json(JsonObject o) => o.ToJsonString();
}
