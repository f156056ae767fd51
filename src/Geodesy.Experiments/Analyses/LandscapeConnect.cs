using System.Globalization;
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

/// <summary>What `geodesy landscape connect` computes (docs/landscape.md): a curve between the source and B, or a simplex.</summary>
public sealed record ConnectSettings
{
    /// <summary>The curve's end at t = 1 (the source's weights are t = 0); null with <see cref="Simplex"/>.</summary>
    public string? B { get; init; }
    /// <summary>"bezier" or "polychain".</summary>
    public string Curve { get; init; } = "bezier";
    /// <summary>The fixed vertices of a simplex (the source's weights are the first); null for a curve.</summary>
    public IReadOnlyList<string>? Simplex { get; init; }
    public CombinationTrainingOptions Training { get; init; } = new();
    /// <summary>Points on the curve and on the linear path, t = 0, 1/(N-1), ..., 1.</summary>
    public int Points { get; init; } = 21;
    /// <summary>Uniform points inside the simplex that are evaluated.</summary>
    public int Samples { get; init; } = 64;
    /// <summary>Instead of <see cref="Samples"/> random points: the regular lattice with this many steps per edge (vertices and edges included).</summary>
    public int? Grid { get; init; }
    /// <summary>The first N training and the first N test examples of the evaluation (null: all); training uses every training example.</summary>
    public long? Examples { get; init; }
    public int StreamBatch { get; init; } = 2000;
    /// <summary>With BatchNorm: the first N evaluation training examples its statistics are re-estimated from at every point (null: all).</summary>
    public long? ResetExamples { get; init; }

    public bool IsSimplex => Simplex is not null;

    public static readonly string[] Curves = ["bezier", "polychain"];

    public void Validate()
    {
        if (IsSimplex == (B is not null)) throw new InputException("give either --b FILE (a curve) or --simplex FILE,FILE,... (a simplex)");
        if (!Curves.Contains(Curve)) throw new InputException($"--curve must be bezier or polychain (got '{Curve}')");
        if (Simplex is { } files && files.Count < 2) throw new InputException($"--simplex needs at least two weights files (got {files.Count})");
        foreach (var (file, option) in (Simplex ?? []).Select(f => ((string?)f, "--simplex")).Append((B, "--b")))
        {
            if (file is null) continue;
            if (Directory.Exists(file)) throw new InputException($"{option} '{file}' is a folder, not a safetensors file");
            if (!File.Exists(file)) throw new InputException($"{option} file '{file}' does not exist");
        }
        Training.Validate();
        if (Points < 2) throw new InputException($"--points must be at least 2 (got {Points})");
        if (Samples < 1) throw new InputException($"--samples must be at least 1 (got {Samples})");
        if (Grid is < 1) throw new InputException($"--grid must be at least 1 (got {Grid})");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
        if (ResetExamples is < 1) throw new InputException($"--reset-bn-examples must be at least 1 (got {ResetExamples})");
    }
}

/// <summary>One evaluated point of a simplex: its barycentric coordinates and values.</summary>
public sealed record SimplexPoint(double[] Coordinates, LandscapePoint Value);

