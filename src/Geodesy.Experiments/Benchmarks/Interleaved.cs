using System.Diagnostics;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>One timed operation of a benchmark: a name and the work of one repetition.</summary>
public sealed record BenchCase(string Name, Action Run);

/// <summary>Per-repetition times of one case, in milliseconds, in the order measured.</summary>
public sealed record TimingSeries(string Name, double[] Milliseconds)
{
    public double Median => BenchMath.Median(Milliseconds);
}

/// <summary>
/// Times several operations in interleaved rounds (each round runs every case once, the order
/// rotating from round to round), so load from other processes on a shared machine falls on all
/// of them alike and their ratios stay meaningful even when absolute times drift.
/// </summary>
public static class Interleaved
{
    public static IReadOnlyList<TimingSeries> Measure(IReadOnlyList<BenchCase> cases, int warmup, int reps)
    {
        if (cases.Count == 0) throw new ArgumentException("no cases to time", nameof(cases));
        if (warmup < 0) throw new Core.InputException($"bench: --warmup must be >= 0 (got {warmup})");
        if (reps < 1) throw new Core.InputException($"bench: --reps must be >= 1 (got {reps})");
        for (int w = 0; w < warmup; w++)
            foreach (var c in cases) c.Run();
        var times = cases.Select(_ => new double[reps]).ToArray();
        for (int r = 0; r < reps; r++)
        {
            for (int j = 0; j < cases.Count; j++)
            {
                int i = (j + r) % cases.Count; // rotate so no case is always first after a pause
                var clock = Stopwatch.StartNew();
                cases[i].Run();
                times[i][r] = clock.Elapsed.TotalMilliseconds;
            }
        }
        return cases.Select((c, i) => new TimingSeries(c.Name, times[i])).ToArray();
    }
}

/// <summary>Small statistics used by the benchmarks.</summary>
public static class BenchMath
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.OrderBy(x => x).ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : 0.5 * (sorted[m - 1] + sorted[m]);
    }
}
