using System.Text.Json.Nodes;
using Geodesy.Core.Curvature;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Benchmarks;

public sealed record EigenBenchOptions
{
    /// <summary>Examples of the Hessian (the whole training set, already subset when loading).</summary>
    public int BatchSize { get; init; } = 1000;
    public int K { get; init; } = 10;
    public double Tol { get; init; } = 1e-3;
    public long Seed { get; init; }
    /// <summary>Budget of Lanczos products (it stops earlier when every pair meets Tol).</summary>
    public long LanczosMaxMatvecs { get; init; } = 1000;
}

public sealed record EigenBenchResult(EigenResult Lanczos, EigenResult Power, long Parameters, long Examples)
{
    /// <summary>Seconds each solver spent inside its products (the rest of its time is the solver's own loop).</summary>
    public double LanczosProductSeconds { get; init; }
    public double PowerProductSeconds { get; init; }
    /// <summary>The solver loop's time as a fraction of its products' time (reorthogonalization, Ritz checks, bookkeeping).</summary>
    public double LanczosOverhead => Overhead(Lanczos.Seconds, LanczosProductSeconds);
    public double PowerOverhead => Overhead(Power.Seconds, PowerProductSeconds);
    private static double Overhead(double total, double products) => products > 0 ? (total - products) / products : double.NaN;

    /// <summary>Power-iteration products per Lanczos product (how many times fewer Lanczos needs).</summary>
    public double MatvecRatio => (double)Power.Matvecs / Lanczos.Matvecs;
    /// <summary>Power-iteration time over Lanczos time.</summary>
    public double TimeRatio => Power.Seconds / Lanczos.Seconds;

    /// <summary>Agreement of the two solvers (<see cref="EigenComparison.MaxRelativeDifference"/>).</summary>
    public double MaxRelativeDifference => EigenComparison.MaxRelativeDifference(Lanczos, Power);

    public void AddTo(JsonObject root)
    {
        root["lanczos_matvecs"] = Lanczos.Matvecs;
        root["power_matvecs"] = Power.Matvecs;
        root["matvec_ratio"] = Math.Round(MatvecRatio, 4);
        root["lanczos_seconds"] = Math.Round(Lanczos.Seconds, 4);
        root["power_seconds"] = Math.Round(Power.Seconds, 4);
        root["time_ratio"] = Math.Round(TimeRatio, 4);
        root["lanczos_product_seconds"] = Math.Round(LanczosProductSeconds, 4);
        root["power_product_seconds"] = Math.Round(PowerProductSeconds, 4);
        root["lanczos_overhead"] = Math.Round(LanczosOverhead, 4);
        root["power_overhead"] = Math.Round(PowerOverhead, 4);
        root["max_relative_difference"] = MaxRelativeDifference;
        root["lanczos_status"] = Lanczos.Status.ToSnakeCase();
        root["power_status"] = Power.Status.ToSnakeCase();
        root["lanczos_eigenvalues"] = Numbers(Lanczos.Eigenvalues);
        root["power_eigenvalues"] = Numbers(Power.Eigenvalues);
        root["lanczos_relative_residuals"] = Numbers(Lanczos.RelativeResiduals);
        root["power_relative_residuals"] = Numbers(Power.RelativeResiduals);
        root["params"] = Parameters;
        root["examples"] = Examples;
    }

    public string Summary() =>
        $"lanczos {Lanczos.Matvecs} matvecs {Lanczos.Seconds:F2} s, power {Power.Matvecs} matvecs {Power.Seconds:F2} s: " +
        $"{MatvecRatio:F1}x fewer matvecs, {TimeRatio:F1}x less time, max relative eigenvalue difference {MaxRelativeDifference:G3}, " +
        $"solver loop {100 * LanczosOverhead:F1} % (lanczos) / {100 * PowerOverhead:F1} % (power) of product time";

    private static JsonArray Numbers(IEnumerable<double> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
}

/// <summary>
/// Lanczos (thick restart, full reorthogonalization) against power iteration with deflation at
/// PyHessian's defaults (100 iterations per eigenvalue, relative change below Tol) for the top-K
/// Hessian eigenvalues over the whole (subset) training set, same tolerance, one after the other.
/// </summary>
public static class EigenBenchmark
{
    const int WarmupProducts = 3;

    /// <summary>Both solvers once on a small dense matrix: JIT compilation and first-call setup (e.g. of the small eigen-solver) are not solver time.</summary>
    static void WarmUpSolvers(EigenBenchOptions options, TorchSharp.torch.ScalarType dtype)
    {
        long n = options.K + 40;
        using var diagonal = TorchSharp.torch.arange(1, n + 1, dtype: dtype);
        using var matrix = TorchSharp.torch.diag(diagonal);
        var dense = new DenseOperator(matrix);
        Lanczos.TopK(dense, new EigenOptions { K = options.K, Tol = options.Tol, Seed = options.Seed });
        PowerIteration.TopK(dense, new PowerOptions { K = options.K, Tol = options.Tol, Seed = options.Seed, MaxIter = 5 });
    }

    public static EigenBenchResult Run(BenchSetup setup, EigenBenchOptions options)
    {
        var train = setup.Data.Train;
        var (x, y) = setup.FirstExamples(train.Count, "--subset");
        var problem = new CurvatureProblem(setup.Model, x, y, new CurvatureOptions { BatchSize = options.BatchSize });
        // Untimed warm-up products, so neither solver pays the first-touch costs alone.
        var warmup = new HessianOperator(problem);
        using (var v = TorchSharp.torch.ones(problem.Dimension, dtype: problem.DType))
            for (int i = 0; i < WarmupProducts; i++) warmup.Apply(v).Dispose();
        WarmUpSolvers(options, problem.DType);
        var lanczosOp = new TimedOperator(new HessianOperator(problem));
        var lanczos = Lanczos.TopK(lanczosOp, new EigenOptions { K = options.K, Tol = options.Tol, Seed = options.Seed, MaxMatvecs = options.LanczosMaxMatvecs });
        var powerOp = new TimedOperator(new HessianOperator(problem));
        var power = PowerIteration.TopK(powerOp, new PowerOptions { K = options.K, Tol = options.Tol, Seed = options.Seed });
        return new EigenBenchResult(lanczos, power, problem.Dimension, problem.Count)
        {
            LanczosProductSeconds = lanczosOp.Seconds,
            PowerProductSeconds = powerOp.Seconds,
        };
    }
}

/// <summary>An operator that adds up the wall time spent inside its inner operator's products.</summary>
internal sealed class TimedOperator(ILinearOperator inner) : ILinearOperator
{
    private readonly System.Diagnostics.Stopwatch _clock = new();

    public double Seconds => _clock.Elapsed.TotalSeconds;
    public long Dimension => inner.Dimension;
    public string Name => inner.Name;
    public TorchSharp.torch.ScalarType DType => inner.DType;
    public long Applications => inner.Applications;
    public string ProductMethod => inner.ProductMethod;

    public TorchSharp.torch.Tensor Apply(TorchSharp.torch.Tensor v)
    {
        _clock.Start();
        try { return inner.Apply(v); }
        finally { _clock.Stop(); }
    }
}
