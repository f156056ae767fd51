using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>A parameter's place in the flat parameter vector.</summary>
internal sealed record ParameterSlice(long Offset, long[] Shape)
{
    public long Length => Shape.Aggregate(1L, (x, y) => x * y);
    /// <summary>The parameter's part of a flat vector, viewed in the parameter's shape.</summary>
    public Tensor Of(Tensor flat) => flat.narrow(0, Offset, Length).view(Shape);
    /// <summary>Adds <paramref name="value"/> (any shape with the parameter's size) into its part of a flat vector.</summary>
    public void Add(Tensor flat, Tensor value) => flat.narrow(0, Offset, Length).add_(value.reshape(-1));
}

/// <summary>
/// The weight and bias of layer <c>i</c> of a <see cref="Models.SequentialModel"/> ("i.weight",
/// "i.bias") in the problem's flat vector: what the per-layer closed forms (per-example gradients,
/// the R-operator) write to.
/// </summary>
internal sealed record LayerParameters(ParameterSlice? Weight, ParameterSlice? Bias)
{
    public static readonly LayerParameters None = new(null, null);

    public bool HasParameters => Weight is not null;
    public long Count => (Weight?.Length ?? 0) + (Bias?.Length ?? 0);
    public int Names => (Weight is null ? 0 : 1) + (Bias is null ? 0 : 1);

    /// <summary>
    /// The layer's slices, or null when it owns other parameters (names other than weight and
    /// bias, parameters of submodules) or a bias without a weight: closed forms assume W (+ b).
    /// </summary>
    public static LayerParameters? Locate(CurvatureProblem problem, int index, nn.Module layer)
    {
        var own = layer.named_parameters(recurse: false).Select(p => p.name).ToList();
        if (layer.named_parameters().Count() != own.Count || own.Any(n => n is not ("weight" or "bias"))) return null;
        string prefix = index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
        ParameterSlice? weight = null, bias = null;
        foreach (var name in own)
        {
            var slot = problem.Layout.FirstOrDefault(l => l.Name == prefix + name);
            if (slot.Name is null) return null; // not the problem's parameter
            var slice = new ParameterSlice(slot.Offset, slot.Shape);
            if (name == "weight") weight = slice;
            else bias = slice;
        }
        if (weight is null && bias is not null) return null;
        return new LayerParameters(weight, bias);
    }

    /// <summary>True when these layers own every parameter of the problem and at least one exists.</summary>
    public static bool CoverAll(CurvatureProblem problem, IReadOnlyCollection<LayerParameters> layers) =>
        layers.Any(l => l.HasParameters)
        && layers.Sum(l => l.Count) == problem.Dimension
        && layers.Sum(l => l.Names) == problem.Layout.Count;
}

/// <summary>Which layers the per-layer closed forms (per-example gradients, the R-operator) handle.</summary>
internal static class ClosedFormLayers
{
    /// <summary>An ordinary 2-D convolution: one group, zero padding given as numbers, not transposed.</summary>
    public static bool IsPlainConv(Conv2d c) =>
        c.groups == 1 && c.padding_mode == PaddingModes.Zeros && c.padding_type is null && c.padding is not null && !c.transposed;

    /// <summary>BatchNorm that normalizes with fixed running statistics in this mode (a per-channel affine map).</summary>
    public static bool IsFixedAffine(BatchNorm bn, CurvatureMode mode) =>
        mode == CurvatureMode.Eval && bn.track_running_stats && bn.running_mean is not null && bn.running_var is not null;
}

/// <summary>
/// What a layer must produce in a backward pass of a given plan: whether its input tangent R{a}
/// can be nonzero (a parameterized layer lies below), and whether the gradient g and its
/// directional derivative R{g} are needed at its input (by some layer below).
/// </summary>
internal readonly record struct LayerNeeds(bool TangentInput, bool GIn, bool RgIn);

/// <summary>
/// What one layer's forward keeps for its derivatives (activations, masks, argmax indices,
/// normalized inputs, small autograd graphs), none of which depends on the direction v: a
/// product on the same data and weights can reuse it (<see cref="ForwardCache"/>).
/// </summary>
internal abstract class LayerState
{
    /// <summary>Every tensor the state owns (for the cache's byte count, detaching and disposal).</summary>
    public abstract IEnumerable<Tensor> Tensors { get; }
}

