using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// One term added to the mini-batch cross-entropy that the optimizer steps on. A regularizer is
/// built from its option text (<see cref="RegularizerRegistry"/>), told the size of the training set
/// once (<see cref="Start"/>), and asked for its penalty at every step. It never changes the
/// evaluation losses (metrics.jsonl stays the plain cross-entropy of the data).
/// </summary>
public interface IRegularizer
{
    /// <summary>The registry name, e.g. "fisher-penalty".</summary>
    string Name { get; }

    /// <summary>Called once before the first step: allocate per-example state, seed generators.</summary>
    void Start(ObjectiveStart start);

    /// <summary>The penalty of this step (a scalar in the model's dtype, part of the autograd graph), or null when it is off this step.</summary>
    Tensor? Penalty(StepContext step);
}

/// <summary>What a regularizer knows before the first step.</summary>
public sealed record ObjectiveStart(long TrainExamples, int Classes, ScalarType DType, long Seed, ObjectiveCost Cost)
{
    /// <summary>A generator of the regularizer's own, from the run seed and a salt: its draws shift no other random stream.</summary>
    public torch.Generator Generator(long salt) => new(unchecked((ulong)(Seed ^ salt)));
}

/// <summary>
/// One optimizer step: the model, the mini-batch (inputs, labels and their indices in the training
/// set, for per-example state such as ELR's targets), and the logits of the data-loss forward pass,
/// computed on first use so that a regularizer that perturbs the weights can run before it.
/// </summary>
public sealed class StepContext
{
    private readonly Func<Tensor, Tensor> _forward;
    private Tensor? _logits;

    public StepContext(nn.Module<Tensor, Tensor> model, Tensor inputs, Tensor labels, Tensor indices, long step, bool inputGradient)
    {
        Model = model;
        // The input-Jacobian regularizer differentiates with respect to the inputs.
        Inputs = inputGradient ? inputs.detach().requires_grad_(true) : inputs;
        Labels = labels;
        Indices = indices;
        Step = step;
        _forward = model.call;
    }

    public nn.Module<Tensor, Tensor> Model { get; }
    public Tensor Inputs { get; }
    public Tensor Labels { get; }
    public Tensor Indices { get; }
    /// <summary>0-based index of the optimizer step.</summary>
    public long Step { get; }

    /// <summary>model(Inputs), one forward pass shared by the data loss and every regularizer that reads it.</summary>
    public Tensor Logits => _logits ??= _forward(Inputs);

    /// <summary>Whether the shared forward pass has already run (a weight-perturbing regularizer must run before it).</summary>
    public bool ForwardDone => _logits is not null;
}

/// <summary>
/// What the regularizers cost beyond the plain training step, counted exactly: extra forward and
/// gradient passes, double-backward passes (a gradient taken with create_graph, whose own gradient
/// the step's backward computes) and the seconds spent forming the regularized loss (its forward passes included, the step's backward not).
/// </summary>
public sealed class ObjectiveCost
{
    public long ExtraForwards { get; set; }
    public long ExtraGradients { get; set; }
    public long DoubleBackwards { get; set; }
    public double LossSeconds { get; set; }
    /// <summary>Steps at which at least one penalty was active.</summary>
    public long PenalizedSteps { get; set; }
}
