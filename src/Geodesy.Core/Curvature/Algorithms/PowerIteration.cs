using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Power iteration with deflation as PyHessian does it (for comparison with <see cref="Lanczos"/>):
/// per eigenvalue a Gaussian start vector, each iteration orthonormalized once against the
/// vectors already found (modified Gram-Schmidt), λ = vᵀAv, stop when the relative change of λ
/// is below Tol or after MaxIter products. Finds eigenvalues of largest magnitude first.
/// Unlike PyHessian, the vector kept is the one whose Rayleigh quotient is λ (not A v / ||A v||),
/// so the reported residual ||A v − λ v|| is exact and costs no extra product.
/// </summary>
public static class PowerIteration
{
    /// <summary>PyHessian's guard in the relative change: |Δλ| / (|λ| + 1e-6).</summary>
    const double ChangeDenominatorGuard = 1e-6;

    public static EigenResult TopK(ILinearOperator op, PowerOptions options)
    {
        const string what = "power iteration";
        OperatorCalls.Validate(op, what);
        ArgumentNullException.ThrowIfNull(options);
        int k = options.K;
        if (k < 1) throw new InputException($"{what}: k = {k} must be at least 1");
        if (k > op.Dimension) throw new InputException($"{what}: k = {k} is larger than the dimension {op.Dimension} of operator '{op.Name}'");
        if (options.MaxIter < 1) throw new InputException($"{what}: max iterations {options.MaxIter} must be at least 1");
        if (!(options.Tol > 0)) throw new InputException($"{what}: tol = {options.Tol} must be positive");
        long budget = options.MaxMatvecs ?? (long)k * options.MaxIter;
        if (budget < 1) throw new InputException($"{what}: the matvec budget {budget} must be at least 1");

        var stopwatch = Stopwatch.StartNew();
        double eps = OperatorCalls.Epsilon(op.DType);
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        var found = new List<Tensor>();
        var values = new List<double>();
        var residuals = new List<double>();
        long matvecs = 0;
        bool budgetSpent = false, diverged = false, allConverged = true;
        try
        {
            for (int e = 0; e < k && !budgetSpent && !diverged; e++)
            {
                var v = torch.randn([op.Dimension], dtype: op.DType, generator: generator);
                double? eigenvalue = null;
                double residual = double.NaN;
                Tensor? rayleighVector = null;
                bool done = false;
                for (int iter = 0; iter < options.MaxIter && !done; iter++)
                {
                    if (matvecs >= budget) { budgetSpent = true; break; }
                    foreach (var u in found) v.add_(u, -OperatorCalls.Dot(v, u));
                    double norm = OperatorCalls.Norm(v);
                    if (!(norm > 0)) break; // the found vectors span everything
                    v.div_(norm);
                    var av = OperatorCalls.Apply(op, v);
                    matvecs++;
                    double lambda = OperatorCalls.Dot(v, av);
                    using (var scope = NewDisposeScope()) residual = OperatorCalls.Norm(av - lambda * v);
                    if (!double.IsFinite(lambda) || !double.IsFinite(residual))
                    {
                        av.Dispose();
                        diverged = true;
                        break;
                    }
                    rayleighVector?.Dispose();
                    rayleighVector = v;
                    double avNorm = OperatorCalls.Norm(av);
                    done = eigenvalue is double previous
                        && Math.Abs(previous - lambda) / (Math.Abs(previous) + ChangeDenominatorGuard) < options.Tol;
                    eigenvalue = lambda;
                    if (avNorm == 0) { av.Dispose(); done = true; break; } // v is in the null space: λ = 0 exactly
                    v = av.div_(avNorm);
                }
                if (!ReferenceEquals(v, rayleighVector)) v.Dispose();
                if (rayleighVector is null || eigenvalue is not double value) break;
                allConverged &= done;
                found.Add(rayleighVector);
                values.Add(value);
                residuals.Add(residual);
            }

            var status = diverged ? SolverStatus.Diverged
                : allConverged && !budgetSpent && values.Count == k ? SolverStatus.Converged
                : SolverStatus.BudgetExhausted;
            double scale = values.Count > 0 ? values.Max(Math.Abs) : 0;
            double floorScale = Math.Max(eps * scale, double.Epsilon);
            Tensor? vectors = null;
            if (options.ReturnVectors && found.Count > 0) vectors = torch.stack(found, 0);
            return new EigenResult
            {
                Method = "power",
                Eigenvalues = values.ToArray(),
                Residuals = residuals.ToArray(),
                RelativeResiduals = values.Select((l, i) => residuals[i] / Math.Max(Math.Abs(l), floorScale)).ToArray(),
                Eigenvectors = vectors,
                Status = status,
                Matvecs = matvecs,
                Seconds = OperatorCalls.Seconds(stopwatch),
            };
        }
        finally
        {
            foreach (var u in found) u.Dispose();
        }
    }
}
