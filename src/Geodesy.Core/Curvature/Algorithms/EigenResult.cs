using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>Options of <see cref="Lanczos"/>.</summary>
public sealed record EigenOptions
{
    /// <summary>Number of eigenpairs wanted; must not exceed the operator's dimension.</summary>
    public int K { get; init; } = 1;
    /// <summary>Relative accuracy asked for (--tol): stop when every wanted Ritz pair has residual ≤ Tol·|θ|.</summary>
    public double Tol { get; init; } = 1e-3;
    /// <summary>Budget of operator applications; reaching it gives <see cref="SolverStatus.BudgetExhausted"/>.</summary>
    public long MaxMatvecs { get; init; } = 1000;
    /// <summary>
    /// Largest Krylov basis kept before a thick restart (rows of one [MaxBasis, dim] tensor).
    /// Null: min(dim, max(2K + 40, 80)).
    /// </summary>
    public int? MaxBasis { get; init; }
    /// <summary>Seed of the random start vector(s).</summary>
    public long Seed { get; init; }
    /// <summary>Also return the eigenvectors as a [k, dim] tensor in the operator's dtype.</summary>
    public bool ReturnVectors { get; init; }
    /// <summary>
    /// Start vector [dim] (any non-zero scale; not modified), e.g. a combination of the eigenvectors of
    /// a nearby operator to warm-start tracking during training. Null: a random vector from <see cref="Seed"/>.
    /// The answer is the same to the tolerance; only the number of products changes.
    /// </summary>
    public Tensor? Start { get; init; }
}

/// <summary>Options of <see cref="PowerIteration"/>; defaults are PyHessian's.</summary>
public sealed record PowerOptions
{
    public int K { get; init; } = 1;
    /// <summary>Iterations per eigenvalue (PyHessian: 100).</summary>
    public int MaxIter { get; init; } = 100;
    /// <summary>Stop an eigenvalue when |λ_t − λ_{t−1}| / (|λ_{t−1}| + 1e-6) &lt; Tol (PyHessian: 1e-3).</summary>
    public double Tol { get; init; } = 1e-3;
    /// <summary>Overall budget of applications; null: K·MaxIter.</summary>
    public long? MaxMatvecs { get; init; }
    public long Seed { get; init; }
    public bool ReturnVectors { get; init; }
}

/// <summary>Eigenpairs of a symmetric operator with their accuracy and cost.</summary>
public sealed record EigenResult
{
    /// <summary>"lanczos" or "power".</summary>
    public required string Method { get; init; }
    /// <summary>
    /// Lanczos: descending for the top (largest algebraic) eigenvalues, ascending for the bottom
    /// (most negative) ones. Power iteration: in the order found (decreasing magnitude).
    /// Fewer than K values only when the budget ran out before K Ritz values existed.
    /// </summary>
    public required double[] Eigenvalues { get; init; }
    /// <summary>||A v − λ v|| of each pair (Lanczos: the Krylov estimate |β_m s_{m,i}|, exact up to rounding with full reorthogonalization).</summary>
    public required double[] Residuals { get; init; }
    /// <summary>Residuals[i] / max(|λ_i|, ε_dtype · ||A||_est).</summary>
    public required double[] RelativeResiduals { get; init; }
    /// <summary>Unit eigenvectors as rows [k, dim] when asked for; owned by the caller.</summary>
    public Tensor? Eigenvectors { get; init; }
    public required SolverStatus Status { get; init; }
    /// <summary>Exact number of operator applications made by this call.</summary>
    public required long Matvecs { get; init; }
    public required double Seconds { get; init; }
}
