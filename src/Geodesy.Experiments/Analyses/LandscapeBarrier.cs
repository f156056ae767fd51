using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
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
    /// <summary>Permute B's hidden units to match A first (weight matching, MLPs).</summary>
    public bool AlignWeights { get; init; }
    /// <summary>Seed of the order in which weight matching visits the layers.</summary>
    public long Seed { get; init; }

    public void Validate()
    {
        if (Points < 2) throw new InputException($"--points must be at least 2 (got {Points})");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
        if (Directory.Exists(B)) throw new InputException($"--b '{B}' is a folder, not a safetensors file");
        if (!File.Exists(B)) throw new InputException($"--b file '{B}' does not exist");
    }
}

/// <summary>One point of the path: t and the values at (1 − t)·θ_a + t·θ_b.</summary>
public sealed record PathPoint(double T, LandscapePoint Value);

/// <summary>The barriers of one quantity: against the linear interpolation of the endpoints, and against their mean.</summary>
public sealed record BarrierValues(double Loss, double Error, double LossOverEndpointMean, double ErrorOverEndpointMean)
{
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
    double Distance, WeightMatchingResult? Alignment, double DistanceBeforeAlignment, long TrainExamples, long TestExamples, long ForwardExamples, double Seconds)
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
        root["arch"] = source.Arch;
        root["a"] = System.IO.Path.GetFullPath(source.Weights!);
        root["b"] = System.IO.Path.GetFullPath(Settings.B);
        root["run"] = source.Run is null ? null : System.IO.Path.GetFullPath(source.Run);
        root["data"] = LandscapeJson.Data(source, TrainExamples, TestExamples);
        root["params"] = Source.Parameters;
        root["dtype"] = LandscapeJson.DTypeName(source.DType);
        root["mode"] = "eval";
        root["points"] = Path.Count;
        root["weight_distance"] = Finite(Distance);
        root["align"] = Alignment is null ? null : "weights";
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
        var path = new JsonArray();
        foreach (var p in Path)
            path.Add(new JsonObject
            {
                ["t"] = p.T,
                ["train_loss"] = Finite(p.Value.TrainLoss),
                ["train_error"] = Finite(1 - p.Value.TrainAccuracy),
                ["test_loss"] = Finite(p.Value.TestLoss),
                ["test_error"] = Finite(1 - p.Value.TestAccuracy),
            });
        root["path"] = path;
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
        if (settings.AlignWeights) WeightMatching.CheckMlp(loaded.Model, loaded.Source.Arch);
        using var scope = NewDisposeScope();
        Tensor b;
        using (var other = ModelLoader.Load(loaded.Source.Arch, loaded.Data.Train, settings.B, loaded.Source.DType, "--b"))
            b = ParameterVector.Flatten(other);
        using var evaluator = new LandscapeEvaluator(loaded.Model, train, test, settings.StreamBatch);
        var a = evaluator.Centre;
        double before = (b - a).norm().ToDouble();
        WeightMatchingResult? alignment = null;
        if (settings.AlignWeights)
        {
            alignment = WeightMatching.Align(loaded.Model, loaded.Source.Arch, a, b, settings.Seed);
            b = alignment.AlignedB;
            log($"weight matching: {alignment.Permutations.Count} hidden layer(s) permuted in {alignment.Iterations} sweep(s); " +
                $"distance {LandscapeJson.Num(before)} before, {LandscapeJson.Num((b - a).norm().ToDouble())} after");
        }
        double distance = (b - a).norm().ToDouble();
        log($"linear path between {loaded.Source.Weights} and {settings.B} ({loaded.Source.Arch}, {loaded.Parameters:N0} parameters, distance {LandscapeJson.Num(distance)}) " +
            $"on {train.Count:N0} train and {test.Count:N0} test examples, {settings.Points} points");
        var ts = LinearPath.Points(settings.Points);
        var path = new List<PathPoint>();
        foreach (double t in ts)
        {
            using var step = NewDisposeScope();
            path.Add(new PathPoint(t, evaluator.At(a * (1 - t) + b * t)));
        }
        BarrierValues Barriers(Func<LandscapePoint, double> loss, Func<LandscapePoint, double> error)
        {
            var l = path.Select(p => loss(p.Value)).ToArray();
            var e = path.Select(p => error(p.Value)).ToArray();
            return new BarrierValues(LinearPath.Barrier(ts, l), LinearPath.Barrier(ts, e),
                LinearPath.BarrierOverEndpointMean(ts, l), LinearPath.BarrierOverEndpointMean(ts, e));
        }
        var trainBarriers = Barriers(p => p.TrainLoss, p => 1 - p.TrainAccuracy);
        var testBarriers = Barriers(p => p.TestLoss, p => 1 - p.TestAccuracy);
        log($"test loss barrier {LandscapeJson.Num(testBarriers.Loss)}, test error barrier {LandscapeJson.Num(testBarriers.Error)}; " +
            $"train loss barrier {LandscapeJson.Num(trainBarriers.Loss)}, train error barrier {LandscapeJson.Num(trainBarriers.Error)}");
        return new BarrierResult(loaded, settings, path, trainBarriers, testBarriers, distance, alignment, before, train.Count, test.Count,
            evaluator.ForwardExamples, clock.Elapsed.TotalSeconds);
    }
}
