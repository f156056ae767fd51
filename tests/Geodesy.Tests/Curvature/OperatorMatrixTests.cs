using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>Every operator against its dense brute-force matrix (float64, tiny problems).</summary>
public class OperatorMatrixTests
{
    private const double DenseTolerance = Tolerances.Dense;
    private const double FiniteDifferenceTolerance = Tolerances.FiniteDifference;
    private const double FiniteDifferenceStep = Tolerances.FiniteDifferenceStep;

    [Theory]
    [MemberData(nameof(AllCases), MemberType = typeof(OperatorTestSupport))]
    public void Hessian_MatchesDoubleLoop(string name)
    {
        var p = Problem(name);
        var op = new HessianOperator(p);
        using var actual = DenseOf(op);
        using var expected = ReferenceHessian(p);
        Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, $"{name}: {RelativeMaxError(actual, expected):E2}");
        Assert.Equal(p.Dimension, op.Applications);
    }

    [Theory]
    [MemberData(nameof(AllCases), MemberType = typeof(OperatorTestSupport))]
    public void Ggn_MatchesExplicitJacobian(string name)
    {
        var p = Problem(name);
        var op = new GgnOperator(p);
        using var actual = DenseOf(op);
        using var expected = ReferenceGgn(p);
        Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, $"{name}: {RelativeMaxError(actual, expected):E2}");
        Assert.Equal(p.Dimension, op.Applications);
    }

    [Theory]
    [MemberData(nameof(AllCases), MemberType = typeof(OperatorTestSupport))]
    public void EmpiricalFisher_MatchesPerExampleGradientLoop(string name)
    {
        var p = Problem(name);
        using var actual = DenseOf(new EmpiricalFisherOperator(p));
        using var g = ReferencePerExampleGradients(p);
        using var expected = SecondMoment(g);
        Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, $"{name}: {RelativeMaxError(actual, expected):E2}");
    }

    [Theory]
    [MemberData(nameof(AllCases), MemberType = typeof(OperatorTestSupport))]
    public void GradientCovariance_MatchesCentredPerExampleGradients(string name)
    {
        var p = Problem(name);
        using var actual = DenseOf(new GradientCovarianceOperator(p));
        using var g = ReferencePerExampleGradients(p);
        using var centred = g.sub(g.mean([0], keepdim: true));
        using var expected = SecondMoment(centred);
        Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, $"{name}: {RelativeMaxError(actual, expected):E2}");
    }

    [Theory]
    [MemberData(nameof(AllCases), MemberType = typeof(OperatorTestSupport))]
    public void MonteCarloFisher_MatchesSampledLabelGradients(string name)
    {
        const int samples = 3;
        var p = Problem(name);
        var op = new MonteCarloFisherOperator(p, samples, seed: 11);
        using var actual = DenseOf(op);
        using var labels = op.SampledLabels;
        Assert.Equal(new long[] { p.Count, samples }, labels.shape);
        using var expected = zeros(p.Dimension, p.Dimension, dtype: ScalarType.Float64);
        for (int s = 0; s < samples; s++)
        {
            using var column = labels.select(1, s).contiguous();
            using var g = ReferencePerExampleGradients(p, column);
            using var m = SecondMoment(g);
            expected.add_(m.div(samples));
        }
        Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, $"{name}: {RelativeMaxError(actual, expected):E2}");
    }

    [Fact]
    public void MonteCarloFisher_SameSeedSameMatrix_OtherSeedOtherLabels()
    {
        var p = Problem("mlp-tanh", n: 20);
        using var a = new MonteCarloFisherOperator(p, 4, seed: 5).SampledLabels;
        using var b = new MonteCarloFisherOperator(p, 4, seed: 5).SampledLabels;
        using var c = new MonteCarloFisherOperator(p, 4, seed: 6).SampledLabels;
        Assert.True(a.equal(b).all().item<bool>());
        Assert.False(a.equal(c).all().item<bool>());
    }

    /// <summary>For softmax cross-entropy the GGN is the exact Fisher sum_c p_c g_c g_c^T.</summary>
    [Fact]
    public void Ggn_EqualsExactFisherOverAllClasses()
    {
        var p = Problem("mlp-relu");
        using var ggn = DenseOf(new GgnOperator(p));
        using var probs = ReferenceProbabilities(p);
        using var fisher = zeros(p.Dimension, p.Dimension, dtype: ScalarType.Float64);
        for (long c = 0; c < Classes; c++)
        {
            using var labels = full(p.Count, c, dtype: ScalarType.Int64);
            using var g = ReferencePerExampleGradients(p, labels);
            using var weighted = g.mul(probs.select(1, c).sqrt().unsqueeze(1));
            using var m = SecondMoment(weighted);
            fisher.add_(m);
        }
        Assert.True(RelativeMaxError(ggn, fisher) <= DenseTolerance, $"{RelativeMaxError(ggn, fisher):E2}");
    }

    [Fact]
    public void Hessian_MatchesCentralDifferencesOfGradients()
    {
        var p = Problem("mlp-tanh");
        var op = new HessianOperator(p);
        using var w = ParameterVector.Flatten(p.Model);
        var gen = new Generator(7);
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: gen);
        using var hv = op.Apply(v);

        Tensor GradientAt(Tensor weights)
        {
            ParameterVector.Assign(p.Model, weights);
            return p.LossAndGradient().Gradient;
        }
        using var plus = GradientAt(w.add(v, alpha: FiniteDifferenceStep));
        using var minus = GradientAt(w.add(v, alpha: -FiniteDifferenceStep));
        ParameterVector.Assign(p.Model, w);
        using var fd = plus.sub(minus).div(2 * FiniteDifferenceStep);
        double error = hv.sub(fd).norm().item<double>() / hv.norm().item<double>();
        Assert.True(error <= FiniteDifferenceTolerance, $"{error:E2}");
    }

    [Fact]
    public void WeightDecay_AddsShiftToHessianAndGgnAndLoss()
    {
        const double wd = 0.3;
        var plain = Problem("mlp-tanh");
        var decayed = Problem("mlp-tanh", weightDecay: wd);
        using var h0 = DenseOf(new HessianOperator(plain));
        using var h1 = DenseOf(new HessianOperator(decayed));
        using var g0 = DenseOf(new GgnOperator(plain));
        using var g1 = DenseOf(new GgnOperator(decayed));
        using var shift = eye(plain.Dimension, dtype: ScalarType.Float64).mul(wd);
        Assert.True(RelativeMaxError(h1, h0.add(shift)) <= DenseTolerance);
        Assert.True(RelativeMaxError(g1, g0.add(shift)) <= DenseTolerance);
        using var f0 = DenseOf(new EmpiricalFisherOperator(plain));
        using var f1 = DenseOf(new EmpiricalFisherOperator(decayed));
        Assert.True(RelativeMaxError(f1, f0) <= DenseTolerance);

        var r0 = plain.LossAndGradient();
        var r1 = decayed.LossAndGradient();
        using var w = ParameterVector.Flatten(decayed.Model);
        double l2 = w.dot(w).item<double>();
        Assert.Equal(r0.Loss + 0.5 * wd * l2, r1.Loss, 12);
        using var expected = r0.Gradient.add(w, alpha: wd);
        Assert.True(RelativeMaxError(r1.Gradient, expected) <= DenseTolerance);
        using var shifted = DenseOf(new HessianOperator(plain).WithShift(wd));
        Assert.True(RelativeMaxError(shifted, h1) <= DenseTolerance);
    }

    [Fact]
    public void LossAndGradient_MatchesFullBatchAutograd()
    {
        var p = Problem("cnn-eval", n: 10, batchSize: 3);
        var r = p.LossAndGradient();
        p.Model.eval();
        using var logits = p.Model.call(p.Inputs);
        using var loss = nn.functional.cross_entropy(logits, p.Labels);
        using var expected = ParameterVector.Concat(autograd.grad([loss], p.Model.parameters().ToArray()));
        Assert.Equal(loss.item<double>(), r.Loss, 12);
        Assert.True(RelativeMaxError(r.Gradient, expected) <= 1e-12);
        double accuracy = logits.argmax(1).eq(p.Labels).to_type(ScalarType.Float64).mean().item<double>();
        Assert.Equal(accuracy, r.Accuracy, 12);
    }

    [Fact]
    public void Block_IsTheSubmatrixOfTheFullOperator()
    {
        var p = Problem("cnn-eval");
        var h = new HessianOperator(p);
        using var full = DenseOf(h);
        var layers = BlockOperator.Layers(p.Model);
        Assert.Equal(new[] { "0", "1", "5" }, layers.Select(l => l.Layer));
        Assert.Equal(p.Dimension, layers.Sum(l => l.Length));
        foreach (var block in BlockOperator.PerLayer(h, p.Model))
        {
            var layer = layers.Single(l => l.Layer == block.Block);
            using var actual = DenseOf(block);
            using var expected = full.narrow(0, layer.Offset, layer.Length).narrow(1, layer.Offset, layer.Length);
            Assert.True(RelativeMaxError(actual, expected) <= DenseTolerance, block.Block);
            Assert.Equal(layer.Length, block.Applications);
        }
        long[] indices = [40, 3, 17, 0];
        using var sub = DenseOf(new BlockOperator(h, indices));
        using var idx = tensor(indices);
        using var expectedSub = full.index_select(0, idx).index_select(1, idx);
        Assert.True(RelativeMaxError(sub, expectedSub) <= DenseTolerance);
    }
}
