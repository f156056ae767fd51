using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy curvature` computes, checked before any tensor is made (docs/curvature.md).</summary>
public sealed record CurvatureSettings
{
    public required string[] Matrices { get; init; }
    public required int TopK { get; init; }
    public required int BottomK { get; init; }
    public required bool Trace { get; init; }
    public required bool Density { get; init; }
    public required bool PerLayer { get; init; }
    public required bool Power { get; init; }
    public required double Tol { get; init; }
    public required long? MaxMatvecs { get; init; }
    public required long TraceMatvecs { get; init; }
    public required int SlqSteps { get; init; }
    public required int SlqRuns { get; init; }
    public required int FisherSamples { get; init; }
    public required bool Overlap { get; init; }
    public required bool ComparePower { get; init; }
    public required long Seed { get; init; }
    /// <summary>Examples per mini-batch while streaming over the data (memory, not results).</summary>
    public int StreamBatch { get; init; } = 1000;
    /// <summary>Train mode: BatchNorm batch statistics, fixed dropout masks (default eval).</summary>
    public bool TrainMode { get; init; }
    /// <summary>X of the X/2·||w||² added to the loss; 0: excluded.</summary>
    public double WeightDecay { get; init; }
    /// <summary>Use the first N training examples (null: all of them).</summary>
    public long? Examples { get; init; }
    /// <summary>The option the user named the example count with (--examples or its old name --subset), for messages.</summary>
    public string ExamplesOption { get; init; } = "--examples";

    public static string[] ParseMatrices(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new InputException("--matrix: give at least one of " + string.Join(", ", CurvatureAnalysis.MatrixNames));
        foreach (var name in names)
            if (!CurvatureAnalysis.MatrixNames.Contains(name))
                throw new InputException($"--matrix: unknown matrix '{name}' (known: {string.Join(", ", CurvatureAnalysis.MatrixNames)})");
        return CurvatureAnalysis.MatrixNames.Where(names.Contains).ToArray();
    }

    public void Validate()
    {
        if (TopK < 0) throw new InputException($"--top-k must be >= 0 (got {TopK})");
        if (BottomK < 0) throw new InputException($"--bottom-k must be >= 0 (got {BottomK})");
        if (!(Tol > 0 && Tol < 1)) throw new InputException($"--tol must be in (0, 1) (got {Tol})");
        if (MaxMatvecs is < 1) throw new InputException($"--max-matvecs must be at least 1 (got {MaxMatvecs})");
        if (Trace && TraceMatvecs < 4) throw new InputException($"--trace-matvecs must be at least 4 for Hutch++ (got {TraceMatvecs})");
        if (Density && SlqSteps < 1) throw new InputException($"--slq-steps must be at least 1 (got {SlqSteps})");
        if (Density && SlqRuns < 1) throw new InputException($"--slq-runs must be at least 1 (got {SlqRuns})");
        if (FisherSamples < 1) throw new InputException($"--fisher-samples must be at least 1 (got {FisherSamples})");
        if (Overlap && TopK == 0) throw new InputException("--overlap needs the top-k eigenvectors: give --top-k K with K >= 1");
        if (ComparePower && TopK == 0) throw new InputException("--compare-power compares top-k solvers: give --top-k K with K >= 1");
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0) throw new InputException($"--include-weight-decay must be finite and >= 0 (got {WeightDecay})");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
    }

    public void CheckAgainstDimension(long dimension)
    {
        if (TopK > dimension) throw new InputException($"--top-k {TopK} is larger than the number of parameters {dimension}");
        if (BottomK > dimension) throw new InputException($"--bottom-k {BottomK} is larger than the number of parameters {dimension}");
    }
}

/// <summary>The results of one matrix: its JSON entry plus what the table and the plot need.</summary>
public sealed record MatrixResult(string Name, JsonObject Json, SolverStatus Status, long Matvecs, double Seconds,
    double[] Top, TraceResult? Trace, SlqResult? Density, IReadOnlyList<(string Layer, double Top)> Layers, JsonObject? Comparison);

/// <summary>
/// Everything `geodesy curvature` computed for one model, and how it is written into the
/// "geodesy.curvature/1" document (the keys of docs/curvature.md).
/// </summary>
public sealed record CurvatureResult(
    LoadedModel Source, CurvatureSettings Settings, long Dimension, long Examples, double Loss, double Accuracy, double GradientNorm,
    IReadOnlyList<MatrixResult> Matrices, long GradientPasses)
{
    /// <summary>The worst status over every solve of every matrix.</summary>
    public SolverStatus Status => Matrices.Select(r => r.Status).DefaultIfEmpty(SolverStatus.Converged).Max();

    public Cost Cost => Cost.Of(Matrices.Sum(r => r.Matvecs), GradientPasses, Matrices.Sum(r => r.Seconds));

    /// <summary>Fills the document's own keys, its cost and its provenance.</summary>
    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        var source = Source.Source;
        var s = Settings;
        root["arch"] = source.Arch;
        root["weights"] = source.Weights;
        root["run"] = source.Run;
        root["data"] = new JsonObject
        {
            ["spec"] = source.DataSpec,
            ["split"] = "train",
            ["subset"] = s.Examples,
            ["training_examples"] = Source.Data.Train.Count,
            ["normalize"] = source.DataOptions.Normalize,
            ["label_noise"] = source.DataOptions.LabelNoise,
        };
        root["params"] = Dimension;
        root["examples"] = Examples;
        root["dtype"] = source.DType == ScalarType.Float64 ? "float64" : "float32";
        root["mode"] = s.TrainMode ? "train" : "eval";
        root["include_weight_decay"] = s.WeightDecay;
        root["method"] = s.Power ? "power" : "lanczos";
        root["tol"] = s.Tol;
        root["loss"] = Finite(Loss);
        root["accuracy"] = Accuracy;
        root["gradient_norm"] = Finite(GradientNorm);
        root["status"] = Status.ToSnakeCase();
        var matrices = new JsonObject();
        foreach (var r in Matrices) matrices[r.Name] = r.Json;
        root["matrices"] = matrices;
        if (Matrices.FirstOrDefault(r => r.Json["comparison"] is not null) is { } compared)
        {
            var comparison = compared.Json["comparison"]!.DeepClone().AsObject();
            comparison.Insert(0, "matrix", compared.Name);
            root["comparison"] = comparison;
        }
        cost["matvecs"] = Cost.Matvecs;
        cost["gradients"] = Cost.Gradients;
        provenance["seed"] = s.Seed;
        provenance["data_sha256"] = s.Examples is long p
            ? Provenance.Sha256Hex(Encoding.UTF8.GetBytes($"geodesy-curvature-data/1\n{Source.Data.Sha256}\nfirst={p}\n"))
            : Source.Data.Sha256;
        provenance["weights_sha256"] = source.Weights is null ? null : Provenance.Sha256OfFile(source.Weights);
    }
}

/// <summary>
/// Eigenvalues, traces, spectral densities and per-layer results of the Hessian, GGN, Fisher,
/// empirical Fisher and gradient covariance of a model on (a prefix of) its training set.
/// </summary>
public static class CurvatureAnalysis
{
    /// <summary>The --matrix names, in the order they are reported (the Core registry's).</summary>
    public static IReadOnlyList<string> MatrixNames => CurvatureMatrices.Names;

    /// <summary>PyHessian's power iteration settings, used by --method power and --compare-power.</summary>
    private static readonly PowerOptions PyHessianPower = new();

    /// <summary>Runs every requested matrix on the loaded model; <paramref name="log"/> gets one line per step.</summary>
    public static CurvatureResult Run(LoadedModel loaded, CurvatureSettings settings, Action<string> log)
    {
        settings.Validate();
        var train = loaded.Data.Train;
        var data = loaded.FirstExamples(settings.Examples, settings.ExamplesOption);
        long dimension = ModelZoo.CountParameters(loaded.Source.Arch, train.InputShape, train.NumClasses);
        settings.CheckAgainstDimension(dimension);
        var problem = CurvatureProblem.FromData(loaded.Model, data.Inputs, data.Labels,
            new CurvatureOptions
            {
                BatchSize = settings.StreamBatch,
                Mode = settings.TrainMode ? CurvatureMode.Train : CurvatureMode.Eval,
                WeightDecay = settings.WeightDecay,
                IncludeWeightDecay = settings.WeightDecay > 0,
            });

        var (loss, gradient, accuracy) = problem.LossAndGradient();
        using var _gradient = gradient;
        double gradientNorm = gradient.norm().ToDouble();
        var source = loaded.Source;
        log($"curvature of {source.Arch} ({dimension:N0} parameters) on the first {data.Count:N0} training examples of {source.DataSpec}, " +
            $"{(source.DType == ScalarType.Float64 ? "float64" : "float32")}, {(settings.TrainMode ? "train" : "eval")} mode");
        log($"loss {Fmt(loss)}  accuracy {accuracy:F4}  gradient norm {Fmt(gradientNorm)}");

        var results = new List<MatrixResult>();
        foreach (string name in settings.Matrices)
            results.Add(ComputeMatrix(name, problem, loaded.Model, gradient, settings, log));
        return new CurvatureResult(loaded, settings, dimension, data.Count, loss, accuracy, gradientNorm, results, problem.Cost.GradientPasses);
    }


    private static ILinearOperator CreateOperator(string name, CurvatureProblem problem, CurvatureSettings s) =>
        CurvatureMatrices.Find(name).Create(problem, new CurvatureMatrixOptions { FisherSamples = s.FisherSamples, Seed = s.Seed });
    private static MatrixResult ComputeMatrix(string name, CurvatureProblem problem, nn.Module model, Tensor gradient, CurvatureSettings s, Action<string> log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var op = CreateOperator(name, problem, s);
        var json = new JsonObject();
        var statuses = new List<SolverStatus>();
        double[] top = [];
        TraceResult? trace = null;
        SlqResult? density = null;
        JsonObject? comparison = null;
        var layers = new List<(string, double)>();
        try
        {
            if (s.TopK > 0)
            {
                // One product before timed solves, so neither method of a comparison pays the first call's set-up.
                if (s.ComparePower) WarmUp(op, s.Seed);
                var (eig, eigCpu) = CpuTimed(() => TopEigen(op, s.TopK, s.Power, s, returnVectors: s.Overlap));
                using var vectors = eig.Eigenvectors;
                top = eig.Eigenvalues;
                json["top_eigenvalues"] = JsonNumbers.Array(eig.Eigenvalues);
                json["residuals"] = JsonNumbers.Array(eig.Residuals);
                json["relative_residuals"] = JsonNumbers.Array(eig.RelativeResiduals);
                json["eigen_method"] = eig.Method;
                json["eigen_status"] = eig.Status.ToSnakeCase();
                json["eigen_matvecs"] = eig.Matvecs;
                json["eigen_seconds"] = Math.Round(eig.Seconds, 4);
                statuses.Add(eig.Status);
                if (s.Overlap)
                {
                    json["gradient_overlap"] = vectors is null || gradient.norm().ToDouble() == 0
                        ? null : Finite(SubspaceOverlap.Fraction(vectors, gradient));
                }
                if (s.ComparePower)
                {
                    var (other, otherCpu) = CpuTimed(() => TopEigen(op, s.TopK, !s.Power, s, returnVectors: false));
                    comparison = s.Power ? Compare(other, otherCpu, eig, eigCpu) : Compare(eig, eigCpu, other, otherCpu);
                    json["comparison"] = comparison;
                    // The main status is the chosen method's; a budget-limited comparison run is reported inside "comparison".
                }
            }
            if (s.BottomK > 0)
            {
                var bottom = Lanczos.BottomK(op, new EigenOptions { K = s.BottomK, Tol = s.Tol, MaxMatvecs = s.MaxMatvecs ?? 1000, Seed = s.Seed });
                json["bottom_eigenvalues"] = JsonNumbers.Array(bottom.Eigenvalues);
                json["bottom_residuals"] = JsonNumbers.Array(bottom.Residuals);
                json["bottom_status"] = bottom.Status.ToSnakeCase();
                json["bottom_matvecs"] = bottom.Matvecs;
                statuses.Add(bottom.Status);
            }
            if (s.Trace)
            {
                trace = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = s.TraceMatvecs, Seed = s.Seed });
                json["trace"] = TraceJson(trace);
                statuses.Add(trace.Status);
            }
            if (s.Density)
            {
                density = SpectralDensity.Slq(op, new SlqOptions { Steps = s.SlqSteps, Runs = s.SlqRuns, Seed = s.Seed });
                json["density"] = new JsonObject
                {
                    ["grid"] = JsonNumbers.Array(density.Grid),
                    ["density"] = JsonNumbers.Array(density.Density),
                    ["moments"] = JsonNumbers.Array(density.Moments.Select(m => m.Value).ToArray()),
                    ["moments_stderr"] = new JsonArray(density.Moments.Select(m => (JsonNode?)Finite(m.StdErr)).ToArray()),
                    ["sigma"] = Finite(density.Sigma),
                    ["steps"] = Math.Min(s.SlqSteps, op.Dimension),
                    ["runs"] = density.Runs.Count,
                    ["method"] = "slq",
                    ["status"] = density.Status.ToSnakeCase(),
                    ["matvecs"] = density.Matvecs,
                };
                statuses.Add(density.Status);
            }
            if (s.PerLayer)
            {
                var perLayer = new JsonArray();
                foreach (var block in BlockOperator.PerLayer(op, model))
                {
                    var entry = new JsonObject { ["layer"] = block.Block, ["params"] = block.Dimension };
                    var eig = TopEigen(block, 1, s.Power, s, returnVectors: false);
                    double? value = eig.Eigenvalues.Length > 0 ? eig.Eigenvalues[0] : null;
                    entry["top_eigenvalue"] = Finite(value);
                    entry["residual"] = eig.Residuals.Length > 0 ? Finite(eig.Residuals[0]) : null;
                    statuses.Add(eig.Status);
                    var layerStatus = eig.Status;
                    if (s.Trace)
                    {
                        var t = TraceEstimators.HutchPlusPlus(block, new TraceOptions { MaxMatvecs = s.TraceMatvecs, Seed = s.Seed });
                        entry["trace"] = TraceJson(t);
                        statuses.Add(t.Status);
                        layerStatus = (SolverStatus)Math.Max((int)layerStatus, (int)t.Status);
                    }
                    entry["status"] = layerStatus.ToSnakeCase();
                    entry["matvecs"] = block.Applications;
                    perLayer.Add(entry);
                    if (value is double v) layers.Add((block.Block, v));
                }
                json["per_layer"] = perLayer;
            }
        }
        finally
        {
            (op as IDisposable)?.Dispose();
        }
        var status = statuses.DefaultIfEmpty(SolverStatus.Converged).Max();
        double seconds = clock.Elapsed.TotalSeconds;
        json["status"] = status.ToSnakeCase();
        json["matvecs"] = op.Applications;
        json["product_method"] = op.ProductMethod;
        json["seconds"] = Math.Round(seconds, 4);
        if (name == "fisher") json["fisher_samples"] = s.FisherSamples;
        log($"{name}: {status.ToSnakeCase()}, {op.Applications} products, {seconds:F2} s");
        return new MatrixResult(name, json, status, op.Applications, seconds, top, trace, density, layers, comparison);
    }

    /// <summary>Top-k eigenpairs by Lanczos (--tol, --max-matvecs) or by power iteration at PyHessian's defaults.</summary>
    private static EigenResult TopEigen(ILinearOperator op, int k, bool power, CurvatureSettings s, bool returnVectors) => power
        ? PowerIteration.TopK(op, PyHessianPower with { K = k, MaxMatvecs = s.MaxMatvecs, Seed = s.Seed, ReturnVectors = returnVectors })
        : Lanczos.TopK(op, new EigenOptions { K = k, Tol = s.Tol, MaxMatvecs = s.MaxMatvecs ?? 1000, Seed = s.Seed, ReturnVectors = returnVectors });

    /// <summary>The result and the process CPU time it took (robust to other processes on a shared machine).</summary>
    private static (EigenResult Result, double CpuSeconds) CpuTimed(Func<EigenResult> solve)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        var result = solve();
        process.Refresh();
        return (result, (process.TotalProcessorTime - before).TotalSeconds);
    }

    private static void WarmUp(ILinearOperator op, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(unchecked((ulong)seed));
        op.Apply(randn([op.Dimension], dtype: op.DType, generator: generator));
    }

    /// <summary>Products, wall time and agreement (<see cref="EigenComparison"/>) of the two solvers.</summary>
    private static JsonObject Compare(EigenResult lanczos, double lanczosCpu, EigenResult power, double powerCpu)
    {
        return new JsonObject
        {
            ["lanczos_matvecs"] = lanczos.Matvecs,
            ["power_matvecs"] = power.Matvecs,
            ["matvec_ratio"] = lanczos.Matvecs > 0 ? Finite((double)power.Matvecs / lanczos.Matvecs) : null,
            ["lanczos_seconds"] = Math.Round(lanczos.Seconds, 4),
            ["power_seconds"] = Math.Round(power.Seconds, 4),
            ["time_ratio"] = lanczos.Seconds > 0 ? Finite(power.Seconds / lanczos.Seconds) : null,
            ["lanczos_cpu_seconds"] = Math.Round(lanczosCpu, 4),
            ["power_cpu_seconds"] = Math.Round(powerCpu, 4),
            ["cpu_time_ratio"] = lanczosCpu > 0 ? Finite(powerCpu / lanczosCpu) : null,
            ["max_relative_difference"] = Finite(EigenComparison.MaxRelativeDifference(lanczos, power)),
            ["lanczos_status"] = lanczos.Status.ToSnakeCase(),
            ["power_status"] = power.Status.ToSnakeCase(),
            ["lanczos_eigenvalues"] = JsonNumbers.Array(lanczos.Eigenvalues),
            ["power_eigenvalues"] = JsonNumbers.Array(power.Eigenvalues),
            ["power_max_iter"] = PyHessianPower.MaxIter,
            ["power_tol"] = PyHessianPower.Tol,
        };
    }

    private static JsonObject TraceJson(TraceResult t) => new()
    {
        ["estimate"] = Finite(t.Estimate),
        ["stderr"] = Finite(t.StdErr),
        ["method"] = t.Method,
        ["matvecs"] = t.Matvecs,
        ["sketch_size"] = t.SketchSize,
        ["probes"] = t.Probes,
        ["status"] = t.Status.ToSnakeCase(),
    };

    /// <summary>A number as the readable output shows it.</summary>
    public static string Fmt(double? x) => x is double v ? v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture) : "-";
}
