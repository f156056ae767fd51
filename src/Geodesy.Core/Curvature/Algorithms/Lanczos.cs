using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalization and thick
/// restarts (Wu &amp; Simon 2000). The basis is kept as rows of one [MaxBasis, dim] tensor; Ritz
/// pairs come from the small projected matrix, decomposed in double. A Ritz pair (θ, y) is
/// accepted when its residual ||A y − θ y|| = |β_m s_{m,i}| is at most Tol·|θ|.
/// A single start vector finds one copy of a repeated eigenvalue per invariant subspace it
/// touches; further copies appear after breakdowns (fresh orthogonal directions) or rounding.
/// </summary>
public static class Lanczos
{
    const int DefaultBasisPerK = 2, DefaultBasisExtra = 40, DefaultMinBasis = 80;
    /// <summary>β below this many epsilons of ||T||: the Krylov space is invariant (breakdown).</summary>
    const double BreakdownEpsilons = 10;
    /// <summary>Residuals below this many epsilons of ||T|| count as converged even for θ ≈ 0.</summary>
    const double ResidualFloorEpsilons = 100;

    /// <summary>The K largest (algebraic) eigenvalues, descending.</summary>
    public static EigenResult TopK(ILinearOperator op, EigenOptions options) => Solve(op, options, top: true);

    /// <summary>The K smallest (most negative) eigenvalues, ascending.</summary>
    public static EigenResult BottomK(ILinearOperator op, EigenOptions options) => Solve(op, options, top: false);

    /// <summary>The wanted Ritz pairs in the current basis: values, residual estimates, coefficient rows.</summary>
    sealed record RitzAnswer(double[] Values, double[] Residuals, double[,] Coefficients);