/// <summary>Loss and error statistics over points inside a simplex.</summary>
public sealed record SimplexSummary(double MeanTrainLoss, double MaxTrainLoss, double MeanTestLoss, double MaxTestLoss,
    double MeanTestError, double MaxTestError, double LossBarrier, double ErrorBarrier)
{
    /// <summary>
    /// Means and maxima over <paramref name="points"/>; the barriers are max over the points of the
    /// test value minus the barycentric interpolation Σ c_i·value(vertex_i) (the path barrier's
    /// definition, one dimension up).
    /// </summary>
    public static SimplexSummary Of(IReadOnlyList<SimplexPoint> points, IReadOnlyList<LandscapePoint> vertices)
    {
        double Interpolated(SimplexPoint p, Func<LandscapePoint, double> f) => p.Coordinates.Select((c, i) => c * f(vertices[i])).Sum();
        static double Error(LandscapePoint v) => 1 - v.TestAccuracy;
        return new SimplexSummary(
            points.Average(p => p.Value.TrainLoss), points.Max(p => p.Value.TrainLoss),
            points.Average(p => p.Value.TestLoss), points.Max(p => p.Value.TestLoss),
            points.Average(p => Error(p.Value)), points.Max(p => Error(p.Value)),
            Math.Max(0, points.Max(p => p.Value.TestLoss - Interpolated(p, v => v.TestLoss))),
            Math.Max(0, points.Max(p => Error(p.Value) - Interpolated(p, Error))));
    }

    public JsonObject ToJson() => new()
    {
        ["mean_train_loss"] = Finite(MeanTrainLoss),
        ["max_train_loss"] = Finite(MaxTrainLoss),
        ["mean_test_loss"] = Finite(MeanTestLoss),
        ["max_test_loss"] = Finite(MaxTestLoss),
        ["mean_test_error"] = Finite(MeanTestError),
        ["max_test_error"] = Finite(MaxTestError),
        ["loss_barrier"] = Finite(LossBarrier),
        ["error_barrier"] = Finite(ErrorBarrier),
    };
}

