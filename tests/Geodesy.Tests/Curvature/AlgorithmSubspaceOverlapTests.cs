using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class AlgorithmSubspaceOverlapTests
{
    const double Exact = 1e-12;
    /// <summary>Lanczos vectors at tol 1e-8 against exact eigenvectors.</summary>
    const double LanczosOverlapTol = 1e-8;

    [Fact]
    public void VectorBuiltFromKnownEigenvectors_HasKnownOverlap()
    {
        using var scope = NewDisposeScope();
        var q = RandomOrthogonal(30, seed: 1).t(); // rows are orthonormal
        var g = 3 * q[0] + 4 * q[1] + 12 * q[5];
        const double expected = 25.0 / 169.0;
        Assert.Equal(expected, SubspaceOverlap.Fraction(q.narrow(0, 0, 2), g), Exact);
        Assert.Equal(1.0, SubspaceOverlap.Fraction(q.narrow(0, 0, 6), g), Exact);
        Assert.Equal(0.0, SubspaceOverlap.Fraction(q.narrow(0, 2, 3), g), Exact);
        // Same span given by non-orthonormal and by dependent rows.
        Assert.Equal(expected, SubspaceOverlap.Fraction(torch.stack([q[0], q[0] + 2 * q[1]]), g), Exact);
        Assert.Equal(expected, SubspaceOverlap.Fraction(torch.stack([q[0], q[1], q[0] - q[1]]), g), Exact);
    }

    [Fact]
    public void LanczosEigenvectors_GiveTheExactTopSpaceOverlap()
    {
        using var scope = NewDisposeScope();
        var spectrum = HessianLike(100, seed: 2);
        var q = RandomOrthogonal(100, seed: 3);
        using var op = new DenseOperator(WithSpectrum(spectrum, q));
        var g = torch.randn([100], dtype: ScalarType.Float64, generator: new Generator(4));
        var top = q.t().narrow(0, 0, 3); // the eigenvectors of 40, 25, 18
        var result = Lanczos.TopK(op, new EigenOptions { K = 3, Tol = 1e-8, ReturnVectors = true });
        Assert.Equal(SubspaceOverlap.Fraction(top, g), SubspaceOverlap.Fraction(result.Eigenvectors!, g), LanczosOverlapTol);
    }

    [Fact]
    public void BadInput_Throws()
    {
        using var scope = NewDisposeScope();
        var v = torch.eye(3, 5, dtype: ScalarType.Float64);
        Assert.Throws<InputException>(() => SubspaceOverlap.Fraction(v, torch.zeros(5, dtype: ScalarType.Float64)));
        Assert.Throws<InputException>(() => SubspaceOverlap.Fraction(v, torch.ones(4, dtype: ScalarType.Float64)));
        Assert.Throws<InputException>(() => SubspaceOverlap.Fraction(torch.ones(5, dtype: ScalarType.Float64), torch.ones(5, dtype: ScalarType.Float64)));
    }
}
