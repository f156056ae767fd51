namespace Geodesy.Core.Curvature;

/// <summary>How an algorithm stopped.</summary>
public enum SolverStatus
{
    /// <summary>The stopping rule was met (tolerance reached, or the fixed budget spent as planned).</summary>
    Converged,
    /// <summary>The matvec (or iteration) budget ran out before the tolerance was met.</summary>
    BudgetExhausted,
    /// <summary>The operator returned non-finite values; the result holds what was computed before.</summary>
    Diverged,
}

/// <summary>Probe distribution of the randomized estimators.</summary>
public enum ProbeKind
{
    /// <summary>Independent ±1 entries (lowest variance for the trace; PyHessian's choice).</summary>
    Rademacher,
    /// <summary>Independent standard normal entries.</summary>
    Gaussian,
}

/// <summary>Status names as they appear in JSON ("converged", "budget_exhausted", "diverged").</summary>
public static class SolverStatusNames
{
    public static string ToSnakeCase(this SolverStatus status) => status switch
    {
        SolverStatus.Converged => "converged",
        SolverStatus.BudgetExhausted => "budget_exhausted",
        SolverStatus.Diverged => "diverged",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
