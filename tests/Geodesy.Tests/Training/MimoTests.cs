using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Techniques;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>MIMO: M = 1 is the plain model, member inputs and heads map as documented, member batches follow Havasi et al.</summary>
public class MimoTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    [Fact]
    public void OneMemberTrainsExactlyLikeThePlainModel()
    {
        var data = DataSpecs.Load(Mixture);
        using var plain = ModelZoo.Create("mlp:6-16-3", data.Train.InputShape, 3, 4, ScalarType.Float64);
        using var mimo = MimoModel.Create("mlp:6-16-3", data.Train.InputShape, 3, 1, 4, ScalarType.Float64);
        var options = new TrainerOptions { Epochs = 3, LearningRate = 0.1, BatchSize = 32, Seed = 9 };
        var a = Trainer.Train(plain, data, options);
        var b = Trainer.Train(mimo, data, options with { BatchTransform = new MimoBatches(1, 1, 0, 9) });
        var pa = plain.named_parameters().ToList();
        var pb = mimo.named_parameters().ToList();
        Assert.Equal(pa.Select(p => p.name), pb.Select(p => p.name));
        for (int i = 0; i < pa.Count; i++)
            Assert.True(pa[i].parameter.allclose(pb[i].parameter, rtol: 0, atol: 1e-12), $"{pa[i].name}: max diff {(pa[i].parameter - pb[i].parameter).abs().max().item<double>()}");
        Assert.Equal(a.Final!.TestLoss, b.Final!.TestLoss, 12);
        Assert.Equal(a.Final.TestAccuracy, b.Final.TestAccuracy);
    }

    [Fact]
    public void MembersReadTheirOwnInputBlockAndTheEnsembleAveragesSoftmax()
    {
        long[] shape = [6];
        using var mimo = MimoModel.Create("mlp:6-16-3", shape, 3, 2, 11, ScalarType.Float64);
        Assert.Equal("mlp:12-16-6", MimoModel.MemberSpec("mlp:6-16-3", 2));
        using var inner = ModelZoo.Create("mlp:12-16-6", [12], 6, 11, ScalarType.Float64); // the same network, built by hand
        var x0 = torch.randn(5, 6, dtype: ScalarType.Float64);
        var x1 = torch.randn(5, 6, dtype: ScalarType.Float64);
        // Training: [N, M, D] -> logits [N, K, M]; member m's logits are outputs m·K .. m·K + K − 1.
        var stacked = mimo.call(torch.stack([x0, x1], 1));
        var reference = inner.call(torch.cat([x0, x1], 1)).reshape(5, 2, 3).transpose(1, 2);
        Assert.True(stacked.allclose(reference, rtol: 0, atol: 1e-12));
        // Evaluation: the example in both inputs, log of the mean of the two members' softmax.
        var z = inner.call(torch.cat([x0, x0], 1)).reshape(5, 2, 3);
        var meanProb = (z.select(1, 0).softmax(1) + z.select(1, 1).softmax(1)) / 2;
        Assert.True(mimo.call(x0).allclose(meanProb.log(), rtol: 0, atol: 1e-12));
    }

    [Fact]
    public void MemberBatchesShuffleIndependentlyAndShareTheRepeatedFraction()
    {
        var x = torch.arange(8, dtype: ScalarType.Float64).unsqueeze(1); // example i has input i and label i
        var y = torch.arange(8);
        var (inputs, labels) = new MimoBatches(3, 2, 0.5, 1).Apply(x, y);
        Assert.Equal([16L, 3L, 1L], inputs.shape); // B·r rows, M members
        Assert.True(inputs.squeeze(2).to_type(ScalarType.Int64).eq(labels).all().item<bool>()); // inputs and labels move together
        for (int m = 0; m < 3; m++) // every member sees each example r = 2 times
            Assert.True(labels.select(1, m).bincount(null, 8).eq(2).all().item<bool>());
        // ρ = 0.5: the last 8 positions are shared by all members, the first 8 are shuffled per member.
        Assert.True(labels.narrow(0, 8, 8).select(1, 0).eq(labels.narrow(0, 8, 8).select(1, 2)).all().item<bool>());
        Assert.False(labels.narrow(0, 0, 8).select(1, 0).eq(labels.narrow(0, 0, 8).select(1, 1)).all().item<bool>());
    }
}
