using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The batch loop every curvature matrix of a <see cref="CurvatureProblem"/> shares: check v,
/// stream over the mini-batches inside one pass (mode, dropout masks, restored statistics), add
/// each batch's product, by the R-operator through the derivative table (<see cref="PearlmutterPlan"/>,
/// reusing kept forwards) or by double backprop through libtorch's autograd, add the terms
/// outside the sum, and count the product on the problem's <see cref="CostMeter"/>.
/// </summary>
public abstract class CurvatureOperator : ILinearOperator
{
    private readonly PearlmutterPlan? _plan;

    private protected CurvatureOperator(CurvatureProblem problem, CurvatureProductMethod method, string name)
    {
        Problem = problem;
        _plan = PearlmutterPlan.For(problem, method, name);
    }

    /// <summary>The problem whose data, weights and cost meter the operator uses.</summary>
    public CurvatureProblem Problem { get; }
    public long Dimension => Problem.Dimension;
    public abstract string Name { get; }
    public ScalarType DType => Problem.DType;
    /// <summary>Products of this operator (the problem's <see cref="CostMeter"/> counts those of all its operators).</summary>
    public long Applications { get; private set; }
    /// <summary>"r-operator" or "double-backprop": how the products are computed.</summary>
    public string Method => PearlmutterPlan.MethodName(_plan);
    public string ProductMethod => Method;

    public Tensor Apply(Tensor v)
    {
        CurvatureProblem.CheckVector(v, Dimension, DType, Name);
        using var scope = NewDisposeScope();
        var vd = v.detach();
        var result = zeros(Dimension, dtype: DType);
        _plan?.Cache.Validate();
        using (Problem.BeginPass())
        {
            foreach (var b in Problem.Batches())
            {
                using var batchScope = NewDisposeScope();
                if (_plan is not null) AddPlanProduct(_plan, b, _plan.ForwardOf(Problem, b), vd, result);
                else AddAutogradProduct(b, vd, result);
            }
        }
        Finish(result, vd);
        Applications++;
        Problem.Cost.CountProduct(doubleBackprop: _plan is null);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Adds batch b's term of A v by the R-operator passes of <paramref name="plan"/>.</summary>
    private protected abstract void AddPlanProduct(PearlmutterPlan plan, Batch b, BatchForward forward, Tensor v, Tensor result);

    /// <summary>Adds batch b's term of A v through libtorch's autograd (any model).</summary>
    private protected abstract void AddAutogradProduct(Batch b, Tensor v, Tensor result);

    /// <summary>Adds terms outside the sum over batches (weight decay, shifts, rank-one corrections).</summary>
    private protected virtual void Finish(Tensor result, Tensor v) { }
}
