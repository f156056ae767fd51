using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Reports;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>An evenly spaced grid LO:HI:N (N points, both ends included).</summary>
public sealed record Grid(double Lo, double Hi, int N)
{
    public static Grid Parse(string text, string option)
    {
        var parts = text.Split(':');
        if (parts.Length != 3) throw new InputException($"{option}: expected LO:HI:N, e.g. -1:1:51 (got '{text}')");
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double lo) || !double.IsFinite(lo))
            throw new InputException($"{option}: LO '{parts[0]}' is not a finite number");
        if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double hi) || !double.IsFinite(hi))
            throw new InputException($"{option}: HI '{parts[1]}' is not a finite number");
        if (!int.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
            throw new InputException($"{option}: N '{parts[2]}' is not an integer");
        var grid = new Grid(lo, hi, n);
        grid.Validate(option);
        return grid;
    }

    public void Validate(string option)
    {
        if (N < 2) throw new InputException($"{option}: N must be at least 2 (got {N})");
        if (!(Hi > Lo)) throw new InputException($"{option}: HI must be larger than LO (got {Lo.ToString(CultureInfo.InvariantCulture)}:{Hi.ToString(CultureInfo.InvariantCulture)})");
    }

    public double[] Values => Enumerable.Range(0, N).Select(i => i == N - 1 ? Hi : Lo + (Hi - Lo) * i / (N - 1)).ToArray();

    public JsonObject ToJson() => new() { ["lo"] = Lo, ["hi"] = Hi, ["n"] = N };
}

/// <summary>
/// A direction as given on the command line: random, toward:FILE (the other model's weights minus
/// the centre's), or eigen:K (the unit K-th top eigenvector of the Hessian on the slice's training examples).
/// </summary>
public sealed record DirectionSpec(string Kind, string? File, int EigenIndex = 0)
{
    public const string RandomKind = "random", TowardKind = "toward", EigenKind = "eigen";

    public static DirectionSpec Parse(string text, string option)
    {
        if (text == RandomKind) return new DirectionSpec(RandomKind, null);
        if (text.StartsWith(EigenKind + ":", StringComparison.Ordinal))
        {
            string k = text[(EigenKind.Length + 1)..];
            if (!int.TryParse(k, NumberStyles.Integer, CultureInfo.InvariantCulture, out int index) || index < 1)
                throw new InputException($"{option}: eigen:K needs an integer K >= 1 (got '{k}')");
            return new DirectionSpec(EigenKind, null, index);
        }
        if (text.StartsWith(TowardKind + ":", StringComparison.Ordinal))
        {
            string file = text[(TowardKind.Length + 1)..];
            if (file.Length == 0) throw new InputException($"{option}: give the weights file after toward:, e.g. toward:runs/b/final.safetensors");
            if (Directory.Exists(file)) throw new InputException($"{option}: '{file}' is a folder, not a safetensors file");
            if (!System.IO.File.Exists(file)) throw new InputException($"{option}: file '{file}' does not exist");
            return new DirectionSpec(TowardKind, file);
        }
        throw new InputException($"{option}: unknown direction '{text}' (known: random, toward:FILE, eigen:K)");
    }
}

/// <summary>What `geodesy landscape slice` computes (docs/landscape.md).</summary>
public sealed record SliceSettings
{
    public required Grid Grid { get; init; }
    /// <summary>The grid of β (2D only); default: the α grid.</summary>
    public Grid? Grid2 { get; init; }
    public required DirectionSpec Direction { get; init; }
    /// <summary>The second direction; null for a 1D slice.</summary>
    public DirectionSpec? Direction2 { get; init; }
    /// <summary>The normalization of random directions (toward:FILE directions are used as they are, eigen:K ones have unit norm).</summary>
    public DirectionNormalization Normalization { get; init; } = DirectionNormalization.Filter;
    /// <summary>The first N training and the first N test examples (null: all of them).</summary>
    public long? Examples { get; init; }
    public long Seed { get; init; }
    public int StreamBatch { get; init; } = 2000;
    /// <summary>Re-estimate BatchNorm statistics at every grid point (otherwise: the centre's).</summary>
    public BatchNormReset BatchNorm { get; init; } = new();

