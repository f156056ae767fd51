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
    /// <summary>Max entry error relative to the Frobenius norm of the reference Hessian.</summary>
    private const double DenseTolerance = 1e-10;

    /// <summary>Models that exercise each layer kind and each backward need (g and R{g} below several layers).</summary>
    public static TheoryData<string> Cases => new() { "mlp-gelu-tanh", "cnn-strided-avgpool", "nin-like", "zoo-cnn-bn", "zoo-nin", "zoo-mlp-gelu" };

    private static (SequentialModel Model, bool Image) Build(string name)
    {
        SequentialModel model = name switch
        {
            "mlp-gelu-tanh" => new SequentialModel(name,
                [nn.Linear(5, 4), nn.GELU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, Classes)], flattenInput: true),
            // 8x8 -> avg pool 4x4 -> stride-2 conv 2x2: its transposed convolution needs output padding 1.
            "cnn-strided-avgpool" => new SequentialModel(name,
                [nn.Conv2d(1, 2, 3, padding: 1), nn.BatchNorm2d(2), nn.Tanh(), nn.AvgPool2d(2),
                 nn.Conv2d(2, 3, 3, stride: 2, padding: 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3, Classes)], flattenInput: false),
            // BatchNorm without affine parameters, 1x1 convolution without bias, eval dropout, global pooling.
            "nin-like" => new SequentialModel(name,
                [nn.Identity(), nn.Conv2d(1, 2, 3, stride: 2, padding: 1), nn.BatchNorm2d(2, affine: false), nn.ReLU(),
                 nn.Conv2d(2, 4, 1, bias: false), nn.Dropout(0.5), nn.GELU(), nn.Conv2d(4, Classes, 1), new GlobalAvgPool()], flattenInput: false),
            "zoo-cnn-bn" => (SequentialModel)ModelZoo.Create("cnn:channels=2-3,bn=1", [1, 8, 8], Classes, 4),
            "zoo-nin" => (SequentialModel)ModelZoo.Create("nin:depth=1,width=3", [1, 8, 8], Classes, 5),
            "zoo-mlp-gelu" => (SequentialModel)ModelZoo.Create("mlp:64-5-4-3:gelu", [1, 8, 8], Classes, 6),
            _ => throw new ArgumentException(name),
        };
        model.to(ScalarType.Float64);
        Initialize(model, 7);
        using (no_grad())
        {
            using var gen = new Generator(8);
            foreach (var bn in model.modules().OfType<TorchSharp.Modules.BatchNorm>())
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, dtype: ScalarType.Float64, generator: gen).mul(0.3));
                bn.running_var!.copy_(rand(bn.running_var.shape, dtype: ScalarType.Float64, generator: gen).add(0.5));
            }
        }
        return (model, name != "mlp-gelu-tanh");
    }

    private static CurvatureProblem ProblemFor(string name, CurvatureMode mode = CurvatureMode.Eval)
    {
        var (model, image) = Build(name);
        using var gen = new Generator(9);
        var x = image ? randn([7, 1, 8, 8], dtype: ScalarType.Float64, generator: gen) : randn([7, 5], dtype: ScalarType.Float64, generator: gen);
        var y = randint(0, Classes, [7], dtype: ScalarType.Int64, generator: gen);
        return new CurvatureProblem(model, x, y, new CurvatureOptions { BatchSize = 3, Mode = mode });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ROperator_MatchesDenseHessian(string name)
    {
        var p = ProblemFor(name);
        var op = new HessianOperator(p, CurvatureProductMethod.ROperator);
        Assert.Equal("r-operator", op.Method);
        using var actual = DenseOf(op);
        using var expected = ReferenceHessian(p);
        double error = RelativeMaxError(actual, expected);
        Assert.True(error <= DenseTolerance, $"{name}: {error:E2}");
        Assert.Equal(p.Dimension, op.Applications);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ROperator_AgreesWithDoubleBackprop_OnARandomVector(string name)
    {
        var p = ProblemFor(name);
        using var gen = new Generator(10);
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: gen);
        using var fast = new HessianOperator(p, CurvatureProductMethod.ROperator).Apply(v);
        using var reference = new HessianOperator(p, CurvatureProductMethod.DoubleBackprop).Apply(v);
        double error = fast.sub(reference).abs().max().item<double>() / reference.norm().item<double>();
        Assert.True(error <= DenseTolerance, $"{name}: {error:E2}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GaussNewtonTypeOperators_AgreeWithTheDoubleBackwardTrick(string name)
    {
        var p = ProblemFor(name);
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
            Assert.True(error <= DenseTolerance, $"{name} {fast.Name}: {error:E2}");
        }
    }

    [Fact]
    public void TrainModeWithoutBatchNormOrDropout_UsesTheROperator_TrainModeBatchNormFallsBack()
    {
        Assert.Equal("r-operator", new HessianOperator(ProblemFor("mlp-gelu-tanh", CurvatureMode.Train)).Method);
        var bnTrain = ProblemFor("zoo-cnn-bn", CurvatureMode.Train);
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
