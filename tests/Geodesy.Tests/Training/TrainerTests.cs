using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

public class TrainerTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    private static (nn.Module<Tensor, Tensor> Model, DataSplit Data) Problem(long seed = 0, string arch = "mlp:6-16-3")
    {
        var data = DataSpecs.Load(Mixture);
        return (ModelZoo.Create(arch, data.Train.InputShape, data.Train.NumClasses, seed), data);
    }

    [Fact]
    public void TrainingLowersTheLossAndLogsEveryEpoch()
    {
        var (model, data) = Problem();
        var log = new Recorder();
        var result = Trainer.Train(model, data, new TrainerOptions { Epochs = 5, LearningRate = 0.1, BatchSize = 32 }, [log]);
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(6, log.Rows.Count); // epoch 0 (init) + 5 epochs
        Assert.True(log.Rows[^1].TrainLoss < 0.5 * log.Rows[0].TrainLoss, $"loss {log.Rows[0].TrainLoss} -> {log.Rows[^1].TrainLoss}");
        Assert.True(log.Rows[^1].TestAccuracy > 0.9, $"test accuracy {log.Rows[^1].TestAccuracy}");
        Assert.Equal(5 * ((data.Train.Count + 31) / 32), result.Steps);
    }

    [Fact]
    public void SameSeedGivesBitIdenticalWeightsAndOtherSeedsDiffer()
    {
        Tensor Final(long seed, OptimizerKind opt)
        {
            var (model, data) = Problem(seed);
            Trainer.Train(model, data, new TrainerOptions { Epochs = 2, Optimizer = opt, LearningRate = 0.01, Seed = seed });
            return ParameterVector.Flatten(model);
        }
        foreach (var opt in new[] { OptimizerKind.Sgd, OptimizerKind.Momentum, OptimizerKind.Adam, OptimizerKind.AdamW })
        {
            using var a = Final(7, opt);
            using var b = Final(7, opt);
            using var c = Final(8, opt);
            Assert.True(a.eq(b).all().item<bool>(), $"{opt}: same seed gave different weights");
            Assert.False(a.eq(c).all().item<bool>(), $"{opt}: different seeds gave identical weights");
        }
    }

    [Fact]
    public void HugeLearningRateStopsAsDivergedWithoutThrowing()
    {
        var (model, data) = Problem();
        var result = Trainer.Train(model, data, new TrainerOptions { Epochs = 50, LearningRate = 1e12 });
        Assert.Equal(RunStatus.Diverged, result.Status);
        Assert.Contains("diverged", result.Message);
    }

    [Fact]
    public void UntilLossStopsWhenReachedOrReportsMaxEpochs()
    {
        var (model, data) = Problem();
        var reached = Trainer.Train(model, data, new TrainerOptions { UntilLoss = 0.3, MaxEpochs = 50, LearningRate = 0.1 });
        Assert.Equal(RunStatus.Completed, reached.Status);
        Assert.True(reached.Final!.TrainLoss < 0.3);
        Assert.True(reached.Epochs < 50);

        var (model2, data2) = Problem();
        var gaveUp = Trainer.Train(model2, data2, new TrainerOptions { UntilLoss = 1e-9, MaxEpochs = 2, LearningRate = 0.01 });
        Assert.Equal(RunStatus.MaxEpochs, gaveUp.Status);
        Assert.Equal(2, gaveUp.Epochs);
    }

    [Fact]
    public void EvaluationMatchesAManualComputation()
    {
        var (model, data) = Problem();
        var eval = Evaluation.Evaluate(model, data.Test, batchSize: 7); // uneven batches
        model.eval();
        using var noGrad = torch.no_grad();
        using var logits = model.call(data.Test.Inputs);
        double loss = nn.functional.cross_entropy(logits, data.Test.Labels).item<float>();
        double acc = logits.argmax(1).eq(data.Test.Labels).to_type(ScalarType.Float64).mean().item<double>();
        Assert.Equal(loss, eval.Loss, 1e-5);
        Assert.Equal(acc, eval.Accuracy, 1e-12);
    }

    [Fact]
    public void RunningLossRowsChangeNeitherTheWeightsNorTheRandomStreams()
    {
        (Tensor Weights, Recorder Log) Run(int every)
        {
            var (model, data) = Problem(3);
            var log = new Recorder();
            Trainer.Train(model, data, new TrainerOptions { Epochs = 3, LearningRate = 0.05, BatchSize = 16, Seed = 3, RunningLossEvery = every }, [log]);
            return (ParameterVector.Flatten(model), log);
        }
        var (without, logWithout) = Run(0);
        var (with, log) = Run(4);
        using (without) using (with)
            Assert.True(without.eq(with).all().item<bool>(), "recording the running loss changed the weights");
        Assert.Empty(logWithout.Running);
        Assert.Equal(logWithout.Rows.Select(r => (r.Step, r.TrainLoss, r.TestLoss)), log.Rows.Select(r => (r.Step, r.TrainLoss, r.TestLoss)));

        // Each row is the mean of the last 4 mini-batch losses, recorded every 4 steps.
        Assert.NotEmpty(log.Running);
        foreach (var row in log.Running)
        {
            Assert.Equal(0, row.Step % 4);
            Assert.Equal(4, row.Batches);
            double mean = Enumerable.Range(0, 4).Select(i => log.BatchLosses[(int)row.Step - 1 - i]).Average();
            Assert.Equal(mean, row.Loss, 1e-12);
        }
        Assert.Equal(log.BatchLosses.Count / 4, log.Running.Count);
    }

    private sealed class Recorder : ITrainingObserver
    {
        public List<MetricsRow> Rows { get; } = [];
        public List<RunningLossRow> Running { get; } = [];
        public List<double> BatchLosses { get; } = [];
        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch) => Rows.Add(row);
        public void OnRunningLoss(nn.Module model, RunningLossRow row) => Running.Add(row);
        public void OnStep(nn.Module model, int epoch, long step, double batchLoss) => BatchLosses.Add(batchLoss);
    }
}
