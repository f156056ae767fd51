using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// The loss one optimizer step minimizes: the mean cross-entropy of the mini-batch plus every
/// regularizer's penalty. Built once per run (regularizers get the training-set size for
/// per-example state); <see cref="Cost"/> counts what the penalties cost.
/// </summary>
public sealed class TrainingObjective
{
    private readonly IReadOnlyList<IRegularizer> _regularizers;
    private readonly bool _inputGradient;

    private TrainingObjective(IReadOnlyList<IRegularizer> regularizers)
    {
        _regularizers = RegularizerRegistry.InOrder(regularizers);
        _inputGradient = _regularizers.OfType<JacobianRegularizer>().Any(j => j.Coefficient > 0);
    }

    public ObjectiveCost Cost { get; } = new();

    /// <summary>Whether any penalty is configured (the plain cross-entropy otherwise).</summary>
    public bool Regularized => _regularizers.Count > 0;

    public static TrainingObjective Start(IReadOnlyList<IRegularizer> regularizers, long trainExamples, int classes, ScalarType dtype, long seed)
    {
        var objective = new TrainingObjective(regularizers);
        foreach (var r in objective._regularizers) r.Start(new ObjectiveStart(trainExamples, classes, dtype, seed, objective.Cost));
        return objective;
    }

    /// <summary>CE(model(x), y) + Σ penalties; <paramref name="indices"/> are the examples' positions in the training set.</summary>
    public Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, Tensor indices, long step)
    {
        if (_regularizers.Count == 0) return nn.functional.cross_entropy(model.call(x), y);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var context = new StepContext(model, x, y, indices, step, _inputGradient);
        var penalties = new List<Tensor>();
        foreach (var r in _regularizers)
            if (r.Penalty(context) is { } p) penalties.Add(p);
        var loss = nn.functional.cross_entropy(context.Logits, y);
        foreach (var p in penalties) loss = loss + p;
        if (penalties.Count > 0) Cost.PenalizedSteps++;
        Cost.LossSeconds += clock.Elapsed.TotalSeconds;
        return loss;
    }
}
