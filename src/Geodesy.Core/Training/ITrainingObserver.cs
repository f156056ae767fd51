using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training;

/// <summary>
/// Recorders the trainer calls (probes, logs, checkpoints, progress). They observe; they never
/// change training. Each call gets the model at that moment.
/// </summary>
public interface ITrainingObserver
{
    /// <summary>Before the first step, with the initial weights.</summary>
    void OnStart(nn.Module model) { }
    /// <summary>
    /// Before each optimizer step, with the mini-batch it is about to use (model dtype) and its
    /// learning rate; the weights are those after <paramref name="step"/> steps. Tensors belong to
    /// the trainer: clone what you keep. Leave the parameters' .grad alone and the model's mode as found.
    /// </summary>
    void OnBatch(nn.Module model, int epoch, long step, Tensor inputs, Tensor labels, double learningRate) { }
    /// <summary>After every optimizer step (cheap: no evaluation).</summary>
    void OnStep(nn.Module model, int epoch, long step, double batchLoss) { }
    /// <summary>Every RunningLossEvery steps: the running mean of the last mini-batch losses.</summary>
    void OnRunningLoss(nn.Module model, RunningLossRow row) { }
    /// <summary>After an evaluation (end of each epoch, and every LogEverySteps steps).</summary>
    void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch) { }
    /// <summary>Once, when training stops, whatever the reason.</summary>
    void OnFinish(nn.Module model, TrainingResult result) { }
}
