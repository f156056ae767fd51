using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Fisher penalty (Jastrzebski et al. 2021, "Catastrophic Fisher explosion", ICML): adds
/// α ‖∇θ (1/B') Σᵢ ℓ(xᵢ, ŷᵢ; θ)‖², the squared norm of the mean gradient over the first B' examples
/// of the mini-batch with labels ŷᵢ drawn from the model's own prediction p_θ(·|xᵢ): an estimate of
/// Tr(F) whose gradient is 2α H_ŷ g. The labels are sampled without gradient; the gradient g is
/// differentiated through (double backward). Cost controls of the paper: the sub-batch B' and
/// applying the penalty every K steps. Options:
/// <list type="bullet">
/// <item>method=double-backward (default): exact gradient of the penalty by autograd with create_graph.</item>
/// <item>method=finite-difference: the cheaper variant without double backward: 2α H_ŷ g by a central
/// difference of two gradients at θ ± ε g/‖g‖ (labels fixed), added through a surrogate whose value is the penalty.</item>
/// <item>labels=sampled (default) | true: true labels give the gradient-norm penalty baseline of the paper.</item>
/// </list>
/// </summary>
public sealed class FisherPenalty : IRegularizer
{
    public const string RegistryName = "fisher-penalty";
    public static readonly string[] Keys = ["sub", "method", "labels", "eps"];

    private ObjectiveCost _cost = new();
    private torch.Generator? _generator;

    public FisherPenalty(double coefficient, int every = 1, int subBatch = 128, bool exact = true, bool sampledLabels = true, double epsilon = 1e-3)
    {
        Coefficient = coefficient;
        Every = every;
        SubBatch = subBatch;
        Exact = exact;
        SampledLabels = sampledLabels;
        Epsilon = epsilon;
    }

    public static FisherPenalty Parse(string option, string text)
    {
        var o = RegularizerOptions.Parse(option, text, Keys, allowEvery: true);
        return new FisherPenalty(o.Coefficient, o.Every, o.Int("sub", 128),
            o.Choice("method", "double-backward", "double-backward", "finite-difference") == "double-backward",
            o.Choice("labels", "sampled", "sampled", "true") == "sampled",
            o.Number("eps", 1e-3, min: 1e-12, below: 1));
    }

    public string Name => RegistryName;
    public double Coefficient { get; }
    public int Every { get; }
    public int SubBatch { get; }
    public bool Exact { get; }
    public bool SampledLabels { get; }
    public double Epsilon { get; }

    public void Start(ObjectiveStart start)
    {
        _cost = start.Cost;
        _generator?.Dispose();
        _generator = start.Generator(0x46495348);
    }

    public Tensor? Penalty(StepContext step)
    {
        if (Coefficient == 0 || step.Step % Every != 0) return null;
        if (!Exact && step.ForwardDone) throw new InvalidOperationException("the finite-difference Fisher penalty must run before the data-loss forward pass");
        long n = Math.Min(SubBatch, step.Inputs.shape[0]);
        var x = step.Inputs.detach().narrow(0, 0, n);
        var labels = SampledLabels ? SampleLabels(step.Model, x) : step.Labels.narrow(0, 0, n);
        return Exact ? ExactPenalty(step.Model, x, labels) : FiniteDifferencePenalty(step.Model, x, labels);
    }

    /// <summary>ŷᵢ ~ p_θ(·|xᵢ), without gradient, from the penalty's own generator.</summary>
    private Tensor SampleLabels(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        using var noGrad = torch.no_grad();
        _cost.ExtraForwards++;
        var p = nn.functional.softmax(model.call(x), 1);
        return p.to_type(ScalarType.Float64).multinomial(1, replacement: true, generator: _generator).squeeze(1);
    }

    /// <summary>α ‖g‖² with g = ∇θ CE(model(x), labels), kept in the graph (create_graph) so its gradient is exact.</summary>
    public Tensor ExactPenalty(nn.Module<Tensor, Tensor> model, Tensor x, Tensor labels)
    {
        var ps = Parameters(model);
        _cost.ExtraForwards++;
        _cost.ExtraGradients++;
        _cost.DoubleBackwards++;
        var loss = nn.functional.cross_entropy(model.call(x), labels);
        var g = Autograd.Grad(loss, ps, createGraph: true);
        return SquaredNorm(g) * Coefficient;
    }

    /// <summary>
    /// The same value α ‖g‖², with a gradient 2α H g from (∇L(θ + εu) − ∇L(θ − εu)) / 2ε · ‖g‖, u = g/‖g‖.
    /// The weights are restored bit for bit (copied back, not subtracted).
    /// </summary>
    public Tensor FiniteDifferencePenalty(nn.Module<Tensor, Tensor> model, Tensor x, Tensor labels)
    {
        var ps = Parameters(model);
        // The three gradients must see the same dropout masks, or their difference is mask noise over ε:
        // each pass starts from the same state of the global generator that dropout draws from.
        using var rng = torch.Generator.Default.get_state();
        var g = Gradient(model, ps, x, labels, rng);
        double norm = Math.Sqrt(SquaredNorm(g).to_type(ScalarType.Float64).item<double>());
        var value = torch.tensor(Coefficient * norm * norm, dtype: ps[0].dtype);
        if (norm == 0) return value;
        var saved = ps.Select(p => p.detach().clone()).ToArray();
        Tensor[] Shifted(double sign)
        {
            using (torch.no_grad())
                for (int i = 0; i < ps.Length; i++) ps[i].copy_(saved[i] + g[i] * (sign * Epsilon / norm));
            return Gradient(model, ps, x, labels, rng);
        }
        var plus = Shifted(+1);
        var minus = Shifted(-1);
        using (torch.no_grad())
            for (int i = 0; i < ps.Length; i++) ps[i].copy_(saved[i]);
        // Surrogate: value α‖g‖², gradient Σ c·θ with c = 2α H g.
        Tensor surrogate = value;
        for (int i = 0; i < ps.Length; i++)
        {
            var c = (plus[i] - minus[i]) * (2 * Coefficient * norm / (2 * Epsilon));
            var term = (c * ps[i]).sum();
            surrogate = surrogate + term - term.detach();
        }
        return surrogate;
    }

    private Tensor[] Gradient(nn.Module<Tensor, Tensor> model, Tensor[] ps, Tensor x, Tensor labels, Tensor rngState)
    {
        torch.Generator.Default.set_state(rngState);
        _cost.ExtraForwards++;
        _cost.ExtraGradients++;
        var loss = nn.functional.cross_entropy(model.call(x), labels);
        return Autograd.Grad(loss, ps).Select(t => t.detach()).ToArray();
    }

    private static Tensor[] Parameters(nn.Module model) => model.parameters().Where(p => p.requires_grad).ToArray();

    private static Tensor SquaredNorm(IEnumerable<Tensor> g)
    {
        Tensor? total = null;
        foreach (var t in g)
        {
            var s = t.pow(2).sum();
            total = total is null ? s : total + s;
        }
        return total!;
    }
}
