using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>Options of the randomized estimators (<see cref="TraceEstimators"/>, <see cref="FrobeniusEstimator"/>).</summary>
public sealed record TraceOptions
{
    public ProbeKind Probes { get; init; } = ProbeKind.Rademacher;
    /// <summary>Budget of operator applications (all of it is spent unless <see cref="TargetRelativeError"/> is set).</summary>
    public long MaxMatvecs { get; init; } = 100;
    public long Seed { get; init; }
    /// <summary>Adaptive mode: stop as soon as StdErr / |Estimate| ≤ this (after <see cref="MinProbes"/> probes), or at the budget.</summary>
    public double? TargetRelativeError { get; init; }
    /// <summary>Probes taken before the adaptive rule may stop (the standard error of fewer is unreliable).</summary>
    public int MinProbes { get; init; } = 10;
    /// <summary>Hutch++ only: number of sketch vectors s (2s products go to the exact low-rank part). Null: MaxMatvecs / 3.</summary>
    public int? SketchSize { get; init; }
}

/// <summary>A trace estimate with its standard error and cost.</summary>
public sealed record TraceResult
{
    /// <summary>"hutchinson" or "hutch++".</summary>
    public required string Method { get; init; }
    public required double Estimate { get; init; }
    /// <summary>Standard error of <see cref="Estimate"/> from the sample variance of the random probes.</summary>
    public required double StdErr { get; init; }
    public required long Matvecs { get; init; }
    /// <summary>Random probes of the Hutchinson part (for Hutch++ the probes of the deflated residual).</summary>
    public required int Probes { get; init; }
    /// <summary>Hutch++: rank of the exactly traced subspace; 0 for Hutchinson.</summary>
    public required int SketchSize { get; init; }
    /// <summary>Converged: the fixed budget was spent or the adaptive target met; BudgetExhausted: target missed.</summary>
    public required SolverStatus Status { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// Stochastic trace estimators: Hutchinson (mean of zᵀAz) and Hutch++ (Meyer, Musco, Musco &amp;
/// Woodruff 2021: the trace of A on the range of A S exactly, Hutchinson on the rest).
/// </summary>
public static class TraceEstimators
{
    public static TraceResult Hutchinson(ILinearOperator op, TraceOptions options)
    {
        const string what = "hutchinson trace";
        OperatorCalls.Validate(op, what);
        ValidateCommon(options, what, minimumBudget: 2);
        var stopwatch = Stopwatch.StartNew();
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        var samples = new SampleStats();
        var (matvecs, status) = SampleQuadraticForms(op, options, generator, samples, null, options.MaxMatvecs, offset: 0);
        return new TraceResult
        {
            Method = "hutchinson",
            Estimate = samples.Mean,
            StdErr = samples.StdErr,
            Matvecs = matvecs,
            Probes = samples.Count,
            SketchSize = 0,
            Status = status,
            Seconds = OperatorCalls.Seconds(stopwatch),
        };
    }

    /// <summary>
    /// Hutch++ with a budget B: s = B/3 sketch probes (or <see cref="TraceOptions.SketchSize"/>),
    /// Q = orth(A S) (s products), Tr(QᵀAQ) exactly (s products), and Hutchinson with the rest
    /// of the budget on (I − QQᵀ)A(I − QQᵀ). The standard error is that of the Hutchinson part;
    /// for any Q the two parts add up to Tr(A) in expectation, so it is the full error.
    /// </summary>
    public static TraceResult HutchPlusPlus(ILinearOperator op, TraceOptions options)
    {
        const string what = "hutch++ trace";
        OperatorCalls.Validate(op, what);
        ValidateCommon(options, what, minimumBudget: 4);
        long sketch = Math.Min(options.SketchSize ?? options.MaxMatvecs / 3, op.Dimension);
        if (sketch < 1) throw new InputException($"{what}: sketch size {sketch} must be at least 1");
        if (2 * sketch + 2 > options.MaxMatvecs)
            throw new InputException($"{what}: sketch size {sketch} needs 2·{sketch} + 2 products, more than the budget {options.MaxMatvecs}");

        var stopwatch = Stopwatch.StartNew();
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        long matvecs = 0;
        double exactPart = 0;
        Tensor basis; // orthonormal rows [s, dim] spanning A S
        using (var scope = NewDisposeScope())
        {
            var sketched = torch.empty([sketch, op.Dimension], dtype: op.DType);
            for (long i = 0; i < sketch; i++)
            {
                using var inner = NewDisposeScope();
                var probe = OperatorCalls.Probe(op, options.Probes, generator);
                sketched[i].copy_(OperatorCalls.Apply(op, probe));
                matvecs++;
            }
            var (q, _) = torch.linalg.qr(sketched.t());
            basis = q.t().contiguous().MoveToOuterDisposeScope();
        }
        using (basis)
        {
            for (long i = 0; i < sketch; i++)
            {
                using var inner = NewDisposeScope();
                var row = basis[i];
                exactPart += OperatorCalls.Dot(row, OperatorCalls.Apply(op, row));
                matvecs++;
            }
            var samples = new SampleStats();
            var (residualMatvecs, status) = SampleQuadraticForms(op, options, generator, samples, basis, options.MaxMatvecs - matvecs, exactPart);
            matvecs += residualMatvecs;
            if (!double.IsFinite(exactPart)) status = SolverStatus.Diverged;
            return new TraceResult
            {
                Method = "hutch++",
                Estimate = exactPart + samples.Mean,
                StdErr = samples.StdErr,
                Matvecs = matvecs,
                Probes = samples.Count,
                SketchSize = (int)sketch,
                Status = status,
                Seconds = OperatorCalls.Seconds(stopwatch),
            };
        }
    }

    static void ValidateCommon(TraceOptions options, string what, long minimumBudget)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxMatvecs < minimumBudget)
            throw new InputException($"{what}: the matvec budget {options.MaxMatvecs} must be at least {minimumBudget}");
        if (options.TargetRelativeError is double target && !(target > 0))
            throw new InputException($"{what}: target relative error {target} must be positive");
        if (options.MinProbes < 2)
            throw new InputException($"{what}: min probes {options.MinProbes} must be at least 2");
    }

    /// <summary>
    /// Adds samples zᵀAz (z projected off the rows of <paramref name="deflation"/> when given)
    /// until the budget is spent or the adaptive target on (offset + mean) is met.
    /// </summary>
    static (long Matvecs, SolverStatus Status) SampleQuadraticForms(ILinearOperator op, TraceOptions options,
        Generator generator, SampleStats samples, Tensor? deflation, long budget, double offset)
    {
        long matvecs = 0;
        while (matvecs < budget)
        {
            using var scope = NewDisposeScope();
            var z = OperatorCalls.Probe(op, options.Probes, generator);
            if (deflation is not null) z.sub_(deflation.t().mv(deflation.mv(z)));
            double sample = OperatorCalls.Dot(z, OperatorCalls.Apply(op, z));
            matvecs++;
            if (!double.IsFinite(sample)) return (matvecs, SolverStatus.Diverged);
            samples.Add(sample);
            if (options.TargetRelativeError is double target && samples.Count >= options.MinProbes
                && samples.StdErr <= target * Math.Abs(offset + samples.Mean))
                return (matvecs, SolverStatus.Converged);
        }
        return (matvecs, options.TargetRelativeError is null ? SolverStatus.Converged : SolverStatus.BudgetExhausted);
    }
}
