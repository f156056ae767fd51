using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Exact Hessian-vector products by Pearlmutter's R-operator (Pearlmutter 1994, "Fast exact
/// multiplication by the Hessian"), for a <see cref="SequentialModel"/> whose every layer has an
/// entry in the derivative table <see cref="LayerDerivatives"/>. One forward pass carries every
/// activation a and its directional derivative R{a} = d/dt a(w + t v) at t = 0; one backward
/// pass carries every activation gradient g and R{g}; each layer turns them into
/// R{grad w} = (H v) restricted to its parameters. The same passes give Gauss-Newton products
/// J^T M J v: the forward tangent of the logits is J v, and the backward pass with g = 0 and
/// R{g} = M J v at the logits is a plain backprop of M J v, i.e. J^T M J v (every g term
/// vanishes; a null g stands for zero).
/// <para>The forward (activations, masks, softmax) does not depend on v: it is kept per batch in
/// a <see cref="ForwardCache"/> up to the problem's <see cref="CurvatureOptions.ForwardCacheBytes"/>,
/// so repeated products on the same data and weights run only the tangent forward and the
/// backward (as PyHessian keeps its gradient graph); batches beyond the cap are recomputed.</para>
/// <para>Why not double backprop: differentiating libtorch's convolution backward on the CPU
/// runs a convolution with the batch as channels and the whole feature map as kernel, several
/// times slower than a forward convolution. Here every convolution is a forward or a first-order
/// backward kernel. Derivatives the double-backprop graph would compute and throw away (gradients
/// of the first layer's input, g below the second parameterized layer when only R{g} is needed)
/// are skipped by a need analysis done once. Anything without a table entry (train-mode BatchNorm
/// or dropout, ResNets, imported models) gets no plan and the caller falls back to double backprop.</para>
/// </summary>
internal sealed class PearlmutterPlan
{
    /// <summary>The plan an operator should use for <paramref name="method"/>: null means double backprop.</summary>
    public static PearlmutterPlan? For(CurvatureProblem problem, CurvatureProductMethod method, string matrix)
    {
        if (method == CurvatureProductMethod.DoubleBackprop) return null;
        var plan = problem.Plan;
        if (method == CurvatureProductMethod.ROperator && plan is null)
            throw new InputException($"{matrix}: the R-operator supports sequential models of Linear, Conv2d, eval BatchNorm, ReLU/Tanh/GELU, pooling and flatten layers in eval mode; use double backprop");
        return plan;
    }

    /// <summary>"r-operator" or "double-backprop", as reported in JSON.</summary>
    public static string MethodName(PearlmutterPlan? plan) => plan is null ? "double-backprop" : "r-operator";

    private readonly SequentialModel _model;
    private readonly LayerDerivatives[] _layers;
    private readonly LayerNeeds[] _needs;
    /// <summary>The first parameterized layer: below it nothing has a tangent or needs a gradient.</summary>
    private readonly int _first;

    private PearlmutterPlan(SequentialModel model, LayerDerivatives[] layers, long cacheBytes)
    {
        _model = model;
        _layers = layers;
        _first = Array.FindIndex(layers, s => s.HasParameters);
        _needs = PlanNeeds(layers, _first);
        Cache = new ForwardCache(model, cacheBytes);
    }

    /// <summary>The forward states kept between products (one per problem, shared by its operators).</summary>
    public ForwardCache Cache { get; }

    /// <summary>The plan for the problem's model, or null when some layer (or the mode) is not supported.</summary>
    public static PearlmutterPlan? TryCreate(CurvatureProblem problem)
    {
        if (problem.Model is not SequentialModel model) return null;
        var layers = new LayerDerivatives[model.Layers.Count];
        for (int i = 0; i < model.Layers.Count; i++)
        {
            if (LayerDerivatives.For(problem, i, model.Layers[i]) is not { } derivatives) return null;
            layers[i] = derivatives;
        }
        if (!LayerParameters.CoverAll(problem, layers.Select(s => s.Parameters).ToList())) return null;
        PoolBeforeRelu(layers);
        return new PearlmutterPlan(model, layers, problem.Options.ForwardCacheBytes);
    }