    public bool TwoDimensional => Direction2 is not null;

    public void Validate()
    {
        Grid.Validate("--grid");
        Grid2?.Validate("--grid2");
        if (Grid2 is not null && Direction2 is null) throw new InputException("--grid2 is the grid of a second direction: give --direction2 too");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        BatchNorm.Validate();
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
    }
}

/// <summary>One direction of a slice as it was made: kind, file, normalization, norm.</summary>
public sealed record DirectionInfo(string Kind, string? File, string Normalization, string? Stream, double Norm)
{
    /// <summary>eigen:K: the eigenpair's index, value, residual, solver status and products.</summary>
    public EigenDirection? Eigen { get; init; }

    public JsonObject ToJson()
    {
        var o = Base();
        if (Eigen is { } e)
        {
            o["eigen_index"] = e.Index;
            o["eigenvalue"] = Finite(e.Eigenvalue);
            o["eigen_residual"] = Finite(e.Residual);
            o["eigen_status"] = e.Status.ToSnakeCase();
            o["eigen_matvecs"] = e.Matvecs;
        }
        return o;
    }

    private JsonObject Base() => new()
    {
        ["kind"] = Kind,
        ["file"] = File is null ? null : Path.GetFullPath(File),
        ["weights_sha256"] = File is null ? null : Provenance.Sha256OfFile(File),
        ["normalization"] = Normalization,
        ["seed_stream"] = Stream,
        ["norm"] = Finite(Norm),
    };
}

/// <summary>The Hessian eigenpair behind an eigen:K direction.</summary>
public sealed record EigenDirection(int Index, double Eigenvalue, double Residual, SolverStatus Status, long Matvecs, long Gradients);

/// <summary>How a slice's grid was evaluated: <see cref="GridEvaluation.FirstLayerPrecompute"/> or <see cref="GridEvaluation.PerPointForward"/>, and why not the former.</summary>
public sealed record SliceEvaluation(string Path, string? Fallback, bool BatchedPoints)
{
    public JsonObject ToJson() => new() { ["path"] = Path, ["fallback_reason"] = Fallback, ["batched_points"] = BatchedPoints };

    public string Describe() => Fallback is null
        ? "grid evaluated by the first-layer precompute (first-layer outputs of the centre and the directions combined at each point" +
          (BatchedPoints ? "; later layers batched over points)" : ")")
        : $"grid evaluated by a forward pass per point ({Fallback})";
}

/// <summary>One grid point of a slice: α (and β in 2D) and the values there.</summary>
public sealed record SlicePoint(double Alpha, double? Beta, LandscapePoint Value);

