using MathNet.Numerics;

namespace Geodesy.Core.Stats;

/// <summary>Which Kendall coefficient a statistic uses.</summary>
public enum TauVariant
{
    /// <summary>tau-b: (C − D) / sqrt((n0 − n1)(n0 − n2)), corrected for ties (scipy's default).</summary>
    B,
    /// <summary>tau-a: (C − D) / n0; ties count as neither concordant nor discordant.</summary>
    A,
}

/// <summary>
/// Kendall's rank correlation of two paired samples. <see cref="TauB"/> is NaN (never 0) when one
/// sample is constant, because tau-b's denominator is then zero; <see cref="UndefinedReason"/>
/// says which. <see cref="TauA"/> is always defined (it is 0 in that case).
/// </summary>
/// <param name="N">Number of pairs (observations).</param>
/// <param name="Concordant">Pairs ordered the same way by x and by y (no tie in either).</param>
/// <param name="Discordant">Pairs ordered oppositely by x and y.</param>
/// <param name="TiedX">Pairs tied in x (including those tied in both), n1.</param>
/// <param name="TiedY">Pairs tied in y (including those tied in both), n2.</param>
/// <param name="TiedBoth">Pairs tied in both x and y, n3.</param>
/// <param name="PValue">Two-sided p-value for H0: tau = 0, as scipy.stats.kendalltau's
/// method="auto": exact permutation distribution when there are no ties and n ≤ 33, otherwise
/// the normal approximation with the tie-corrected variance. NaN when tau-b is undefined.</param>
/// <param name="PValueMethod">"exact" or "asymptotic" (or "undefined").</param>
public sealed record KendallResult(
    int N,
    double TauB,
    double TauA,
    double PValue,
    string PValueMethod,
    long Concordant,
    long Discordant,
    long TiedX,
    long TiedY,
    long TiedBoth,
    string? UndefinedReason)
{
    /// <summary>The coefficient of the given variant.</summary>
    public double Tau(TauVariant variant) => variant == TauVariant.B ? TauB : TauA;
}

/// <summary>
/// Kendall's tau by Knight's O(n log n) algorithm (Knight 1966, "A computer method for
/// calculating Kendall's tau with ungrouped data", JASA 61:436): sort by (x, y), count ties,
/// then count the discordant pairs as the inversions of y met by a merge sort.
/// </summary>
public static class KendallTau
{
    /// <summary>Largest n for which the exact null distribution is used (as scipy's "auto").</summary>
    public const int ExactPValueMaxN = 33;

    /// <summary>Kendall's tau-a, tau-b and p-value of x against y.</summary>
    /// <exception cref="InputException">Lengths differ, n &lt; 2, or a value is NaN.</exception>
    public static KendallResult Compute(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Validate(x, y);
        int n = x.Count;
        var (concordant, discordant, tiedX, tiedY, tiedBoth) = CountPairs(x, y);
        long total = Pairs(n);
        double diff = concordant - discordant;
        double tauA = diff / total;

        string? reason = null;
        if (tiedX == total) reason = "all x values are equal, so tau-b is undefined (0/0)";
        else if (tiedY == total) reason = "all y values are equal, so tau-b is undefined (0/0)";
        if (reason != null)
            return new KendallResult(n, double.NaN, tauA, double.NaN, "undefined",
                concordant, discordant, tiedX, tiedY, tiedBoth, reason);

        double tauB = diff / Math.Sqrt((double)(total - tiedX) * (total - tiedY));
        tauB = Math.Clamp(tauB, -1.0, 1.0); // rounding can step a hair outside

        double p;
        string method;
        if (tiedX == 0 && tiedY == 0 && (n <= ExactPValueMaxN || Math.Min(discordant, total - discordant) <= 1))
        {
            p = ExactTwoSidedP(n, Math.Min(discordant, total - discordant));
            method = "exact";
        }
        else
        {
            p = AsymptoticTwoSidedP(x, y, n, diff);
            method = "asymptotic";
        }
        return new KendallResult(n, tauB, tauA, p, method, concordant, discordant, tiedX, tiedY, tiedBoth, null);
    }