/// <summary>Everything connect computed, and its "geodesy.landscape-connect/1" keys.</summary>
public sealed record ConnectResult(LoadedModel Source, ConnectSettings Settings, IReadOnlyList<string> VertexFiles, CombinationTrainingResult Training,
    long TrainExamples, long TestExamples, JsonObject BatchNorm, long ForwardExamples, double Seconds)
{
    public IReadOnlyList<PathPoint>? CurvePath { get; init; }
    public IReadOnlyList<PathPoint>? LinearPath { get; init; }
    /// <summary>‖bend − (a + b)/2‖: how far training moved the bend from the midpoint it started at.</summary>
    public double BendFromMidpoint { get; init; }
    public IReadOnlyList<SimplexPoint>? Inside { get; init; }
    public IReadOnlyList<SimplexPoint>? GivenInside { get; init; }
    public IReadOnlyList<LandscapePoint>? Vertices { get; init; }

    public const string CurveDefinition =
        "barriers on the trained curve and on the linear path as in geodesy landscape barrier: max over t of value(t) - ((1 - t) * value(0) + t * value(1)); " +
        "top-level loss_barrier and error_barrier are those of the curve on the test examples";
    public const string SimplexDefinition =
        "inside: uniform points (with grid: the lattice of that many steps per edge) of the simplex of the given vertices and the trained extra vertex; given_only: the same of the simplex of the given vertices alone; " +
        "loss_barrier and error_barrier = max over the points of value - sum_i c_i * value(vertex_i) (test examples); top-level values are those of inside";

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        var source = Source.Source;
        root["arch"] = source.Arch;
        root["run"] = source.Run is null ? null : Path.GetFullPath(source.Run);
        root["data"] = LandscapeJson.Data(source, TrainExamples, TestExamples);
        root["params"] = Source.Parameters;
        root["dtype"] = LandscapeJson.DTypeName(source.DType);
        root["mode"] = "eval";
        root["batchnorm"] = BatchNorm.DeepClone();
        var t = Settings.Training;
        root["training"] = new JsonObject
        {
            ["epochs"] = t.Epochs,
            ["batch"] = t.BatchSize,
            ["lr"] = t.LearningRate,
            ["lr_schedule"] = "dnn-mode-connectivity: constant to 50% of the epochs, linear to 1% at 90%, then 1%",
            ["momentum"] = t.Momentum,
            ["weight_decay"] = t.WeightDecay,
            ["train_examples"] = Source.Data.Train.Count,
            ["steps"] = Training.Steps,
            ["last_epoch_train_loss"] = Finite(Training.LastEpochLoss),
            ["status"] = Training.Diverged ? "diverged" : "completed",
        };
        if (Settings.IsSimplex)
        {
            root["kind"] = "simplex";
            root["vertices"] = new JsonArray(VertexFiles.Select(f => (JsonNode)Path.GetFullPath(f)).ToArray());
            root["extra_vertices"] = 1;
            root["grid"] = Settings.Grid;
            root["definition"] = SimplexDefinition;
            var inside = SimplexSummary.Of(Inside!, Vertices!);
            var given = SimplexSummary.Of(GivenInside!, Vertices!);
            root["loss_barrier"] = Finite(inside.LossBarrier);
            root["error_barrier"] = Finite(inside.ErrorBarrier);
            root["inside"] = inside.ToJson();
            root["given_only"] = given.ToJson();
            root["vertex_values"] = new JsonArray(Vertices!.Select(v => (JsonNode)LandscapeJson.Values(v)).ToArray());
            root["samples"] = Samples(Inside!);
            root["given_only_samples"] = Samples(GivenInside!);
        }
        else
        {
            root["kind"] = "curve";
            root["curve"] = Settings.Curve;
            root["a"] = Path.GetFullPath(VertexFiles[0]);
            root["b"] = Path.GetFullPath(VertexFiles[1]);
            root["definition"] = CurveDefinition;
            root["bend_distance_from_midpoint"] = Finite(BendFromMidpoint);
            var curve = (Train: BarrierValues.Of(CurvePath!, test: false), Test: BarrierValues.Of(CurvePath!, test: true));
            var linear = (Train: BarrierValues.Of(LinearPath!, test: false), Test: BarrierValues.Of(LinearPath!, test: true));
            root["loss_barrier"] = Finite(curve.Test.Loss);
            root["error_barrier"] = Finite(curve.Test.Error);
            root["linear_loss_barrier"] = Finite(linear.Test.Loss);
            root["linear_error_barrier"] = Finite(linear.Test.Error);
            root["barriers"] = new JsonObject
            {
                ["curve"] = new JsonObject { ["train"] = curve.Train.ToJson(), ["test"] = curve.Test.ToJson() },
                ["linear"] = new JsonObject { ["train"] = linear.Train.ToJson(), ["test"] = linear.Test.ToJson() },
            };
            root["path"] = PathPoint.ToJson(CurvePath!);
            root["linear_path"] = PathPoint.ToJson(LinearPath!);
        }
        Cost.Of(0, Training.Steps, Seconds).WriteTo(cost);
        cost["forward_examples"] = ForwardExamples;
        cost["training_examples"] = Training.ExamplesSeen;
        provenance["seed"] = t.Seed;
        provenance["data_sha256"] = LandscapeJson.DataSha256(Source.Data, TrainExamples, TestExamples);
        provenance["weights_sha256"] = Provenance.Sha256OfFile(VertexFiles[0]);
        provenance["vertices_sha256"] = new JsonArray(VertexFiles.Select(f => (JsonNode)Provenance.Sha256OfFile(f)).ToArray());
    }

    /// <summary>FOLDER/FILE: runs' weights are all called final.safetensors.</summary>
    private static string ShortName(string file) =>
        Path.Combine(Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(file))) ?? "", Path.GetFileName(file));

    /// <summary>A run's final weights by the run's folder name, other files by their own name.</summary>
    private static string Label(string file) =>
        Path.GetFileName(file) == Runs.RunFiles.FinalWeights ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(file)))! : Path.GetFileName(file);

    private static JsonArray Samples(IReadOnlyList<SimplexPoint> points) => new(points.Select(p =>
    {
        var o = new JsonObject { ["coordinates"] = new JsonArray(p.Coordinates.Select(c => (JsonNode)c).ToArray()) };
        foreach (var kv in LandscapeJson.Values(p.Value)) o[kv.Key] = kv.Value?.DeepClone();
        return (JsonNode)o;
    }).ToArray());

    /// <summary>
    /// Curve: t,curve_train_loss,curve_train_error,curve_test_loss,curve_test_error,linear_train_loss,...;
    /// simplex: set,c0,c1,...,train_loss,train_accuracy,test_loss,test_accuracy (atomic).
    /// </summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder();
        if (Settings.IsSimplex)
        {
            int v = Vertices!.Count;
            text.Append("set,").Append(string.Join(',', Enumerable.Range(0, v).Select(i => $"c{i}"))).Append(',').Append(LandscapeJson.CsvHeader).Append('\n');
            void Rows(string set, IReadOnlyList<SimplexPoint> points)
            {
                foreach (var p in points)
                    text.Append(set).Append(',').Append(string.Join(',', Enumerable.Range(0, v).Select(i => LandscapeJson.Num(i < p.Coordinates.Length ? p.Coordinates[i] : 0))))
                        .Append(',').Append(LandscapeJson.CsvValues(p.Value)).Append('\n');
            }
            Rows("inside", Inside!);
            Rows("given_only", GivenInside!);
        }
        else
        {
            text.Append("t,curve_train_loss,curve_train_error,curve_test_loss,curve_test_error,linear_train_loss,linear_train_error,linear_test_loss,linear_test_error\n");
            string Values(LandscapePoint p) => $"{LandscapeJson.Num(p.TrainLoss)},{LandscapeJson.Num(1 - p.TrainAccuracy)},{LandscapeJson.Num(p.TestLoss)},{LandscapeJson.Num(1 - p.TestAccuracy)}";
            for (int i = 0; i < CurvePath!.Count; i++)
                text.Append(LandscapeJson.Num(CurvePath[i].T)).Append(',').Append(Values(CurvePath[i].Value)).Append(',').Append(Values(LinearPath![i].Value)).Append('\n');
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>
    /// Curve: train and test loss (solid, left) and test error (dashed, right) on the curve and the linear path against t.
    /// Simplex: the sorted train loss and test error of the points inside, with and without the trained vertex, against their quantile.
    /// </summary>
    public void WritePng(string path)
    {
        string arch = Source.Source.Arch;
        if (!Settings.IsSimplex)
        {
            var t = CurvePath!.Select(p => p.T).ToArray();
            double[] Of(IReadOnlyList<PathPoint> ps, Func<LandscapePoint, double> f) => ps.Select(p => f(p.Value)).ToArray();
            LandscapePlots.SeriesPng(path, $"{arch}: trained {Settings.Curve} curve vs linear path, {ShortName(VertexFiles[0])} → {ShortName(VertexFiles[1])}", "t",
                t,
                [
                    new($"{Settings.Curve} train loss", Of(CurvePath!, v => v.TrainLoss), 0),
                    new($"{Settings.Curve} test loss", Of(CurvePath!, v => v.TestLoss), 1),
                    new("linear train loss", Of(LinearPath!, v => v.TrainLoss), 2),
                    new("linear test loss", Of(LinearPath!, v => v.TestLoss), 3),
                    new($"{Settings.Curve} test error", Of(CurvePath!, v => 1 - v.TestAccuracy), 1, RightAxis: true, Dashed: true),
                    new("linear test error", Of(LinearPath!, v => 1 - v.TestAccuracy), 3, RightAxis: true, Dashed: true),
                ],
                "cross-entropy loss (solid)", "test error (dashed)");
            return;
        }
        if (Settings.Grid is int g && Vertices!.Count == 3)
        {
            // Two given vertices and the trained one: the loss over the whole triangle (its base is the linear path).
            LandscapePlots.TrianglePng(path, $"{arch}: train loss on the triangle of two solutions and the trained vertex",
                Inside!.Select(p => p.Coordinates).ToArray(), Inside!.Select(p => p.Value.TrainLoss).ToArray(), g,
                [Label(VertexFiles[0]), Label(VertexFiles[1]), "the trained vertex"], "train loss");
            return;
        }
        // The same number of points in both sets: sorted values against their quantile.
        var q = Enumerable.Range(0, Inside!.Count).Select(i => Inside.Count == 1 ? 0.5 : i / (double)(Inside.Count - 1)).ToArray();
        double[] Sorted(IReadOnlyList<SimplexPoint> ps, Func<LandscapePoint, double> f) => ps.Select(p => f(p.Value)).Order().ToArray();
        LandscapePlots.SeriesPng(path, $"{arch}: loss inside the simplex of {VertexFiles.Count} given vertices, with and without a trained vertex",
            "quantile of the uniformly sampled points (sorted by value)", q,
            [
                new("with the trained vertex: train loss", Sorted(Inside!, v => v.TrainLoss), 0),
                new("given vertices only: train loss", Sorted(GivenInside!, v => v.TrainLoss), 3),
                new("with the trained vertex: test error", Sorted(Inside!, v => 1 - v.TestAccuracy), 0, RightAxis: true, Dashed: true),
                new("given vertices only: test error", Sorted(GivenInside!, v => 1 - v.TestAccuracy), 3, RightAxis: true, Dashed: true),
            ],
            "cross-entropy train loss (solid)", "test error (dashed)");
    }
}

