using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class AlgorithmSpectralDensityTests
{
    /// <summary>Gauss quadrature with ≥ 3 nodes is exact for degree ≤ 4; only rounding remains.</summary>
    const double ExactMomentRelTol = 1e-10;
    /// <summary>Random probes: the estimate is within this many reported standard errors.</summary>
    const double MomentStdErrs = 4;
    const double IntegralTol = 1e-9;

    [Fact]
    public void DiagonalMatrix_RademacherProbes_GiveExactMoments()
    {
        // For diagonal D and a Rademacher probe z, zᵀDᵖz / n = Tr(Dᵖ)/n: any error is quadrature error.
        var random = new Random(1);
        var spectrum = Enumerable.Range(0, 100).Select(_ => -2 + 5 * random.NextDouble()).ToArray();
        using var l = torch.tensor(spectrum, dtype: ScalarType.Float64);
        using var d = torch.diag(l);
        using var op = new DenseOperator(d);
        var result = SpectralDensity.Slq(op, new SlqOptions { Steps = 5, Runs = 3, Seed = 2 });
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.Equal(15, result.Matvecs);
        Assert.Equal(op.Applications, result.Matvecs);
        for (int j = 1; j <= 4; j++)
        {
            double exact = Moment(spectrum, j);
            var moment = result.Moments[j - 1];
            Assert.Equal(j, moment.Order);
            Assert.True(Math.Abs(moment.Value - exact) <= ExactMomentRelTol * Moment(spectrum.Select(Math.Abs).ToArray(), j),
                $"moment {j}: {moment.Value} vs {exact}");
        }
        Assert.All(result.Runs, run => Assert.Equal(1.0, run.Weights.Sum(), 12));
    }

    [Fact]
    public void HessianLikeMatrix_MomentsWithinErrorBars_DensityIntegratesToOne()
    {
        var spectrum = HessianLike(200, seed: 3);
        using var a = WithSpectrum(spectrum, seed: 4);
        using var op = new DenseOperator(a);
        var options = new SlqOptions { Steps = 30, Runs = 10, Seed = 5 };
        var result = SpectralDensity.Slq(op, options);
        Assert.Equal(300, result.Matvecs);
        Assert.Equal(op.Applications, result.Matvecs);
        Assert.Equal(options.Runs, result.Runs.Count);
        for (int j = 1; j <= 4; j++)
        {
            var moment = result.Moments[j - 1];
            double exact = Moment(spectrum, j);
            Assert.NotNull(moment.StdErr);
            Assert.True(Math.Abs(moment.Value - exact) <= MomentStdErrs * moment.StdErr!.Value,
                $"moment {j}: {moment.Value} ± {moment.StdErr} vs {exact}");
        }
        Assert.Equal(options.GridPoints, result.Grid.Length);
        Assert.Equal(options.GridPoints, result.Density.Length);
        Assert.All(result.Density, p => Assert.True(p >= 0));
        double integral = 0;
        for (int g = 1; g < result.Grid.Length; g++)
            integral += 0.5 * (result.Grid[g] - result.Grid[g - 1]) * (result.Density[g] + result.Density[g - 1]);
        Assert.Equal(1.0, integral, IntegralTol);
        Assert.True(result.Grid[0] < spectrum.Min() && result.Grid[^1] > spectrum.Max(), "grid covers the spectrum");
    }

    [Fact]
    public void IsolatedOutlier_CarriesMassOneOverN()
    {
        const int n = 100;
        const double outlier = 50, massRelTol = 1e-6;
        var random = new Random(6);
        var spectrum = new[] { outlier }.Concat(Enumerable.Range(0, n - 1).Select(_ => random.NextDouble())).ToArray();
        using var l = torch.tensor(spectrum, dtype: ScalarType.Float64);
        using var d = torch.diag(l);
        using var op = new DenseOperator(d);
        var result = SpectralDensity.Slq(op, new SlqOptions { Steps = 20, Runs = 2, Seed = 7 });
        double mass = 0;
        for (int g = 1; g < result.Grid.Length; g++)
            if (result.Grid[g] > outlier - 5 * result.Sigma)
                mass += 0.5 * (result.Grid[g] - result.Grid[g - 1]) * (result.Density[g] + result.Density[g - 1]);
        Assert.True(Math.Abs(mass - 1.0 / n) <= massRelTol + 1e-3 / n, $"mass near the outlier {mass}");
    }

    [Fact]
    public void StepsBeyondDimension_AreCapped()
    {
        using var a = WithSpectrum([3, 1, -1, 0.5, 2, -2, 4, 0, 1.5, -0.5], seed: 8);
        using var op = new DenseOperator(a);
        var result = SpectralDensity.Slq(op, new SlqOptions { Steps = 90, Runs = 2, Seed = 9 });
        Assert.True(result.Matvecs <= 20);
        Assert.All(result.Runs, run => Assert.True(run.Nodes.Length <= 10));
        Assert.Throws<InputException>(() => SpectralDensity.Slq(op, new SlqOptions { Runs = 0 }));
    }
}
