using Geodesy.Core;
using Geodesy.Core.Curvature;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;

namespace Geodesy.Tests.Curvature;

public class AlgorithmPowerIterationTests
{
    /// <summary>PyHessian's stopping rule (relative change 1e-3) on a spectrum with ratio ≤ 1/2 between neighbours.</summary>
    const double AgreementRelError = 2e-3;
    /// <summary>Residuals are recomputed from the returned vectors; they must agree to rounding.</summary>
    const double ResidualRoundingAbs = 1e-10;

    [Fact]
    public void TopK_AgreesWithDenseTopEigenvalues()
    {
        double[] outliers = [64, 32, 16, 8, 4];
        var random = new Random(1);
        var spectrum = outliers.Concat(Enumerable.Range(0, 95).Select(_ => random.NextDouble())).ToArray();
        using var a = WithSpectrum(spectrum, seed: 2);
        using var op = new DenseOperator(a);
        var result = PowerIteration.TopK(op, new PowerOptions { K = 5, Seed = 3, ReturnVectors = true });
        using var vectors = result.Eigenvectors;

        Assert.Equal("power", result.Method);
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.Equal(op.Applications, result.Matvecs);
        var matrix = ToMatrix(a);
        for (int i = 0; i < 5; i++)
        {
            Assert.True(Math.Abs(result.Eigenvalues[i] - outliers[i]) <= AgreementRelError * outliers[i],
                $"eigenvalue {i}: {result.Eigenvalues[i]} vs {outliers[i]}");
            var y = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray(Row(vectors!, i));
            double residual = (matrix * y - result.Eigenvalues[i] * y).L2Norm();
            Assert.True(Math.Abs(residual - result.Residuals[i]) <= ResidualRoundingAbs, $"residual {i}");
        }
    }

    [Fact]
    public void IterationBudget_WithoutConvergence_IsReported()
    {
        // Nearly equal top eigenvalues: 3 iterations cannot meet the tolerance.
        var spectrum = new double[] { 10, 9.99 }.Concat(Enumerable.Repeat(0.5, 30)).ToArray();
        using var a = WithSpectrum(spectrum, seed: 4);
        using var op = new DenseOperator(a);
        var result = PowerIteration.TopK(op, new PowerOptions { K = 2, MaxIter = 3, Tol = 1e-12 });
        Assert.Equal(SolverStatus.BudgetExhausted, result.Status);
        Assert.Equal(6, result.Matvecs);
        Assert.Equal(6, op.Applications);
        Assert.Equal(2, result.Eigenvalues.Length);
    }

    [Fact]
    public void KLargerThanDimension_Throws()
    {
        using var a = WithSpectrum([1, 2], seed: 5);
        using var op = new DenseOperator(a);
        Assert.Throws<InputException>(() => PowerIteration.TopK(op, new PowerOptions { K = 3 }));
        Assert.Equal(0, op.Applications);
    }
}