/// <summary>
/// Mode connectivity by training: a quadratic Bezier curve or polygonal chain between two
/// solutions (Garipov et al. 2018), or a low-loss simplex spanned by several solutions and one
/// trained extra vertex (Fort &amp; Jastrzebski 2019, "Large Scale Structure of Neural Network Loss
/// Landscapes", §4.4), by <see cref="CombinationTraining"/>; then loss and error along the curve
/// (and the linear path) or at uniform points inside the simplex (and inside the simplex of the
/// given vertices alone).
/// </summary>
public static class ConnectAnalysis
{
    public static ConnectResult Run(LoadedModel loaded, ConnectSettings settings, Action<string> log, CancellationToken cancel = default)
    {
        settings.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples, "--examples");
        var test = LandscapeJson.FirstTest(loaded.Data, settings.Examples);
        var model = loaded.Model;
        var files = settings.IsSimplex ? settings.Simplex!.ToArray() : [loaded.Source.Weights!, settings.B!];
        using var scope = NewDisposeScope();
        var given = new List<Tensor> { ParameterVector.Flatten(model) };
        for (int i = 1; i < files.Length; i++)
        {
            using var other = ModelLoader.Load(loaded.Source.Arch, loaded.Data.Train, files[i], loaded.Source.DType, settings.IsSimplex ? $"--simplex {files[i]}" : "--b");
            given.Add(ParameterVector.Flatten(other));
        }
        // Points off the given models have no BatchNorm statistics of their own: they are re-estimated at every point (as dnn-mode-connectivity's update_bn).
        var reset = new BatchNormReset(Enabled: true, settings.ResetExamples);
        var resetData = reset.Data(model, train);
        var batchNorm = BatchNormReset.Describe(BatchNormStatistics.Present(model), resetData, "none");

