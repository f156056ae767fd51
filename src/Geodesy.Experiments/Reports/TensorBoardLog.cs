using Geodesy.Core.Training;
using Geodesy.Core.Training.Probes;
using Geodesy.Experiments.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Reports;

/// <summary>
/// `geodesy train --tensorboard DIR`: the training metrics (train/loss, train/accuracy, test/loss,
/// test/accuracy, lr, train/running_loss), every probe row (probe/SERIES for its value and
/// probe/SERIES/KEY for each of its numbers, as <see cref="ProbeRecord.Scalars"/> flattens them) and,
/// after every epoch, a histogram of each parameter tensor (weights/NAME) and of its last
/// mini-batch gradient (gradients/NAME), all against the step. It only reads the model.
/// </summary>
public sealed class TensorBoardLog(string dir) : ITrainingObserver, IProbeRowObserver, IDisposable
{
    private readonly TensorBoardEventWriter _events = new(dir);

    public string FilePath => _events.FilePath;

    public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
    {
        _events.Scalar("train/loss", row.Step, row.TrainLoss);
        _events.Scalar("train/accuracy", row.Step, row.TrainAccuracy);
        if (double.IsFinite(row.TestLoss)) _events.Scalar("test/loss", row.Step, row.TestLoss);
        if (double.IsFinite(row.TestAccuracy)) _events.Scalar("test/accuracy", row.Step, row.TestAccuracy);
        _events.Scalar("lr", row.Step, row.LearningRate);
        if (endOfEpoch) Histograms(model, row.Step);
        _events.Flush();
    }

    public void OnRunningLoss(nn.Module model, RunningLossRow row) => _events.Scalar("train/running_loss", row.Step, row.Loss);

    public void OnProbeRow(ProbeRow row)
    {
        var record = ProbeRecord.FromJson(ProbeLog.ToJson(row));
        if (double.IsFinite(record.Value)) _events.Scalar("probe/" + record.Series, record.Step, record.Value);
        foreach (var (key, value) in record.Scalars())
            if (double.IsFinite(value)) _events.Scalar($"probe/{record.Series}/{key}", record.Step, value);
        _events.Flush();
    }

    private void Histograms(nn.Module model, long step)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            _events.Histogram("weights/" + name, step, Values(p));
            if (p.grad is { } g) _events.Histogram("gradients/" + name, step, Values(g));
        }
    }

    private static double[] Values(Tensor t) => t.detach().flatten().to_type(ScalarType.Float64).data<double>().ToArray();

    public void OnFinish(nn.Module model, TrainingResult result) => _events.Flush();

    public void Dispose() => _events.Dispose();
}
