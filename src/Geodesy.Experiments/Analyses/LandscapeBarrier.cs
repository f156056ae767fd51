using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Experiments.Reports;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape barrier` computes (docs/landscape.md).</summary>
public sealed record BarrierSettings
{
    /// <summary>The weights at t = 1 (the source's weights are those at t = 0).</summary>
    public required string B { get; init; }
    public int Points { get; init; } = 21;
    /// <summary>The first N training and the first N test examples (null: all of them).</summary>
    public long? Examples { get; init; }
    public int StreamBatch { get; init; } = 2000;
    /// <summary>Permute B's hidden units and channels to match A first (weight matching, MLPs and CNNs).</summary>
    public bool AlignWeights { get; init; }
    /// <summary>Seed of the order in which weight matching visits the layers.</summary>
    public long Seed { get; init; }
    /// <summary>Re-estimate BatchNorm statistics at every point of the path (otherwise: interpolated between A's and B's).</summary>
    public BatchNormReset BatchNorm { get; init; } = new();

    public void Validate()
    {
        if (Points < 2) throw new InputException($"--points must be at least 2 (got {Points})");
        BatchNorm.Validate();
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
        if (Directory.Exists(B)) throw new InputException($"--b '{B}' is a folder, not a safetensors file");
        if (!File.Exists(B)) throw new InputException($"--b file '{B}' does not exist");
    }
}

/// <summary>
/// `--reset-bn [--reset-bn-examples N]`: re-estimate BatchNorm running statistics at every point
/// from the first N training examples of the evaluation (null: all of them), in train mode without
/// gradients (<see cref="BatchNormStatistics.Reestimate"/>).
/// </summary>
public sealed record BatchNormReset(bool Enabled = false, long? Examples = null)
{
    public void Validate()
    {
        if (Examples is < 1) throw new InputException($"--reset-bn-examples must be at least 1 (got {Examples})");
        if (Examples is not null && !Enabled) throw new InputException("--reset-bn-examples needs --reset-bn");
    }

    /// <summary>The examples statistics are re-estimated from, or null when they are not (or the model has no BatchNorm).</summary>
    public Dataset? Data(nn.Module model, Dataset train)
    {
        if (!Enabled || !BatchNormStatistics.Present(model)) return null;
        return Examples is long n && n < train.Count ? train.Take(n) : train;
    }

    /// <summary>The document's "batchnorm" object: what the statistics along the path or grid were.</summary>
    public static JsonObject Describe(bool present, Dataset? reset, string otherwise) => new()
    {
        ["layers_present"] = present,
        ["statistics"] = !present ? "none" : reset is null ? otherwise : "reset",
        ["reset_examples"] = reset?.Count,
    };
}

/// <summary>One point of the path: t and the values at (1 − t)·θ_a + t·θ_b.</summary>
public sealed record PathPoint(double T, LandscapePoint Value)
{
    /// <summary>{"t", "train_loss", "train_error", "test_loss", "test_error"}: one entry of a document's path.</summary>
    public JsonObject ToJson() => new()
    {
        ["t"] = T,
        ["train_loss"] = Finite(Value.TrainLoss),
        ["train_error"] = Finite(1 - Value.TrainAccuracy),
        ["test_loss"] = Finite(Value.TestLoss),
        ["test_error"] = Finite(1 - Value.TestAccuracy),
    };

    public static JsonArray ToJson(IEnumerable<PathPoint> path) => new(path.Select(p => (JsonNode)p.ToJson()).ToArray());
}

/// <summary>The barriers of one quantity: against the linear interpolation of the endpoints, and against their mean.</summary>
public sealed record BarrierValues(double Loss, double Error, double LossOverEndpointMean, double ErrorOverEndpointMean)
{
    /// <summary>The train (or test) barriers of a path whose t runs from 0 to 1.</summary>
    public static BarrierValues Of(IReadOnlyList<PathPoint> path, bool test)
    {
        var ts = path.Select(p => p.T).ToArray();
        var l = path.Select(p => test ? p.Value.TestLoss : p.Value.TrainLoss).ToArray();
        var e = path.Select(p => 1 - (test ? p.Value.TestAccuracy : p.Value.TrainAccuracy)).ToArray();
        return new BarrierValues(LinearPath.Barrier(ts, l), LinearPath.Barrier(ts, e),
            LinearPath.BarrierOverEndpointMean(ts, l), LinearPath.BarrierOverEndpointMean(ts, e));
    }

    public JsonObject ToJson() => new()
    {
        ["loss_barrier"] = Finite(Loss),
        ["error_barrier"] = Finite(Error),
        ["loss_barrier_over_endpoint_mean"] = Finite(LossOverEndpointMean),
        ["error_barrier_over_endpoint_mean"] = Finite(ErrorOverEndpointMean),
    };
}

/// <summary>Everything one barrier computed, and its "geodesy.landscape-barrier/1" keys.</summary>
public sealed record BarrierResult(
    LoadedModel Source, BarrierSettings Settings, IReadOnlyList<PathPoint> Path, BarrierValues Train, BarrierValues Test,
    double Distance, WeightMatchingResult? Alignment, double DistanceBeforeAlignment, long TrainExamples, long TestExamples, long ForwardExamples, double Seconds,
    JsonObject BatchNorm)
{
    public const string Definition =
        "barrier = max over t of value(t) - ((1 - t) * value(0) + t * value(1)) on the linear path (1 - t) * a + t * b " +
        "(the interpolation form of Entezari et al. 2022 and Ainsworth et al. 2023); the *_over_endpoint_mean keys " +
        "are max over t of value(t) - (value(0) + value(1)) / 2, the error barrier height of Frankle et al. 2020; " +
        "error = 1 - accuracy; top-level loss_barrier and error_barrier are on the test examples";

    public Cost Cost => Cost.Of(0, 0, Seconds);

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        var source = Source.Source;
        LandscapeGeometry.WriteSource(root, Source, TrainExamples, TestExamples, weightsKey: "a");
        root["b"] = System.IO.Path.GetFullPath(Settings.B);
        root["mode"] = "eval";
        root["points"] = Path.Count;
        root["weight_distance"] = Finite(Distance);
        root["align"] = Alignment is null ? null : "weights";
        root["batchnorm"] = BatchNorm.DeepClone();
        if (Alignment is { } m)
        {
            root["permutation"] = new JsonArray(m.Permutations.Select(p => (JsonNode)new JsonArray(p.Select(i => (JsonNode)i).ToArray())).ToArray());
            root["permutation_layers"] = new JsonArray(m.Layers.Select(l => (JsonNode)l).ToArray());
            root["alignment_iterations"] = m.Iterations;
            root["weight_distance_before_alignment"] = Finite(DistanceBeforeAlignment);
        }
        root["barrier_definition"] = Definition;
        root["loss_barrier"] = Finite(Test.Loss);
        root["error_barrier"] = Finite(Test.Error);
        root["barriers"] = new JsonObject { ["train"] = Train.ToJson(), ["test"] = Test.ToJson() };
        root["path"] = PathPoint.ToJson(Path);
        Cost.WriteTo(cost);
        cost["forward_examples"] = ForwardExamples;
        provenance["seed"] = Alignment is null ? null : Settings.Seed;
        provenance["data_sha256"] = LandscapeJson.DataSha256(Source.Data, TrainExamples, TestExamples);
        provenance["weights_sha256"] = Provenance.Sha256OfFile(source.Weights!);
        provenance["b_weights_sha256"] = Provenance.Sha256OfFile(Settings.B);
    }

    /// <summary>The plot: train and test loss and error against t.</summary>
    public void WritePng(string path) =>
        LandscapePlots.LinePng(path,
            $"{Source.Source.Arch}: linear path {Source.Source.Weights} → {Settings.B}{(Alignment is null ? "" : " (aligned)")}, test error barrier {LandscapeJson.Num(Math.Round(Test.Error, 4))}",
            "t", Path.Select(p => p.T).ToArray(),
            Path.Select(p => p.Value.TrainLoss).ToArray(), Path.Select(p => p.Value.TestLoss).ToArray(),
            Path.Select(p => 1 - p.Value.TrainAccuracy).ToArray(), Path.Select(p => 1 - p.Value.TestAccuracy).ToArray(), "error");

    /// <summary>The path as CSV: t,train_loss,train_error,test_loss,test_error (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("t,train_loss,train_error,test_loss,test_error\n");
        foreach (var p in Path)
            text.Append($"{LandscapeJson.Num(p.T)},{LandscapeJson.Num(p.Value.TrainLoss)},{LandscapeJson.Num(1 - p.Value.TrainAccuracy)}," +
                $"{LandscapeJson.Num(p.Value.TestLoss)},{LandscapeJson.Num(1 - p.Value.TestAccuracy)}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }
}

/// <summary>
/// Loss and error on the linear path between two models of one architecture, and the barriers
/// (linear mode connectivity: Frankle et al. 2020; Entezari et al. 2022; Ainsworth et al. 2023).
/// </summary>
public static class BarrierAnalysis
{
    /// <summary>The source's weights are the model at t = 0; <see cref="BarrierSettings.B"/> is loaded into the same architecture for t = 1.</summary>
    public static BarrierResult Run(LoadedModel loaded, BarrierSettings settings, Action<string> log)
    {
        settings.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples, "--examples");
        var test = LandscapeJson.FirstTest(loaded.Data, settings.Examples);
        if (settings.AlignWeights) WeightMatching.Check(loaded.Model, loaded.Source.Arch);
        using var scope = NewDisposeScope();
        Tensor b;
        BatchNormStatistics? statsB = null;
        using (var other = ModelLoader.Load(loaded.Source.Arch, loaded.Data.Train, settings.B, loaded.Source.DType, "--b"))
        {
            b = ParameterVector.Flatten(other);
            if (BatchNormStatistics.Present(other)) statsB = BatchNormStatistics.Capture(other);
        }
        using var statsA = statsB is null ? null : BatchNormStatistics.Capture(loaded.Model);
        var resetData = settings.BatchNorm.Data(loaded.Model, train);
        using var evaluator = new LandscapeEvaluator(loaded.Model, train, test, settings.StreamBatch, resetData);
        var a = evaluator.Centre;
        double before = (b - a).norm().ToDouble();
        WeightMatchingResult? alignment = null;
        if (settings.AlignWeights)
        {
            alignment = WeightMatching.Align(loaded.Model, loaded.Source.Arch, a, b, settings.Seed);
            b = alignment.AlignedB;
            if (statsB is not null)
            {
                var permuted = statsB.Permute(alignment.BatchNormChannelOrder);
                statsB.Dispose();
                statsB = permuted;
            }
            log($"weight matching: {alignment.Permutations.Count} hidden layer(s) permuted in {alignment.Iterations} sweep(s); " +
                $"distance {LandscapeJson.Num(before)} before, {LandscapeJson.Num((b - a).norm().ToDouble())} after");
        }
        double distance = (b - a).norm().ToDouble();
        log($"linear path between {loaded.Source.Weights} and {settings.B} ({loaded.Source.Arch}, {loaded.Parameters:N0} parameters, distance {LandscapeJson.Num(distance)}) " +
            $"on {train.Count:N0} train and {test.Count:N0} test examples, {settings.Points} points" +
            (resetData is null ? "" : $", BatchNorm statistics re-estimated at each point from {resetData.Count:N0} training examples"));
        var path = LinearPathValues(evaluator, a, b, statsA, statsB, LinearPath.Points(settings.Points));
        statsB?.Dispose();
        var trainBarriers = BarrierValues.Of(path, test: false);
        var testBarriers = BarrierValues.Of(path, test: true);
        log($"test loss barrier {LandscapeJson.Num(testBarriers.Loss)}, test error barrier {LandscapeJson.Num(testBarriers.Error)}; " +
            $"train loss barrier {LandscapeJson.Num(trainBarriers.Loss)}, train error barrier {LandscapeJson.Num(trainBarriers.Error)}");
        return new BarrierResult(loaded, settings, path, trainBarriers, testBarriers, distance, alignment, before, train.Count, test.Count,
            evaluator.ForwardExamples, clock.Elapsed.TotalSeconds, BatchNormReset.Describe(statsA is not null, resetData, "interpolated"));
    }

    /// <summary>
    /// The values at (1 − t)·a + t·b for each t; BatchNorm statistics re-estimated when the
    /// evaluator resets them, else interpolated the same way between <paramref name="statsA"/> and
    /// <paramref name="statsB"/> (when the model has BatchNorm).
    /// </summary>
    public static List<PathPoint> LinearPathValues(LandscapeEvaluator evaluator, Tensor a, Tensor b,
        BatchNormStatistics? statsA, BatchNormStatistics? statsB, IReadOnlyList<double> ts)
    {
        var path = new List<PathPoint>();
        foreach (double t in ts)
        {
            using var step = NewDisposeScope();
            using var stats = statsA is null || statsB is null || evaluator.ResetsBatchNorm ? null : BatchNormStatistics.Interpolate(statsA, statsB, t);
            path.Add(new PathPoint(t, evaluator.At(a * (1 - t) + b * t, stats)));
        }
        return path;
    }
}
