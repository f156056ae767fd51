using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class AlgorithmFrobeniusTests
{
    const int Seeds = 100;
    const double UnbiasedStdErrs = 3;
    /// <summary>RMS reported stderr / empirical std across seeds must lie in [1/x, x].</summary>
    const double StdErrCalibration = 1.3;
    const double ExactRelTol = 1e-12;

    [Fact]
    public void DiagonalMatrix_RademacherProbes_AreExact()
    {
        double[] spectrum = [3, -1, 2, 0.5, -4, 1];
        using var l = torch.tensor(spectrum, dtype: ScalarType.Float64);
        using var d = torch.diag(l);
        using var op = new DenseOperator(d);
        double frobenius = Math.Sqrt(spectrum.Sum(x => x * x));
        var squared = FrobeniusEstimator.SquaredNorm(op, new TraceOptions { MaxMatvecs = 5 });
        Assert.Equal(frobenius * frobenius, squared.SquaredNorm, ExactRelTol * frobenius * frobenius);
        Assert.Equal(frobenius, squared.Norm, ExactRelTol * frobenius);
        var ratio = FrobeniusEstimator.TraceOverFrobenius(op, new TraceOptions { MaxMatvecs = 5 });
        Assert.Equal(spectrum.Sum() / frobenius, ratio.Estimate, ExactRelTol);
        Assert.Equal(spectrum.Sum(), ratio.Trace, ExactRelTol * frobenius);
        Assert.Equal(10, op.Applications);
        Assert.Equal(5, ratio.Matvecs);
    }

    [Fact]
    public void SquaredNorm_IsUnbiased_AndCalibrated()
    {
        const long budget = 20;
        var spectrum = Indefinite(60, seed: 1);
        using var a = WithSpectrum(spectrum, seed: 2);
        using var op = new DenseOperator(a);
        double exact = spectrum.Sum(x => x * x);
        var results = Enumerable.Range(0, Seeds).Select(seed => FrobeniusEstimator.SquaredNorm(op, new TraceOptions { MaxMatvecs = budget, Seed = seed })).ToList();
        var estimates = results.Select(r => r.SquaredNorm).ToList();
        double spread = Std(estimates);
        Assert.True(Math.Abs(estimates.Average() - exact) <= UnbiasedStdErrs * spread / Math.Sqrt(Seeds),
            $"mean {estimates.Average()} vs exact {exact}");
        Assert.InRange(RootMeanSquare(results.Select(r => r.SquaredNormStdErr)) / spread, 1 / StdErrCalibration, StdErrCalibration);
        Assert.Equal(Seeds * budget, op.Applications);
    }

    [Fact]
    public void TraceOverFrobenius_DeltaMethodStdErr_IsCalibrated()
    {
        const long budget = 50;
        var spectrum = HessianLike(60, seed: 3);
        using var a = WithSpectrum(spectrum, seed: 4);
        using var op = new DenseOperator(a);
        double exact = spectrum.Sum() / Math.Sqrt(spectrum.Sum(x => x * x));
        var results = Enumerable.Range(0, Seeds).Select(seed => FrobeniusEstimator.TraceOverFrobenius(op, new TraceOptions { MaxMatvecs = budget, Seed = seed })).ToList();
        var estimates = results.Select(r => r.Estimate).ToList();
        double spread = Std(estimates);
        Assert.True(Math.Abs(estimates.Average() - exact) <= UnbiasedStdErrs * spread / Math.Sqrt(Seeds) + 0.1 * spread,
            $"mean {estimates.Average()} vs exact {exact} (spread {spread})");
        Assert.InRange(RootMeanSquare(results.Select(r => r.StdErr)) / spread, 1 / StdErrCalibration, StdErrCalibration);
    }
}
