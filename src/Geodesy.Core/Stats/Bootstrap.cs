namespace Geodesy.Core.Stats;

/// <summary>A bootstrap percentile interval.</summary>
/// <param name="Lower">Lower end (NaN when no resample gave a finite statistic).</param>
/// <param name="Upper">Upper end.</param>
/// <param name="Level">Nominal coverage, e.g. 0.95.</param>
/// <param name="Resamples">Resamples drawn.</param>
/// <param name="Valid">Resamples whose statistic was finite (the others, e.g. a resample where tau-b is undefined, are left out).</param>
public sealed record BootstrapInterval(double Lower, double Upper, double Level, int Resamples, int Valid)
{
    /// <summary>True when <paramref name="value"/> lies in [Lower, Upper].</summary>
    public bool Contains(double value) => value >= Lower && value <= Upper;

    /// <summary>Upper − Lower.</summary>
    public double Width => Upper - Lower;
}

/// <summary>
/// Nonparametric bootstrap over models (Efron &amp; Tibshirani 1993, "An Introduction to the
/// Bootstrap", ch. 13, percentile interval): draw n model indices with replacement, recompute the
/// statistic, and take the (1−level)/2 and (1+level)/2 quantiles (linear interpolation between
/// order statistics, numpy's default) of the finite replicates.
/// </summary>
public static class Bootstrap
{
    /// <summary>Percentile interval of <paramref name="statistic"/> over resamples of n indices.</summary>
    /// <param name="statistic">Receives the resampled indices (length n, values in [0, n), repeats allowed).</param>
    /// <param name="n">Number of models.</param>
    /// <param name="resamples">Number of bootstrap replicates.</param>
    /// <param name="level">Coverage in (0, 1).</param>
    /// <param name="seed">Seed of the resampling stream (same seed, same interval).</param>
    /// <exception cref="InputException">n &lt; 1, resamples &lt; 1 or level outside (0, 1).</exception>
    public static BootstrapInterval Interval(Func<int[], double> statistic, int n, int resamples = 1000, double level = 0.95, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(statistic);
        if (n < 1) throw new InputException($"bootstrap: needs at least 1 model, got {n}.");
        if (resamples < 1) throw new InputException($"bootstrap: resamples must be ≥ 1, got {resamples}.");
        if (!(level > 0 && level < 1)) throw new InputException($"bootstrap: level must be in (0, 1), got {level}.");

        var rng = new SeededRandom(seed);
        var replicates = new List<double>(resamples);
        var indices = new int[n];
        for (int r = 0; r < resamples; r++)
        {
            for (int k = 0; k < n; k++) indices[k] = rng.NextInt(n);
            double value = statistic(indices);
            if (double.IsFinite(value)) replicates.Add(value);
        }
        if (replicates.Count == 0)
            return new BootstrapInterval(double.NaN, double.NaN, level, resamples, 0);
        replicates.Sort();
        double alpha = 1 - level;
        return new BootstrapInterval(
            Quantile(replicates, alpha / 2), Quantile(replicates, 1 - alpha / 2), level, resamples, replicates.Count);
    }

    /// <summary>Quantile q of ascending-sorted data by linear interpolation (Hyndman &amp; Fan type 7).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        double position = q * (sorted.Count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Count - 1);
        double fraction = position - below;
        return sorted[below] + fraction * (sorted[above] - sorted[below]);
    }
}
