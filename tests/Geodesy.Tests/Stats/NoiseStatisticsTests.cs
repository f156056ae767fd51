using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Stats;
using Geodesy.Core.Training.Probes;
using static TorchSharp.torch;

namespace Geodesy.Tests.Stats;

/// <summary>
/// The Shapiro-Wilk test against SciPy (tools/golden/make_shapiro_golden.py writes
/// Golden/shapiro_wilk.json), its rejection rate under the null, the Chambers-Mallows-Stuck
/// generator against closed forms, and the tail-index estimator on synthetic α-stable samples.
/// </summary>
public class NoiseStatisticsTests
{
    private static double[] Stable(double alpha, int n, long seed)
    {
        var random = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => TailIndex.SymmetricStable(alpha, random)).ToArray();
    }

    [Fact]
    public void ShapiroWilkMatchesScipy()
    {
        var golden = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "shapiro_wilk.json")))!;
        foreach (var c in golden["cases"]!.AsArray())
        {
            var sample = c!["sample"]!.AsArray().Select(v => (double)v!).ToArray();
            var r = ShapiroWilk.Test(sample);
            double w = (double)c["w"]!, p = (double)c["p"]!;
            // SciPy's swilk runs in single precision: agreement to about 1e-5 in W.
            Assert.True(Math.Abs(r.W - w) < 5e-5, $"{c["kind"]} n={c["n"]}: W {r.W} vs SciPy {w}");
            Assert.True(Math.Abs(r.PValue - p) < 5e-4 + 2e-3 * p, $"{c["kind"]} n={c["n"]}: p {r.PValue} vs SciPy {p}");
        }
    }

    [Fact]
    public void GaussianSamplesAreRejectedAtTheNominalRateAndHeavyTailedOnesAlmostAlways()
    {
        const int trials = 2000, n = 50;
        var random = new SeededRandom(7);
        var a = ShapiroWilk.Coefficients(n);
        int gaussianRejected = 0, stableRejected = 0;
        for (int t = 0; t < trials; t++)
        {
            var g = Enumerable.Range(0, n).Select(_ => random.NextGaussian()).ToArray();
            if (ShapiroWilk.Test(g, a).PValue < 0.05) gaussianRejected++;
            var s = Enumerable.Range(0, n).Select(_ => TailIndex.SymmetricStable(1.2, random)).ToArray();
            if (ShapiroWilk.Test(s, a).PValue < 0.05) stableRejected++;
        }
        double rate = gaussianRejected / (double)trials, se = Math.Sqrt(0.05 * 0.95 / trials);
        Assert.InRange(rate, 0.05 - 4 * se, 0.05 + 4 * se);
        Assert.True(stableRejected / (double)trials > 0.85, $"alpha = 1.2 samples rejected only {stableRejected} of {trials} times");
    }

    [Fact]
    public void ChambersMallowsStuckHasTheClosedFormMoments()
    {
        // alpha = 2 is N(0, 2); alpha = 1 is the standard Cauchy, whose |X| has median tan(pi/4) = 1.
        var gaussian = Stable(2.0, 200_000, 1);
        double variance = gaussian.Select(x => x * x).Average();
        Assert.InRange(variance, 2 - 0.03, 2 + 0.03);
        var cauchy = Stable(1.0, 200_000, 2).Select(Math.Abs).Order().ToArray();
        Assert.InRange(cauchy[cauchy.Length / 2], 0.985, 1.015);
        // For 0 < alpha < 2, P(|X| > x) ~ C x^-alpha: the log-log slope of the far tail.
        var tail = Stable(1.5, 400_000, 3).Select(Math.Abs).Order().ToArray();
        double q1 = tail[(int)(tail.Length * 0.999)], q2 = tail[(int)(tail.Length * 0.9999)];
        Assert.InRange(Math.Log(10) / Math.Log(q2 / q1), 1.3, 1.7);
    }

    [Theory]
    [InlineData(1.2)]
    [InlineData(1.5)]
    [InlineData(1.8)]
    [InlineData(2.0)]
    public void TailIndexRecoversAlphaOfSymmetricStableNoiseWithinItsStandardError(double alpha)
    {
        var estimate = TailIndex.Estimate(Stable(alpha, 250_000, (long)(alpha * 100)));
        Assert.Equal(500, estimate.K1);
        Assert.True(estimate.StdErr is > 0 and < 0.1, $"stderr {estimate.StdErr}");
        Assert.True(Math.Abs(estimate.Alpha - alpha) < 3 * estimate.StdErr,
            $"alpha {alpha}: estimate {estimate.Alpha} +- {estimate.StdErr}");
    }

    [Fact]
    public void TailIndexStandardErrorIsTheSpreadOfRepeatedEstimates()
    {
        var estimates = Enumerable.Range(0, 40).Select(s => TailIndex.Estimate(Stable(1.6, 10_000, 100 + s))).ToArray();
        double mean = estimates.Average(e => e.Alpha);
        double sd = Math.Sqrt(estimates.Sum(e => (e.Alpha - mean) * (e.Alpha - mean)) / (estimates.Length - 1));
        double stated = estimates.Average(e => e.StdErr);
        Assert.InRange(sd / stated, 0.7, 1.4);
    }

    [Fact]
    public void NoiseAnalysisSeesGaussianAndHeavyTailedNoise()
    {
        const int m = 200, p = 400;
        var random = new SeededRandom(9);
        Tensor Noise(Func<double> draw)
        {
            var values = new double[m * p];
            for (int i = 0; i < values.Length; i++) values[i] = draw();
            var t = tensor(values, dtype: ScalarType.Float64).reshape(m, p);
            t[TensorIndex.Colon, TensorIndex.Slice(0, 7)] = 0; // dead coordinates: left out
            return t;
        }
        using var gaussianNoise = Noise(random.NextGaussian);
        using var g1 = new Generator(1);
        var gaussian = SgnProbe.Analyze(gaussianNoise, coordinates: 393, projections: 200, level: 0.05, g1);
        Assert.Equal(7, gaussian.ZeroCoordinates);
        Assert.Equal(393, gaussian.CoordinatesTested);
        Assert.InRange(gaussian.CoordinatesRejected, 0.0, 0.10);
        Assert.InRange(gaussian.ProjectionsRejected, 0.0, 0.12);
        Assert.True(Math.Abs(gaussian.TailIndex.Alpha - 2) < 3 * gaussian.TailIndex.StdErr, $"alpha {gaussian.TailIndex.Alpha}");

        using var stableNoise = Noise(() => TailIndex.SymmetricStable(1.4, random));
        using var g2 = new Generator(2);
        var heavy = SgnProbe.Analyze(stableNoise, coordinates: 393, projections: 200, level: 0.05, g2);
        Assert.True(heavy.CoordinatesRejected > 0.9, $"rejected {heavy.CoordinatesRejected}");
        Assert.True(heavy.ProjectionsRejected > 0.9, $"rejected {heavy.ProjectionsRejected}");
        Assert.True(Math.Abs(heavy.TailIndex.Alpha - 1.4) < 3 * heavy.TailIndex.StdErr, $"alpha {heavy.TailIndex.Alpha} +- {heavy.TailIndex.StdErr}");
    }
}
