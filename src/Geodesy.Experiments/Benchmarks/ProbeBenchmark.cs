using System.Text.Json.Nodes;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Probes;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

public sealed record ProbeBenchOptions
{
    /// <summary>The tracking load: λmax every 100 steps on the probe set, Tr(F) on the mini-batch every 10.</summary>
    public static readonly string[] DefaultProbes = ["hessian-top@every=100", "fisher-trace:on=batch@every=10"];

    public IReadOnlyList<string> Probes { get; init; } = DefaultProbes;
    public int ProbeExamples { get; init; } = ProbeRecorder.DefaultExamples;
    /// <summary>5 epochs of the 8,000 digits at batch 64 = 625 steps: λmax is tracked 7 times (steps 0, 100, ..., 600), Tr(F) 63 times.</summary>
    public int Epochs { get; init; } = 5;
    public int Batch { get; init; } = 64;
    public int Reps { get; init; } = 5;
    public long Seed { get; init; }
}

/// <summary>One measurement of a probe: its step, seconds, products and (curvature solves) status and start.</summary>
public sealed record ProbeCall(long Step, double Seconds, long Matvecs, string? Status, string? Start);

/// <summary>The seconds of each probe (rows under its name, with the rows it writes alongside) over one probed run.</summary>
public sealed record ProbeCost(string Probe, IReadOnlyList<ProbeCall> Calls)
{
    public int Rows => Calls.Count;
    public double Seconds => Calls.Sum(c => c.Seconds);
    public long Matvecs => Calls.Sum(c => c.Matvecs);
}

public sealed record ProbeBenchResult
{
    public required double[] PlainSeconds { get; init; }
    public required double[] ProbedSeconds { get; init; }
    /// <summary>Per-probe cost of the last probed run.</summary>
    public required IReadOnlyList<ProbeCost> Costs { get; init; }
    public required long Steps { get; init; }
    /// <summary>Wall time inside the recorder's callbacks during training (last probed run): the rows' own seconds plus scheduling and set-up.</summary>
    public required double RecorderSeconds { get; init; }
    public required IReadOnlyList<string> Probes { get; init; }
    public required int ProbeExamples { get; init; }

    /// <summary>Median over repetitions of (probed / plain) − 1, each pair measured back to back.</summary>
    public double Overhead => BenchMath.Median(PlainSeconds.Zip(ProbedSeconds, (a, b) => b / a - 1).ToArray());
    public long Matvecs => Costs.Sum(c => c.Matvecs);
    /// <summary>The probes' own seconds (sum of their rows) over the median plain run: a second, less load-sensitive reading of the overhead.</summary>
    public double ProbeSecondsOverPlain => Costs.Sum(c => c.Seconds) / BenchMath.Median(PlainSeconds);

    public void AddTo(JsonObject root)
    {
        root["probes"] = new JsonArray(Probes.Select(p => (JsonNode)p).ToArray());
        root["probe_examples"] = ProbeExamples;
        root["steps"] = Steps;
        root["plain_seconds"] = BenchMath.Median(PlainSeconds);
        root["probed_seconds"] = BenchMath.Median(ProbedSeconds);
        root["plain_seconds_reps"] = new JsonArray(PlainSeconds.Select(s => (JsonNode)Math.Round(s, 4)).ToArray());
        root["probed_seconds_reps"] = new JsonArray(ProbedSeconds.Select(s => (JsonNode)Math.Round(s, 4)).ToArray());
        root["overhead"] = Math.Round(Overhead, 4);
        root["probe_seconds"] = Math.Round(Costs.Sum(c => c.Seconds), 5);
        root["probe_seconds_over_plain"] = Math.Round(ProbeSecondsOverPlain, 4);
        root["recorder_seconds"] = Math.Round(RecorderSeconds, 5);
        var per = new JsonObject();
        foreach (var c in Costs)
            per[c.Probe] = new JsonObject
            {
                ["rows"] = c.Rows, ["seconds"] = Math.Round(c.Seconds, 5), ["matvecs"] = c.Matvecs,
                ["seconds_over_plain"] = Math.Round(c.Seconds / BenchMath.Median(PlainSeconds), 4),
                ["calls"] = new JsonArray(c.Calls.Select(Call).ToArray()),
            };
        root["per_probe"] = per;
    }

    private static JsonNode Call(ProbeCall c)
    {
        var o = new JsonObject { ["step"] = c.Step, ["seconds"] = Math.Round(c.Seconds, 5), ["matvecs"] = c.Matvecs };
        if (c.Status is { } status) o["status"] = status;
        if (c.Start is { } start) o["start"] = start;
        return o;
    }

    public string Summary() =>
        $"{Steps} steps: {BenchMath.Median(PlainSeconds):F3} s plain, {BenchMath.Median(ProbedSeconds):F3} s with probes: overhead {Overhead:P1}, probes' own seconds {ProbeSecondsOverPlain:P1} of a plain run (" +
        string.Join(", ", Costs.Where(c => c.Seconds > 0).Select(c => $"{c.Probe} {c.Seconds:F3} s / {c.Rows} calls" + (c.Matvecs > 0 ? $", {c.Matvecs} products" : ""))) + ")";
}

