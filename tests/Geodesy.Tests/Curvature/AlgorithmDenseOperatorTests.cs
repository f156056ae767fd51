using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.AlgorithmTestMatrices;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class AlgorithmDenseOperatorTests
{
    [Fact]
    public void Apply_IsTheMatrixVectorProduct_AndIsCounted()
    {
        using var scope = NewDisposeScope();
        var a = WithSpectrum([1, -2, 3, 0.5], seed: 1);
        using var op = new DenseOperator(a, "test");
        var v = torch.tensor(new double[] { 1, 2, 3, 4 }, dtype: ScalarType.Float64);
        var expected = ToMatrix(a) * MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfArray([1, 2, 3, 4]);
        var actual = op.Apply(v).data<double>().ToArray();
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], actual[i], 14);
        op.Apply(v);
        Assert.Equal(2, op.Applications);
        Assert.Equal(4, op.Dimension);
        Assert.Equal("test", op.Name);
        Assert.Equal(ScalarType.Float64, op.DType);
    }

    [Fact]
    public void BadMatricesAndVectors_Throw()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<InputException>(() => new DenseOperator(torch.ones(3, 4, dtype: ScalarType.Float64)));
        Assert.Throws<InputException>(() => new DenseOperator(torch.tensor(new double[,] { { 1, 2 }, { 0, 1 } })));
        Assert.Throws<InputException>(() => new DenseOperator(torch.eye(3, dtype: ScalarType.Int64)));
        using var op = new DenseOperator(torch.eye(3, dtype: ScalarType.Float64));
        Assert.Throws<InputException>(() => op.Apply(torch.ones(4, dtype: ScalarType.Float64)));
        Assert.Equal(0, op.Applications);
    }
}
