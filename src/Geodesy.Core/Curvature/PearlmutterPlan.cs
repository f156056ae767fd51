using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Exact Hessian-vector products by Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact
/// multiplication by the Hessian"), for a <see cref="SequentialModel"/> built from the layers
/// below. One forward pass carries every activation a and its directional derivative
/// R{a} = d/dt a(w + t v) at t = 0; one backward pass carries every activation gradient g and
/// R{g}; each layer turns them into R{grad w} = (H v) restricted to its parameters by closed
/// forms. The same passes give Gauss-Newton products J^T M J v: the forward tangent of the
/// logits is J v, and the backward pass with g = 0 and R{g} = M J v at the logits is a plain
/// backprop of M J v, i.e. J^T M J v (every g term below vanishes; a null g stands for zero).
/// <para>Why not double backprop: differentiating libtorch's convolution backward on the CPU
/// runs a convolution with the batch as channels and the whole feature map as kernel, several
/// times slower than a forward convolution. Here every convolution is a forward or a first-order
/// backward kernel. Derivatives the double-backprop graph would compute and throw away (gradients
/// of the first layer's input, g below the second parameterized layer when only R{g} is needed)
/// are skipped by a need analysis done once.</para>
/// <para>Layers: Linear, Conv2d (groups 1, zero padding), BatchNorm with running statistics in
/// eval mode, ReLU, Tanh, exact GELU, MaxPool2d, and linear parameter-free layers (AvgPool2d,
/// Flatten, GlobalAvgPool, Identity, dropout in eval mode). Anything else (train-mode BatchNorm or
/// dropout, ResNets, imported models) gets no plan and the caller falls back to double backprop.</para>
/// </summary>
internal sealed class PearlmutterPlan
{
    /// <summary>The plan an operator should use for <paramref name="method"/>: null means double backprop.</summary>
    public static PearlmutterPlan? For(CurvatureProblem problem, CurvatureProductMethod method, string matrix)
    {
        if (method == CurvatureProductMethod.DoubleBackprop) return null;
        var plan = TryCreate(problem);
        if (method == CurvatureProductMethod.ROperator && plan is null)
            throw new InputException($"{matrix}: the R-operator supports sequential models of Linear, Conv2d, eval BatchNorm, ReLU/Tanh/GELU, pooling and flatten layers in eval mode; use double backprop");
        return plan;
    }

    /// <summary>"r-operator" or "double-backprop", as reported in JSON.</summary>
    public static string MethodName(PearlmutterPlan? plan) => plan is null ? "double-backprop" : "r-operator";

    private readonly SequentialModel _model;
    private readonly Step[] _steps;
    /// <summary>The first parameterized step: below it nothing has a tangent or needs a gradient.</summary>
    private readonly int _first;

    private PearlmutterPlan(SequentialModel model, Step[] steps)
    {
        _model = model;
        _steps = steps;
        _first = Array.FindIndex(steps, s => s.HasParameters);
        PlanNeeds(steps, _first);
    }

