using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class BootstrapTests
{
    [Fact]
    public void Quantile_IsLinearInterpolationBetweenOrderStatistics()
    {
        double[] sorted = [1, 2, 3, 4];
        Assert.Equal(2.5, Bootstrap.Quantile(sorted, 0.5), 1e-15);
        Assert.Equal(1.75, Bootstrap.Quantile(sorted, 0.25), 1e-15);
        Assert.Equal(1.0, Bootstrap.Quantile(sorted, 0.0), 1e-15);
        Assert.Equal(4.0, Bootstrap.Quantile(sorted, 1.0), 1e-15);
    }

    [Fact]
    public void MeanInterval_MatchesNormalTheory()
    {
        // For the mean of n i.i.d. N(0,1) draws the 95% percentile interval is ≈ mean ± 1.96·s/√n.
        const int n = 400;
        const double relativeTolerance = 0.12;
        var rng = new SeededRandom(1);
        var data = Enumerable.Range(0, n).Select(_ => rng.NextGaussian()).ToArray();
        double mean = data.Average();
        double sd = Math.Sqrt(data.Sum(v => (v - mean) * (v - mean)) / (n - 1));
        var ci = Bootstrap.Interval(idx => idx.Average(i => data[i]), n, resamples: 2000, seed: 2);
        double halfWidth = 1.959964 * sd / Math.Sqrt(n);
        Assert.Equal(halfWidth, ci.Width / 2, halfWidth * relativeTolerance);
        Assert.Equal(mean, (ci.Lower + ci.Upper) / 2, halfWidth * relativeTolerance);
        Assert.Equal(2000, ci.Valid);
    }

    [Fact]
    public void TauInterval_ContainsEstimate_AndShrinksWithN()
    {
        double Width(int n, out bool contains)
        {
            var rng = new SeededRandom(n);
            var x = Enumerable.Range(0, n).Select(_ => rng.NextGaussian()).ToArray();
            var y = x.Select(v => v + rng.NextGaussian()).ToArray();
            double tau = KendallTau.TauB(x, y);
            var ci = Bootstrap.Interval(idx => KendallTau.TauB(idx.Select(i => x[i]).ToArray(), idx.Select(i => y[i]).ToArray()), n, 500, 0.95, seed: 4);
            contains = ci.Contains(tau);
            return ci.Width;
        }
        double small = Width(30, out bool c1);
        double large = Width(480, out bool c2);
        Assert.True(c1 && c2, "the interval should contain the point estimate");
        // Width scales like 1/√n: 16× the models, about a quarter of the width.
        Assert.InRange(large / small, 0.15, 0.40);
    }

    [Fact]
    public void SameSeedSameInterval_OtherSeedOtherInterval()
    {
        var data = Enumerable.Range(0, 50).Select(i => Math.Sin(i)).ToArray();
        Func<int[], double> mean = idx => idx.Average(i => data[i]);
        Assert.Equal(Bootstrap.Interval(mean, 50, 300, seed: 9), Bootstrap.Interval(mean, 50, 300, seed: 9));
        Assert.NotEqual(Bootstrap.Interval(mean, 50, 300, seed: 9).Lower, Bootstrap.Interval(mean, 50, 300, seed: 10).Lower);
    }

    [Fact]
    public void NonFiniteReplicates_AreLeftOutAndCounted()
    {
        // Undefined whenever the first resampled index is even: about half of the replicates.
        var ci = Bootstrap.Interval(idx => idx[0] % 2 == 0 ? double.NaN : 1.0, 10, 1000, seed: 3);
        Assert.InRange(ci.Valid, 400, 600);
        Assert.Equal(1.0, ci.Lower);
        var none = Bootstrap.Interval(_ => double.NaN, 10, 50, seed: 3);
        Assert.Equal(0, none.Valid);
        Assert.True(double.IsNaN(none.Lower));
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Throws<InputException>(() => Bootstrap.Interval(_ => 0, 0));
        Assert.Throws<InputException>(() => Bootstrap.Interval(_ => 0, 5, resamples: 0));
        Assert.Throws<InputException>(() => Bootstrap.Interval(_ => 0, 5, level: 1.0));
    }
}
