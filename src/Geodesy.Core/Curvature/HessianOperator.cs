using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The exact Hessian of the problem's loss (mean cross-entropy, plus wd I when weight decay is
/// included), applied one mini-batch at a time, either by Pearlmutter's R-operator (a forward
/// and a backward pass carrying directional derivatives, for the zoo's sequential models in eval
/// mode) or by double backprop (g_b = grad of the weighted batch loss with its graph, then grad
/// of g_b . v). Nothing is cached between products, so the operator follows the model's current
/// weights.
/// </summary>
public sealed class HessianOperator : ILinearOperator
{
    private readonly CurvatureProblem _problem;
    private readonly PearlmutterPlan? _plan;

    public HessianOperator(CurvatureProblem problem, CurvatureProductMethod method = CurvatureProductMethod.Auto)
    {
        _problem = problem;
        _plan = PearlmutterPlan.For(problem, method, Name);
    }

    public long Dimension => _problem.Dimension;
    public string Name => "hessian";
    public ScalarType DType => _problem.DType;
    public long Applications { get; private set; }
    /// <summary>"r-operator" or "double-backprop": how the products are computed.</summary>
    public string Method => PearlmutterPlan.MethodName(_plan);

    public Tensor Apply(Tensor v)
    {
        CurvatureProblem.CheckVector(v, Dimension, DType, Name);
        using var scope = NewDisposeScope();
        var parameters = _problem.Parameters;
        var vd = v.detach();
        var result = zeros(Dimension, dtype: DType);
        using (_problem.BeginPass())
        {
            foreach (var b in _problem.Batches())
            {
                if (_plan is not null)
                {
                    _problem.PrepareBatch(b);
                    _plan.AddHessianVectorProduct(_problem.BatchInputs(b), _problem.BatchLabels(b), _problem.Weight(b), vd, result);
                    continue;
                }
                using var batchScope = NewDisposeScope();
                var logits = _problem.Forward(b);
                var loss = nn.functional.cross_entropy(logits, _problem.BatchLabels(b)).mul(_problem.Weight(b));
                var g = Autograd.Grad(loss, parameters, createGraph: true);
                // One dot over the concatenated gradient: a single reduction node to differentiate.
                var gv = Models.ParameterVector.Concat(g).dot(vd);
                result.add_(Models.ParameterVector.Concat(Autograd.Grad(gv, parameters)));
            }
        }
        double wd = _problem.EffectiveWeightDecay;
        if (wd > 0) result.add_(vd, alpha: wd);
        Applications++;
        return result.MoveToOuterDisposeScope();
    }
}