    /// <summary>tau-b of x against y (NaN when either is constant).</summary>
    public static double TauB(IReadOnlyList<double> x, IReadOnlyList<double> y) => Compute(x, y).TauB;

    /// <summary>tau-a of x against y.</summary>
    public static double TauA(IReadOnlyList<double> x, IReadOnlyList<double> y) => Compute(x, y).TauA;

    /// <summary>
    /// The coefficient alone, without the p-value (the hot path of bootstrap loops). NaN when
    /// tau-b is undefined. Inputs must be free of NaN (not checked here).
    /// </summary>
    internal static double Coefficient(IReadOnlyList<double> x, IReadOnlyList<double> y, TauVariant variant)
    {
        var (c, d, tx, ty, _) = x.Count <= DirectCountMaxN ? CountPairsDirect(x, y) : CountPairs(x, y);
        long total = Pairs(x.Count);
        if (variant == TauVariant.A) return (double)(c - d) / total;
        if (tx == total || ty == total) return double.NaN;
        return Math.Clamp((c - d) / Math.Sqrt((double)(total - tx) * (total - ty)), -1.0, 1.0);
    }

    /// <summary>Up to this n the O(n²) pair loop beats sorting (granulated cells are this small).</summary>
    private const int DirectCountMaxN = 24;

