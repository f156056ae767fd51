using Geodesy.Experiments.Specs;

namespace Geodesy.Tests.Specs;

/// <summary>
/// Run ids are stored in run folders and stores: they must never change. These ids were computed
/// by the RunSpec code before its settings were declared in one table.
/// </summary>
public class RunSpecGoldenIdTests
{
    public static TheoryData<string, RunSpec> Specs() => new()
    {
        { "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", new RunSpec() },
        { "723430a8d0c1f6f275b0e845ce48ff5d4640280c55c62b922705b66f5238e557", new RunSpec { Arch = "mlp:784-8-10", Lr = 0.1, Seed = 3 } },
        { "5fea8d7d9c956354d71b3c55a6d7f22a5694bd1609750eb2b7d01f0c16f9682c", new RunSpec
            {
                Data = "gaussian-mixture:classes=3,dim=6,n=300", Arch = "mlp:6-8-3:tanh", Optimizer = "adam", Lr = 1e-3, Momentum = 0.5,
                Batch = 32, WeightDecay = 5e-4, Schedule = "cosine", Warmup = 10, StepEvery = 3, StepGamma = 0.5, Epochs = 7,
                MaxEpochs = 50, Seed = 12, LabelNoise = 0.2, Subset = 500, Normalize = true,
                CheckpointEpochs = [1, 2], CheckpointSteps = [10, 100], LogEvery = 5,
            } },
        { "a4f097696e26246cc77e41e493c56fadf8bbd6ec5fef4eef80afa5a86c340714", new RunSpec { Arch = "cnn:channels=4-8,bn=1", UntilLoss = 0.01, MaxEpochs = 300, Schedule = "step", Optimizer = "sgd" } },
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void IdsOfExistingSpecsNeverChange(string expected, RunSpec spec) => Assert.Equal(expected, spec.Id());
}