/// <summary>
/// From a layer's output (g, R{g}) to its input (g, R{g}), each null when not needed (or, for g,
/// zero); adds the layer's R{grad w} to the flat result. With g = null this is the plain
/// vector-Jacobian product: R{g} goes down by the input VJP and the summed parameter VJP of R{g}
/// is added to the result.
/// </summary>
internal delegate (Tensor? G, Tensor? Rg) LayerBackward(Tensor? g, Tensor rg, Tensor result);

/// <summary>
/// The derivatives of one layer kind, in one place, for every consumer (BackPACK's one
/// derivatives class per module is the model): the forward with what its derivatives need
/// (<see cref="Forward"/>), the tangent forward or Jacobian-vector product R{z} = J_a R{a} + J_w v
/// together with the backward that carries (g, R{g}) down (<see cref="Tangent"/>: input VJP,
/// summed parameter VJP and the second-order terms of Pearlmutter's R-operator), and the
/// per-example parameter gradients from a layer input and output gradient
/// (<see cref="PerExampleGradients"/>). <see cref="PearlmutterPlan"/> (Hessian and Gauss-Newton
/// products) and <see cref="Curvature.PerExampleGradients"/> are thin consumers of it; per-example
/// Jacobians (an empirical NTK) are <see cref="PerExampleGradients"/> of the rows of the output
/// Jacobian sent down by <see cref="Tangent"/>'s backward.
/// <para>Layers: Linear, Conv2d (groups 1, zero padding), BatchNorm with running statistics in
/// eval mode, ReLU, Tanh, exact GELU, Square (x²), MaxPool2d, and linear parameter-free layers (AvgPool2d,
/// Flatten, GlobalAvgPool, Identity, dropout in eval mode).</para>
/// </summary>
internal abstract class LayerDerivatives
{
    public LayerParameters Parameters { get; private set; } = LayerParameters.None;
    public ParameterSlice? Weight => Parameters.Weight;
    public ParameterSlice? Bias => Parameters.Bias;
    public bool HasParameters => Parameters.HasParameters;
    /// <summary>A nonlinearity with a nonzero second derivative (its R{g} needs g).</summary>
    public virtual bool IsCurved => false;

    /// <summary>
    /// The table: the derivatives of layer <paramref name="index"/> of the problem's model, or null
    /// when the layer (in the problem's mode) has none or owns parameters other than weight and bias.
    /// </summary>
    public static LayerDerivatives? For(CurvatureProblem problem, int index, nn.Module layer)
    {
        bool eval = problem.Mode == CurvatureMode.Eval;
        LayerDerivatives? derivatives = layer switch
        {
            Linear l => new LinearDerivatives(l),
            Conv2d c when ClosedFormLayers.IsPlainConv(c) => new Conv2dDerivatives(c),
            BatchNorm bn when ClosedFormLayers.IsFixedAffine(bn, problem.Mode) => new BatchNormDerivatives(bn),
            ReLU => new ReluDerivatives(),
            Tanh => new TanhDerivatives(),
            GELU g when g.approximate == GELU.Approximate.none => new GeluDerivatives(),
            Models.Square => new SquareDerivatives(),
            MaxPool2d m => new MaxPool2dDerivatives(m),
            AvgPool2d or Flatten or Models.GlobalAvgPool or Identity => new LinearMapDerivatives((nn.Module<Tensor, Tensor>)layer),
            Dropout or Dropout1d or Dropout2d or Dropout3d or AlphaDropout or FeatureAlphaDropout when eval => new LinearMapDerivatives((nn.Module<Tensor, Tensor>)layer),
            _ => null,
        };
        if (derivatives is null || LayerParameters.Locate(problem, index, layer) is not { } parameters) return null;
        derivatives.Parameters = parameters;
        return derivatives;
    }

    /// <summary>z = f(a) and what the derivatives need (independent of any direction v).</summary>
    public abstract (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs);

    /// <summary>
    /// R{z} = J_a R{a} + J_w v (null when zero; <paramref name="ra"/> null means R{a} = 0) and the
    /// backward of this linearization.
    /// </summary>
    public abstract (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs);

