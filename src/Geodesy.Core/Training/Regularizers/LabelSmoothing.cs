using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Label smoothing (Szegedy et al. 2016, "Rethinking the Inception architecture", §7): the data loss
/// becomes the cross-entropy against (1 − ε) one-hot(y) + ε/K, i.e. (1 − ε) CE + ε · mean over the
/// batch of −(1/K) Σₖ log pₖ. Written as a penalty added to the plain cross-entropy:
/// ε · mean(−(1/K) Σₖ log pₖ − CE), the convention of PyTorch's cross_entropy(label_smoothing=ε).
/// </summary>
public sealed class LabelSmoothing(double epsilon) : IRegularizer
{
    public const string RegistryName = "label-smoothing";

    public string Name => RegistryName;
    public double Epsilon { get; } = epsilon;

    public void Start(ObjectiveStart start) { }

    public Tensor? Penalty(StepContext step)
    {
        if (Epsilon == 0) return null;
        var logp = nn.functional.log_softmax(step.Logits, 1);
        var uniform = -logp.mean(new long[] { 1 });
        var ce = -logp.gather(1, step.Labels.unsqueeze(1)).squeeze(1);
        return (uniform - ce).mean() * Epsilon;
    }
}