        // The free vertex starts at the centroid of the given ones (the midpoint for a curve, as init_linear in dnn-mode-connectivity).
        var extra = VertexFamily.Combine(given, Enumerable.Repeat(1.0 / given.Count, given.Count).ToArray());
        var family = settings.IsSimplex ? VertexFamily.Simplex(given.Count + 1) : settings.Curve == "bezier" ? VertexFamily.Bezier : VertexFamily.PolyChain;
        var vertices = settings.IsSimplex ? [.. given, extra] : new List<Tensor> { given[0], extra, given[1] };
        var free = vertices.Select(v => ReferenceEquals(v, extra)).ToArray();
        log($"{(settings.IsSimplex ? $"simplex of {given.Count} given vertices and 1 trained vertex" : $"{settings.Curve} curve between {files[0]} and {files[1]}")} " +
            $"({loaded.Source.Arch}, {loaded.Parameters:N0} parameters): training {settings.Training.Epochs} epoch(s) on {loaded.Data.Train.Count:N0} examples");
        var result = CombinationTraining.Train(model, loaded.Data.Train, family, vertices, free, settings.Training, cancel);
        ParameterVector.Assign(model, given[0]); // training left the last sampled point in the model
        if (result.Diverged) throw new ComputationException($"connect: the training loss became {result.LastEpochLoss} after {result.Steps} steps; lower --lr");
        log($"trained {result.Steps} steps, last epoch's mean train loss {LandscapeJson.Num(result.LastEpochLoss)}; evaluating on {train.Count:N0} train and {test.Count:N0} test examples" +
            (resetData is null ? "" : $", BatchNorm statistics re-estimated at each point from {resetData.Count:N0} training examples"));

