using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class AlgorithmLeakTests
{
    [Fact]
    public void Algorithms_LeaveNoLiveTensors()
    {
        using var a = WithSpectrum(HessianLike(60, seed: 1), seed: 2);
        using var op = new DenseOperator(a);
        using var g = torch.ones(60, dtype: ScalarType.Float64);
        DisposeScopeManager.Statistics.Reset();

        Lanczos.TopK(op, new EigenOptions { K = 3, MaxBasis = 8, Tol = 1e-8 });
        Lanczos.BottomK(op, new EigenOptions { K = 2, MaxMatvecs = 5 });
        PowerIteration.TopK(op, new PowerOptions { K = 2 });
        TraceEstimators.Hutchinson(op, new TraceOptions { MaxMatvecs = 10 });
        TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = 12 });
        SpectralDensity.Slq(op, new SlqOptions { Steps = 10, Runs = 2 });
        FrobeniusEstimator.TraceOverFrobenius(op, new TraceOptions { MaxMatvecs = 10 });
        using (var vectors = Lanczos.TopK(op, new EigenOptions { K = 2, ReturnVectors = true }).Eigenvectors)
            SubspaceOverlap.Fraction(vectors!, g);

        Assert.Equal(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

public class AlgorithmDivergenceTests
{
    /// <summary>An operator whose products turn non-finite after a few applications.</summary>
    sealed class BreaksAfter(int goodProducts) : ILinearOperator
    {
        public long Dimension => 20;
        public string Name => "breaks";
        public ScalarType DType => ScalarType.Float64;
        public long Applications { get; private set; }
        public Tensor Apply(Tensor v)
        {
            Applications++;
            if (Applications > goodProducts) return torch.full(20, double.NaN, dtype: ScalarType.Float64);
            using var diagonal = torch.arange(1.0, 21.0, dtype: ScalarType.Float64);
            return v.mul(diagonal);
        }
    }

    [Fact]
    public void NonFiniteProducts_GiveDivergedStatus()
    {
        var lanczosOp = new BreaksAfter(3);
        var lanczos = Lanczos.TopK(lanczosOp, new EigenOptions { K = 5 });
        Assert.Equal(SolverStatus.Diverged, lanczos.Status);
        Assert.Equal(lanczosOp.Applications, lanczos.Matvecs);

        var hutchinsonOp = new BreaksAfter(3);
        var trace = TraceEstimators.Hutchinson(hutchinsonOp, new TraceOptions { MaxMatvecs = 10 });
        Assert.Equal(SolverStatus.Diverged, trace.Status);
        Assert.Equal(4, trace.Matvecs);

        var slq = SpectralDensity.Slq(new BreaksAfter(25), new SlqOptions { Steps = 10, Runs = 3 });
        Assert.Equal(SolverStatus.Diverged, slq.Status);
        Assert.Equal(2, slq.Runs.Count);

        var power = PowerIteration.TopK(new BreaksAfter(2), new PowerOptions { K = 2 });
        Assert.Equal(SolverStatus.Diverged, power.Status);
    }
}