    /// <summary>The plan for the problem's model, or null when some layer (or the mode) is not supported.</summary>
    public static PearlmutterPlan? TryCreate(CurvatureProblem problem)
    {
        if (problem.Model is not SequentialModel model) return null;
        bool eval = problem.Mode == CurvatureMode.Eval;
        var steps = new Step[model.Layers.Count];
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            Step? step = layer switch
            {
                Linear l => new LinearStep(l),
                Conv2d c when ClosedFormLayers.IsPlainConv(c) => new Conv2dStep(c),
                BatchNorm bn when ClosedFormLayers.IsFixedAffine(bn, problem.Mode) => new BatchNormStep(bn),
                ReLU => new ReluStep(),
                Tanh => new TanhStep(),
                GELU g when g.approximate == GELU.Approximate.none => new GeluStep(),
                MaxPool2d m => new MaxPool2dStep(m),
                AvgPool2d or Flatten or GlobalAvgPool or Identity => new LinearMapStep(layer),
                Dropout or Dropout1d or Dropout2d or Dropout3d or AlphaDropout or FeatureAlphaDropout when eval => new LinearMapStep(layer),
                _ => null,
            };
            if (step is null || LayerParameters.Locate(problem, i, layer) is not { } parameters) return null;
            step.Weight = parameters.Weight;
            step.Bias = parameters.Bias;
            steps[i] = step;
        }
        if (!LayerParameters.CoverAll(problem, steps.Select(s => new LayerParameters(s.Weight, s.Bias)).ToList())) return null;
        PoolBeforeRelu(steps);
        return new PearlmutterPlan(model, steps);
    }

    /// <summary>
    /// ReLU then max pooling equals max pooling then ReLU, with the same argmax (ReLU is monotone
    /// and both take the first maximum; a window with max <= 0 gives zero derivatives either way),
    /// so the pair runs pooling first and the ReLU on a quarter of the elements.
    /// </summary>
    private static void PoolBeforeRelu(Step[] steps)
    {
        for (int i = 0; i + 1 < steps.Length; i++)
        {
            if (steps[i] is ReluStep && steps[i + 1] is MaxPool2dStep)
            {
                (steps[i], steps[i + 1]) = (steps[i + 1], steps[i]);
                i++;
            }
        }
    }

    /// <summary>
    /// Which backward quantities each layer must produce. R{a} is zero below the first
    /// parameterized layer; R{g} at a layer's input is needed only if a parameterized layer lies
    /// below; g only if some layer below uses it (R{grad} of a layer whose input tangent is
    /// nonzero, the g V term of R{g}, or a curved activation's second derivative).
    /// </summary>
    private static void PlanNeeds(Step[] steps, int first)
    {
        bool gBelow = false, rgBelow = false;
        for (int i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            s.HasTangentInput = i > first; // a plan always has a parameterized step
            s.NeedGIn = gBelow;
            s.NeedRgIn = rgBelow;
            bool usesG = s.HasTangentInput && (s.HasParameters || s.IsCurved);
            gBelow |= usesG;
            rgBelow |= s.HasParameters;
        }
    }

    /// <summary>
    /// Adds H_b v to <paramref name="result"/>, H_b the Hessian of weight * mean CE(f(inputs), labels)
    /// (no weight decay). Call inside the problem's pass, so the layers are in the right mode.
    /// </summary>
    public void AddHessianVectorProduct(Tensor inputs, Tensor labels, double weight, Tensor v, Tensor result)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (logits, tangent, backward) = Forward(inputs, v);
        // Mean cross-entropy: g = w/B (p - onehot(y)), R{g} = w/B (diag(p) - p p^T) R{f}.
        double scale = weight / inputs.shape[0];
        var p = nn.functional.softmax(logits, 1);
        var g = p.sub(nn.functional.one_hot(labels, p.shape[1]).to_type(p.dtype)).mul_(scale);
        var pr = p.mul(tangent);
        var rg = pr.sub(p.mul(pr.sum(1, keepdim: true))).mul_(scale);
        Backpropagate(backward, g, rg, result);
    }

    /// <summary>
    /// Adds J_b^T M J_b v to <paramref name="result"/>, J_b the Jacobian of the batch logits:
    /// <paramref name="outputProduct"/>(logits, J_b v) returns M J_b v ([B, C], with any scaling).
    /// </summary>
    public void AddGaussNewtonProduct(Tensor inputs, Tensor v, Func<Tensor, Tensor, Tensor> outputProduct, Tensor result)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (logits, jv, backward) = Forward(inputs, v);
        Backpropagate(backward, null, outputProduct(logits, jv), result);
    }

    /// <summary>The logits, their tangent R{f} = J v and each layer's backward.</summary>
    private (Tensor Logits, Tensor Tangent, Backward[] Backward) Forward(Tensor inputs, Tensor v)
    {
        long rows = inputs.shape[0];
        var a = _model.FlattenInput ? inputs.reshape(rows, -1) : inputs;
        Tensor? ra = null;
        var backward = new Backward[_steps.Length];
        for (int i = 0; i < _steps.Length; i++)
        {
            var (z, rz, back) = _steps[i].Forward(a, ra, v);
            backward[i] = back;
            a = z;
            ra = rz;
        }
        return (a, ra!, backward); // a parameterized layer exists, so the tangent does
    }

    /// <summary>Runs the backward from the logits' (g, R{g}); g null means zero (Gauss-Newton).</summary>
    private void Backpropagate(Backward[] backward, Tensor? g, Tensor rg, Tensor result)
    {
        // Below the first parameterized layer nothing is needed.
        for (int i = _steps.Length - 1; i >= _first; i--)
        {
            var (gIn, rgIn) = backward[i](_steps[i].NeedGOut ? g : null, rg, result);
            g = gIn;
            rg = rgIn!;
        }
    }

    // ---- steps ----

    /// <summary>
    /// From the layer's output (g, R{g}) to its input (g, R{g}), each null when not needed (or,
    /// for g, zero); adds the layer's R{grad} to the flat result.
    /// </summary>
    private delegate (Tensor? G, Tensor? Rg) Backward(Tensor? g, Tensor rg, Tensor result);

    private abstract class Step
    {
        public ParameterSlice? Weight { get; set; }
        public ParameterSlice? Bias { get; set; }
        public bool HasParameters => Weight is not null;
        /// <summary>A nonlinearity with a nonzero second derivative (its R{g} needs g).</summary>
        public virtual bool IsCurved => false;
        /// <summary>R{input} may be nonzero (a parameterized layer lies below).</summary>
        public bool HasTangentInput { get; set; }
        public bool NeedGIn { get; set; }
        public bool NeedRgIn { get; set; }
        /// <summary>g at the output is needed: by this layer or to pass down.</summary>
        public bool NeedGOut => NeedGIn || (HasTangentInput && (HasParameters || IsCurved));

        /// <summary>z = f(a), R{z} (null when zero) and the backward of this call.</summary>
        public abstract (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v);
    }

    /// <summary>z = a W^T + b over the last dimension.</summary>
    private sealed class LinearStep(Linear layer) : Step
    {
        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var w = layer.weight!;
            var vw = Weight!.Of(v);
            var vb = Bias?.Of(v);
            var z = nn.functional.linear(a, w, layer.bias);
            var rz = nn.functional.linear(a, vw, vb);
            if (ra is not null) rz.add_(nn.functional.linear(ra, w));
            return (z, rz, (g, rg, result) =>
            {
                long outputs = w.shape[0], inputs = w.shape[1];
                var rg2 = rg.reshape(-1, outputs);
                var g2 = g?.reshape(-1, outputs);
                // R{grad W} = R{g}^T a + g^T R{a}; R{grad b} = sum of R{g}.
                var rgw = rg2.t().mm(a.reshape(-1, inputs));
                if (ra is not null && g2 is not null) rgw.add_(g2.t().mm(ra.reshape(-1, inputs)));
                Weight.Add(result, rgw);
                Bias?.Add(result, rg2.sum(0L)); // 0L: a literal 0 would bind to sum(ScalarType)
                var gIn = NeedGIn && g2 is not null ? g2.mm(w).view(a.shape) : null;
                Tensor? rgIn = null;
                if (NeedRgIn)
                {
                    rgIn = rg2.mm(w);
                    if (g2 is not null) rgIn.add_(g2.mm(vw));
                    rgIn = rgIn.view(a.shape);
                }
                return (gIn, rgIn);
            });
        }
    }

    /// <summary>
    /// z = conv(a, W) + b. The three convolutions of the forward, conv(a, W), conv(R{a}, W) and
    /// conv(a, V), are kept as small autograd graphs, so that every backward quantity comes from
    /// libtorch's first-order convolution backward kernels: R{grad W} = wgrad(a, R{g}) +
    /// wgrad(R{a}, g), g_in = conv^T(g, W) and R{g_in} = conv^T(R{g}, W) + conv^T(g, V).
    /// (Explicit transposed convolutions were measured 5x slower than a forward one for stride 2,
    /// and stacking the clean and tangent batches into one call cost more in copies than it saved.)
    /// </summary>
    private sealed class Conv2dStep(Conv2d layer) : Step
    {
        private readonly long[] _stride = Pair(layer.stride), _padding = Pair(layer.padding!), _dilation = Pair(layer.dilation);

        private static long[] Pair(long[] x) => x.Length == 1 ? [x[0], x[0]] : x;

        private Tensor Convolve(Tensor input, Tensor kernel, Tensor? bias = null) =>
            nn.functional.conv2d(input, kernel, bias, _stride, _padding, _dilation);

        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var w = layer.weight!;
            var vw = Weight!.Of(v);
            // NeedGIn and NeedRgIn imply ra (a parameterized layer lies below).
            var input = a.detach().requires_grad_(NeedRgIn);
            var tangent = ra?.detach().requires_grad_(NeedGIn);
            Tensor y, ry, yv;
            using (enable_grad())
            {
                y = Convolve(input, w);
                ry = tangent is null ? null! : Convolve(tangent, w);
                yv = Convolve(input, vw, Bias?.Of(v));
            }
            // The convolution does not save its output for backward, so the bias can go in place.
            var z = y.detach();
            if (layer.bias is { } b) z.add_(b.view(1, -1, 1, 1));
            var rz = yv.detach();
            if (ra is not null) rz.add_(ry.detach());
            return (z, rz, (g, rg, result) =>
            {
                var fromRg = Autograd.Grad(y, rg, NeedRgIn ? [w, input] : [w]);       // wgrad(a, R{g}), conv^T(R{g}, W)
                Weight.Add(result, fromRg[0]);
                Tensor? gIn = null;
                if (tangent is not null && g is not null)
                {
                    var fromG = Autograd.Grad(ry, g, NeedGIn ? [w, tangent] : [w]); // wgrad(R{a}, g), conv^T(g, W)
                    Weight.Add(result, fromG[0]);
                    if (NeedGIn) gIn = fromG[1];
                }
                Bias?.Add(result, rg.sum([0L, 2L, 3L]));
                var rgIn = NeedRgIn ? fromRg[1] : null;
                if (rgIn is not null && g is not null) rgIn.add_(Autograd.Grad(yv, g, [input])[0]); // + conv^T(g, V)
                return (gIn, rgIn);
            });
        }
    }

    /// <summary>Eval BatchNorm: z = x_hat gamma + beta, x_hat = (a - mean) s, s = 1/sqrt(var + eps), statistics fixed.</summary>
    private sealed class BatchNormStep(BatchNorm bn) : Step
    {
        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var shape = Enumerable.Repeat(1L, (int)a.dim()).ToArray();
            shape[1] = a.shape[1];
            var reduce = Enumerable.Range(0, (int)a.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
            var s = bn.running_var!.add(bn.eps).rsqrt_().view(shape);
            var xHat = a.sub(bn.running_mean!.view(shape)).mul_(s);
            var gamma = bn.weight?.view(shape);
            var scale = gamma is null ? s : s.mul(gamma); // d z / d a
            var z = gamma is null ? xHat : xHat.mul(gamma).add_(bn.bias!.view(shape));
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
            return (z, rz, (g, rg, result) =>
            {
                if (HasParameters)
                {
                    var rgGamma = rg.mul(xHat);
                    if (rxHat is not null && g is not null) rgGamma.add_(g.mul(rxHat));
                    Weight!.Add(result, rgGamma.sum(reduce));
                    Bias?.Add(result, rg.sum(reduce));
                }
                var gIn = NeedGIn ? g?.mul(scale) : null;
                Tensor? rgIn = null;
                if (NeedRgIn)
                {
                    rgIn = rg.mul(scale);
                    if (vGamma is not null && g is not null) rgIn.add_(g.mul(vGamma).mul_(s));
                }
                return (gIn, rgIn);
            });
        }
    }

    /// <summary>Element-wise z = f(a) with f' (and f'' for curved f) at a.</summary>
    private abstract class ElementwiseStep : Step
    {
        /// <summary>f(a), f'(a) and f''(a) (null when zero).</summary>
        protected abstract (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a);

        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var (z, d1, d2) = Derivatives(a);
            var rz = ra?.mul(d1);
            return (z, rz, (g, rg, _) =>
            {
                var gIn = NeedGIn ? g?.mul(d1) : null;
                Tensor? rgIn = null;
                if (NeedRgIn)
                {
                    rgIn = rg.mul(d1);
                    // R{f'(a)} = f''(a) R{a}.
                    if (d2 is not null && ra is not null && g is not null) rgIn.add_(g.mul(d2).mul_(ra));
                }
                return (gIn, rgIn);
            });
        }
    }

    private sealed class ReluStep : ElementwiseStep
    {
        protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a) =>
            (nn.functional.relu(a), a.gt(0), null); // a bool mask multiplies as 0/1 without a float copy
    }

    private sealed class TanhStep : ElementwiseStep
    {
        public override bool IsCurved => true;

        protected override (Tensor F, Tensor D1, Tensor? D2) Derivatives(Tensor a)
        {
            var t = a.tanh();
            var d1 = t.square().neg_().add_(1.0);
            return (t, d1, d1.mul(t).mul_(-2.0)); // (1 - t^2)' = -2 t (1 - t^2)
        }
    }

    /// <summary>Exact GELU a Phi(a): f' = Phi + a phi, f'' = phi (2 - a^2).</summary>
    private sealed class GeluStep : ElementwiseStep
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
    private sealed class MaxPool2dStep(MaxPool2d layer) : Step
    {
        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var (z, indices) = nn.functional.max_pool2d_with_indices(a, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode);
            var flatIndices = indices.flatten(2);
            var rz = ra?.flatten(2).gather(2, flatIndices).view_as(z);
            Tensor Scatter(Tensor t) => zeros_like(a).flatten(2).scatter_add_(2, flatIndices, t.flatten(2)).view_as(a);
            return (z, rz, (g, rg, _) => (NeedGIn && g is not null ? Scatter(g) : null, NeedRgIn ? Scatter(rg) : null));
        }
    }

    /// <summary>A linear parameter-free layer L: R{z} = L(R{a}); gradients go through L^T by autograd.</summary>
    private sealed class LinearMapStep(nn.Module<Tensor, Tensor> layer) : Step
    {
        public override (Tensor Z, Tensor? Rz, Backward Back) Forward(Tensor a, Tensor? ra, Tensor v)
        {
            var z = layer.call(a);
            var rz = ra is null ? null : layer.call(ra);
            return (z, rz, (g, rg, _) =>
            {
                bool passG = NeedGIn && g is not null;
                if (!passG && !NeedRgIn) return (null, null);
                var x = zeros_like(a).requires_grad_();
                Tensor y;
                using (enable_grad()) y = layer.call(x);
                var gIn = passG ? Autograd.Grad(y, g!, [x], retainGraph: true)[0] : null;
                var rgIn = NeedRgIn ? Autograd.Grad(y, rg, [x])[0] : null;
                return (gIn, rgIn);
            });
        }
    }
}