    /// <summary>
    /// Per-example parameter gradients [B, weight numel] and [B, bias numel] (null without bias),
    /// flattened row-major like the parameters, from the layer's input and the gradient of
    /// example i's loss at the layer's output (row i). Only for layers with parameters.
    /// </summary>
    public virtual (Tensor Weight, Tensor? Bias) PerExampleGradients(Tensor input, Tensor outputGradient) =>
        throw new InvalidOperationException($"{GetType().Name} has no parameters");

    /// <summary>||g_i||^2 of the layer's parameters for every example, [B].</summary>
    public virtual Tensor PerExampleSquaredNorms(Tensor input, Tensor outputGradient)
    {
        var (w, bias) = PerExampleGradients(input, outputGradient);
        var sq = w.square().sum(1);
        return bias is null ? sq : sq.add_(bias.square().sum(1));
    }

    /// <summary>A state that only holds the given tensors.</summary>
    protected sealed class Saved(params Tensor?[] tensors) : LayerState
    {
        public override IEnumerable<Tensor> Tensors => tensors.OfType<Tensor>();
        public Tensor this[int i] => tensors[i]!;
        public Tensor? Optional(int i) => tensors[i];
    }
}

/// <summary>z = a W^T + b over the last dimension.</summary>
internal sealed class LinearDerivatives(Linear layer) : LayerDerivatives
{
    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs) =>
        (nn.functional.linear(a, layer.weight!, layer.bias), new Saved(a));

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var a = ((Saved)state)[0];
        var w = layer.weight!;
        var vw = Weight!.Of(v);
        var rz = nn.functional.linear(a, vw, Bias?.Of(v));
        if (ra is not null) rz.add_(nn.functional.linear(ra, w));
        return (rz, (g, rg, result) =>
        {
            long outputs = w.shape[0], inputs = w.shape[1];
            var rg2 = rg.reshape(-1, outputs);
            var g2 = g?.reshape(-1, outputs);
            // R{grad W} = R{g}^T a + g^T R{a}; R{grad b} = sum of R{g}.
            var rgw = rg2.t().mm(a.reshape(-1, inputs));
            if (ra is not null && g2 is not null) rgw.add_(g2.t().mm(ra.reshape(-1, inputs)));
            Weight.Add(result, rgw);
            Bias?.Add(result, rg2.sum(0L)); // 0L: a literal 0 would bind to sum(ScalarType)
            var gIn = needs.GIn && g2 is not null ? g2.mm(w).view(a.shape) : null;
            Tensor? rgIn = null;
            if (needs.RgIn)
            {
                rgIn = rg2.mm(w);
                if (g2 is not null) rgIn.add_(g2.mm(vw));
                rgIn = rgIn.view(a.shape);
            }
            return (gIn, rgIn);
        });
    }

    /// <summary>grad W_i = sum over positions of g a^T, grad b_i = sum of g.</summary>
    public override (Tensor Weight, Tensor? Bias) PerExampleGradients(Tensor input, Tensor outputGradient)
    {
        long b = input.shape[0];
        bool hasBias = Bias is not null;
        if (input.dim() == 2)
        {
            var w = outputGradient.unsqueeze(2).mul(input.unsqueeze(1)).reshape(b, -1);
            return (w, hasBias ? outputGradient : null);
        }
        var a = input.reshape(b, -1, input.shape[^1]);
        var g = outputGradient.reshape(b, -1, outputGradient.shape[^1]);
        return (g.transpose(1, 2).bmm(a).reshape(b, -1), hasBias ? g.sum(1) : null);
    }

    /// <summary>||g a^T||^2 = ||g||^2 ||a||^2: no outer product needed.</summary>
    public override Tensor PerExampleSquaredNorms(Tensor input, Tensor outputGradient)
    {
        if (input.dim() != 2) return base.PerExampleSquaredNorms(input, outputGradient);
        var gg = outputGradient.square().sum(1);
        var sq = gg.mul(input.square().sum(1));
        return Bias is not null ? sq.add_(gg) : sq;
    }
}