/// <summary>Everything one slice computed, and its "geodesy.landscape-slice/1" keys.</summary>
public sealed record SliceResult(
    LoadedModel Source, SliceSettings Settings, IReadOnlyList<DirectionInfo> Directions, double? Cosine, double? CosineBeforeOrthogonalization,
    LandscapePoint Centre, IReadOnlyList<SlicePoint> Points, long TrainExamples, long TestExamples, long ForwardExamples, double Seconds,
    JsonObject BatchNorm, SliceEvaluation Evaluation)
{
    public Cost Cost => Cost.Of(Directions.Sum(d => d.Eigen?.Matvecs ?? 0), Directions.Sum(d => d.Eigen?.Gradients ?? 0), Seconds);

    public double[] Alphas => Settings.Grid.Values;
    public double[] Betas => (Settings.Grid2 ?? Settings.Grid).Values;

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        var source = Source.Source;
        LandscapeGeometry.WriteSource(root, Source, TrainExamples, TestExamples);
        root["mode"] = "eval";
        root["batchnorm"] = BatchNorm.DeepClone();
        root["dimensions"] = Settings.TwoDimensional ? 2 : 1;
        root["grid"] = Settings.Grid.ToJson();
        if (Settings.TwoDimensional) root["grid2"] = (Settings.Grid2 ?? Settings.Grid).ToJson();
        root["directions"] = new JsonArray(Directions.Select(d => (JsonNode)d.ToJson()).ToArray());
        if (Settings.TwoDimensional)
        {
            root["directions_cosine"] = Finite(Cosine);
            root["directions_cosine_before_orthogonalization"] = Finite(CosineBeforeOrthogonalization);
        }
        root["evaluation"] = Evaluation.ToJson();
        root["centre"] = LandscapeJson.Values(Centre);
        var points = new JsonArray();
        foreach (var p in Points)
        {
            var o = new JsonObject { ["alpha"] = p.Alpha };
            if (p.Beta is double b) o["beta"] = b;
            foreach (var kv in LandscapeJson.Values(p.Value)) o[kv.Key] = kv.Value?.DeepClone();
            points.Add(o);
        }
        root["points"] = points;
        Cost.WriteTo(cost);
        cost["forward_examples"] = ForwardExamples;
        cost["points"] = Points.Count + 1;
        provenance["seed"] = Settings.Seed;
        provenance["data_sha256"] = LandscapeJson.DataSha256(Source.Data, TrainExamples, TestExamples);
        provenance["weights_sha256"] = source.Weights is null ? null : Provenance.Sha256OfFile(source.Weights);
    }

    /// <summary>The grid as CSV: alpha[,beta],train_loss,train_accuracy,test_loss,test_accuracy (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder(Settings.TwoDimensional ? "alpha,beta," : "alpha,");
        text.Append(LandscapeJson.CsvHeader).Append('\n');
        foreach (var p in Points)
        {
            text.Append(LandscapeJson.Num(p.Alpha)).Append(',');
            if (p.Beta is double b) text.Append(LandscapeJson.Num(b)).Append(',');
            text.Append(LandscapeJson.CsvValues(p.Value)).Append('\n');
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>The plot: loss and accuracy against α (1D), or a heat map of the train loss with labelled contours (2D).</summary>
    public void WritePng(string path)
    {
        string directions = string.Join(" × ", Directions.Select(d => d.Kind switch
        {
            DirectionSpec.RandomKind => $"random ({d.Normalization}-normalized)",
            DirectionSpec.EigenKind => $"Hessian eigenvector {d.Eigen!.Index} (λ = {LandscapeJson.Num(Math.Round(d.Eigen.Eigenvalue, 4))})",
            _ => $"toward {Path.GetFileName(d.File)}",
        }));
        string title = $"{Source.Source.Arch}: {(Settings.TwoDimensional ? "2D" : "1D")} slice, {directions}";
        if (Settings.TwoDimensional)
            LandscapePlots.HeatmapPng(path, title, Alphas, Betas, TrainLossGrid(), "train loss");
        else
            LandscapePlots.LinePng(path, title, "α", Alphas,
                Points.Select(p => p.Value.TrainLoss).ToArray(), Points.Select(p => p.Value.TestLoss).ToArray(),
                Points.Select(p => p.Value.TrainAccuracy).ToArray(), Points.Select(p => p.Value.TestAccuracy).ToArray(), "accuracy");
    }

    /// <summary>The train loss on the 2D grid, [β index, α index].</summary>
    public double[,] TrainLossGrid()
    {
        var a = Alphas;
        var b = Betas;
        var grid = new double[b.Length, a.Length];
        int k = 0;
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < b.Length; j++)
                grid[j, i] = Points[k++].Value.TrainLoss;
        return grid;
    }
}

/// <summary>
/// 1D and 2D slices of the loss landscape around a trained model (Li et al. 2018): train and test
/// loss and accuracy at θ + α·d (+ β·d2) on a grid, in eval mode.
/// </summary>
public static class SliceAnalysis
{
    public const string FirstStream = "landscape-direction-1", SecondStream = "landscape-direction-2";