        using var evaluator = new LandscapeEvaluator(model, train, test, settings.StreamBatch, resetData);
        ConnectResult Result() => new(loaded, settings, files, result, train.Count, test.Count, batchNorm, evaluator.ForwardExamples, clock.Elapsed.TotalSeconds);
        if (!settings.IsSimplex)
        {
            var ts = Core.Landscape.LinearPath.Points(settings.Points);
            var curve = new List<PathPoint>();
            foreach (double t in ts)
            {
                using var step = NewDisposeScope();
                curve.Add(new PathPoint(t, evaluator.At(VertexFamily.Combine(vertices, family.AtT!(t)))));
            }
            var linear = BarrierAnalysis.LinearPathValues(evaluator, given[0], given[1], null, null, ts);
            double bend;
            using (var midpoint = (given[0] + given[1]) * 0.5) bend = (extra - midpoint).norm().ToDouble();
            var r = Result() with { CurvePath = curve, LinearPath = linear, BendFromMidpoint = bend };
            var cb = BarrierValues.Of(curve, test: true);
            var lb = BarrierValues.Of(linear, test: true);
            log($"test loss barrier on the curve {LandscapeJson.Num(cb.Loss)} (linear path {LandscapeJson.Num(lb.Loss)}), test error barrier {LandscapeJson.Num(cb.Error)} " +
                $"(linear path {LandscapeJson.Num(lb.Error)}); the bend moved {LandscapeJson.Num(bend)} from the midpoint");
            return r with { ForwardExamples = evaluator.ForwardExamples, Seconds = clock.Elapsed.TotalSeconds };
        }
        var rng = SeededRandom.Stream(settings.Training.Seed, "connect-evaluation");
        var vertexValues = given.Select(v => evaluator.At(v)).ToArray();
        // Random uniform points, or the lattice fixed in advance (which also holds the vertices and the edges, where barriers sit).
        IReadOnlyList<double[]> cInside, cGiven;
        if (settings.Grid is int g) (cInside, cGiven) = (VertexFamily.Lattice(vertices.Count, g), VertexFamily.Lattice(given.Count, g));
        else
        {
            var pairs = Enumerable.Range(0, settings.Samples)
                .Select(_ => (Inside: VertexFamily.UniformBarycentric(rng, vertices.Count), Given: VertexFamily.UniformBarycentric(rng, given.Count))).ToArray();
            (cInside, cGiven) = (pairs.Select(p => p.Inside).ToArray(), pairs.Select(p => p.Given).ToArray());
        }
        var inside = new List<SimplexPoint>();
        var givenInside = new List<SimplexPoint>();
        foreach (var c in cInside)
        {
            using var step = NewDisposeScope();
            inside.Add(new SimplexPoint(c, evaluator.At(VertexFamily.Combine(vertices, c))));
        }
        foreach (var c in cGiven)
        {
            using var step = NewDisposeScope();
            givenInside.Add(new SimplexPoint(c, evaluator.At(VertexFamily.Combine(given, c))));
        }
        // The summaries interpolate vertex values: the trained vertex's own value is needed for the points inside.
        var withExtra = vertexValues.Append(evaluator.At(extra)).ToArray();
        var summaryInside = SimplexSummary.Of(inside, withExtra);
        var summaryGiven = SimplexSummary.Of(givenInside, vertexValues);
        log($"inside the simplex with the trained vertex: mean train loss {LandscapeJson.Num(summaryInside.MeanTrainLoss)}, max {LandscapeJson.Num(summaryInside.MaxTrainLoss)}, " +
            $"max test error {LandscapeJson.Num(summaryInside.MaxTestError)}; given vertices only: mean train loss {LandscapeJson.Num(summaryGiven.MeanTrainLoss)}, " +
            $"max {LandscapeJson.Num(summaryGiven.MaxTrainLoss)}, max test error {LandscapeJson.Num(summaryGiven.MaxTestError)}");
        return Result() with { Inside = inside, GivenInside = givenInside, Vertices = withExtra };
    }
}
