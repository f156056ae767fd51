using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>An estimate of ||A||_F² = Tr(A²) and of ||A||_F.</summary>
public sealed record FrobeniusResult
{
    public required double SquaredNorm { get; init; }
    public required double SquaredNormStdErr { get; init; }
    public required double Norm { get; init; }
    /// <summary>Delta method: StdErr(||A||²) / (2 ||A||).</summary>
    public required double NormStdErr { get; init; }
    public required long Matvecs { get; init; }
    public required int Probes { get; init; }
    public required SolverStatus Status { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>Tr(A) / ||A||_F from shared probes (the Goldilocks-zone statistic), with its parts.</summary>
public sealed record TraceOverFrobeniusResult
{
    public required double Estimate { get; init; }
    /// <summary>Delta-method standard error using the sample covariance of (zᵀAz, ||Az||²) over the shared probes.</summary>
    public required double StdErr { get; init; }
    public required double Trace { get; init; }
    public required double TraceStdErr { get; init; }
    public required double FrobeniusNorm { get; init; }
    public required double FrobeniusNormStdErr { get; init; }
    public required long Matvecs { get; init; }
    public required int Probes { get; init; }
    public required SolverStatus Status { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// ||A||_F² = E ||A z||² for probes with E[z zᵀ] = I (Rademacher or Gaussian), one product per
/// probe; the same products give zᵀAz, hence Tr(A)/||A||_F without extra cost.
/// Uses <see cref="TraceOptions"/> (budget, seed, probe kind, adaptive target; SketchSize is ignored).
/// </summary>
public static class FrobeniusEstimator
{
    public static FrobeniusResult SquaredNorm(ILinearOperator op, TraceOptions options)
    {
        var run = Sample(op, options, "frobenius norm", s => (s.Frobenius.StdErr, Math.Abs(s.Frobenius.Mean)));
        double squared = run.Stats.Frobenius.Mean, squaredErr = run.Stats.Frobenius.StdErr;
        double norm = Math.Sqrt(Math.Max(squared, 0));
        return new FrobeniusResult
        {
            SquaredNorm = squared,
            SquaredNormStdErr = squaredErr,
            Norm = norm,
            NormStdErr = norm > 0 ? squaredErr / (2 * norm) : squaredErr == 0 ? 0 : double.PositiveInfinity,
            Matvecs = run.Matvecs,
            Probes = run.Stats.Count,
            Status = run.Status,
            Seconds = run.Seconds,
        };
    }

    public static TraceOverFrobeniusResult TraceOverFrobenius(ILinearOperator op, TraceOptions options)
    {
        var run = Sample(op, options, "trace over frobenius", s => { var (r, e) = s.Ratio(); return (e, Math.Abs(r)); });
        var stats = run.Stats;
        var (ratio, ratioErr) = stats.Ratio();
        double norm = Math.Sqrt(Math.Max(stats.Frobenius.Mean, 0));
        return new TraceOverFrobeniusResult
        {
            Estimate = ratio,
            StdErr = ratioErr,
            Trace = stats.Trace.Mean,
            TraceStdErr = stats.Trace.StdErr,
            FrobeniusNorm = norm,
            FrobeniusNormStdErr = norm > 0 ? stats.Frobenius.StdErr / (2 * norm) : 0,
            Matvecs = run.Matvecs,
            Probes = stats.Count,
            Status = run.Status,
            Seconds = run.Seconds,
        };
    }

    /// <summary>Paired samples t = zᵀAz and f = ||Az||².</summary>
    sealed class PairedStats
    {
        public SampleStats Trace { get; } = new();
        public SampleStats Frobenius { get; } = new();
        double _coMoment; // running sum of (t − mean t)(f − mean f)
        public int Count => Trace.Count;

        public void Add(double t, double f)
        {
            double previousTraceMean = Trace.Mean;
            Trace.Add(t);
            Frobenius.Add(f);
            _coMoment += (t - previousTraceMean) * (f - Frobenius.Mean);
        }

        double Covariance => Count > 1 ? _coMoment / (Count - 1) : 0;

        /// <summary>R = mean t / sqrt(mean f) and its delta-method standard error.</summary>
        public (double Ratio, double StdErr) Ratio()
        {
            double t = Trace.Mean, f = Frobenius.Mean;
            if (!(f > 0)) return (double.NaN, double.NaN);
            double dt = 1 / Math.Sqrt(f), df = -t / (2 * f * Math.Sqrt(f));
            double variance = dt * dt * Trace.Variance + 2 * dt * df * Covariance + df * df * Frobenius.Variance;
            return (t / Math.Sqrt(f), Count > 1 ? Math.Sqrt(Math.Max(variance, 0) / Count) : double.NaN);
        }
    }

    sealed record Run(PairedStats Stats, long Matvecs, SolverStatus Status, double Seconds);

    static Run Sample(ILinearOperator op, TraceOptions options, string what, Func<PairedStats, (double Err, double Scale)> adaptiveError)
    {
        OperatorCalls.Validate(op, what);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxMatvecs < 2) throw new InputException($"{what}: the matvec budget {options.MaxMatvecs} must be at least 2");
        if (options.TargetRelativeError is double target && !(target > 0))
            throw new InputException($"{what}: target relative error {target} must be positive");
        if (options.MinProbes < 2) throw new InputException($"{what}: min probes {options.MinProbes} must be at least 2");

        var stopwatch = Stopwatch.StartNew();
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        var stats = new PairedStats();
        long matvecs = 0;
        var status = options.TargetRelativeError is null ? SolverStatus.Converged : SolverStatus.BudgetExhausted;
        while (matvecs < options.MaxMatvecs)
        {
            using var scope = NewDisposeScope();
            var z = OperatorCalls.Probe(op, options.Probes, generator);
            var az = OperatorCalls.Apply(op, z);
            matvecs++;
            double t = OperatorCalls.Dot(z, az), f = OperatorCalls.Dot(az, az);
            if (!double.IsFinite(t) || !double.IsFinite(f)) { status = SolverStatus.Diverged; break; }
            stats.Add(t, f);
            if (options.TargetRelativeError is double goal && stats.Count >= options.MinProbes)
            {
                var (err, scale) = adaptiveError(stats);
                if (err <= goal * scale) { status = SolverStatus.Converged; break; }
            }
        }
        return new Run(stats, matvecs, status, OperatorCalls.Seconds(stopwatch));
    }
}
