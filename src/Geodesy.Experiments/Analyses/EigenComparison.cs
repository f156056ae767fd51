using Geodesy.Core.Curvature;

namespace Geodesy.Experiments.Analyses;

/// <summary>
/// How far two top-k eigen-solves (Lanczos and power iteration) agree, one rule for
/// `geodesy curvature --compare-power` and `geodesy bench eigen`.
/// </summary>
public static class EigenComparison
{
    /// <summary>
    /// max_i |λ_i(a) − λ_i(b)| / |λ_i(a)| over the eigenvalues both found, each list sorted
    /// descending first (power iteration finds eigenvalues by decreasing magnitude, Lanczos
    /// algebraically); the absolute difference where λ_i(a) = 0; NaN when either list is empty.
    /// <paramref name="reference"/> (Lanczos) is the one divided by.
    /// </summary>
    public static double MaxRelativeDifference(EigenResult reference, EigenResult other)
    {
        var a = reference.Eigenvalues.OrderByDescending(x => x).ToArray();
        var b = other.Eigenvalues.OrderByDescending(x => x).ToArray();
        int pairs = Math.Min(a.Length, b.Length);
        if (pairs == 0) return double.NaN;
        double max = 0;
        for (int i = 0; i < pairs; i++)
        {
            double scale = Math.Abs(a[i]), diff = Math.Abs(a[i] - b[i]);
            max = Math.Max(max, scale > 0 ? diff / scale : diff);
        }
        return max;
    }
}
