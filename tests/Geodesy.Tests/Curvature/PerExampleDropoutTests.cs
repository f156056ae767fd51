using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>Runs alone: train-mode dropout reseeds the process-wide generator per batch.</summary>
[CollectionDefinition(nameof(GlobalRandomState), DisableParallelization = true)]
public sealed class GlobalRandomState;

/// <summary>Train mode with dropout: masks are fixed per batch, so every quantity is a fixed function.</summary>
[Collection(nameof(GlobalRandomState))]
public class PerExampleDropoutTests
{
    private const double Tolerance = 1e-12;

    private static CurvatureProblem DropoutProblem()
    {
        var mlp = Mlp("tanh");
        var model = new SequentialModel("mlp-dropout", [.. mlp.Layers.Take(2), nn.Dropout(0.5), mlp.Layers[2]], flattenInput: true);
        var (x, y) = TestData(false, 10);
        return new CurvatureProblem(model, x, y, new CurvatureOptions { Mode = CurvatureMode.Train, BatchSize = 4, DropoutSeed = 17 });
    }

    [Fact]
    public void DropoutMasks_AreFixed_AndShared_ByOperatorsAndPerExampleGradients()
    {
        var p = DropoutProblem();
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: new Generator(4));
        var h = new HessianOperator(p);
        using var a = h.Apply(v);
        using var b = h.Apply(v);
        Assert.True(a.equal(b).all().item<bool>());

        var closed = new PerExampleGradients(p);
        Assert.True(closed.IsClosedForm);
        using var g = closed.Materialize();
        using var loop = new PerExampleGradients(p, forceLoop: true).Materialize();
        Assert.True(g.sub(loop).abs().max().item<double>() <= Tolerance * loop.abs().max().item<double>());

        // The mean of the per-example gradients is the operators' gradient (same masks).
        var r = p.LossAndGradient();
        using var mean = g.mean([0]);
        Assert.True(RelativeMaxError(mean, r.Gradient) <= Tolerance);
        using var ef = DenseOf(new EmpiricalFisherOperator(p));
        using var expected = SecondMoment(g);
        Assert.True(RelativeMaxError(ef, expected) <= 1e-10);
    }
}
