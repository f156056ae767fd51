using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// The R-operator Hessian-vector product against the dense Hessian (explicit double loop) on
/// every layer kind it claims, its Gauss-Newton products against the double-backward trick, in
/// float64, and the fallback to double backprop where it does not apply.
/// </summary>
public class PearlmutterPlanTests
{
    [Theory]
    [MemberData(nameof(CurvatureCases.LayerKinds), MemberType = typeof(CurvatureCases))]
    public void ROperator_MatchesDenseHessian(string name)
    {
        var p = CurvatureCases.Problem(name);
        var op = new HessianOperator(p, CurvatureProductMethod.ROperator);
        Assert.Equal("r-operator", op.Method);
        using var actual = DenseOf(op);
        using var expected = ReferenceHessian(p);
        double error = RelativeMaxError(actual, expected);
        Assert.True(error <= Tolerances.Dense, $"{name}: {error:E2}");
        Assert.Equal(p.Dimension, op.Applications);
    }

    [Theory]
    [MemberData(nameof(CurvatureCases.LayerKinds), MemberType = typeof(CurvatureCases))]
    public void ROperator_AgreesWithDoubleBackprop_OnARandomVector(string name)
    {
        var p = CurvatureCases.Problem(name);
        using var gen = new Generator(10);
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: gen);
        using var fast = new HessianOperator(p, CurvatureProductMethod.ROperator).Apply(v);
        using var reference = new HessianOperator(p, CurvatureProductMethod.DoubleBackprop).Apply(v);
        double error = fast.sub(reference).abs().max().item<double>() / reference.norm().item<double>();
        Assert.True(error <= Tolerances.Dense, $"{name}: {error:E2}");
    }

    [Theory]
    [MemberData(nameof(CurvatureCases.LayerKinds), MemberType = typeof(CurvatureCases))]
    public void GaussNewtonTypeOperators_AgreeWithTheDoubleBackwardTrick(string name)
    {
        var p = CurvatureCases.Problem(name);
        using var gen = new Generator(12);
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: gen);
        foreach (var method in new[] { CurvatureProductMethod.ROperator, CurvatureProductMethod.DoubleBackprop })
            Assert.Equal(method == CurvatureProductMethod.ROperator ? "r-operator" : "double-backprop", new GgnOperator(p, method).Method);
        var pairs = new (OutputCurvatureOperator Fast, OutputCurvatureOperator Reference)[]
        {
            (new GgnOperator(p, CurvatureProductMethod.ROperator), new GgnOperator(p, CurvatureProductMethod.DoubleBackprop)),
            (new MonteCarloFisherOperator(p, 2, 5, CurvatureProductMethod.ROperator), new MonteCarloFisherOperator(p, 2, 5, CurvatureProductMethod.DoubleBackprop)),
            (new EmpiricalFisherOperator(p, CurvatureProductMethod.ROperator), new EmpiricalFisherOperator(p, CurvatureProductMethod.DoubleBackprop)),
            (new GradientCovarianceOperator(p, CurvatureProductMethod.ROperator), new GradientCovarianceOperator(p, CurvatureProductMethod.DoubleBackprop)),
        };
        foreach (var (fast, reference) in pairs)
        {
            using var a = fast.Apply(v);
            using var b = reference.Apply(v);
            double error = a.sub(b).abs().max().item<double>() / b.norm().item<double>();
            Assert.True(error <= Tolerances.Dense, $"{name} {fast.Name}: {error:E2}");
        }
    }

    [Fact]
    public void TrainModeWithoutBatchNormOrDropout_UsesTheROperator_TrainModeBatchNormFallsBack()
    {
        Assert.Equal("r-operator", new HessianOperator(CurvatureCases.Problem("mlp-gelu-tanh", CurvatureMode.Train)).Method);
        var bnTrain = CurvatureCases.Problem("zoo-cnn-bn", CurvatureMode.Train);
        Assert.Equal("double-backprop", new HessianOperator(bnTrain).Method);
        var e = Assert.Throws<InputException>(() => new HessianOperator(bnTrain, CurvatureProductMethod.ROperator));
        Assert.Contains("R-operator", e.Message);
        Assert.Equal("double-backprop", new GgnOperator(bnTrain).Method);
        Assert.Throws<InputException>(() => new GgnOperator(bnTrain, CurvatureProductMethod.ROperator));
    }

    [Fact]
    public void UnsupportedModels_FallBackToDoubleBackprop()
    {
        var resnet = ModelZoo.Create("resnet20:width=2", [1, 8, 8], Classes, 1);
        resnet.to(ScalarType.Float64);
        using var gen = new Generator(11);
        var x = randn([2, 1, 8, 8], dtype: ScalarType.Float64, generator: gen);
        var y = tensor(new long[] { 0, 2 });
        Assert.Equal("double-backprop", new HessianOperator(new CurvatureProblem(resnet, x, y)).Method);
        var leaky = new SequentialModel("leaky", [nn.Linear(5, 4), nn.LeakyReLU(), nn.Linear(4, Classes)], flattenInput: true);
        leaky.to(ScalarType.Float64);
        var p = new CurvatureProblem(leaky, randn([2, 5], dtype: ScalarType.Float64, generator: gen), y);
        Assert.Equal("double-backprop", new HessianOperator(p).Method);
    }
}