    static EigenResult Solve(ILinearOperator op, EigenOptions options, bool top)
    {
        string what = top ? "lanczos top-k" : "lanczos bottom-k";
        OperatorCalls.Validate(op, what);
        ArgumentNullException.ThrowIfNull(options);
        long dim = op.Dimension;
        int k = options.K;
        if (k < 1) throw new InputException($"{what}: k = {k} must be at least 1");
        if (k > dim) throw new InputException($"{what}: k = {k} is larger than the dimension {dim} of operator '{op.Name}'");
        if (!(options.Tol > 0 && options.Tol < 1)) throw new InputException($"{what}: tol = {options.Tol} must be in (0, 1)");
        if (options.MaxMatvecs < 1) throw new InputException($"{what}: the matvec budget {options.MaxMatvecs} must be at least 1");
        if (options.MaxBasis is int requested && requested < Math.Min(dim, k + 2))
            throw new InputException($"{what}: max basis {requested} must be at least k + 2 = {k + 2}");
        int capacity = (int)Math.Min(dim, options.MaxBasis ?? Math.Max(DefaultBasisPerK * k + DefaultBasisExtra, DefaultMinBasis));
        int keep = k + (capacity - k) / 2; // Ritz vectors kept at a thick restart (< capacity)

        var stopwatch = Stopwatch.StartNew();
        double eps = OperatorCalls.Epsilon(op.DType);
        using var generator = OperatorCalls.NewGenerator(options.Seed);
        using var basis = new KrylovBasis(capacity, dim, op.DType);
        var projected = new double[capacity, capacity];
        long matvecs = 0;
        double scale = 0;
        var status = SolverStatus.BudgetExhausted;
        RitzAnswer? answer = null;
        Tensor? next = options.Start is { } start ? StartUnit(start, dim, op.DType, what) : basis.RandomOrthogonalUnit(generator);
        try
        {
            while (true)
            {
                if (matvecs >= options.MaxMatvecs) { status = SolverStatus.BudgetExhausted; break; }
                var q = next!;
                var w = OperatorCalls.Apply(op, q);
                matvecs++;
                basis.Append(q);
                q.Dispose();
                next = null;
                var column = basis.Orthogonalize(w, out double beta);
                if (!double.IsFinite(beta) || column.Any(x => !double.IsFinite(x)))
                {
                    w.Dispose();
                    status = SolverStatus.Diverged;
                    break;
                }
                int m = basis.Count;
                for (int i = 0; i < m; i++) projected[i, m - 1] = projected[m - 1, i] = column[i];

                var (ritz, vectors) = SmallSymmetricEigen.Ascending(projected, m);
                scale = Math.Max(Math.Abs(ritz[0]), Math.Abs(ritz[m - 1]));
                int[] order = WantedOrder(m, top);
                answer = Answer(ritz, vectors, beta, order.Take(Math.Min(k, m)).ToArray(), m);

                double floor = ResidualFloorEpsilons * eps * scale;
                bool exhausted = m == dim; // the basis spans the whole space: Ritz pairs are exact
                bool converged = exhausted || (m >= k && answer.Values.Select((theta, i) =>
                    answer.Residuals[i] <= Math.Max(options.Tol * Math.Abs(theta), floor)).All(ok => ok));
                if (converged) { w.Dispose(); status = SolverStatus.Converged; break; }

                bool breakdown = beta <= BreakdownEpsilons * eps * scale;
                if (m == capacity)
                {
                    int[] kept = order.Take(keep).ToArray();
                    var coefficients = new double[keep, m];
                    for (int r = 0; r < keep; r++)
                        for (int c = 0; c < m; c++) coefficients[r, c] = vectors[c, kept[r]];
                    basis.Compress(coefficients);
                    Array.Clear(projected);
                    for (int r = 0; r < keep; r++) projected[r, r] = ritz[kept[r]];
                    // The wanted pairs are the first kept rows now.
                    var unit = new double[answer.Values.Length, keep];
                    for (int r = 0; r < answer.Values.Length; r++) unit[r, r] = 1;
                    answer = answer with { Coefficients = unit };
                }
                if (breakdown)
                {
                    w.Dispose();
                    next = basis.RandomOrthogonalUnit(generator);
                }
                else
                {
                    next = w.div_(beta);
                }
            }

            answer ??= new RitzAnswer([], [], new double[0, basis.Count]);
            double floorScale = Math.Max(eps * scale, double.Epsilon);
            return new EigenResult
            {
                Method = "lanczos",
                Eigenvalues = answer.Values,
                Residuals = answer.Residuals,
                RelativeResiduals = answer.Values.Select((theta, i) => answer.Residuals[i] / Math.Max(Math.Abs(theta), floorScale)).ToArray(),
                Eigenvectors = options.ReturnVectors && answer.Values.Length > 0 ? basis.Combine(answer.Coefficients) : null,
                Status = status,
                Matvecs = matvecs,
                Seconds = OperatorCalls.Seconds(stopwatch),
            };
        }
        finally
        {
            next?.Dispose();
        }
    }

    /// <summary>The caller's start vector as a unit vector of the operator's dtype (a copy).</summary>
    static Tensor StartUnit(Tensor start, long dim, ScalarType dtype, string what)
    {
        if (start.dim() != 1 || start.shape[0] != dim)
            throw new InputException($"{what}: the start vector has shape [{string.Join(", ", start.shape)}], expected [{dim}]");
        using var detached = start.detach();
        var v = detached.to_type(dtype, copy: true);
        double norm = OperatorCalls.Norm(v);
        if (!(norm > 0) || !double.IsFinite(norm))
        {
            v.Dispose();
            throw new InputException($"{what}: the start vector has norm {norm}; it must be finite and non-zero");
        }
        return v.div_(norm);
    }

    /// <summary>Indices of ascending Ritz values, wanted end first.</summary>
    static int[] WantedOrder(int m, bool top) =>
        top ? Enumerable.Range(0, m).Reverse().ToArray() : Enumerable.Range(0, m).ToArray();

    static RitzAnswer Answer(double[] ritz, double[,] vectors, double beta, int[] wanted, int m)
    {
        var coefficients = new double[wanted.Length, m];
        for (int r = 0; r < wanted.Length; r++)
            for (int c = 0; c < m; c++) coefficients[r, c] = vectors[c, wanted[r]];
        return new RitzAnswer(
            wanted.Select(i => ritz[i]).ToArray(),
            wanted.Select(i => Math.Abs(beta * vectors[m - 1, i])).ToArray(),
            coefficients);
    }
}
