using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// Every entry of the per-layer derivative table, on every layer of every catalogue model it
/// covers, against libtorch's autograd on the same layer at the model's real activations: the
/// forward, the tangent forward (J_a R{a} + J_w v, by the double-backward trick), the input and
/// summed parameter VJPs, and the per-example parameter gradients (one backward per example).
/// </summary>
public class LayerDerivativeTests
{
    private static double Error(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        double scale = Math.Max(expected.abs().max().item<double>(), 1e-300);
        return actual.sub(expected).abs().max().item<double>() / scale;
    }

    [Theory]
    [MemberData(nameof(CurvatureCases.ROperatorCases), MemberType = typeof(CurvatureCases))]
    public void EveryTableEntry_MatchesAutograd(string name)
    {
        using var scope = NewDisposeScope();
        var p = CurvatureCases.Problem(name);
        var model = (SequentialModel)p.Model;
        model.eval();
        using var gen = new Generator(21);
        var v = randn([p.Dimension], dtype: p.DType, generator: gen);
        var a = model.FlattenInput ? p.Inputs.reshape(p.Count, -1) : p.Inputs;
        var needs = new LayerNeeds(TangentInput: true, GIn: true, RgIn: true);
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            var d = LayerDerivatives.For(p, i, layer);
            Assert.NotNull(d);
            string where = $"{name} layer {i} ({layer.GetType().Name})";
            var input = a.detach().requires_grad_();
            var parameters = new List<Tensor> { input };
            var tangents = new List<Tensor> { randn(a.shape, dtype: p.DType, generator: gen) };
            foreach (var (pname, parameter) in layer.named_parameters())
            {
                parameters.Add(parameter);
                tangents.Add((pname == "weight" ? d!.Weight! : d!.Bias!).Of(v));
            }
            Tensor z;
            using (enable_grad()) z = layer.call(input);

            var (actualZ, state) = d!.Forward(a.detach(), needs);
            Assert.True(Error(actualZ, z.detach()) <= Tolerances.Layer, $"{where}: forward");

            // J (R{a}, v) by the double-backward trick: u -> J^T u with a graph, then d/du of (J^T u) . (R{a}, v).
            var u = zeros_like(z).requires_grad_();
            var jtu = autograd.grad([z], parameters, [u], retain_graph: true, create_graph: true, allow_unused: true);
            var dot = jtu.Select((t, k) => t.IsInvalid ? null : t.mul(tangents[k]).sum()).OfType<Tensor>().Aggregate((x, y) => x.add(y));
            var expectedRz = autograd.grad([dot], [u])[0];
            var (rz, back) = d.Tangent(state, tangents[0], v, needs);
            Assert.True(Error(rz!, expectedRz) <= Tolerances.Layer, $"{where}: tangent forward");

            // g = 0: the backward is the plain VJP of R{g}, into the input and the summed parameter gradients.
            var rg = randn(z.shape, dtype: p.DType, generator: gen);
            var result = zeros(p.Dimension, dtype: p.DType);
            var (gIn, rgIn) = back(null, rg, result);
            Assert.Null(gIn);
            var vjp = autograd.grad([z], parameters, [rg], retain_graph: true, allow_unused: true);
            Assert.True(Error(rgIn!, vjp[0]) <= Tolerances.Layer, $"{where}: input VJP");
            int next = 1;
            foreach (var (pname, _) in layer.named_parameters())
            {
                var slice = pname == "weight" ? d.Weight! : d.Bias!;
                Assert.True(Error(slice.Of(result), vjp[next++]) <= Tolerances.Layer, $"{where}: {pname} VJP");
            }

            if (d.HasParameters)
            {
                var (w, b) = d.PerExampleGradients(a.detach(), rg);
                var squared = d.PerExampleSquaredNorms(a.detach(), rg);
                for (long e = 0; e < p.Count; e++)
                {
                    Tensor ze;
                    using (enable_grad()) ze = layer.call(a.detach().narrow(0, e, 1));
                    var ge = autograd.grad([ze], parameters.Skip(1).ToList(), [rg.narrow(0, e, 1)]);
                    Assert.True(Error(w[e], ge[0].reshape(-1)) <= Tolerances.Layer, $"{where}: per-example weight gradient {e}");
                    if (b is not null) Assert.True(Error(b[e], ge[1].reshape(-1)) <= Tolerances.Layer, $"{where}: per-example bias gradient {e}");
                    double sq = ge.Sum(t => t.square().sum().item<double>());
                    Assert.True(Math.Abs(squared[e].item<double>() - sq) <= Tolerances.Layer * sq, $"{where}: per-example squared norm {e}");
                }
            }
            a = z.detach();
        }
    }
}