/// <summary>
/// z = conv(a, W) + b. The three convolutions of the forward, conv(a, W), conv(R{a}, W) and
/// conv(a, V), are kept as small autograd graphs, so that every backward quantity comes from
/// libtorch's first-order convolution backward kernels: R{grad W} = wgrad(a, R{g}) +
/// wgrad(R{a}, g), g_in = conv^T(g, W) and R{g_in} = conv^T(R{g}, W) + conv^T(g, V).
/// (Explicit transposed convolutions were measured 5x slower than a forward one for stride 2,
/// and stacking the clean and tangent batches into one call cost more in copies than it saved.)
/// The graph of conv(a, W) is part of the forward state and is kept across products.
/// </summary>
internal sealed class Conv2dDerivatives(Conv2d layer) : LayerDerivatives
{
    private readonly long[] _stride = Pair(layer.stride), _padding = Pair(layer.padding!), _dilation = Pair(layer.dilation);

    private static long[] Pair(long[] x) => x.Length == 1 ? [x[0], x[0]] : x;

    private Tensor Convolve(Tensor input, Tensor kernel, Tensor? bias = null) =>
        nn.functional.conv2d(input, kernel, bias, _stride, _padding, _dilation);

    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs)
    {
        var input = a.detach().requires_grad_(needs.RgIn); // RgIn implies a tangent input below
        // The kept graph saves its kernel: a private copy, so that changing the model's weight in
        // place (which makes the cache drop this state) never trips autograd's version check.
        var kernel = layer.weight!.detach().clone().requires_grad_();
        Tensor y;
        using (enable_grad()) y = Convolve(input, kernel);
        // The convolution does not save its output for backward, so the bias can go in place.
        var z = y.detach();
        if (layer.bias is { } b) z.add_(b.view(1, -1, 1, 1));
        return (z, new Saved(input, y, kernel));
    }

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var saved = (Saved)state;
        Tensor input = saved[0], y = saved[1], kernel = saved[2];
        var w = layer.weight!;
        var vw = Weight!.Of(v);
        // NeedGIn and NeedRgIn imply ra (a parameterized layer lies below).
        var tangent = ra?.detach().requires_grad_(needs.GIn);
        Tensor ry, yv;
        using (enable_grad())
        {
            ry = tangent is null ? null! : Convolve(tangent, w);
            yv = Convolve(input, vw, Bias?.Of(v));
        }
        var rz = yv.detach();
        if (ra is not null) rz.add_(ry.detach());
        return (rz, (g, rg, result) =>
        {
            // The graph of y belongs to the forward state: keep it for the next product.
            var fromRg = Autograd.Grad(y, rg, needs.RgIn ? [kernel, input] : [kernel], retainGraph: true); // wgrad(a, R{g}), conv^T(R{g}, W)
            Weight.Add(result, fromRg[0]);
            Tensor? gIn = null;
            if (tangent is not null && g is not null)
            {
                var fromG = Autograd.Grad(ry, g, needs.GIn ? [w, tangent] : [w]); // wgrad(R{a}, g), conv^T(g, W)
                Weight.Add(result, fromG[0]);
                if (needs.GIn) gIn = fromG[1];
            }
            Bias?.Add(result, rg.sum([0L, 2L, 3L]));
            var rgIn = needs.RgIn ? fromRg[1] : null;
            if (rgIn is not null && g is not null) rgIn.add_(Autograd.Grad(yv, g, [input])[0]); // + conv^T(g, V)
            return (gIn, rgIn);
        });
    }

    /// <summary>grad W_i = g_i [Cout, L] times unfold(x_i)^T [L, Cin k k]; grad b_i = g_i summed over positions.</summary>
    public override (Tensor Weight, Tensor? Bias) PerExampleGradients(Tensor input, Tensor outputGradient)
    {
        long b = input.shape[0];
        var k = layer.kernel_size;
        var patches = nn.functional.unfold(input, (k[0], k[1]),
            dilation: (_dilation[0], _dilation[1]), padding: (_padding[0], _padding[1]), stride: (_stride[0], _stride[1]));
        var g = outputGradient.reshape(b, outputGradient.shape[1], -1);
        var w = g.bmm(patches.transpose(1, 2)).reshape(b, -1);
        return (w, Bias is not null ? g.sum(2) : null);
    }
}

