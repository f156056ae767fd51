namespace Geodesy.Core.Stats;

/// <summary>A tail-index estimate: α̂, its standard error, and the block sizes K1 (terms per sum) × K2 (sums) used.</summary>
public sealed record TailIndexEstimate(double Alpha, double StdErr, long K1, long K2);

/// <summary>
/// The tail index α of symmetric α-stable samples by the estimator of Mohammadi, Mohammadpour &amp;
/// Ogata 2015 ("On estimating the tail index and the spectral measure of multivariate α-stable
/// distributions", Metrika 78, Corollary 2.4), the estimator Simsekli, Sagun &amp; Gürbüzbalaban 2019
/// use for the gradient noise of SGD: with K = K1·K2 samples X and Y_i the sum of the i-th block of
/// K1 consecutive samples,
/// 1/α̂ = (1/log K1) · [ (1/K2) Σᵢ log|Y_i| − (1/K) Σⱼ log|X_j| ],
/// because a sum of K1 i.i.d. SαS variables is K1^{1/α} times one of them. α = 2 is Gaussian;
/// α &lt; 2 has infinite variance. The value is not clipped to (0, 2].
/// </summary>
public static class TailIndex
{
    /// <summary>
    /// The estimate from <paramref name="samples"/> with K1 = ⌊√N⌋ and K2 = ⌊N/K1⌋ (the last
    /// N − K1·K2 samples unused; Simsekli et al.'s code takes the largest divisor of N at most √N
    /// instead). The standard error comes from the K2 independent block terms
    /// d_i = log|Y_i| − (1/K1) Σ_{j in block i} log|X_j|, whose mean is log(K1)/α̂:
    /// se(1/α̂) = sd(d)/(√K2 · log K1), and se(α̂) = α̂² · se(1/α̂) (delta method).
    /// </summary>
    public static TailIndexEstimate Estimate(ReadOnlySpan<double> samples)
    {
        long n = samples.Length;
        if (n < 16) throw new ArgumentException($"the tail-index estimator needs at least 16 samples, got {n}");
        long k1 = (long)Math.Floor(Math.Sqrt(n));
        long k2 = n / k1;
        // Like the reference code, a tiny epsilon keeps log finite at an exact zero.
        const double Eps = 2.220446049250313e-16;
        var d = new double[k2];
        for (long i = 0; i < k2; i++)
        {
            double sum = 0, logs = 0;
            for (long j = i * k1; j < (i + 1) * k1; j++)
            {
                sum += samples[(int)j];
                logs += Math.Log(Math.Abs(samples[(int)j]) + Eps);
            }
            d[i] = Math.Log(Math.Abs(sum) + Eps) - logs / k1;
        }
        double logK1 = Math.Log(k1);
        double mean = d.Average();
        double inverse = mean / logK1;
        double alpha = 1 / inverse;
        double variance = k2 > 1 ? d.Sum(x => (x - mean) * (x - mean)) / (k2 - 1) : double.NaN;
        double seInverse = Math.Sqrt(variance / k2) / logK1;
        return new TailIndexEstimate(alpha, alpha * alpha * seInverse, k1, k2);
    }

    /// <summary>
    /// One standard symmetric α-stable draw (scale 1, β = 0) by the method of Chambers, Mallows &amp;
    /// Stuck 1976 (JASA 71): U uniform on (−π/2, π/2), W standard exponential,
    /// X = sin(αU)/cos(U)^{1/α} · (cos((1 − α)U)/W)^{(1−α)/α}; α = 1 gives tan U (Cauchy),
    /// α = 2 a Gaussian of variance 2.
    /// </summary>
    public static double SymmetricStable(double alpha, SeededRandom random)
    {
        if (!(alpha > 0 && alpha <= 2)) throw new ArgumentOutOfRangeException(nameof(alpha), $"alpha must be in (0, 2], got {alpha}");
        double u = Math.PI * (random.NextDouble() - 0.5);
        while (u == -Math.PI / 2) u = Math.PI * (random.NextDouble() - 0.5);
        double w = -Math.Log(1 - random.NextDouble()); // 1 - U in (0, 1]: finite
        if (alpha == 1) return Math.Tan(u);
        return Math.Sin(alpha * u) / Math.Pow(Math.Cos(u), 1 / alpha) * Math.Pow(Math.Cos((1 - alpha) * u) / w, (1 - alpha) / alpha);
    }
}