    public static SliceResult Run(LoadedModel loaded, SliceSettings settings, Action<string> log)
    {
        settings.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples, "--examples");
        var test = LandscapeJson.FirstTest(loaded.Data, settings.Examples);
        var model = loaded.Model;
        using var scope = NewDisposeScope();
        var (d1, info1) = MakeDirection(loaded, train, settings, settings.Direction, FirstStream, "--direction");
        Tensor? d2 = null;
        DirectionInfo? info2 = null;
        double? cosine = null, cosineBefore = null;
        if (settings.Direction2 is { } spec2)
        {
            (d2, info2) = MakeDirection(loaded, train, settings, spec2, SecondStream, "--direction2");
            cosineBefore = Directions.Cosine(d1, d2);
            // A random second direction is made orthogonal to the first; a model's direction is kept as it is.
            if (spec2.Kind == DirectionSpec.RandomKind)
            {
                d2 = Directions.Orthogonalize(d2, d1);
                info2 = info2 with { Norm = d2.norm().ToDouble() };
            }
            cosine = Directions.Cosine(d1, d2);
        }
        var directions = info2 is null ? new[] { info1 } : new[] { info1, info2 };
        log($"{(d2 is null ? "1D" : "2D")} slice of {loaded.Source.Arch} ({loaded.Parameters:N0} parameters) on {train.Count:N0} train and {test.Count:N0} test examples; " +
            string.Join(", ", directions.Select(d => $"{d.Kind}{(d.File is null ? "" : ":" + d.File)}" +
                (d.Eigen is { } e ? $":{e.Index} (eigenvalue {LandscapeJson.Num(e.Eigenvalue)}, {e.Status.ToSnakeCase()}, {e.Matvecs} products)" : $" ({d.Normalization}, norm {LandscapeJson.Num(d.Norm)})"))));

        var resetData = settings.BatchNorm.Data(model, train);
        using var evaluator = new LandscapeEvaluator(model, train, test, settings.StreamBatch, resetData);
        if (resetData is not null) log($"BatchNorm statistics re-estimated at each point from {resetData.Count:N0} training examples");
        var centre = evaluator.At(evaluator.Centre);
        var (points, evaluation) = EvaluateGrid(evaluator, settings.Grid.Values, d1, d2 is null ? null : (settings.Grid2 ?? settings.Grid).Values, d2);
        log(evaluation.Describe());
        log($"centre: train loss {LandscapeJson.Num(centre.TrainLoss)} accuracy {LandscapeJson.Num(centre.TrainAccuracy)}, " +
            $"test loss {LandscapeJson.Num(centre.TestLoss)} accuracy {LandscapeJson.Num(centre.TestAccuracy)}; {points.Count} grid points");
        return new SliceResult(loaded, settings, directions, cosine, cosineBefore, centre, points, train.Count, test.Count,
            evaluator.ForwardExamples, clock.Elapsed.TotalSeconds, BatchNormReset.Describe(BatchNormStatistics.Present(model), resetData, "centre"), evaluation);
    }

    /// <summary>The values at θ + α·d1 (+ β·d2) for every α (and every β), α outer, β inner, and how they were evaluated.</summary>
    public static (List<SlicePoint> Points, SliceEvaluation Evaluation) EvaluateGrid(LandscapeEvaluator evaluator, double[] alphas, Tensor d1, double[]? betas, Tensor? d2)
    {
        var at = new List<(double Alpha, double? Beta)>();
        foreach (double alpha in alphas)
        {
            if (d2 is null || betas is null) at.Add((alpha, null));
            else foreach (double beta in betas) at.Add((alpha, beta));
        }
        var directions = d2 is null || betas is null ? new[] { d1 } : new[] { d1, d2 };
        var grid = evaluator.AtGrid(directions, at.Select(p => p.Beta is double b ? new[] { p.Alpha, b } : new[] { p.Alpha }).ToArray());
        var points = at.Select((p, i) => new SlicePoint(p.Alpha, p.Beta, grid.Points[i])).ToList();
        return (points, new SliceEvaluation(grid.Path, grid.Fallback, grid.BatchedPoints));
    }

    /// <summary>Lanczos settings of eigen:K directions: relative accuracy and product budget.</summary>
    public const double EigenTol = 1e-6;
    public const long EigenMaxMatvecs = 1000;

    private static (Tensor Direction, DirectionInfo Info) MakeDirection(LoadedModel loaded, Dataset train, SliceSettings settings, DirectionSpec spec,
        string stream, string option)
    {
        if (spec.Kind == DirectionSpec.RandomKind)
        {
            var d = Directions.Random(loaded.Model, settings.Seed, stream, settings.Normalization);
            return (d, new DirectionInfo(spec.Kind, null, Directions.Name(settings.Normalization), stream, d.norm().ToDouble()));
        }
        if (spec.Kind == DirectionSpec.EigenKind)
        {
            if (spec.EigenIndex > loaded.Parameters)
                throw new InputException($"{option} eigen:{spec.EigenIndex}: the model has only {loaded.Parameters} parameters");
            var problem = CurvatureProblem.FromData(loaded.Model, train.Inputs, train.Labels,
                new CurvatureOptions { BatchSize = settings.StreamBatch, Mode = CurvatureMode.Eval });
            var eig = Lanczos.TopK(new HessianOperator(problem), new EigenOptions
            {
                K = spec.EigenIndex, Tol = EigenTol, MaxMatvecs = EigenMaxMatvecs, Seed = settings.Seed, ReturnVectors = true,
            });
            problem.ReleaseKeptForwards(); // the slice needs no more products
            using var vectors = eig.Eigenvectors;
            if (vectors is null || eig.Eigenvalues.Length < spec.EigenIndex)
                throw new ComputationException($"{option} eigen:{spec.EigenIndex}: Lanczos found only {eig.Eigenvalues.Length} eigenvalue(s) within {EigenMaxMatvecs} products");
            int i = spec.EigenIndex - 1;
            var v = vectors[i].clone();
            return (v, new DirectionInfo(spec.Kind, null, "unit", null, v.norm().ToDouble())
            {
                Eigen = new EigenDirection(spec.EigenIndex, eig.Eigenvalues[i], eig.Residuals[i], eig.Status, eig.Matvecs, problem.Cost.GradientPasses),
            });
        }
        using var other = ModelLoader.Load(loaded.Source.Arch, loaded.Data.Train, spec.File!, loaded.Source.DType, $"{option} toward:{spec.File}");
        var toward = Directions.Toward(loaded.Model, other);
        return (toward, new DirectionInfo(spec.Kind, spec.File, Directions.Name(DirectionNormalization.None), null, toward.norm().ToDouble()));
    }
}

