namespace Geodesy.Core.Landscape;

/// <summary>
/// The linear path θ(t) = (1 − t)·θ_a + t·θ_b between two models and the barrier of a quantity
/// along it.
/// </summary>
public static class LinearPath
{
    /// <summary>N evenly spaced t in [0, 1], both ends included.</summary>
    public static double[] Points(int n)
    {
        if (n < 2) throw new InputException($"--points must be at least 2 (got {n})");
        return Enumerable.Range(0, n).Select(i => i == n - 1 ? 1.0 : i / (double)(n - 1)).ToArray();
    }

    /// <summary>
    /// max over the path of value(t) − ((1 − t)·value(0) + t·value(1)): how far the quantity rises
    /// above the straight line between its values at the endpoints (the loss barrier of Entezari et al.
    /// 2022 and Ainsworth et al. 2023). The endpoints contribute 0, so the barrier is never negative.
    /// <paramref name="t"/> must start at 0 and end at 1.
    /// </summary>
    public static double Barrier(IReadOnlyList<double> t, IReadOnlyList<double> value)
    {
        CheckPath(t, value);
        double v0 = value[0], v1 = value[^1];
        double barrier = 0;
        for (int i = 0; i < t.Count; i++) barrier = Math.Max(barrier, value[i] - ((1 - t[i]) * v0 + t[i] * v1));
        return barrier;
    }

    /// <summary>
    /// max over the path of value(t) − (value(0) + value(1))/2: the error barrier height as
    /// Frankle et al. (2020) define it, against the mean of the endpoints (never negative:
    /// the path's maximum is at least the larger endpoint).
    /// </summary>
    public static double BarrierOverEndpointMean(IReadOnlyList<double> t, IReadOnlyList<double> value)
    {
        CheckPath(t, value);
        double mean = (value[0] + value[^1]) / 2;
        return value.Max() - mean;
    }

    private static void CheckPath(IReadOnlyList<double> t, IReadOnlyList<double> value)
    {
        if (t.Count != value.Count || t.Count < 2) throw new ArgumentException("a path needs at least two points, one value each");
        if (t[0] != 0 || t[^1] != 1) throw new ArgumentException("a path runs from t = 0 to t = 1");
    }
}
