using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>TrainerOptions.StartStep: continuing from the weights at step k reproduces the run (plain SGD, same seed).</summary>
public sealed class TrainerResumeTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    /// <summary>Keeps a copy of the weights after one chosen step.</summary>
    private sealed class Snapshot(long step) : ITrainingObserver
    {
        public Tensor? Weights { get; private set; }
        public void OnStep(nn.Module model, int epoch, long s, double batchLoss)
        {
            if (s == step) Weights = ParameterVector.Flatten(model);
        }
    }

    [Theory]
    [InlineData(1, 3)] // inside epoch 2
    [InlineData(2, 0)] // at the end of epoch 2
    public void ContinuingFromStepKWithTheSameSeedReproducesTheRun(int epochs, int steps)
    {
        using var data = DataSpecs.Load(Mixture);
        var options = new TrainerOptions { Optimizer = OptimizerKind.Sgd, Epochs = 4, LearningRate = 0.1, BatchSize = 32, Schedule = ScheduleKind.Cosine, Seed = 7 };
        long perEpoch = (data.Train.Count + 31) / 32;
        long k = epochs * perEpoch + steps;
        using var straight = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 3);
        var snapshot = new Snapshot(k);
        var full = Trainer.Train(straight, data, options, [snapshot]);
        using var atK = snapshot.Weights!;

        using var resumed = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 99);
        ParameterVector.Assign(resumed, atK);
        var rest = Trainer.Train(resumed, data, options with { StartStep = k });
        Assert.Equal(full.Steps, rest.Steps);
        long seenBeforeK = epochs * data.Train.Count + steps * 32;
        Assert.Equal(full.ExamplesSeen - seenBeforeK, rest.ExamplesSeen);
        using var a = ParameterVector.Flatten(straight);
        using var b = ParameterVector.Flatten(resumed);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());

        // Another data order from k gives other weights.
        using var other = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 99);
        ParameterVector.Assign(other, atK);
        Trainer.Train(other, data, options with { StartStep = k, Seed = 8 });
        using var c = ParameterVector.Flatten(other);
        Assert.NotEqual(a.data<float>().ToArray(), c.data<float>().ToArray());
    }
}
