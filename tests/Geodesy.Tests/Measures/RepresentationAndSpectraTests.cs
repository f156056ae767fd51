using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class RepresentationAndSpectraTests
{
    private const double Tight = 1e-12;
    private const double AlphaTolerance = 0.1;

    [Fact]
    public void Nc1OfFeaturesWithKnownCovariances()
    {
        // class c has mean (+-1, 0) and four points mean +- (s, 0), mean +- (0, t):
        // Sigma_W = diag(s^2/2, t^2/2), Sigma_B = diag(1, 0), so NC1 = (s^2/2) / C
        const double s = 0.6, t = 0.3;
        var rows = new List<double[]>();
        var labels = new List<long>();
        foreach (var (c, mx) in new[] { (0L, -1.0), (1L, 1.0) })
            foreach (var (dx, dy) in new[] { (s, 0.0), (-s, 0.0), (0.0, t), (0.0, -t) })
            {
                rows.Add([mx + dx, dy]);
                labels.Add(c);
            }
        var h = torch.tensor(rows.SelectMany(r => r).ToArray()).reshape(rows.Count, 2);
        Assert.Equal(s * s / 2 / 2, NeuralCollapse.Nc1(h, torch.tensor(labels.ToArray()), 2), Tight);
    }

    [Fact]
    public void Nc1IsZeroWhenEveryExampleSitsOnItsClassMean()
    {
        var h = torch.tensor(new double[] { 1, 2, 1, 2, -3, 0.5, -3, 0.5, 0, 0 }).reshape(5, 2);
        var y = torch.tensor(new long[] { 0, 0, 1, 1, 2 });
        Assert.Equal(0.0, NeuralCollapse.Nc1(h, y, 3), Tight);
    }

    [Fact]
    public void StiffnessOfIdenticalExamplesIsOne()
    {
        var model = Mlp(4, 5, 3);
        var x = torch.tensor(new float[] { 0.3f, -1.2f, 0.7f, 2.0f }).reshape(1, 4).repeat(6, 1);
        using var data = new Dataset("same", x, torch.full(6, 2L, dtype: ScalarType.Int64), 3);
        using var ctx = Context(model, data);
        Assert.Equal(1.0, new StiffnessSameClassMeasure().Compute(ctx).Value, 1e-12);
        var skipped = MeasureRunner.Compute(ctx, [new StiffnessDiffClassMeasure()]).Single();
        Assert.Null(skipped.Value);
        Assert.Contains("different classes", skipped.SkippedReason);
    }

    [Theory]
    [InlineData(2.5)]
    [InlineData(3.5)]
    public void PowerLawFitRecoversTheExponentOfParetoSamples(double alpha)
    {
        var rng = new Random(42);
        const double xmin = 0.7;
        var x = Enumerable.Range(0, 5000).Select(_ => xmin * Math.Pow(1 - rng.NextDouble(), -1 / (alpha - 1))).ToArray();
        var fit = PowerLaw.Fit(x, 50);
        Assert.InRange(fit.Alpha, alpha - AlphaTolerance, alpha + AlphaTolerance);
        Assert.InRange(fit.XMin, xmin, 3 * xmin);
    }

    [Fact]
    public void PowerLawFitFindsTheTailAboveABulk()
    {
        // a uniform bulk below 1 and a Pareto(alpha = 3) tail above 1: xmin is found near 1
        var rng = new Random(7);
        var bulk = Enumerable.Range(0, 2000).Select(_ => rng.NextDouble());
        var tail = Enumerable.Range(0, 3000).Select(_ => Math.Pow(1 - rng.NextDouble(), -1 / 2.0));
        var fit = PowerLaw.Fit(bulk.Concat(tail).ToArray(), 50);
        Assert.InRange(fit.Alpha, 3 - AlphaTolerance, 3 + AlphaTolerance);
        Assert.InRange(fit.XMin, 0.95, 1.5);
    }

    [Fact]
    public void AlphaMeasuresFitLayersWithEnoughEigenvalues()
    {
        var model = Mlp(40, 30, 3);
        using var data = Clusters(2, 40, 3, 1.0, 12);
        using var ctx = Context(model, data);
        var alpha = new AlphaMeasure().Compute(ctx);
        var weighted = new AlphaWeightedMeasure().Compute(ctx);
        double a0 = alpha.Details!["alpha[0.weight]"];
        Assert.Equal(a0, alpha.Value, Tight);   // the 3 x 30 layer has 3 eigenvalues: not fitted
        Assert.False(alpha.Details.ContainsKey("alpha[2.weight]"));
        // lambda_max of the normalized ESD: the top squared singular value of the 30 x 40 weight over N = 40
        double lmax = Math.Pow(linalg.svdvals(model.parameters().First().detach()).max().item<double>(), 2) / 40;
        Assert.Equal(a0 * Math.Log10(lmax), weighted.Value, 1e-10);
    }
}
