using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class RelativeFlatnessTests
{
    private const double Tight = 1e-10;

    /// <summary>Dense Hessian of the mean CE w.r.t. the last layer's weight by double backprop, one row at a time.</summary>
    private static Tensor AutogradLastLayerHessian(SequentialModel model, Tensor x, Tensor y)
    {
        var w = ((Linear)model.Layers[^1]).weight!;
        var loss = nn.functional.cross_entropy(model.call(x), y);
        var g = torch.autograd.grad([loss], [w], retain_graph: true, create_graph: true)[0].reshape(-1);
        var rows = new List<Tensor>();
        for (long k = 0; k < g.shape[0]; k++)
            rows.Add(torch.autograd.grad([g[k]], [w], retain_graph: true)[0].reshape(-1).detach());
        return torch.stack(rows);
    }

    private static double TraceOfLastLayerHessian(SequentialModel model, Tensor x, Tensor y) =>
        AutogradLastLayerHessian(model, x, y).trace().item<double>();

    [Fact]
    public void ClosedFormHessianAndKappaMatchDoubleBackprop()
    {
        var model = Mlp(5, 4, 3);
        using var data = Clusters(4, 5, 3, 1.0, 8);
        var x = data.Inputs.to_type(ScalarType.Float64);
        var dense = AutogradLastLayerHessian(model, x, data.Labels);

        var phi = Penultimate.Features(model, data.Inputs, 100);
        var probs = nn.functional.softmax(model.call(x), 1).detach();
        var closed = RelativeFlatness.LastLayerHessian(phi, probs);
        Assert.True(torch.allclose(dense, closed, rtol: 0, atol: 1e-12));

        var w = ((Linear)model.Layers[^1]).weight!.detach();
        double fromDense = RelativeFlatness.KappaFromHessian(dense, w);
        Assert.Equal(fromDense, RelativeFlatness.Kappa(phi, probs, w), Tight);

        using var ctx = Context(model, data);
        Assert.Equal(fromDense, new RelativeFlatnessMeasure().Compute(ctx).Value, Tight);
    }

    [Fact]
    public void KappaIsInvariantToRescalingLayersWhileTheHessianTraceIsNot()
    {
        var model = Mlp(5, 4, 3);
        using var data = Clusters(4, 5, 3, 1.0, 9);
        var x = data.Inputs.to_type(ScalarType.Float64);
        double kappaBefore, traceBefore;
        using (var ctx = Context(model, data)) kappaBefore = new RelativeFlatnessMeasure().Compute(ctx).Value;
        traceBefore = TraceOfLastLayerHessian(model, x, data.Labels);
        var outputsBefore = model.call(x).detach();

        const double a = 3.0;   // ReLU(a z) = a ReLU(z): layer 0 times a, layer 2 weight over a
        using (torch.no_grad())
        {
            ((Linear)model.Layers[0]).weight!.mul_(a);
            ((Linear)model.Layers[0]).bias!.mul_(a);
            ((Linear)model.Layers[2]).weight!.div_(a);
        }
        Assert.True(torch.allclose(outputsBefore, model.call(x).detach(), rtol: 0, atol: 1e-12));
        double kappaAfter;
        using (var ctx = Context(model, data)) kappaAfter = new RelativeFlatnessMeasure().Compute(ctx).Value;
        double traceAfter = TraceOfLastLayerHessian(model, x, data.Labels);

        Assert.Equal(kappaBefore, kappaAfter, 1e-10 * kappaBefore);
        Assert.Equal(a * a * traceBefore, traceAfter, 1e-9 * traceAfter);
    }
}