/// <summary>
/// What probes add to training: the same run (same initial weights, same batches) with and
/// without the probes, back to back in alternating order, repeated; the overhead is the median of
/// the paired ratios of Trainer.Train's wall time (evaluations included), so load from other
/// processes falls on both sides alike. Per-probe seconds are the sums of the rows' own timings.
/// The defaults are the tracking load of the training-dynamics target: mlp:784-100-10 on the 8,000
/// digits, batch 64, λmax every 100 steps on 512 probe examples, Tr(F) on the mini-batch every 10.
/// </summary>
public static class ProbeBenchmark
{
    public static ProbeBenchResult Run(BenchSetup setup, ProbeBenchOptions options)
    {
        if (options.Reps < 1) throw new Core.InputException($"bench probes: --reps must be >= 1 (got {options.Reps})");
        var specs = options.Probes.Select(ProbeSpec.Parse).ToList();
        var trainerOptions = new TrainerOptions { Epochs = options.Epochs, BatchSize = options.Batch, Seed = options.Seed };
        trainerOptions.Validate();
        var model = setup.Model;
        using var init = ParameterVector.Flatten(model).detach().clone();
        var rows = new List<ProbeRow>();
        long steps = 0;
        double recorderSeconds = 0;
        double Once(bool probed)
        {
            ParameterVector.Assign(model, init);
            rows.Clear();
            using var recorder = new ProbeRecorder(specs, setup.Data.Train, options.ProbeExamples, options.Seed, rows.Add, setup.Data.FlippedIndices);
            var timed = new TimedObserver(recorder);
            var result = Trainer.Train(model, setup.Data, trainerOptions, probed ? [timed] : []);
            if (result.Status == RunStatus.Diverged) throw new Core.ComputationException($"bench probes: {result.Message}");
            steps = result.Steps;
            if (probed) recorderSeconds = timed.Seconds;
            return result.Seconds;
        }
        Once(true); // untimed warm-up: JIT, first-touch allocations
        var plain = new double[options.Reps];
        var probedSeconds = new double[options.Reps];
        var costs = new List<ProbeCost>();
        double Probed()
        {
            double seconds = Once(true);
            costs = Costs(rows);
            return seconds;
        }
        for (int r = 0; r < options.Reps; r++)
        {
            if (r % 2 == 0) { plain[r] = Once(false); probedSeconds[r] = Probed(); }
            else { probedSeconds[r] = Probed(); plain[r] = Once(false); }
        }
        ParameterVector.Assign(model, init);
        return new ProbeBenchResult
        {
            PlainSeconds = plain, ProbedSeconds = probedSeconds, Costs = costs, Steps = steps, RecorderSeconds = recorderSeconds,
            Probes = options.Probes, ProbeExamples = options.ProbeExamples,
        };
    }

    private static List<ProbeCost> Costs(List<ProbeRow> rows) =>
        rows.GroupBy(r => r.Probe).Select(g => new ProbeCost(g.Key, g.Select(r => new ProbeCall(r.Step,
            Extra(r, "seconds") is double s ? s : 0, Extra(r, "matvecs") is long m ? m : 0,
            Extra(r, "status") as string, Extra(r, "start") as string)).ToList())).ToList();

    private static object? Extra(ProbeRow row, string key) => row.Extras.FirstOrDefault(kv => kv.Key == key).Value;
}

/// <summary>Wall time spent inside an observer's callbacks during training (OnFinish runs after the trainer's clock stops).</summary>
internal sealed class TimedObserver(ITrainingObserver inner) : ITrainingObserver
{
    private readonly System.Diagnostics.Stopwatch _clock = new();

    public double Seconds => _clock.Elapsed.TotalSeconds;

    private void Timed(Action call)
    {
        _clock.Start();
        try { call(); }
        finally { _clock.Stop(); }
    }

    public void OnStart(TorchSharp.torch.nn.Module model) => Timed(() => inner.OnStart(model));
    public void OnBatch(TorchSharp.torch.nn.Module model, int epoch, long step, Tensor inputs, Tensor labels, double learningRate) =>
        Timed(() => inner.OnBatch(model, epoch, step, inputs, labels, learningRate));
    public void OnStep(TorchSharp.torch.nn.Module model, int epoch, long step, double batchLoss) => Timed(() => inner.OnStep(model, epoch, step, batchLoss));
    public void OnRunningLoss(TorchSharp.torch.nn.Module model, RunningLossRow row) => Timed(() => inner.OnRunningLoss(model, row));
    public void OnMetrics(TorchSharp.torch.nn.Module model, MetricsRow row, bool endOfEpoch) => Timed(() => inner.OnMetrics(model, row, endOfEpoch));
    public void OnFinish(TorchSharp.torch.nn.Module model, TrainingResult result) => inner.OnFinish(model, result);
}
