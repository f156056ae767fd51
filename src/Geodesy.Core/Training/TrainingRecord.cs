namespace Geodesy.Core.Training;

/// <summary>One row of the training log: where training is and how the model does.</summary>
public sealed record MetricsRow(
    int Epoch, long Step, double LearningRate,
    double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double Seconds)
{
    /// <summary>Metrics of the model's own (<see cref="Techniques.IExtraMetrics"/>), written as extra keys of the row; null for none.</summary>
    public IReadOnlyDictionary<string, double>? Extra { get; init; }
}

/// <summary>
/// The running mean of the last <paramref name="Batches"/> mini-batch losses, recorded by the trainer
/// every RunningLossEvery steps at no extra cost (the losses are those the optimizer steps on, each
/// evaluated before its own update). A cheap, fine-grained view of the train loss; not a full evaluation.
/// </summary>
public sealed record RunningLossRow(int Epoch, long Step, double Loss, int Batches);

public enum RunStatus { Completed, Diverged, MaxEpochs }

public static class RunStatusNames
{
    public static string Name(this RunStatus s) => s switch
    {
        RunStatus.Completed => "completed",
        RunStatus.Diverged => "diverged",
        RunStatus.MaxEpochs => "max-epochs",
        _ => s.ToString().ToLowerInvariant(),
    };
}

/// <summary>The outcome of a training run.</summary>
public sealed record TrainingResult(
    RunStatus Status, string Message, int Epochs, long Steps,
    MetricsRow? Final, double Seconds, long ExamplesSeen)
{
    /// <summary>What the regularizers of the objective cost (extra passes, double backwards); all zero without regularizers.</summary>
    public Regularizers.ObjectiveCost Objective { get; init; } = new();
}
