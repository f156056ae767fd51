using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Matrices of the form sum over batches of J_b^T M_b J_b, J_b the Jacobian of the batch logits
/// w.r.t. the parameters and M_b an output-space matrix (already divided by N). J is never
/// formed: J v is the forward tangent of the R-operator's forward pass and J^T w its backward
/// pass (<see cref="PearlmutterPlan"/>), or, for models it does not support, J v comes from the
/// double-backward trick (u -> J^T u with a graph, then the gradient of (J^T u) . v w.r.t. u) and
/// J^T w from one more backward of the logits. GGN, Monte-Carlo Fisher, empirical Fisher and
/// gradient covariance differ only in M (see <see cref="OutputProduct"/>).
/// </summary>
public abstract class OutputCurvatureOperator : CurvatureOperator
{
    private protected OutputCurvatureOperator(CurvatureProblem problem, CurvatureProductMethod method, string name)
        : base(problem, method, name) { }

    /// <summary>
    /// M_b z for one batch: <paramref name="probabilities"/> (the softmax of the batch logits) and
    /// <paramref name="jv"/> are [B, C] and detached; the result must already carry the 1/N of the data mean.
    /// </summary>
    private protected abstract Tensor OutputProduct(Batch batch, Tensor probabilities, Tensor jv);

    private protected override void AddPlanProduct(PearlmutterPlan plan, Batch b, BatchForward forward, Tensor v, Tensor result) =>
        plan.AddGaussNewtonProduct(forward, v, (p, jv) => OutputProduct(b, p, jv), result);

    private protected override void AddAutogradProduct(Batch b, Tensor v, Tensor result)
    {
        var parameters = Problem.Parameters;
        var logits = Problem.Forward(b);
        var u = zeros_like(logits, requires_grad: true);
        var jtu = Autograd.Grad(logits, u, parameters, createGraph: true);
        var dot = Models.ParameterVector.Concat(jtu).dot(v);
        var jv = Autograd.Grad(dot, [u], retainGraph: true)[0];
        var w = OutputProduct(b, Probabilities(logits.detach()), jv.detach());
        result.add_(Models.ParameterVector.Concat(Autograd.Grad(logits, w, parameters)));
    }

    /// <summary>Softmax probabilities of detached logits, [B, C].</summary>
    private protected static Tensor Probabilities(Tensor logits) => nn.functional.softmax(logits, 1);

    /// <summary>Per-example d d^T z for residuals d [B, C]: d (d . z), [B, C].</summary>
    private protected static Tensor OuterProduct(Tensor d, Tensor z) => d.mul(d.mul(z).sum(1, keepdim: true));
}

/// <summary>
/// The generalized Gauss-Newton matrix (1/N) sum_i J_i^T (diag(p_i) - p_i p_i^T) J_i of the mean
/// cross-entropy (equal to the true Fisher for softmax outputs), plus wd I when weight decay is
/// included. Exact; follows the model's current weights.
/// </summary>
public sealed class GgnOperator(CurvatureProblem problem, CurvatureProductMethod method = CurvatureProductMethod.Auto)
    : OutputCurvatureOperator(problem, method, "ggn")
{
    public override string Name => "ggn";

    private protected override Tensor OutputProduct(Batch batch, Tensor p, Tensor jv)
    {
        var pz = p.mul(jv);
        return pz.sub(p.mul(pz.sum(1, keepdim: true))).div_(Problem.Count);
    }

    private protected override void Finish(Tensor result, Tensor v)
    {
        double wd = Problem.EffectiveWeightDecay;
        if (wd > 0) result.add_(v, alpha: wd);
    }
}

/// <summary>
/// The empirical Fisher (1/N) sum_i g_i g_i^T, g_i the gradient of example i's loss
/// (g_i = J_i^T (p_i - e_{y_i})). Never includes weight decay.
/// </summary>
public sealed class EmpiricalFisherOperator(CurvatureProblem problem, CurvatureProductMethod method = CurvatureProductMethod.Auto)
    : OutputCurvatureOperator(problem, method, "empirical-fisher")
{
    public override string Name => "empirical-fisher";

    private protected override Tensor OutputProduct(Batch batch, Tensor p, Tensor jv)
    {
        var d = p.sub(nn.functional.one_hot(Problem.BatchLabels(batch), Problem.NumClasses).to_type(DType));
        return OuterProduct(d, jv).div_(Problem.Count);
    }
}