    /// <summary>
    /// ReLU then max pooling equals max pooling then ReLU, with the same argmax (ReLU is monotone
    /// and both take the first maximum; a window with max <= 0 gives zero derivatives either way),
    /// so the pair runs pooling first and the ReLU on a quarter of the elements.
    /// </summary>
    private static void PoolBeforeRelu(LayerDerivatives[] layers)
    {
        for (int i = 0; i + 1 < layers.Length; i++)
        {
            if (layers[i] is ReluDerivatives && layers[i + 1] is MaxPool2dDerivatives)
            {
                (layers[i], layers[i + 1]) = (layers[i + 1], layers[i]);
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
    private static LayerNeeds[] PlanNeeds(LayerDerivatives[] layers, int first)
    {
        var needs = new LayerNeeds[layers.Length];
        bool gBelow = false, rgBelow = false;
        for (int i = 0; i < layers.Length; i++)
        {
            var s = layers[i];
            bool tangentInput = i > first; // a plan always has a parameterized layer
            needs[i] = new LayerNeeds(tangentInput, gBelow, rgBelow);
            gBelow |= tangentInput && (s.HasParameters || s.IsCurved);
            rgBelow |= s.HasParameters;
        }
        return needs;
    }

    /// <summary>g at layer i's output is needed: by the layer itself or to pass down.</summary>
    private bool NeedGOut(int i) => _needs[i].GIn || (_needs[i].TangentInput && (_layers[i].HasParameters || _layers[i].IsCurved));

    /// <summary>
    /// The forward of a batch: from the cache, or computed (and kept when it fits). Call inside
    /// the problem's pass and a dispose scope; a forward that is not kept belongs to that scope.
    /// </summary>
    public BatchForward ForwardOf(CurvatureProblem problem, Batch b)
    {
        if (Cache.TryGet(b.Index) is { } kept) return kept;
        problem.PrepareBatch(b);
        var forward = Forward(problem.BatchInputs(b));
        problem.Cost.CountForward(b.Count);
        Cache.TryKeep(b.Index, forward);
        return forward;
    }

    private BatchForward Forward(Tensor inputs)
    {
        using var noGrad = no_grad();
        long rows = inputs.shape[0];
        var a = _model.FlattenInput ? inputs.reshape(rows, -1) : inputs;
        var states = new LayerState[_layers.Length];
        for (int i = 0; i < _layers.Length; i++)
        {
            var (z, state) = _layers[i].Forward(a, _needs[i]);
            states[i] = state;
            a = z;
        }
        return new BatchForward(states, a, nn.functional.softmax(a, 1));
    }

    /// <summary>
    /// Adds H_b v to <paramref name="result"/>, H_b the Hessian of weight * mean CE(f(inputs), labels)
    /// (no weight decay).
    /// </summary>
    public void AddHessianVectorProduct(BatchForward forward, Tensor labels, double weight, Tensor v, Tensor result)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (tangent, backward) = Tangent(forward, v);
        // Mean cross-entropy: g = w/B (p - onehot(y)), R{g} = w/B (diag(p) - p p^T) R{f}.
        double scale = weight / labels.shape[0];
        var p = forward.Probabilities;
        var g = p.sub(nn.functional.one_hot(labels, p.shape[1]).to_type(p.dtype)).mul_(scale);
        var pr = p.mul(tangent);
        var rg = pr.sub(p.mul(pr.sum(1, keepdim: true))).mul_(scale);
        Backpropagate(backward, g, rg, result);
    }

    /// <summary>
    /// Adds J_b^T M J_b v to <paramref name="result"/>, J_b the Jacobian of the batch logits:
    /// <paramref name="outputProduct"/>(probabilities, J_b v) returns M J_b v ([B, C], with any scaling).
    /// </summary>
    public void AddGaussNewtonProduct(BatchForward forward, Tensor v, Func<Tensor, Tensor, Tensor> outputProduct, Tensor result)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (jv, backward) = Tangent(forward, v);
        Backpropagate(backward, null, outputProduct(forward.Probabilities, jv), result);
    }

    /// <summary>The logits' tangent R{f} = J v and each layer's backward.</summary>
    private (Tensor Tangent, LayerBackward[] Backward) Tangent(BatchForward forward, Tensor v)
    {
        Tensor? ra = null;
        var backward = new LayerBackward[_layers.Length];
        for (int i = _first; i < _layers.Length; i++) // below the first parameterized layer R{a} = 0
        {
            var (rz, back) = _layers[i].Tangent(forward.States[i], ra, v, _needs[i]);
            backward[i] = back;
            ra = rz;
        }
        return (ra!, backward); // a parameterized layer exists, so the tangent does
    }

    /// <summary>Runs the backward from the logits' (g, R{g}); g null means zero (Gauss-Newton).</summary>
    private void Backpropagate(LayerBackward[] backward, Tensor? g, Tensor rg, Tensor result)
    {
        // Below the first parameterized layer nothing is needed.
        for (int i = _layers.Length - 1; i >= _first; i--)
        {
            var (gIn, rgIn) = backward[i](NeedGOut(i) ? g : null, rg, result);
            g = gIn;
            rg = rgIn!;
        }
    }
}