/// <summary>Eval BatchNorm: z = x_hat gamma + beta, x_hat = (a - mean) s, s = 1/sqrt(var + eps), statistics fixed.</summary>
internal sealed class BatchNormDerivatives(BatchNorm bn) : LayerDerivatives
{
    private static long[] ChannelShape(Tensor a)
    {
        var shape = Enumerable.Repeat(1L, (int)a.dim()).ToArray();
        shape[1] = a.shape[1];
        return shape;
    }

    private static long[] Reduced(Tensor a) => Enumerable.Range(0, (int)a.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();

    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs)
    {
        var shape = ChannelShape(a);
        var s = bn.running_var!.add(bn.eps).rsqrt_().view(shape);
        var xHat = a.sub(bn.running_mean!.view(shape)).mul_(s);
        var gamma = bn.weight?.view(shape);
        var scale = gamma is null ? s : s.mul(gamma); // d z / d a
        var z = gamma is null ? xHat : xHat.mul(gamma).add_(bn.bias!.view(shape));
        return (z, new Saved(s, xHat, scale));
    }

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var saved = (Saved)state;
        Tensor s = saved[0], xHat = saved[1], scale = saved[2];
        var shape = ChannelShape(xHat);
        var reduce = Reduced(xHat);
        var gamma = bn.weight?.view(shape);
        var rxHat = ra?.mul(s);
        Tensor? rz = rxHat is null ? null : gamma is null ? rxHat : rxHat.mul(gamma);
        Tensor? vGamma = null;
        if (HasParameters)
        {
            vGamma = Weight!.Of(v).view(shape);
            var fromV = xHat.mul(vGamma);
            if (Bias is not null) fromV.add_(Bias.Of(v).view(shape));
            rz = rz is null ? fromV : rz.add_(fromV);
        }
        return (rz, (g, rg, result) =>
        {
            if (HasParameters)
            {
                var rgGamma = rg.mul(xHat);
                if (rxHat is not null && g is not null) rgGamma.add_(g.mul(rxHat));
                Weight!.Add(result, rgGamma.sum(reduce));
                Bias?.Add(result, rg.sum(reduce));
            }
            var gIn = needs.GIn ? g?.mul(scale) : null;
            Tensor? rgIn = null;
            if (needs.RgIn)
            {
                rgIn = rg.mul(scale);
                if (vGamma is not null && g is not null) rgIn.add_(g.mul(vGamma).mul_(s));
            }
            return (gIn, rgIn);
        });
    }

    /// <summary>grad w_i = sum over positions of g x_hat, grad b_i = sum of g.</summary>
    public override (Tensor Weight, Tensor? Bias) PerExampleGradients(Tensor input, Tensor outputGradient)
    {
        long b = input.shape[0], c = input.shape[1];
        var x = input.reshape(b, c, -1);
        var g = outputGradient.reshape(b, c, -1);
        var mean = bn.running_mean!.detach().view(1, c, 1);
        var invStd = bn.running_var!.detach().add(bn.eps).rsqrt().view(1, c, 1);
        var xHat = x.sub(mean).mul(invStd);
        return (g.mul(xHat).sum(2), Bias is not null ? g.sum(2) : null);
    }
}

/// <summary>Element-wise z = f(a) with f' (and f'' for curved f) at a.</summary>
internal abstract class ElementwiseDerivatives : LayerDerivatives
{
    /// <summary>f(a), f'(a) and f''(a) (null when zero).</summary>
    protected abstract (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a);

    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs)
    {
        var (z, d1, d2) = Derivatives(a);
        return (z, new Saved(d1, d2));
    }

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var saved = (Saved)state;
        Tensor d1 = saved[0];
        Tensor? d2 = saved.Optional(1);
        var rz = ra?.mul(d1);
        return (rz, (g, rg, _) =>
        {
            var gIn = needs.GIn ? g?.mul(d1) : null;
            Tensor? rgIn = null;
            if (needs.RgIn)
            {
                rgIn = rg.mul(d1);
                // R{f'(a)} = f''(a) R{a}.
                if (d2 is not null && ra is not null && g is not null) rgIn.add_(g.mul(d2).mul_(ra));
            }
            return (gIn, rgIn);
        });
    }
}

