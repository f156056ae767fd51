using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Input-output Jacobian regularization by random projections. Jᵢ = ∂z/∂x at example i (classes ×
/// inputs); each projection u gives Jᵢᵀu by one backward pass with create_graph (differentiated again
/// by the step's backward). Two kinds:
/// <list type="bullet">
/// <item>kind=orthogonal (default): the orthogonal Jacobian regularizer, Σ_{k≠l} (Jᵢ Jᵢᵀ)²_{kl}, which
/// pushes the per-class input gradients to be mutually orthogonal. With Rademacher u, sᵤ = ‖Jᵢᵀu‖² =
/// uᵀ(JᵢJᵢᵀ)u has variance 2 Σ_{k≠l} (JᵢJᵢᵀ)²_{kl}, so half the unbiased sample variance of sᵤ over
/// m ≥ 2 projections estimates it (the variance estimator of OroJaR, Wei et al. 2021, "Orthogonal
/// Jacobian regularization for unsupervised disentanglement", ICCV, applied to a classifier's rows).</item>
/// <item>kind=frobenius: ½ ‖Jᵢ‖²_F estimated as ½ · (C/m) Σᵤ ‖Jᵢᵀu‖² with u uniform on the unit sphere
/// (Hoffman et al. 2019, "Robust learning with Jacobian regularization").</item>
/// </list>
/// The penalty is X times the batch mean of the estimate. Options: kind=..., projections=m (default 2 for
/// orthogonal, 1 for frobenius).
/// </summary>
public sealed class JacobianRegularizer : IRegularizer
{
    public const string RegistryName = "jacobian-reg";
    private ObjectiveCost _cost = new();
    private torch.Generator? _generator;

    public JacobianRegularizer(double coefficient, bool orthogonal = true, int projections = 0)
    {
        Coefficient = coefficient;
        Orthogonal = orthogonal;
        Projections = projections > 0 ? projections : orthogonal ? 2 : 1;
        if (Orthogonal && Projections < 2) throw new InputException("--jacobian-reg kind=orthogonal needs projections >= 2 (it estimates a variance)");
    }

    public static JacobianRegularizer Parse(string option, string text)
    {
        var o = RegularizerOptions.Parse(option, text, ["kind", "projections"]);
        return new JacobianRegularizer(o.Coefficient, o.Choice("kind", "orthogonal", "orthogonal", "frobenius") == "orthogonal", o.Int("projections", 0));
    }

    public string Name => RegistryName;
    public double Coefficient { get; }
    public bool Orthogonal { get; }
    public int Projections { get; }

    public void Start(ObjectiveStart start)
    {
        _cost = start.Cost;
        _generator?.Dispose();
        _generator = start.Generator(0x4A41434F);
    }

    public Tensor? Penalty(StepContext step)
    {
        if (Coefficient == 0) return null;
        var logits = step.Logits;
        long batch = logits.shape[0], classes = logits.shape[1];
        var projections = new Tensor[Projections];
        for (int m = 0; m < Projections; m++)
        {
            if (Orthogonal)
                projections[m] = torch.randint(0, 2, [batch, classes], generator: _generator).to_type(logits.dtype) * 2 - 1;
            else
            {
                var g = torch.randn([batch, classes], dtype: logits.dtype, generator: _generator);
                projections[m] = g / g.norm(1, keepdim: true);
            }
        }
        return Estimate(logits, step.Inputs, projections) * Coefficient;
    }

    /// <summary>The batch mean of the estimate from these projections (each [batch, classes]); the inputs must require grad.</summary>
    public Tensor Estimate(Tensor logits, Tensor inputs, IReadOnlyList<Tensor> projections)
    {
        long batch = logits.shape[0], classes = logits.shape[1];
        var squared = new List<Tensor>();
        foreach (var u in projections)
        {
            _cost.ExtraGradients++;
            _cost.DoubleBackwards++;
            var jtu = Autograd.Grad(logits, u, [inputs], createGraph: true)[0];
            squared.Add(jtu.reshape(batch, -1).pow(2).sum(1)); // ‖Jᵢᵀu‖² per example
        }
        var s = torch.stack(squared, 1); // [batch, m]
        if (Orthogonal)
            return s.var(1, unbiased: true).mean() * 0.5;
        return s.mean(new long[] { 1 }).mean() * (0.5 * classes);
    }
}
