using System.Diagnostics;
using Geodesy.Core.Curvature;
using Geodesy.Core.Stats;
using TorchSharp;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>What <see cref="SgnProbe.Analyze"/> finds in a sample of gradient-noise vectors.</summary>
public sealed record NoiseStatistics(
    TailIndexEstimate TailIndex, long ZeroCoordinates,
    int CoordinatesTested, double CoordinatesRejected, double CoordinateMedianP,
    int ProjectionsTested, double ProjectionsRejected, double ProjectionMedianP);

/// <summary>
/// Statistics of the mini-batch gradient noise ξ = g_B − ḡ at the current weights, from the exact
/// per-example gradients of the probe set: m mini-batches B (each of b distinct probe examples,
/// drawn with the probe's own seeded generator), ḡ the probe-set mean gradient. Writes the tail
/// index α of the pooled noise coordinates (<see cref="TailIndex"/>, as Simsekli et al. 2019) and
/// Shapiro-Wilk tests of Gaussianity of single coordinates and of random one-dimensional
/// projections of ξ (as Panigrahi et al. 2019): the fraction rejected at the given level.
/// </summary>
public sealed class SgnProbe(ProbeSpec spec) : IProbe
{
    private readonly int _batches = spec.Int("batches", 100);
    private readonly int? _batch = spec.Options.ContainsKey("batch") ? spec.Int("batch", 0) : null;
    private readonly int _coordinates = spec.Int("coordinates", 1000);
    private readonly int _projections = spec.Int("projections", 100);
    private readonly double _level = spec.Double("level", 0.05);
    private long? _lastBatch;

    public string Name => spec.Name;

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        if (context.BatchInputs is { } x) _lastBatch = x.shape[0];
        var problem = context.Problem(ProbeSet.Probe);
        long n = problem.Count;
        long b = Math.Min(_batch ?? _lastBatch ?? 64, n);
        if (b >= n) throw new InputException($"--probe '{spec.Text}': mini-batches of {b} from a probe set of {n} examples have no noise; use a larger --probe-examples or a smaller batch=");
        var perExample = new PerExampleGradients(problem).Materialize();
        var mean = perExample.mean([0]);
        using var generator = new torch.Generator((ulong)ProbeSeeds.For(context.RunSeed, Name, ProbeSet.Probe, context.Step));
        var noise = empty(_batches, problem.Dimension, dtype: problem.DType);
        for (int j = 0; j < _batches; j++)
        {
            using var inner = NewDisposeScope();
            var rows = randperm(n, generator: generator).narrow(0, 0, b);
            noise[j].copy_(perExample.index_select(0, rows).mean([0]).sub_(mean));
        }
        var stats = Analyze(noise, _coordinates, _projections, _level, generator);
        return [context.Row(Name, stats.TailIndex.Alpha,
            Of("stderr", stats.TailIndex.StdErr),
            Of("tail_k1", stats.TailIndex.K1),
            Of("tail_k2", stats.TailIndex.K2),
            Of("zero_coordinates", stats.ZeroCoordinates),
            Of("coordinates_tested", (long)stats.CoordinatesTested),
            Of("coordinates_rejected", stats.CoordinatesRejected),
            Of("coordinate_median_p", stats.CoordinateMedianP),
            Of("projections_tested", (long)stats.ProjectionsTested),
            Of("projections_rejected", stats.ProjectionsRejected),
            Of("projection_median_p", stats.ProjectionMedianP),
            Of("level", _level),
            Of("batches", (long)_batches),
            Of("batch", b),
            Of("examples", n),
            Of("matvecs", 0L),
            Of("gradients", problem.Cost.GradientPasses),
            Of("seconds", clock.Elapsed.TotalSeconds))];
    }

    /// <summary>
    /// The statistics of <paramref name="noise"/> [m, P] (one noise vector per row). Coordinates
    /// that are exactly zero in every row (e.g. weights of always-blank pixels) carry no noise and
    /// are left out of everything. The tail index pools the remaining coordinates of all rows,
    /// row by row; the Shapiro-Wilk tests use <paramref name="coordinates"/> of them drawn at
    /// random and <paramref name="projections"/> directions uniform on the sphere of R^P.
    /// </summary>
    public static NoiseStatistics Analyze(Tensor noise, int coordinates, int projections, double level, torch.Generator generator)
    {
        using var scope = NewDisposeScope();
        int m = (int)noise.shape[0];
        if (m < ShapiroWilk.MinN || m > ShapiroWilk.MaxN)
            throw new InputException($"sgn: {m} noise samples; the Shapiro-Wilk test needs {ShapiroWilk.MinN} to {ShapiroWilk.MaxN} (option batches=)");
        var x = noise.to_type(ScalarType.Float64);
        var live = x.abs().amax([0]).gt(0).nonzero().flatten();
        long liveCount = live.shape[0], zero = x.shape[1] - liveCount;
        if (liveCount == 0) throw new InputException("sgn: the gradient noise is exactly zero in every coordinate");
        var kept = x.index_select(1, live);

        var tail = TailIndex.Estimate(kept.contiguous().data<double>().ToArray());
        var a = ShapiroWilk.Coefficients(m);

        int c = (int)Math.Min(coordinates, liveCount);
        var chosen = randperm(liveCount, generator: generator).narrow(0, 0, c);
        var (coordRejected, coordMedian) = Tests(kept.index_select(1, chosen), a, level);

        var directions = randn(x.shape[1], projections, dtype: ScalarType.Float64, generator: generator);
        directions.div_(directions.norm(0, keepdim: true));
        var (projRejected, projMedian) = Tests(x.mm(directions), a, level);
        return new NoiseStatistics(tail, zero, c, coordRejected, coordMedian, projections, projRejected, projMedian);
    }

    /// <summary>Shapiro-Wilk on every column of <paramref name="columns"/> [m, k]: the fraction with p &lt; level and the median p (constant columns skipped).</summary>
    private static (double Rejected, double MedianP) Tests(Tensor columns, double[] a, double level)
    {
        int m = (int)columns.shape[0], k = (int)columns.shape[1];
        var values = columns.t().contiguous().data<double>().ToArray();
        var p = new List<double>(k);
        for (int j = 0; j < k; j++)
        {
            var result = ShapiroWilk.Test(values.AsSpan(j * m, m), a);
            if (!double.IsNaN(result.PValue)) p.Add(result.PValue);
        }
        if (p.Count == 0) return (double.NaN, double.NaN);
        p.Sort();
        double median = p.Count % 2 == 1 ? p[p.Count / 2] : (p[p.Count / 2 - 1] + p[p.Count / 2]) / 2;
        return (p.Count(v => v < level) / (double)p.Count, median);
    }
}
