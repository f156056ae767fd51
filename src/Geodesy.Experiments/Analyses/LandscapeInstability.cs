using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape instability` computes (docs/landscape.md).</summary>
public sealed record InstabilitySettings
{
    /// <summary>The run folder whose checkpoints the copies branch from.</summary>
    public required string Run { get; init; }
    /// <summary>The steps k to branch from, ascending, each with a checkpoint (0: init.safetensors).</summary>
    public required IReadOnlyList<long> Steps { get; init; }
    public int Points { get; init; } = 21;
    /// <summary>The first N training and the first N test examples of the barrier (null: all of them).</summary>
    public long? Examples { get; init; }
    public int StreamBatch { get; init; } = 2000;
    /// <summary>The seed the two copies' data-order seeds are drawn from.</summary>
    public long Seed { get; init; }
    public BatchNormReset BatchNorm { get; init; } = new();

    /// <summary>Frankle et al. 2020 call a network stable when the test error barrier is below 2%.</summary>
    public const double StableThreshold = 0.02;

    public static IReadOnlyList<long> ParseSteps(string text)
    {
        var steps = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out long k) || k < 0)
                throw new InputException($"--steps: '{part}' is not a step >= 0 (give e.g. --steps 0,50,100)");
            steps.Add(k);
        }
        if (steps.Distinct().Count() != steps.Count) throw new InputException($"--steps names a step twice ('{text}')");
        return steps.Order().ToArray();
    }

    public void Validate()
    {
        if (Steps.Count == 0) throw new InputException("--steps: give at least one step");
        if (Points < 2) throw new InputException($"--points must be at least 2 (got {Points})");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
        BatchNorm.Validate();
    }
}

/// <summary>One trained copy: its data-order seed and how its training ended.</summary>
public sealed record InstabilityCopy(long Seed, TrainingResult Training, LandscapePoint Final);

/// <summary>One k of the curve: the two copies and the barriers on the linear path between them.</summary>
public sealed record InstabilityPoint(long Step, string Checkpoint, IReadOnlyList<InstabilityCopy> Copies, IReadOnlyList<PathPoint> Path,
    BarrierValues Train, BarrierValues Test)
{
    public bool Stable => Test.ErrorOverEndpointMean < InstabilitySettings.StableThreshold;
}

/// <summary>Everything the instability analysis computed, and its "geodesy.landscape-instability/1" keys.</summary>
public sealed record InstabilityResult(RunSpec Spec, InstabilitySettings Settings, long RunSteps, int RunEpochs, IReadOnlyList<InstabilityPoint> Points,
    long TrainExamples, long TestExamples, string DataSha256, JsonObject BatchNorm, long ForwardExamples, long TrainingExamples, double Seconds)
{
    public const string Definition =
        "for each k, two copies of the run's network at step k are trained to the run's end with the run's settings and different " +
        "data orders; the barriers are those of geodesy landscape barrier on the linear path between the two copies: error_barrier = " +
        "max over t of error(t) - ((1 - t) * error(0) + t * error(1)), error_barrier_over_endpoint_mean = max over t of error(t) - " +
        "(error(0) + error(1)) / 2 (the instability of Frankle et al. 2020); top-level values are on the test examples";

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        root["run"] = Path.GetFullPath(Settings.Run);
        root["arch"] = Spec.Arch;
        root["data"] = new JsonObject
        {
            ["spec"] = Spec.Data,
            ["train_examples"] = TrainExamples,
            ["test_examples"] = TestExamples,
            ["normalize"] = Spec.Normalize,
            ["label_noise"] = Spec.LabelNoise,
        };
        root["run_steps"] = RunSteps;
        root["run_epochs"] = RunEpochs;
        root["optimizer_state"] = "fresh at k (checkpoints hold weights only)";
        root["mode"] = "eval";
        root["batchnorm"] = BatchNorm.DeepClone();
        root["points"] = Settings.Points;
        root["stable_threshold"] = InstabilitySettings.StableThreshold;
        root["barrier_definition"] = Definition;
        var curve = new JsonArray();
        foreach (var p in Points)
        {
            var o = new JsonObject
            {
                ["step"] = p.Step,
                ["checkpoint"] = Path.GetFullPath(p.Checkpoint),
                ["loss_barrier"] = Finite(p.Test.Loss),
                ["error_barrier"] = Finite(p.Test.Error),
                ["error_barrier_over_endpoint_mean"] = Finite(p.Test.ErrorOverEndpointMean),
                ["stable"] = p.Stable,
                ["barriers"] = new JsonObject { ["train"] = p.Train.ToJson(), ["test"] = p.Test.ToJson() },
                ["copies"] = new JsonArray(p.Copies.Select(c => (JsonNode)new JsonObject
                {
                    ["data_order_seed"] = c.Seed,
                    ["status"] = c.Training.Status.Name(),
                    ["steps"] = c.Training.Steps,
                    ["train_error"] = Finite(1 - c.Final.TrainAccuracy),
                    ["test_error"] = Finite(1 - c.Final.TestAccuracy),
                }).ToArray()),
                ["path"] = PathPoint.ToJson(p.Path),
            };
            curve.Add(o);
        }
        root["instability"] = curve;
        Cost.Of(0, 0, Seconds).WriteTo(cost);
        cost["forward_examples"] = ForwardExamples;
        cost["training_examples"] = TrainingExamples;
        provenance["seed"] = Settings.Seed;
        provenance["data_sha256"] = DataSha256;
        provenance["weights_sha256"] = new JsonObject(Points.Select(p => KeyValuePair.Create(p.Step.ToString(CultureInfo.InvariantCulture), (JsonNode?)Provenance.Sha256OfFile(p.Checkpoint))));
    }

    /// <summary>The curve as CSV: step,loss_barrier,error_barrier,error_barrier_over_endpoint_mean,train_loss_barrier,train_error_barrier (test unless named; atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("step,loss_barrier,error_barrier,error_barrier_over_endpoint_mean,train_loss_barrier,train_error_barrier\n");
        foreach (var p in Points)
            text.Append($"{p.Step},{LandscapeJson.Num(p.Test.Loss)},{LandscapeJson.Num(p.Test.Error)},{LandscapeJson.Num(p.Test.ErrorOverEndpointMean)}," +
                $"{LandscapeJson.Num(p.Train.Loss)},{LandscapeJson.Num(p.Train.Error)}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>The instability curve: test error barriers (both definitions, left axis) and test loss barrier (right axis) against k.</summary>
    public void WritePng(string path) =>
        LandscapePlots.SeriesPng(path, $"{Spec.Arch}: instability of {Path.GetFileName(Path.GetFullPath(Settings.Run))} (two copies from step k, different data orders)",
            "k (step the copies branch from)", Points.Select(p => (double)p.Step).ToArray(),
            [
                new("test error barrier (over endpoint mean, Frankle et al.)", Points.Select(p => p.Test.ErrorOverEndpointMean).ToArray(), 0),
                new("test error barrier (over endpoint line)", Points.Select(p => p.Test.Error).ToArray(), 1),
                new("test loss barrier", Points.Select(p => p.Test.Loss).ToArray(), 2, RightAxis: true, Dashed: true),
            ],
            "error barrier (solid)", "cross-entropy loss barrier (dashed)");
}

/// <summary>
/// Instability analysis (Frankle et al. 2020, "Linear Mode Connectivity and the Lottery Ticket
/// Hypothesis", §3; open_lth's branch "instability"): from the run's weights at step k, two copies
/// are trained to the run's end with the run's own settings (the same <see cref="Trainer"/>, via the
/// run spec) but different data orders, and the error barrier between them is measured; over a list
/// of k this is the instability curve. The network at k is stable to SGD noise when the barrier is ≈ 0.
/// </summary>
public static class InstabilityAnalysis
{
    /// <summary>The weights file of step k: init.safetensors for 0, else checkpoints/step-NNNNNNN.safetensors (InputException when missing).</summary>
    public static string CheckpointAt(string run, long step, long runSteps)
    {
        if (step > runSteps) throw new InputException($"--steps {step}: the run '{run}' has only {runSteps} steps");
        string path = Path.Combine(run, step == 0 ? RunFiles.InitWeights : RunFiles.StepCheckpoint(step));
        if (File.Exists(path)) return path;
        string folder = Path.Combine(run, RunFiles.CheckpointFolder);
        var known = Directory.Exists(folder)
            ? Directory.GetFiles(folder, "step-*.safetensors").Select(f => long.TryParse(Path.GetFileNameWithoutExtension(f)["step-".Length..], out long s) ? s : -1)
                .Where(s => s >= 0).Order().Select(s => s.ToString(CultureInfo.InvariantCulture))
            : [];
        string list = string.Join(", ", known.DefaultIfEmpty("none"));
        throw new InputException($"--steps {step}: the run '{run}' has no checkpoint at step {step} (step checkpoints: {list}; train with --checkpoint-steps)");
    }

    /// <summary>The data-order seeds of the two copies: two draws of the "instability-copies" stream of <paramref name="seed"/>.</summary>
    public static long[] CopySeeds(long seed)
    {
        var rng = SeededRandom.Stream(seed, "instability-copies");
        return [(long)(rng.NextUInt64() >> 1), (long)(rng.NextUInt64() >> 1)];
    }

    public static InstabilityResult Run(InstabilitySettings settings, Action<string> log, CancellationToken cancel = default)
    {
        settings.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var spec = RunFiles.ReadSpec(settings.Run);
        var (runSteps, runEpochs) = RunLength(settings.Run);
        var checkpoints = settings.Steps.Select(k => CheckpointAt(settings.Run, k, runSteps)).ToArray();
        using var data = RunExecutor.LoadData(spec);
        var train = settings.Examples is long n && n < data.Train.Count ? data.Train.Take(n) : data.Train;
        var test = LandscapeJson.FirstTest(data, settings.Examples);
        if (settings.Examples is long m && m > data.Train.Count)
            throw new InputException($"--examples {m} is outside [1, {data.Train.Count}] (the number of training examples of '{spec.Data}')");
        // The copies train as long as the run did, whatever its stopping rule was.
        var options = spec.TrainerOptions with { Epochs = runEpochs, UntilLoss = null };
        var seeds = CopySeeds(settings.Seed);
        log($"instability of run {settings.Run} ({spec.Arch}, {runSteps} steps in {runEpochs} epochs): copies with data-order seeds {seeds[0]} and {seeds[1]} " +
            $"from step(s) {string.Join(", ", settings.Steps)}; barriers on {train.Count:N0} train and {test.Count:N0} test examples, {settings.Points} points");
        var points = new List<InstabilityPoint>();
        long forward = 0, trained = 0;
        JsonObject? batchNorm = null;
        for (int i = 0; i < settings.Steps.Count; i++)
        {
            long k = settings.Steps[i];
            var copies = new List<InstabilityCopy>();
            var models = new List<nn.Module<Tensor, Tensor>>();
            try
            {
                foreach (long seed in seeds)
                {
                    var model = ModelLoader.Load(spec.Arch, data.Train, checkpoints[i], ScalarType.Float32, checkpoints[i]);
                    models.Add(model);
                    var result = Trainer.Train(model, data, options with { Seed = seed, StartStep = k }, cancel: cancel);
                    trained += result.ExamplesSeen;
                    model.eval();
                    var final = new LandscapePoint(result.Final?.TrainLoss ?? double.NaN, result.Final?.TrainAccuracy ?? double.NaN,
                        result.Final?.TestLoss ?? double.NaN, result.Final?.TestAccuracy ?? double.NaN);
                    copies.Add(new InstabilityCopy(seed, result, final));
                }
                var resetData = settings.BatchNorm.Data(models[0], train);
                batchNorm ??= BatchNormReset.Describe(BatchNormStatistics.Present(models[0]), resetData, "interpolated");
                using var statsA = BatchNormStatistics.Present(models[0]) ? BatchNormStatistics.Capture(models[0]) : null;
                using var statsB = BatchNormStatistics.Present(models[1]) ? BatchNormStatistics.Capture(models[1]) : null;
                using var b = ParameterVector.Flatten(models[1]);
                using var evaluator = new LandscapeEvaluator(models[0], train, test, settings.StreamBatch, resetData);
                var path = BarrierAnalysis.LinearPathValues(evaluator, evaluator.Centre, b, statsA, statsB, LinearPath.Points(settings.Points));
                forward += evaluator.ForwardExamples;
                var point = new InstabilityPoint(k, checkpoints[i], copies, path, BarrierValues.Of(path, test: false), BarrierValues.Of(path, test: true));
                points.Add(point);
                log($"k = {k}: copies {copies[0].Training.Status.Name()} / {copies[1].Training.Status.Name()}, test error {LandscapeJson.Num(1 - copies[0].Final.TestAccuracy)} / " +
                    $"{LandscapeJson.Num(1 - copies[1].Final.TestAccuracy)}; test error barrier {LandscapeJson.Num(point.Test.Error)} " +
                    $"(over endpoint mean {LandscapeJson.Num(point.Test.ErrorOverEndpointMean)}{(point.Stable ? ", stable" : "")}), loss barrier {LandscapeJson.Num(point.Test.Loss)}");
            }
            finally
            {
                foreach (var model in models) model.Dispose();
            }
        }
        string sha = LandscapeJson.DataSha256(data, train.Count, test.Count);
        return new InstabilityResult(spec, settings, runSteps, runEpochs, points, train.Count, test.Count, sha, batchNorm!, forward, trained, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The steps and epochs the run trained (run.json "steps" and "epochs").</summary>
    private static (long Steps, int Epochs) RunLength(string run)
    {
        string path = Path.Combine(run, RunFiles.RunJson);
        var node = JsonNode.Parse(File.ReadAllText(path));
        if (node?["steps"] is not JsonValue steps || node["epochs"] is not JsonValue epochs)
            throw new InputException($"{path} has no \"steps\" and \"epochs\": the run did not finish");
        return (steps.GetValue<long>(), epochs.GetValue<int>());
    }
}
