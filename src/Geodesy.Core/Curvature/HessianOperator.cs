using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The exact Hessian of the problem's loss (mean cross-entropy, plus wd I when weight decay is
/// included), applied one mini-batch at a time, either by Pearlmutter's R-operator (a forward
/// and a backward pass carrying directional derivatives, for the zoo's sequential models in eval
/// mode) or by double backprop (g_b = grad of the weighted batch loss with its graph, then grad
/// of g_b . v). The operator follows the model's current weights (kept forwards are dropped when
/// they change).
/// </summary>
public sealed class HessianOperator(CurvatureProblem problem, CurvatureProductMethod method = CurvatureProductMethod.Auto)
    : CurvatureOperator(problem, method, "hessian")
{
    public override string Name => "hessian";

    private protected override void AddPlanProduct(PearlmutterPlan plan, Batch b, BatchForward forward, Tensor v, Tensor result) =>
        plan.AddHessianVectorProduct(forward, Problem.BatchLabels(b), Problem.Weight(b), v, result);

    private protected override void AddAutogradProduct(Batch b, Tensor v, Tensor result)
    {
        var parameters = Problem.Parameters;
        var logits = Problem.Forward(b);
        var loss = nn.functional.cross_entropy(logits, Problem.BatchLabels(b)).mul(Problem.Weight(b));
        var g = Autograd.Grad(loss, parameters, createGraph: true);
        // One dot over the concatenated gradient: a single reduction node to differentiate.
        var gv = Models.ParameterVector.Concat(g).dot(v);
        result.add_(Models.ParameterVector.Concat(Autograd.Grad(gv, parameters)));
    }

    private protected override void Finish(Tensor result, Tensor v)
    {
        double wd = Problem.EffectiveWeightDecay;
        if (wd > 0) result.add_(v, alpha: wd);
    }
}
