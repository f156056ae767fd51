using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>Options of stochastic Lanczos quadrature.</summary>
public sealed record SlqOptions
{
    /// <summary>Lanczos steps per run (quadrature nodes; capped at the dimension).</summary>
    public int Steps { get; init; } = 90;
    /// <summary>Independent probe vectors.</summary>
    public int Runs { get; init; } = 10;
    /// <summary>
    /// Gaussian broadening: standard deviation as a fraction of the spectral range spanned by the
    /// nodes (0.01: ten grid points per σ with the default grid). PyHessian's 1e-5 is a variance
    /// and resolves only with its 10,000-point grid.
    /// </summary>
    public double RelativeSigma { get; init; } = 0.01;
    public int GridPoints { get; init; } = 1000;
    public long Seed { get; init; }
    public ProbeKind Probes { get; init; } = ProbeKind.Rademacher;
}

/// <summary>The Gauss quadrature of one run: Ritz values and the squared first components of their vectors (summing to 1).</summary>
public sealed record SlqRun(double[] Nodes, double[] Weights);

/// <summary>Estimate of the j-th spectral moment E[λ^j] = Tr(A^j) / n; StdErr across runs (null with one run).</summary>
public sealed record MomentEstimate(int Order, double Value, double? StdErr);

public sealed record SlqResult
{
    /// <summary>Evenly spaced points from 5σ below the smallest node to 5σ above the largest.</summary>
    public required double[] Grid { get; init; }
    /// <summary>The broadened density on <see cref="Grid"/>, normalized to integrate to 1 (trapezoid rule).</summary>
    public required double[] Density { get; init; }
    /// <summary>Absolute broadening σ used.</summary>
    public required double Sigma { get; init; }
    public required IReadOnlyList<SlqRun> Runs { get; init; }
    /// <summary>E[λ^j] for j = 1..4 from the quadrature (exact in the probe for Steps ≥ 3).</summary>
    public required MomentEstimate[] Moments { get; init; }
    public required long Matvecs { get; init; }
    /// <summary>Converged unless the operator returned non-finite values (Diverged; the runs done so far are kept).</summary>
    public required SolverStatus Status { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>
/// Spectral density by stochastic Lanczos quadrature (Ghorbani, Krishnan &amp; Xiao 2019; Lin,
/// Saad &amp; Yang 2016): per run a unit probe v, Lanczos with full reorthogonalization gives
/// T = QΘQᵀ, and vᵀf(A)v ≈ Σ τ_i f(θ_i) with τ_i = Q_{1i}².
/// </summary>
public static class SpectralDensity
{
    const int MomentCount = 4;
    const double BreakdownEpsilons = 10;
    /// <summary>Grid margin beyond the extreme nodes, in σ.</summary>
    const double GridMarginSigmas = 5;

    public static SlqResult Slq(ILinearOperator op, SlqOptions options)
    {
        const string what = "spectral density (slq)";
        OperatorCalls.Validate(op, what);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Steps < 1) throw new InputException($"{what}: steps {options.Steps} must be at least 1");
        if (options.Runs < 1) throw new InputException($"{what}: runs {options.Runs} must be at least 1");
        if (!(options.RelativeSigma > 0)) throw new InputException($"{what}: sigma {options.RelativeSigma} must be positive");
        if (options.GridPoints < 2) throw new InputException($"{what}: grid points {options.GridPoints} must be at least 2");

        var stopwatch = Stopwatch.StartNew();
        int steps = (int)Math.Min(options.Steps, op.Dimension);
        double eps = OperatorCalls.Epsilon(op.DType);
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        var runs = new List<SlqRun>();
        long matvecs = 0;
        var status = SolverStatus.Converged;
        for (int run = 0; run < options.Runs && status == SolverStatus.Converged; run++)
        {
            using var basis = new KrylovBasis(steps, op.Dimension, op.DType);
            var projected = new double[steps, steps];
            var q = OperatorCalls.Probe(op, options.Probes, generator);
            q.div_(OperatorCalls.Norm(q));
            try
            {
                for (int j = 0; j < steps; j++)
                {
                    var w = OperatorCalls.Apply(op, q);
                    matvecs++;
                    basis.Append(q);
                    q.Dispose();
                    q = w;
                    var column = basis.Orthogonalize(w, out double beta);
                    if (!double.IsFinite(beta) || column.Any(x => !double.IsFinite(x))) { status = SolverStatus.Diverged; break; }
                    for (int i = 0; i <= j; i++) projected[i, j] = projected[j, i] = column[i];
                    double scale = Enumerable.Range(0, j + 1).Max(i => Math.Abs(projected[i, i]) + Math.Abs(i > 0 ? projected[i, i - 1] : 0));
                    if (beta <= BreakdownEpsilons * eps * scale) break; // invariant subspace: the quadrature is exact
                    w.div_(beta);
                }
            }
            finally
            {
                q.Dispose();
            }
            if (status != SolverStatus.Converged) break;
            int m = basis.Count;
            var (nodes, vectors) = SmallSymmetricEigen.Ascending(projected, m);
            runs.Add(new SlqRun(nodes, Enumerable.Range(0, m).Select(i => vectors[0, i] * vectors[0, i]).ToArray()));
        }

        var (grid, density, sigma) = BroadenedDensity(runs, options.RelativeSigma, options.GridPoints);
        return new SlqResult
        {
            Grid = grid,
            Density = density,
            Sigma = sigma,
            Runs = runs,
            Moments = Moments(runs),
            Matvecs = matvecs,
            Status = status,
            Seconds = OperatorCalls.Seconds(stopwatch),
        };
    }

    static MomentEstimate[] Moments(List<SlqRun> runs)
    {
        var result = new MomentEstimate[MomentCount];
        for (int order = 1; order <= MomentCount; order++)
        {
            var stats = new SampleStats();
            foreach (var run in runs)
                stats.Add(run.Nodes.Select((theta, i) => run.Weights[i] * Math.Pow(theta, order)).Sum());
            result[order - 1] = new MomentEstimate(order, runs.Count > 0 ? stats.Mean : double.NaN, stats.Count > 1 ? stats.StdErr : null);
        }
        return result;
    }

    static (double[] Grid, double[] Density, double Sigma) BroadenedDensity(List<SlqRun> runs, double relativeSigma, int points)
    {
        if (runs.Count == 0) return ([], [], double.NaN);
        double low = runs.Min(r => r.Nodes.Min()), high = runs.Max(r => r.Nodes.Max());
        double range = high - low;
        double sigma = relativeSigma * (range > 0 ? range : Math.Max(Math.Abs(high), 1.0));
        double start = low - GridMarginSigmas * sigma, step = (high - low + 2 * GridMarginSigmas * sigma) / (points - 1);
        var grid = Enumerable.Range(0, points).Select(i => start + i * step).ToArray();
        var density = new double[points];
        double norm = 1 / (runs.Count * sigma * Math.Sqrt(2 * Math.PI));
        foreach (var run in runs)
            for (int i = 0; i < run.Nodes.Length; i++)
            {
                double node = run.Nodes[i], weight = run.Weights[i] * norm;
                for (int g = 0; g < points; g++)
                {
                    double z = (grid[g] - node) / sigma;
                    density[g] += weight * Math.Exp(-0.5 * z * z);
                }
            }
        double integral = 0;
        for (int g = 1; g < points; g++) integral += 0.5 * step * (density[g] + density[g - 1]);
        if (integral > 0) for (int g = 0; g < points; g++) density[g] /= integral;
        return (grid, density, sigma);
    }
}
