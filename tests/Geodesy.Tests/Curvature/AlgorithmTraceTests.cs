using Geodesy.Core;
using Geodesy.Core.Curvature;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;

namespace Geodesy.Tests.Curvature;

public class AlgorithmTraceTests
{
    const int Seeds = 200;
    /// <summary>The mean over seeds is within this many of its standard errors of the exact trace.</summary>
    const double UnbiasedStdErrs = 3;
    /// <summary>Root-mean-square reported stderr / empirical std across seeds must lie in [1/x, x].</summary>
    const double StdErrCalibration = 1.25;
    const double TargetRelError = 0.01;
    const double ExactTraceRelTol = 1e-10;

    static void AssertUnbiasedAndCalibrated(Func<DenseOperator, long, TraceResult> estimate, double[] spectrum, long budget)
    {
        using var a = WithSpectrum(spectrum, seed: 1);
        using var op = new DenseOperator(a);
        double exact = spectrum.Sum();
        var results = Enumerable.Range(0, Seeds).Select(seed => estimate(op, seed)).ToList();
        var estimates = results.Select(r => r.Estimate).ToList();
        double spread = Std(estimates);
        double meanError = estimates.Average() - exact;
        Assert.True(Math.Abs(meanError) <= UnbiasedStdErrs * spread / Math.Sqrt(Seeds),
            $"mean error {meanError}, standard error of the mean {spread / Math.Sqrt(Seeds)}");
        double reported = RootMeanSquare(results.Select(r => r.StdErr));
        Assert.InRange(reported / spread, 1 / StdErrCalibration, StdErrCalibration);
        Assert.All(results, r => Assert.Equal(budget, r.Matvecs));
        Assert.Equal(Seeds * budget, op.Applications);
    }

    [Theory]
    [InlineData(ProbeKind.Rademacher)]
    [InlineData(ProbeKind.Gaussian)]
    public void Hutchinson_IsUnbiased_AndItsStdErrMatchesTheSpreadAcrossSeeds(ProbeKind kind)
    {
        const long budget = 20;
        AssertUnbiasedAndCalibrated(
            (op, seed) => TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = budget, Seed = seed, Probes = kind }),
            HessianLike(80, seed: 2), budget);
    }

    [Theory]
    [InlineData(ProbeKind.Rademacher)]
    [InlineData(ProbeKind.Gaussian)]
    public void HutchPlusPlus_IsUnbiased_AndItsStdErrMatchesTheSpreadAcrossSeeds(ProbeKind kind)
    {
        const long budget = 30;
        AssertUnbiasedAndCalibrated(
            (op, seed) =>
            {
                var r = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = budget, Seed = seed, Probes = kind });
                Assert.Equal("hutch++", r.Method);
                Assert.Equal(10, r.SketchSize);
                Assert.Equal(10, r.Probes);
                return r;
            },
            Indefinite(80, seed: 3), budget);
    }

    [Fact]
    public void HutchPlusPlus_ReachesOnePercentWithAThirdOfTheProducts_OnDecayingSpectrum()
    {
        const long hutchPlusPlusBudget = 60;
        const int seeds = 30;
        var spectrum = Decaying(200);
        double exact = spectrum.Sum();
        using var a = WithSpectrum(spectrum, seed: 4);
        using var op = new DenseOperator(a);
        double RmsRelError(Func<long, TraceResult> run) =>
            RootMeanSquare(Enumerable.Range(0, seeds).Select(seed => (run(seed).Estimate - exact) / exact));

        double plusPlus = RmsRelError(seed => TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = hutchPlusPlusBudget, Seed = seed }));
        double hutchinson = RmsRelError(seed => TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = 3 * hutchPlusPlusBudget, Seed = seed }));
        Assert.True(plusPlus <= TargetRelError, $"hutch++ rms relative error {plusPlus} with {hutchPlusPlusBudget} products");
        Assert.True(hutchinson > TargetRelError, $"hutchinson rms relative error {hutchinson} with {3 * hutchPlusPlusBudget} products");

        // The adaptive modes tell the same story by their own error bars.
        var adaptivePlusPlus = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 60, SketchSize = 15, TargetRelativeError = TargetRelError });
        var adaptiveHutchinson = TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = 50_000, TargetRelativeError = TargetRelError });
        Assert.Equal(SolverStatus.Converged, adaptivePlusPlus.Status);
        Assert.Equal(SolverStatus.Converged, adaptiveHutchinson.Status);
        Assert.True(adaptiveHutchinson.Matvecs >= 3 * adaptivePlusPlus.Matvecs,
            $"hutchinson {adaptiveHutchinson.Matvecs} products, hutch++ {adaptivePlusPlus.Matvecs}");
    }

    [Fact]
    public void Adaptive_StopsAtTheTarget_OrReportsTheBudget()
    {
        var spectrum = HessianLike(100, seed: 5);
        using var a = WithSpectrum(spectrum, seed: 6);
        using var op = new DenseOperator(a);
        var reached = TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = 10_000, TargetRelativeError = 0.05, Seed = 7 });
        Assert.Equal(SolverStatus.Converged, reached.Status);
        Assert.True(reached.StdErr <= 0.05 * Math.Abs(reached.Estimate));
        Assert.True(reached.Matvecs < 10_000);
        Assert.Equal(reached.Probes, reached.Matvecs);

        long before = op.Applications;
        var missed = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 50, TargetRelativeError = 1e-9, Seed = 8 });
        Assert.Equal(SolverStatus.BudgetExhausted, missed.Status);
        Assert.Equal(50, missed.Matvecs);
        Assert.Equal(50, op.Applications - before);
    }

    [Fact]
    public void HutchPlusPlus_IsExact_WhenTheSketchCoversTheRange()
    {
        var spectrum = new double[] { 5, -3, 2, 1, 0.5 }.Concat(Enumerable.Repeat(0.0, 95)).ToArray();
        using var a = WithSpectrum(spectrum, seed: 9);
        using var op = new DenseOperator(a);
        var result = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 30, Seed = 10 });
        Assert.True(Math.Abs(result.Estimate - spectrum.Sum()) <= ExactTraceRelTol * spectrum.Sum(Math.Abs));
        Assert.True(result.StdErr <= ExactTraceRelTol * spectrum.Sum(Math.Abs));
    }

    [Fact]
    public void BadBudgets_Throw()
    {
        using var a = WithSpectrum([1, 2, 3, 4, 5], seed: 11);
        using var op = new DenseOperator(a);
        Assert.Throws<InputException>(() => TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = 1 }));
        Assert.Throws<InputException>(() => TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 3 }));
        Assert.Throws<InputException>(() => TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 10, SketchSize = 5 }));
        Assert.Throws<InputException>(() => TraceEstimators.Hutchinson(op, new TraceOptions { TargetRelativeError = -1 }));
        Assert.Equal(0, op.Applications);
    }
}
