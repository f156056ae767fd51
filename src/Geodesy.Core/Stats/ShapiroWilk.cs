using MathNet.Numerics.Distributions;

namespace Geodesy.Core.Stats;

/// <summary>The Shapiro-Wilk W statistic of a sample and its p-value.</summary>
public sealed record ShapiroWilkResult(double W, double PValue, int N);

/// <summary>
/// The Shapiro-Wilk test of normality (Shapiro &amp; Wilk 1965) with Royston's approximations of
/// the coefficients and of the null distribution of W (Royston 1992, "Approximating the
/// Shapiro-Wilk W-test for non-normality", Statistics and Computing 2; algorithm AS R94, Royston
/// 1995, Applied Statistics 44), valid for 3 ≤ n ≤ 5000: the same algorithm as R's
/// <c>shapiro.test</c> and SciPy's <c>scipy.stats.shapiro</c>. Small W, small p: not normal.
/// </summary>
public static class ShapiroWilk
{
    public const int MinN = 3, MaxN = 5000;

    // Royston's polynomial coefficients (AS R94).
    private static readonly double[] C1 = [0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056];
    private static readonly double[] C2 = [0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
    private static readonly double[] C3 = [0.5440, -0.39978, 0.025054, -6.714e-4];
    private static readonly double[] C4 = [1.3822, -0.77857, 0.062767, -0.0020322];
    private static readonly double[] C5 = [-1.5861, -0.31082, -0.083751, 0.0038915];
    private static readonly double[] C6 = [-0.4803, -0.082676, 0.0030302];
    private static readonly double[] G = [-2.273, 0.459];

    /// <summary>The test of <paramref name="sample"/>; a constant sample has no W (NaN, p NaN).</summary>
    public static ShapiroWilkResult Test(ReadOnlySpan<double> sample) => Test(sample, Coefficients(sample.Length));

    /// <summary>The antisymmetric coefficients a (ascending order of the sorted sample) for n, to reuse over many samples of one size.</summary>
    public static double[] Coefficients(int n)
    {
        if (n < MinN || n > MaxN) throw new ArgumentOutOfRangeException(nameof(n), $"Shapiro-Wilk needs {MinN} <= n <= {MaxN}, got {n}");
        var a = new double[n];
        if (n == 3)
        {
            a[0] = -Math.Sqrt(0.5);
            a[2] = Math.Sqrt(0.5);
            return a;
        }
        // Expected normal order statistics (Blom's approximation) m_i, i = 1..n.
        var m = new double[n];
        for (int i = 0; i < n; i++) m[i] = Normal.InvCDF(0, 1, (i + 1 - 0.375) / (n + 0.25));
        double summ2 = m.Sum(x => x * x), ssumm2 = Math.Sqrt(summ2), rsn = 1 / Math.Sqrt(n);
        // The largest coefficients from Royston's polynomials, the rest proportional to m.
        double a1 = Poly(C1, rsn) + m[n - 1] / ssumm2;
        int half = n / 2, first;
        double fac;
        var upper = new double[half]; // upper[j]: coefficient of the (j+1)-th largest value
        upper[0] = a1;
        if (n > 5)
        {
            double a2 = Poly(C2, rsn) + m[n - 2] / ssumm2;
            fac = Math.Sqrt((summ2 - 2 * m[n - 1] * m[n - 1] - 2 * m[n - 2] * m[n - 2]) / (1 - 2 * a1 * a1 - 2 * a2 * a2));
            upper[1] = a2;
            first = 2;
        }
        else
        {
            fac = Math.Sqrt((summ2 - 2 * m[n - 1] * m[n - 1]) / (1 - 2 * a1 * a1));
            first = 1;
        }
        for (int j = first; j < half; j++) upper[j] = m[n - 1 - j] / fac;
        for (int j = 0; j < half; j++)
        {
            a[n - 1 - j] = upper[j];
            a[j] = -upper[j];
        }
        return a;
    }

    /// <summary>The test with precomputed <see cref="Coefficients"/> of the sample's length.</summary>
    public static ShapiroWilkResult Test(ReadOnlySpan<double> sample, double[] coefficients)
    {
        int n = sample.Length;
        if (coefficients.Length != n) throw new ArgumentException($"coefficients for n = {coefficients.Length}, sample of {n}");
        var x = sample.ToArray();
        Array.Sort(x);
        double mean = x.Average(), ss = 0, ax = 0;
        for (int i = 0; i < n; i++)
        {
            ss += (x[i] - mean) * (x[i] - mean);
            ax += coefficients[i] * x[i];
        }
        if (!(ss > 0) || x[n - 1] - x[0] <= 1e-12 * Math.Max(Math.Abs(x[0]), Math.Abs(x[n - 1])))
            return new ShapiroWilkResult(double.NaN, double.NaN, n);
        double w = Math.Min(1.0, ax * ax / ss);
        return new ShapiroWilkResult(w, PValue(w, n), n);
    }

    /// <summary>P(W ≤ w) under normality, by Royston's normalizing transformations of W.</summary>
    public static double PValue(double w, int n)
    {
        if (n == 3)
        {
            // Exact for n = 3: W ranges over [3/4, 1].
            double p = 6 / Math.PI * (Math.Asin(Math.Sqrt(w)) - Math.Asin(Math.Sqrt(0.75)));
            return Math.Clamp(p, 0, 1);
        }
        double w1 = Math.Log(1 - w);
        double mu, sigma;
        if (n <= 11)
        {
            double gamma = Poly(G, n);
            if (w1 >= gamma) return 1e-99; // beyond the range of the approximation: far from normal
            w1 = -Math.Log(gamma - w1);
            mu = Poly(C3, n);
            sigma = Math.Exp(Poly(C4, n));
        }
        else
        {
            double ln = Math.Log(n);
            mu = Poly(C5, ln);
            sigma = Math.Exp(Poly(C6, ln));
        }
        return 1 - Normal.CDF(0, 1, (w1 - mu) / sigma);
    }

    private static double Poly(double[] c, double x)
    {
        double result = 0;
        for (int i = c.Length - 1; i >= 0; i--) result = result * x + c[i];
        return result;
    }
}
