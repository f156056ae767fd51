using Geodesy.Core.Training.Techniques;

namespace Geodesy.Core.Training;

/// <summary>
/// Sgd and Momentum and Adam add the weight decay λθ to the gradient (coupled L2, as PyTorch's SGD and Adam);
/// AdamW decays the weights outside the adaptive step (decoupled, Loshchilov &amp; Hutter 2019):
/// θ ← θ − η(m̂/(√v̂+ε) + λθ), PyTorch's torch.optim.AdamW.
/// </summary>
public enum OptimizerKind { Sgd, Momentum, Adam, AdamW }

public enum ScheduleKind { Constant, Step, Cosine }

/// <summary>How to train: optimizer, learning-rate schedule, batch, stopping rule, logging.</summary>
public sealed record TrainerOptions
{
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Momentum;
    public double LearningRate { get; init; } = 0.05;
    /// <summary>Momentum for <see cref="OptimizerKind.Momentum"/> (heavy ball, PyTorch convention).</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>β₂ of <see cref="OptimizerKind.Adam"/> and <see cref="OptimizerKind.AdamW"/> (β₁ stays 0.9, ε 1e-8, PyTorch's defaults).</summary>
    public double AdamBeta2 { get; init; } = 0.999;
    public double WeightDecay { get; init; }
    public int BatchSize { get; init; } = 64;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    /// <summary>Step schedule: multiply the rate by <see cref="StepGamma"/> every this many epochs.</summary>
    public int StepEveryEpochs { get; init; } = 30;
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Linear warm-up from 0 over this many steps, composed with any schedule.</summary>
    public int WarmupSteps { get; init; }
    /// <summary>Train for exactly this many epochs (unless <see cref="UntilLoss"/> is set).</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Stop once the cross-entropy over the whole training set falls below this value.</summary>
    public double? UntilLoss { get; init; }
    /// <summary>With <see cref="UntilLoss"/>: give up (status max-epochs) after this many epochs.</summary>
    public int MaxEpochs { get; init; } = 100;
    /// <summary>Also evaluate and log every this many steps (0 = once per epoch only).</summary>
    public int LogEverySteps { get; init; }
    /// <summary>
    /// Record the running mean of the last this-many mini-batch losses every this-many steps (0 = never).
    /// Costs nothing (the losses are computed anyway) and changes neither the weights nor any random stream.
    /// </summary>
    public int RunningLossEvery { get; init; } = 10;
    /// <summary>Seed for shuffling (the model's initialization has its own seed).</summary>
    public long Seed { get; init; }
    /// <summary>Batch size used when evaluating loss/accuracy over a whole set.</summary>
    public int EvalBatchSize { get; init; } = 2000;
    /// <summary>Penalties added to the mini-batch cross-entropy (Regularizers/README.md); none by default.</summary>
    public IReadOnlyList<Regularizers.IRegularizer> Regularizers { get; init; } = [];
    /// <summary>
    /// Continue a run from this step: the model holds the weights after StartStep steps, the
    /// schedule and the epoch count continue from there, the remaining mini-batches are those the
    /// shuffle of <see cref="Seed"/> gives from that step on, and the optimizer state (momentum,
    /// Adam moments) starts fresh. With plain SGD and the run's own seed this reproduces the run.
    /// </summary>
    public long StartStep { get; init; }
    /// <summary>Which parameters the optimizer may change and how (pruning masks, BN-only); none by default.</summary>
    public IReadOnlyList<IParameterConstraint> Constraints { get; init; } = [];
    /// <summary>Rewrites each training mini-batch before the loss (MIMO); none by default.</summary>
    public IBatchTransform? BatchTransform { get; init; }

    /// <summary>Throws <see cref="InputException"/> for values that make no sense.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new InputException($"--lr must be > 0 (got {LearningRate})");
        if (BatchSize <= 0) throw new InputException($"--batch must be at least 1 (got {BatchSize})");
        if (Epochs < 0) throw new InputException($"--epochs must be >= 0 (got {Epochs})");
        if (MaxEpochs < 1) throw new InputException($"--max-epochs must be at least 1 (got {MaxEpochs})");
        if (UntilLoss is { } u && !(u > 0)) throw new InputException($"--until-loss must be > 0 (got {u})");
        if (WeightDecay < 0 || double.IsNaN(WeightDecay)) throw new InputException($"--weight-decay must be >= 0 (got {WeightDecay})");
        if (Momentum < 0 || Momentum >= 1) throw new InputException($"--momentum must be in [0, 1) (got {Momentum})");
        if (WarmupSteps < 0) throw new InputException($"--warmup must be >= 0 (got {WarmupSteps})");
        if (StepEveryEpochs < 1) throw new InputException($"--step-every must be at least 1 (got {StepEveryEpochs})");
        if (!(StepGamma > 0)) throw new InputException($"--step-gamma must be > 0 (got {StepGamma})");
        if (LogEverySteps < 0) throw new InputException($"--log-every must be >= 0 (got {LogEverySteps})");
        if (RunningLossEvery < 0) throw new InputException($"the running-loss interval must be >= 0 (got {RunningLossEvery})");
        if (StartStep < 0) throw new InputException($"the start step must be >= 0 (got {StartStep})");
    }

    /// <summary>The number of epochs the run may take at most.</summary>
    public int EpochLimit => UntilLoss.HasValue ? MaxEpochs : Epochs;

    /// <summary>The learning rate at a given step (0-based) of a given epoch (0-based).</summary>
    public double RateAt(long step, int epoch, long totalSteps)
    {
        double rate = Schedule switch
        {
            ScheduleKind.Constant => LearningRate,
            ScheduleKind.Step => LearningRate * Math.Pow(StepGamma, epoch / StepEveryEpochs),
            ScheduleKind.Cosine => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, step / (double)Math.Max(1, totalSteps)))),
            _ => LearningRate,
        };
        if (WarmupSteps > 0 && step < WarmupSteps) rate *= (step + 1) / (double)WarmupSteps;
        return rate;
    }
}
