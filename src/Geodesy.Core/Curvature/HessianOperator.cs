using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The exact Hessian of the problem's loss (mean cross-entropy, plus wd I when weight decay is
/// included), applied by double backprop one mini-batch at a time: g_b = grad of the weighted
/// batch loss with its graph, then grad of g_b . v. Nothing is cached between products, so the
/// operator follows the model's current weights.
/// </summary>
public sealed class HessianOperator : ILinearOperator
{
    private readonly CurvatureProblem _problem;

    public HessianOperator(CurvatureProblem problem) => _problem = problem;

    public long Dimension => _problem.Dimension;
    public string Name => "hessian";
    public ScalarType DType => _problem.DType;
    public long Applications { get; private set; }

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
