using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>Streaming over mini-batches, tensor hygiene, model state and input validation.</summary>
public class OperatorStreamingTests
{
    // The live count is per thread (TorchSharp DisposeScopeManager statistics), so tests running
    // in parallel do not disturb it and a tensor left to the finalizer still counts as a leak.
    private const double StreamingTolerance = Tolerances.Streaming;

    public static TheoryData<string> Operators => new() { "hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance" };

    private static ILinearOperator Make(string kind, CurvatureProblem p) => kind switch
    {
        "hessian" => new HessianOperator(p),
        "ggn" => new GgnOperator(p),
        "fisher" => new MonteCarloFisherOperator(p, 2, seed: 3),
        "empirical-fisher" => new EmpiricalFisherOperator(p),
        "gradient-covariance" => new GradientCovarianceOperator(p),
        _ => throw new ArgumentException(kind),
    };

    [Theory]
    [MemberData(nameof(Operators))]
    public void Streamed_EqualsFullBatch(string kind)
    {
        foreach (var name in new[] { "mlp-relu", "cnn-eval" })
        {
            var streamed = Make(kind, Problem(name, n: 10, batchSize: 3));
            var whole = Make(kind, Problem(name, n: 10, batchSize: 64));
            using var v = randn([streamed.Dimension], dtype: ScalarType.Float64, generator: new Generator(9));
            using var a = streamed.Apply(v);
            using var b = whole.Apply(v);
            double error = a.sub(b).abs().max().item<double>() / b.norm().item<double>();
            Assert.True(error <= StreamingTolerance, $"{kind} {name}: {error:E2}");
        }
    }

    private const double Float32Tolerance = Tolerances.Float32;

    [Fact]
    public void Float32_AgreesWithFloat64()
    {
        var p64 = Problem("mlp-tanh", n: 10, batchSize: 3);
        var model32 = Mlp("tanh");
        model32.to(ScalarType.Float32);
        var p32 = CurvatureProblem.FromData(model32, p64.Inputs, p64.Labels, p64.Options);
        Assert.Equal(ScalarType.Float32, p32.DType);
        using var v = randn([p64.Dimension], dtype: ScalarType.Float64, generator: new Generator(2));
        using var v32 = v.to_type(ScalarType.Float32);
        foreach (var kind in new[] { "hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance" })
        {
            using var a = Make(kind, p64).Apply(v);
            using var b = Make(kind, p32).Apply(v32);
            Assert.Equal(ScalarType.Float32, b.dtype);
            using var b64 = b.to_type(ScalarType.Float64);
            Assert.True(a.sub(b64).norm().item<double>() <= Float32Tolerance * a.norm().item<double>(), kind);
        }
        var r64 = p64.LossAndGradient();
        var r32 = p32.LossAndGradient();
        Assert.Equal(r64.Loss, r32.Loss, 5);
        double t64 = new PerExampleGradients(p64).GradientCovarianceTrace();
        double t32 = new PerExampleGradients(p32).GradientCovarianceTrace();
        Assert.True(Math.Abs(t64 - t32) <= Float32Tolerance * t64);
    }

    [Fact]
    public void LossAndGradient_StreamedEqualsFullBatch()
    {
        var a = Problem("mlp-tanh", n: 10, batchSize: 3).LossAndGradient();
        var b = Problem("mlp-tanh", n: 10, batchSize: 10).LossAndGradient();
        Assert.Equal(b.Loss, a.Loss, 13);
        Assert.True(RelativeMaxError(a.Gradient, b.Gradient) <= StreamingTolerance);
    }

    [Fact]
    public void ThousandApplications_LeaveNoLiveTensors()
    {
        const int applications = 1000;
        var p = Problem("cnn-eval", n: 6, batchSize: 4);
        var operators = new[] { "hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance" }.Select(kind => Make(kind, p)).ToList();
        operators.Add(new BlockOperator(operators[0], 3, 10));
        operators.Add(new HessianOperator(p, CurvatureProductMethod.DoubleBackprop)); // "hessian" above is the R-operator
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: new Generator(1));
        using var vBlock = v.narrow(0, 0, 10).clone();
        foreach (var op in operators)
        {
            var input = op.Dimension == p.Dimension ? v : vBlock;
            using (op.Apply(input)) { } // warm-up: lazily created native state
            long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            for (int i = 0; i < applications; i++) op.Apply(input).Dispose();
            long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            Assert.True(before == after, $"{op.Name} ({(op as HessianOperator)?.Method}): {after - before} tensors leaked over {applications} products");
            Assert.Equal(applications + 1, op.Applications);
        }
    }

    [Fact]
    public void TrainMode_RestoresRunningStatisticsAndModelMode()
    {
        var p = Problem("cnn-train", n: 10, batchSize: 3);
        var bn = (TorchSharp.Modules.BatchNorm2d)((SequentialModel)p.Model).Layers[1];
        using var mean = bn.running_mean!.clone();
        p.Model.eval();
        using var v = ones(p.Dimension, dtype: ScalarType.Float64);
        using var hv1 = new HessianOperator(p).Apply(v);
        using var hv2 = new HessianOperator(p).Apply(v);
        Assert.True(bn.running_mean!.equal(mean).all().item<bool>());
        Assert.False(p.Model.training);
        Assert.True(hv1.equal(hv2).all().item<bool>());
    }

    [Fact]
    public void Apply_RejectsWrongLengthOrDtype()
    {
        var op = new HessianOperator(Problem("mlp-tanh"));
        using var shortV = zeros(op.Dimension - 1, dtype: ScalarType.Float64);
        using var singleV = zeros(op.Dimension, dtype: ScalarType.Float32);
        Assert.Throws<InputException>(() => op.Apply(shortV));
        Assert.Throws<InputException>(() => op.Apply(singleV));
    }

    [Fact]
    public void Problem_RejectsNonFiniteWeights()
    {
        var model = Mlp("tanh");
        using (no_grad()) model.parameters().First()[0, 0] = double.NaN;
        var (x, y) = TestData(false, 10);
        var e = Assert.Throws<InputException>(() => new CurvatureProblem(model, x, y));
        Assert.Contains("0.weight", e.Message);
    }

    [Fact]
    public void Problem_RejectsLabelsOutsideTheModelsClasses()
    {
        var (x, y) = TestData(false, 10);
        y[4] = Classes;
        var e = Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), x, y));
        Assert.Contains("out of range", e.Message);
        y[4] = -1;
        Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), x, y));
    }

    [Fact]
    public void Problem_RejectsCountMismatchShapeMismatchAndDtypeMismatch()
    {
        var (x, y) = TestData(false, 10);
        Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), x, y.narrow(0, 0, 9)));
        // 7 features for a 5-input MLP: the forward probe fails with a normal exception first.
        using var wide = randn(10, 7, dtype: ScalarType.Float64);
        var e = Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), wide, y));
        Assert.Contains("cannot take inputs", e.Message);
        using var single = x.to_type(ScalarType.Float32);
        Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), single, y));
        using var p = CurvatureProblem.FromData(Mlp("tanh"), single, y).Inputs;
        Assert.Equal(ScalarType.Float64, p.dtype);
        Assert.Throws<InputException>(() => new CurvatureProblem(Mlp("tanh"), x, y, new CurvatureOptions { BatchSize = 0 }));
    }
}
