using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Early-learning regularization (Liu et al. 2020, "Early-learning regularization prevents
/// memorization of noisy labels", NeurIPS; reference code shengliu66/ELR). Each training example i
/// keeps a target tᵢ, a temporal ensemble of the model's past predictions: at every step on i,
/// pᵢ = clamp(softmax(zᵢ), 1e-4, 1 − 1e-4), tᵢ ← β tᵢ + (1 − β) pᵢ / Σₖ pᵢₖ (no gradient), and the
/// penalty is λ · mean over the batch of log(1 − ⟨pᵢ, tᵢ⟩). Targets start at zero, as in the
/// reference code. Option: beta=B (default 0.7, the paper's CIFAR-10 value).
/// </summary>
public sealed class EarlyLearningRegularization : IRegularizer
{
    public const string RegistryName = "elr";
    private const double Clamp = 1e-4;
    private Tensor? _targets;

    public EarlyLearningRegularization(double lambda, double beta = 0.7)
    {
        Lambda = lambda;
        Beta = beta;
    }

    public static EarlyLearningRegularization Parse(string option, string text)
    {
        var o = RegularizerOptions.Parse(option, text, ["beta"]);
        return new EarlyLearningRegularization(o.Coefficient, o.Number("beta", 0.7, min: 0, below: 1));
    }

    public string Name => RegistryName;
    public double Lambda { get; }
    public double Beta { get; }

    /// <summary>The targets tᵢ, one row per training example (for tests and inspection).</summary>
    public Tensor? Targets => _targets;

    public void Start(ObjectiveStart start)
    {
        _targets?.Dispose();
        _targets = torch.zeros(start.TrainExamples, start.Classes, dtype: start.DType);
    }

    public Tensor? Penalty(StepContext step)
    {
        if (Lambda == 0) return null;
        var targets = _targets ?? throw new InvalidOperationException("ELR used before Start");
        var p = nn.functional.softmax(step.Logits, 1).clamp(Clamp, 1 - Clamp);
        using (torch.no_grad())
        {
            var pd = p.detach();
            var updated = targets.index_select(0, step.Indices) * Beta + pd / pd.sum(1, keepdim: true) * (1 - Beta);
            targets.index_copy_(0, step.Indices, updated);
        }
        var t = targets.index_select(0, step.Indices);
        return (1 - (t * p).sum(1)).log().mean() * Lambda;
    }
}