internal sealed class ReluDerivatives : ElementwiseDerivatives
{
    protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a) =>
        (nn.functional.relu(a), a.gt(0), null); // a bool mask multiplies as 0/1 without a float copy
}

internal sealed class TanhDerivatives : ElementwiseDerivatives
{
    public override bool IsCurved => true;

    protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a)
    {
        var t = a.tanh();
        var d1 = t.square().neg_().add_(1.0);
        return (t, d1, d1.mul(t).mul_(-2.0)); // (1 - t^2)' = -2 t (1 - t^2)
    }
}

/// <summary>x²: f' = 2a, f'' = 2.</summary>
internal sealed class SquareDerivatives : ElementwiseDerivatives
{
    public override bool IsCurved => true;

    protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a) => (a.square(), a.mul(2.0), ones_like(a).mul_(2.0));
}

/// <summary>Exact GELU a Phi(a): f' = Phi + a phi, f'' = phi (2 - a^2).</summary>
internal sealed class GeluDerivatives : ElementwiseDerivatives
{
    public override bool IsCurved => true;

    protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a)
    {
        var phi = a.square().mul_(-0.5).exp_().mul_(1.0 / Math.Sqrt(2 * Math.PI));
        var cdf = a.mul(1.0 / Math.Sqrt(2)).erf_().add_(1.0).mul_(0.5);
        var d1 = a.mul(phi).add_(cdf);
        var d2 = a.square().neg_().add_(2.0).mul_(phi);
        return (nn.functional.gelu(a), d1, d2);
    }
}

/// <summary>Max pooling: R{z} gathers R{a} at the argmax; gradients scatter-add back to it.</summary>
internal sealed class MaxPool2dDerivatives(MaxPool2d layer) : LayerDerivatives
{
    private sealed class State(Tensor flatIndices, long[] inputShape, long[] outputShape) : LayerState
    {
        public Tensor FlatIndices => flatIndices;
        public long[] InputShape => inputShape;
        public long[] OutputShape => outputShape;
        public override IEnumerable<Tensor> Tensors => [flatIndices];
    }

    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs)
    {
        var (z, indices) = nn.functional.max_pool2d_with_indices(a, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode);
        return (z, new State(indices.flatten(2), a.shape, z.shape));
    }

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var s = (State)state;
        var rz = ra?.flatten(2).gather(2, s.FlatIndices).view(s.OutputShape);
        Tensor Scatter(Tensor t) => zeros(s.InputShape, dtype: t.dtype).flatten(2).scatter_add_(2, s.FlatIndices, t.flatten(2)).view(s.InputShape);
        return (rz, (g, rg, _) => (needs.GIn && g is not null ? Scatter(g) : null, needs.RgIn ? Scatter(rg) : null));
    }
}

/// <summary>
/// A linear parameter-free layer L: R{z} = L(R{a}); gradients go through L^T by autograd, on a
/// graph of L at a zero input built once per forward (L is linear, so its VJP does not depend on
/// where it is taken).
/// </summary>
internal sealed class LinearMapDerivatives(nn.Module<Tensor, Tensor> layer) : LayerDerivatives
{
    public override (Tensor Z, LayerState State) Forward(Tensor a, LayerNeeds needs)
    {
        var z = layer.call(a);
        if (!needs.GIn && !needs.RgIn) return (z, new Saved(null, null));
        var x = zeros_like(a).requires_grad_();
        Tensor y;
        using (enable_grad()) y = layer.call(x);
        return (z, new Saved(x, y));
    }

    public override (Tensor? Rz, LayerBackward Back) Tangent(LayerState state, Tensor? ra, Tensor v, LayerNeeds needs)
    {
        var saved = (Saved)state;
        var rz = ra is null ? null : layer.call(ra);
        return (rz, (g, rg, _) =>
        {
            bool passG = needs.GIn && g is not null;
            if (!passG && !needs.RgIn) return (null, null);
            Tensor x = saved[0], y = saved[1];
            var gIn = passG ? Autograd.Grad(y, g!, [x], retainGraph: true)[0] : null;
            var rgIn = needs.RgIn ? Autograd.Grad(y, rg, [x], retainGraph: true)[0] : null;
            return (gIn, rgIn);
        });
    }
}
