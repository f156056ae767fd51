using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class LanczosTests
{
    const double TightTol = 1e-8;
    /// <summary>Eigenvalue error is at most the residual; with a residual of TightTol·|θ| this holds with margin.</summary>
    const double TightEigenvalueRelError = 1e-8;
    /// <summary>1 − |cos| between a Ritz vector and the dense eigenvector (angle² ≈ (residual / gap)²).</summary>
    const double VectorMisalignment = 1e-10;
    /// <summary>Reported residual vs ||A y − θ y|| recomputed densely: equal up to this relative slack plus rounding.</summary>
    const double ResidualAgreementRel = 0.05;
    const double ResidualRoundingAbs = 1e-11;
    const double Float32EigenvalueRelError = 2e-3;

    static void AssertMatchesDense(Tensor matrix, EigenResult result, int k, bool top, double relTol, double vectorMisalignment = VectorMisalignment)
    {
        var (values, vectors) = DenseEigen(matrix);
        int n = values.Length;
        Assert.Equal(k, result.Eigenvalues.Length);
        for (int i = 0; i < k; i++)
        {
            int index = top ? n - 1 - i : i;
            double exact = values[index];
            Assert.True(Math.Abs(result.Eigenvalues[i] - exact) <= relTol * Math.Abs(exact),
                $"eigenvalue {i}: {result.Eigenvalues[i]} vs dense {exact}");
            if (result.Eigenvectors is null) continue;
            var y = Row(result.Eigenvectors, i);
            double cos = Enumerable.Range(0, n).Sum(r => y[r] * vectors[r, index]);
            Assert.True(1 - Math.Abs(cos) <= vectorMisalignment, $"eigenvector {i}: |cos| = {Math.Abs(cos)}");
        }
    }

    static double[] TrueResiduals(Tensor matrix, EigenResult result)
    {
        using var scope = NewDisposeScope();
        var y = result.Eigenvectors!;
        var values = torch.tensor(result.Eigenvalues, dtype: y.dtype);
        var r = y.mm(matrix.to_type(y.dtype)) - values.unsqueeze(1) * y; // rows (A y_i − θ_i y_i)ᵀ, A symmetric
        return r.norm(1).to_type(ScalarType.Float64).data<double>().ToArray();
    }

    [Fact]
    public void TopK_MatchesDenseEigendecomposition_WithCorrectResiduals()
    {
        using var a = WithSpectrum(HessianLike(200, seed: 1), seed: 2);
        using var op = new DenseOperator(a, "hessian-like");
        var result = Lanczos.TopK(op, new EigenOptions { K = 10, Tol = TightTol, ReturnVectors = true, Seed = 3 });
        using var vectors = result.Eigenvectors;

        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.Equal("lanczos", result.Method);
        Assert.Equal(op.Applications, result.Matvecs);
        Assert.True(result.Eigenvalues.Zip(result.Eigenvalues.Skip(1)).All(p => p.First >= p.Second), "descending order");
        AssertMatchesDense(a, result, 10, top: true, TightEigenvalueRelError);
        var actual = TrueResiduals(a, result);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(result.RelativeResiduals[i] <= TightTol, $"relative residual {i} = {result.RelativeResiduals[i]}");
            Assert.Equal(result.Residuals[i] / Math.Abs(result.Eigenvalues[i]), result.RelativeResiduals[i], 12);
            Assert.True(Math.Abs(result.Residuals[i] - actual[i]) <= ResidualAgreementRel * actual[i] + ResidualRoundingAbs,
                $"residual {i}: reported {result.Residuals[i]}, actual {actual[i]}");
        }
    }

    [Fact]
    public void TopK_DefaultTolerance_ReachesTheRequestedRelativeAccuracy()
    {
        using var a = WithSpectrum(HessianLike(150, seed: 4), seed: 5);
        using var op = new DenseOperator(a);
        var options = new EigenOptions { K = 5 };
        var result = Lanczos.TopK(op, options);
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.All(result.RelativeResiduals, r => Assert.True(r <= options.Tol));
        AssertMatchesDense(a, result, 5, top: true, options.Tol);
        Assert.Equal(op.Applications, result.Matvecs);
    }

    [Fact]
    public void BottomK_OfIndefiniteMatrix_MatchesDenseMostNegativeEigenvalues()
    {
        using var a = WithSpectrum(Indefinite(120, seed: 6), seed: 7);
        using var op = new DenseOperator(a);
        var result = Lanczos.BottomK(op, new EigenOptions { K = 5, Tol = TightTol, ReturnVectors = true, Seed = 8 });
        using var vectors = result.Eigenvectors;
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.True(result.Eigenvalues.Zip(result.Eigenvalues.Skip(1)).All(p => p.First <= p.Second), "ascending order");
        Assert.True(result.Eigenvalues[0] < 0);
        AssertMatchesDense(a, result, 5, top: false, TightEigenvalueRelError);
        Assert.Equal(op.Applications, result.Matvecs);
    }

    [Fact]
    public void ThickRestart_WithSmallBasis_StillConverges()
    {
        const int basis = 12;
        // A bulk without outliers: small relative gaps, so a 12-vector basis must restart many times.
        var random = new Random(9);
        var spectrum = Enumerable.Range(0, 200).Select(_ => 1 + random.NextDouble()).ToArray();
        using var a = WithSpectrum(spectrum, seed: 10);
        using var op = new DenseOperator(a);
        var result = Lanczos.TopK(op, new EigenOptions { K = 4, Tol = 1e-6, MaxBasis = basis, ReturnVectors = true, Seed = 11 });
        using var vectors = result.Eigenvectors;
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.True(result.Matvecs > 3 * basis, $"{result.Matvecs} products: the basis must have been restarted");
        AssertMatchesDense(a, result, 4, top: true, 1e-6, vectorMisalignment: 1e-3);
        Assert.Equal(op.Applications, result.Matvecs);
    }

    [Fact]
    public void Breakdown_InvariantSubspace_FindsRepeatedEigenvalues()
    {
        // I + rank two: the Krylov space of any start vector is 3-dimensional, so the copies of
        // the repeated eigenvalue 1 only appear through fresh directions after breakdowns.
        var spectrum = new double[] { 7, 4 }.Concat(Enumerable.Repeat(1.0, 48)).ToArray();
        using var a = WithSpectrum(spectrum, seed: 12);
        using var op = new DenseOperator(a);
        var result = Lanczos.TopK(op, new EigenOptions { K = 4, Tol = TightTol, Seed = 13 });
        Assert.Equal(SolverStatus.Converged, result.Status);
        double[] expected = [7, 4, 1, 1];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], result.Eigenvalues[i], 10);
        Assert.True(result.Matvecs <= 6, $"{result.Matvecs} products for a 3-dimensional Krylov space plus one copy");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TinyDimension_AllEigenvaluesExact(int n)
    {
        var spectrum = Enumerable.Range(0, n).Select(i => 2.0 - 1.5 * i).ToArray();
        using var a = WithSpectrum(spectrum, seed: 14);
        using var op = new DenseOperator(a);
        var top = Lanczos.TopK(op, new EigenOptions { K = n });
        var bottom = Lanczos.BottomK(op, new EigenOptions { K = n });
        Assert.Equal(SolverStatus.Converged, top.Status);
        Assert.Equal(SolverStatus.Converged, bottom.Status);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(spectrum[i], top.Eigenvalues[i], 12);
            Assert.Equal(spectrum[n - 1 - i], bottom.Eigenvalues[i], 12);
        }
        Assert.Equal(2 * n, op.Applications);
    }

    [Fact]
    public void Budget_Exhausted_ReportsStatusAndExactCount()
    {
        const int budget = 6;
        using var a = WithSpectrum(HessianLike(200, seed: 15), seed: 16);
        using var op = new DenseOperator(a);
        var result = Lanczos.TopK(op, new EigenOptions { K = 5, Tol = 1e-10, MaxMatvecs = budget });
        Assert.Equal(SolverStatus.BudgetExhausted, result.Status);
        Assert.Equal(budget, result.Matvecs);
        Assert.Equal(budget, op.Applications);
        Assert.Equal(5, result.Eigenvalues.Length);
        Assert.Contains(result.RelativeResiduals, r => r > 1e-10);
    }

    [Fact]
    public void KLargerThanDimension_ThrowsBeforeAnyProduct()
    {
        using var a = WithSpectrum([1, 2, 3], seed: 17);
        using var op = new DenseOperator(a);
        var error = Assert.Throws<InputException>(() => Lanczos.TopK(op, new EigenOptions { K = 4 }));
        Assert.Contains("larger than the dimension 3", error.Message);
        Assert.Throws<InputException>(() => Lanczos.BottomK(op, new EigenOptions { K = 0 }));
        Assert.Throws<InputException>(() => Lanczos.TopK(op, new EigenOptions { K = 1, Tol = 0 }));
        Assert.Equal(0, op.Applications);
    }

    [Fact]
    public void Float32Operator_WorksInItsDtype()
    {
        using var a = WithSpectrum(HessianLike(100, seed: 18), seed: 19);
        using var a32 = a.to_type(ScalarType.Float32);
        using var op = new DenseOperator(a32);
        var result = Lanczos.TopK(op, new EigenOptions { K = 3, ReturnVectors = true });
        using var vectors = result.Eigenvectors;
        Assert.Equal(SolverStatus.Converged, result.Status);
        Assert.Equal(ScalarType.Float32, vectors!.dtype);
        var (values, _) = DenseEigen(a);
        for (int i = 0; i < 3; i++)
            Assert.True(Math.Abs(result.Eigenvalues[i] - values[^(i + 1)]) <= Float32EigenvalueRelError * Math.Abs(values[^(i + 1)]));
    }

    [Fact]
    public void NeedsAtLeastThreeTimesFewerProductsThanPowerIteration_OnHessianLikeSpectrum()
    {
        const double minimumSpeedup = 3;
        const int k = 10;
        using var a = WithSpectrum(HessianLike(200, seed: 20), seed: 21);
        var (values, _) = DenseEigen(a);
        double MaxRelError(EigenResult r) => r.Eigenvalues.Select((l, i) => Math.Abs(l - values[^(i + 1)]) / Math.Abs(values[^(i + 1)])).Max();

        using var powerOp = new DenseOperator(a);
        var power = PowerIteration.TopK(powerOp, new PowerOptions { K = k, Seed = 22 });
        using var lanczosOp = new DenseOperator(a);
        var lanczos = Lanczos.TopK(lanczosOp, new EigenOptions { K = k, Tol = 1e-3, Seed = 22 });

        double powerError = MaxRelError(power), lanczosError = MaxRelError(lanczos);
        Assert.True(lanczosError <= Math.Max(powerError, 1e-3), $"lanczos error {lanczosError}, power error {powerError}");
        Console.WriteLine($"power: {power.Matvecs} products, max rel error {powerError:G3}; lanczos: {lanczos.Matvecs} products, max rel error {lanczosError:G3}");
        Assert.True(power.Matvecs >= minimumSpeedup * lanczos.Matvecs,
            $"power iteration {power.Matvecs} products, lanczos {lanczos.Matvecs}");
        Assert.Equal(powerOp.Applications, power.Matvecs);
        Assert.Equal(lanczosOp.Applications, lanczos.Matvecs);
    }
}