/// <summary>
/// The gradient covariance K = (1/N) sum_i (g_i - g)(g_i - g)^T = empirical Fisher - g g^T, g the
/// mean gradient. g is computed once at construction (one gradient pass), so the operator is the
/// matrix at the weights it was built at. Never includes weight decay.
/// </summary>
public sealed class GradientCovarianceOperator : OutputCurvatureOperator
{
    private readonly Tensor _meanGradient;

    public GradientCovarianceOperator(CurvatureProblem problem, CurvatureProductMethod method = CurvatureProductMethod.Auto)
        : base(problem, method, "gradient-covariance")
    {
        _meanGradient = problem.DataGradient().DetachFromDisposeScope();
    }

    public override string Name => "gradient-covariance";

    private protected override Tensor OutputProduct(Batch batch, Tensor p, Tensor jv)
    {
        var d = p.sub(nn.functional.one_hot(Problem.BatchLabels(batch), Problem.NumClasses).to_type(DType));
        return OuterProduct(d, jv).div_(Problem.Count);
    }

    private protected override void Finish(Tensor result, Tensor v) =>
        result.sub_(_meanGradient.mul(_meanGradient.dot(v)));
}

/// <summary>
/// The Monte-Carlo Fisher (1/(N S)) sum_i sum_s g~_is g~_is^T, g~_is the gradient of
/// log p(y~_is | x_i) with S labels per input drawn from the model's softmax. The labels are drawn
/// once at construction from <c>seed</c>, so the operator is a fixed matrix (an unbiased
/// estimate of the GGN / true Fisher). Never includes weight decay.
/// </summary>
public sealed class MonteCarloFisherOperator : OutputCurvatureOperator
{
    private readonly Tensor _sampledLabels;

    public MonteCarloFisherOperator(CurvatureProblem problem, int samplesPerInput = 1, long seed = 0, CurvatureProductMethod method = CurvatureProductMethod.Auto)
        : base(problem, method, "fisher")
    {
        if (samplesPerInput < 1) throw new InputException($"monte-carlo fisher: samples per input must be >= 1, got {samplesPerInput}");
        SamplesPerInput = samplesPerInput;
        Seed = seed;
        _sampledLabels = ModelSampling.SampleLabels(problem, samplesPerInput, seed);
    }

    public override string Name => "fisher";
    public int SamplesPerInput { get; }
    public long Seed { get; }
    /// <summary>The labels drawn at construction, int64 [N, S] (a copy).</summary>
    public Tensor SampledLabels => _sampledLabels.clone();

    private protected override Tensor OutputProduct(Batch batch, Tensor p, Tensor jv)
    {
        var labels = _sampledLabels.narrow(0, batch.Start, batch.Count);
        // D [B, S, C]: p_i - e_{y~_is}; M z = (1/S) sum_s d_s (d_s . z).
        var d = p.unsqueeze(1).sub(nn.functional.one_hot(labels, Problem.NumClasses).to_type(DType));
        var dz = d.mul(jv.unsqueeze(1)).sum(2, keepdim: true);
        return d.mul(dz).sum(1).div_((double)Problem.Count * SamplesPerInput);
    }
}

/// <summary>Labels drawn from the model's own predictive distribution.</summary>
internal static class ModelSampling
{
    /// <summary>int64 [N, S] labels drawn from softmax(f(x_i)) with a generator seeded by <paramref name="seed"/>.</summary>
    public static Tensor SampleLabels(CurvatureProblem problem, int samplesPerInput, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(unchecked((ulong)seed));
        var parts = new List<Tensor>();
        using (problem.BeginPass())
        using (no_grad())
        {
            foreach (var b in problem.Batches())
            {
                var p = nn.functional.softmax(problem.Forward(b), 1);
                parts.Add(p.multinomial(samplesPerInput, replacement: true, generator: generator));
            }
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
