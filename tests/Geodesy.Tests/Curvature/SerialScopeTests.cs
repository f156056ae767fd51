using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// The solvers' small vector work runs on one thread (NativeRuntime.SerialIfSmall) while the
/// products keep every thread. These tests change the process-wide thread count, so they run
/// alone (the suite otherwise pins it to 1).
/// </summary>
[Collection(nameof(GlobalRandomState))]
public class SerialScopeTests
{
    [Fact]
    public void SmallWorkRunsOnOneThreadAndTheCountComesBack()
    {
        int pinned = torch.get_num_threads();
        try
        {
            torch.set_num_threads(2);
            using (NativeRuntime.SerialIfSmall(NativeRuntime.SerialBelowElements - 1))
                Assert.Equal(1, torch.get_num_threads());
            Assert.Equal(2, torch.get_num_threads());
            using (NativeRuntime.SerialIfSmall(NativeRuntime.SerialBelowElements))
                Assert.Equal(2, torch.get_num_threads());
            Assert.Equal(2, torch.get_num_threads());
        }
        finally
        {
            torch.set_num_threads(pinned);
        }
    }

    [Fact]
    public void LanczosWithTwoThreadsMatchesTheDenseEigenvaluesAndLeavesTheThreadCount()
    {
        int pinned = torch.get_num_threads();
        try
        {
            torch.set_num_threads(2);
            using var a = WithSpectrum(HessianLike(150, seed: 11), seed: 12);
            using var op = new DenseOperator(a, "hessian-like");
            var result = Lanczos.TopK(op, new EigenOptions { K = 5, Tol = 1e-8, Seed = 13 });
            Assert.Equal(2, torch.get_num_threads());
            Assert.Equal(SolverStatus.Converged, result.Status);
            var dense = DenseEigen(a).Values.OrderByDescending(x => x).Take(5).ToArray();
            for (int i = 0; i < 5; i++)
                Assert.True(Math.Abs(result.Eigenvalues[i] - dense[i]) <= 1e-8 * Math.Abs(dense[i]), $"eigenvalue {i}: {result.Eigenvalues[i]} vs {dense[i]}");
        }
        finally
        {
            torch.set_num_threads(pinned);
        }
    }
}