/// <summary>Keys and helpers the landscape documents share.</summary>
public static class LandscapeJson
{
    public const string CsvHeader = "train_loss,train_accuracy,test_loss,test_accuracy";

    public static string Num(double x) => x.ToString("G9", CultureInfo.InvariantCulture);

    public static string CsvValues(LandscapePoint p) => $"{Num(p.TrainLoss)},{Num(p.TrainAccuracy)},{Num(p.TestLoss)},{Num(p.TestAccuracy)}";

    public static JsonObject Values(LandscapePoint p) => new()
    {
        ["train_loss"] = Finite(p.TrainLoss),
        ["train_accuracy"] = Finite(p.TrainAccuracy),
        ["test_loss"] = Finite(p.TestLoss),
        ["test_accuracy"] = Finite(p.TestAccuracy),
    };

    public static string DTypeName(ScalarType dtype) => dtype == ScalarType.Float64 ? "float64" : "float32";

    /// <summary>The first N test examples (all for null; fewer when the test set is smaller).</summary>
    public static Dataset FirstTest(DataSplit data, long? examples) =>
        examples is long n && n < data.Test.Count ? data.Test.Take(n) : data.Test;

    public static JsonObject Data(ResolvedSource source, long train, long test) => new()
    {
        ["spec"] = source.DataSpec,
        ["train_examples"] = train,
        ["test_examples"] = test,
        ["normalize"] = source.DataOptions.Normalize,
        ["label_noise"] = source.DataOptions.LabelNoise,
    };

    /// <summary>The data's hash, with the prefixes used when they are not the whole sets.</summary>
    public static string DataSha256(DataSplit data, long train, long test) =>
        train == data.Train.Count && test == data.Test.Count
            ? data.Sha256
            : Provenance.Sha256Hex(Encoding.UTF8.GetBytes($"geodesy-landscape-data/1\n{data.Sha256}\ntrain_first={train}\ntest_first={test}\n"));
}
