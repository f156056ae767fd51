using Geodesy.Core.Curvature;
using Geodesy.Core.Landscape;
using Geodesy.Tests.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>The restricted Hessian of a real model through Hessian-vector products against Mᵀ H M of the dense Hessian (explicit double loop).</summary>
public sealed class GoldilocksHessianTests(TinyCurvatureModel tiny) : IClassFixture<TinyCurvatureModel>
{
    [Fact]
    public void RestrictedHessianOfATinyMlpMatchesTheDenseHessian()
    {
        var (model, x, y) = tiny.Load(TinyCurvatureModel.TrainExamples);
        using var _ = model;
        using var __ = x;
        using var ___ = y;
        var problem = CurvatureProblem.FromData(model, x, y, new CurvatureOptions { BatchSize = 128 });
        var hessian = new HessianOperator(problem);
        using var basis = GoldilocksZone.RandomOrthonormalBasis(TinyCurvatureModel.Params, 5, seed: 3, "test", ScalarType.Float64);
        using var restricted = GoldilocksZone.RestrictedHessian(hessian, basis);
        var m = basis.data<double>().ToArray();
        int p = TinyCurvatureModel.Params, d = 5;
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
            {
                double expected = 0;
                for (int i = 0; i < p; i++)
                    for (int j = 0; j < p; j++)
                        expected += m[i * d + a] * tiny.Hessian[i, j] * m[j * d + b];
                Assert.Equal(expected, restricted[a, b].ToDouble(), 9);
            }
        Assert.Equal(d, hessian.Applications);
    }
}