    /// <summary>The same counts by visiting every pair: for the small cells of granulated Kendall.</summary>
    private static (long Concordant, long Discordant, long TiedX, long TiedY, long TiedBoth) CountPairsDirect(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        long c = 0, d = 0, tx = 0, ty = 0, tb = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                bool sameX = x[i] == x[j], sameY = y[i] == y[j];
                if (sameX) tx++;
                if (sameY) ty++;
                if (sameX && sameY) tb++;
                if (sameX || sameY) continue;
                if ((x[i] < x[j]) == (y[i] < y[j])) c++; else d++;
            }
        return (c, d, tx, ty, tb);
    }

    /// <summary>Concordant, discordant, tied-in-x, tied-in-y and tied-in-both pair counts (Knight's algorithm).</summary>
    private static (long Concordant, long Discordant, long TiedX, long TiedY, long TiedBoth) CountPairs(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        var xs = new double[n];
        var ys = new double[n];
        for (int i = 0; i < n; i++) { xs[i] = x[i]; ys[i] = y[i]; }
        // Order by (x, y): x ties then come out sorted by y and add no inversions.
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (a, b) =>
        {
            int c = xs[a].CompareTo(xs[b]);
            return c != 0 ? c : ys[a].CompareTo(ys[b]);
        });

        long tiedX = 0, tiedBoth = 0;
        long runX = 1, runXY = 1;
        for (int k = 1; k < n; k++)
        {
            bool sameX = xs[order[k]] == xs[order[k - 1]];
            bool sameXY = sameX && ys[order[k]] == ys[order[k - 1]];
            if (sameX) runX++; else { tiedX += Pairs(runX); runX = 1; }
            if (sameXY) runXY++; else { tiedBoth += Pairs(runXY); runXY = 1; }
        }
        tiedX += Pairs(runX);
        tiedBoth += Pairs(runXY);

        var sortedY = new double[n];
        for (int k = 0; k < n; k++) sortedY[k] = ys[order[k]];
        long discordant = CountInversions(sortedY);

        // After the merge sort sortedY is ascending: count y ties on it.
        long tiedY = 0, runY = 1;
        for (int k = 1; k < n; k++)
        {
            if (sortedY[k] == sortedY[k - 1]) runY++; else { tiedY += Pairs(runY); runY = 1; }
        }
        tiedY += Pairs(runY);

        long concordant = Pairs(n) - tiedX - tiedY + tiedBoth - discordant;
        return (concordant, discordant, tiedX, tiedY, tiedBoth);
    }

    private static void Validate(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count)
            throw new InputException($"Kendall tau: x has {x.Count} values but y has {y.Count}; they must be paired.");
        if (x.Count < 2)
            throw new InputException($"Kendall tau: needs at least 2 paired values, got {x.Count}.");
        for (int i = 0; i < x.Count; i++)
        {
            if (double.IsNaN(x[i])) throw new InputException($"Kendall tau: x[{i}] is NaN; drop missing values first.");
            if (double.IsNaN(y[i])) throw new InputException($"Kendall tau: y[{i}] is NaN; drop missing values first.");
        }
    }

    private static long Pairs(long count) => count * (count - 1) / 2;

    /// <summary>Number of pairs i &lt; j with a[i] &gt; a[j] (strict), sorting a ascending in place.</summary>
    private static long CountInversions(double[] a)
    {
        var buffer = new double[a.Length];
        long inversions = 0;
        for (int width = 1; width < a.Length; width *= 2)
        {
            for (int lo = 0; lo < a.Length - width; lo += 2 * width)
            {
                int mid = lo + width, hi = Math.Min(lo + 2 * width, a.Length);
                int i = lo, j = mid, k = lo;
                while (i < mid && j < hi)
                {
                    if (a[i] <= a[j]) buffer[k++] = a[i++];
                    else { buffer[k++] = a[j++]; inversions += mid - i; }
                }
                while (i < mid) buffer[k++] = a[i++];
                while (j < hi) buffer[k++] = a[j++];
                Array.Copy(buffer, lo, a, lo, hi - lo);
            }
        }
        return inversions;
    }

    /// <summary>
    /// 2·P(D ≤ c) under H0 for n untied observations, capped at 1: the number of discordant pairs
    /// of a random permutation has the Mahonian distribution (inversions of a permutation), built
    /// here by convolving the uniform laws on {0..j−1}, j = 1..n, truncated at c.
    /// </summary>
    private static double ExactTwoSidedP(int n, long c)
    {
        int limit = (int)c;
        var prob = new double[limit + 1];
        prob[0] = 1.0;
        var prefix = new double[limit + 2];
        for (int j = 2; j <= n; j++)
        {
            prefix[0] = 0.0;
            for (int k = 0; k <= limit; k++) prefix[k + 1] = prefix[k] + prob[k];
            for (int k = 0; k <= limit; k++)
                prob[k] = (prefix[k + 1] - prefix[Math.Max(0, k - j + 1)]) / j;
        }
        double cdf = 0.0;
        for (int k = 0; k <= limit; k++) cdf += prob[k];
        return Math.Min(1.0, 2.0 * cdf);
    }

    /// <summary>Normal approximation with the tie-corrected variance of S = C − D (Kendall 1970, eq. 4.3).</summary>
    private static double AsymptoticTwoSidedP(IReadOnlyList<double> x, IReadOnlyList<double> y, int n, double s)
    {
        var (xt, x0, x1) = TieSums(x);
        var (yt, y0, y1) = TieSums(y);
        double m = n * (n - 1.0);
        double variance = (m * (2.0 * n + 5.0) - x1 - y1) / 18.0 + 2.0 * xt * yt / m;
        if (n > 2) variance += x0 * y0 / (9.0 * m * (n - 2.0));
        if (variance <= 0) return double.NaN;
        return SpecialFunctions.Erfc(Math.Abs(s) / Math.Sqrt(variance) / Math.Sqrt(2.0));
    }

    /// <summary>Over groups of equal values of size t: Σ t(t−1)/2, Σ t(t−1)(t−2), Σ t(t−1)(2t+5).</summary>
    private static (double Pairs, double Cubic, double Var) TieSums(IReadOnlyList<double> v)
    {
        var sorted = v.ToArray();
        Array.Sort(sorted);
        double pairs = 0, cubic = 0, variance = 0;
        int start = 0;
        for (int k = 1; k <= sorted.Length; k++)
        {
            if (k < sorted.Length && sorted[k] == sorted[start]) continue;
            double t = k - start;
            pairs += t * (t - 1) / 2;
            cubic += t * (t - 1) * (t - 2);
            variance += t * (t - 1) * (2 * t + 5);
            start = k;
        }
        return (pairs, cubic, variance);
    }
}
