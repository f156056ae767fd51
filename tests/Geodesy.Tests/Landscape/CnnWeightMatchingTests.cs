using Geodesy.Core.Data;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>
/// Weight matching on CNNs (conv → BN → pool → conv → flatten → Linear): a random channel
/// permutation made by hand is found back exactly, and BatchNorm statistics re-estimated from
/// data equal the per-channel means and unbiased variances computed directly.
/// </summary>
public sealed class CnnWeightMatchingTests
{
    private const string Arch = "cnn:channels=3-4,bn=1";
    private static readonly long[] Input = [1, 8, 8];

    /// <summary>A seeded CNN in float64 with non-trivial BatchNorm scale, shift and running statistics.</summary>
    private static nn.Module<Tensor, Tensor> Model(long seed)
    {
        var model = ModelZoo.Create(Arch, Input, 3, seed, ScalarType.Float64);
        var rng = new Geodesy.Core.SeededRandom(seed + 100);
        using var _ = torch.no_grad();
        foreach (var bn in BatchNormStatistics.Layers(model))
        {
            long c = bn.num_features;
            bn.weight.copy_(torch.tensor(Enumerable.Range(0, (int)c).Select(_ => 1 + 0.3 * rng.NextGaussian()).ToArray()));
            bn.bias!.copy_(torch.tensor(Enumerable.Range(0, (int)c).Select(_ => 0.3 * rng.NextGaussian()).ToArray()));
            bn.running_mean!.copy_(torch.tensor(Enumerable.Range(0, (int)c).Select(_ => 0.2 * rng.NextGaussian()).ToArray()));
            bn.running_var!.copy_(torch.tensor(Enumerable.Range(0, (int)c).Select(_ => 0.5 + rng.NextDouble()).ToArray()));
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// The model's channels reordered by hand: output channel i of stage s takes channel p_s[i]
    /// (conv weight and bias, BN scale, shift and statistics), the next conv's input channels and,
    /// through the flatten (channel-major, 2 x 2 positions each), the Linear's input columns.
    /// </summary>
    private static void PermuteChannels(nn.Module<Tensor, Tensor> model, int[] p0, int[] p1)
    {
        var layers = ((SequentialModel)model).Layers;
        var conv0 = (Conv2d)layers[0];
        var bn0 = (BatchNorm)layers[1];
        var conv1 = (Conv2d)layers[4];
        var bn1 = (BatchNorm)layers[5];
        var linear = (Linear)layers[9];
        using var _ = torch.no_grad();
        Tensor I(int[] p) => torch.tensor(p.Select(i => (long)i).ToArray());
        void Set(Tensor target, Tensor value) { using var v = value.clone(); target.copy_(v); }
        Set(conv0.weight!, conv0.weight!.index_select(0, I(p0)));
        Set(conv0.bias!, conv0.bias!.index_select(0, I(p0)));
        foreach (var t in new[] { bn0.weight, bn0.bias!, bn0.running_mean!, bn0.running_var! }) Set(t, t.index_select(0, I(p0)));
        Set(conv1.weight!, conv1.weight!.index_select(1, I(p0)).index_select(0, I(p1)));
        Set(conv1.bias!, conv1.bias!.index_select(0, I(p1)));
        foreach (var t in new[] { bn1.weight, bn1.bias!, bn1.running_mean!, bn1.running_var! }) Set(t, t.index_select(0, I(p1)));
        // Linear input k = c * 4 + position: column c * 4 + q of the new weight is column p1[c] * 4 + q of the old.
        var columns = Enumerable.Range(0, 4).SelectMany(c => Enumerable.Range(0, 4).Select(q => p1[c] * 4 + q)).ToArray();
        Set(linear.weight!, linear.weight!.index_select(1, I(columns)));
    }

    [Fact]
    public void RecoversARandomChannelPermutationExactlyAndKeepsTheFunction()
    {
        using var a = Model(5);
        using var b = Model(5);
        var rng = new Geodesy.Core.SeededRandom(8);
        int[] p0 = [0, 1, 2], p1 = [0, 1, 2, 3];
        rng.Shuffle(p0);
        rng.Shuffle(p1);
        PermuteChannels(b, p0, p1);

        // The permuted copy computes the same function (so the permutation above is a symmetry).
        using var x = torch.randn([5, 1, 8, 8], ScalarType.Float64, generator: new torch.Generator(3));
        using (torch.no_grad())
        using (var ya = a.call(x))
        using (var yb = b.call(x))
            Assert.True(ya.allclose(yb, rtol: 1e-12, atol: 1e-12));

        using var fa = ParameterVector.Flatten(a);
        using var fb = ParameterVector.Flatten(b);
        Assert.False(fa.allclose(fb));
        var result = WeightMatching.Align(a, Arch, fa, fb, seed: 1);
        using var aligned = result.AlignedB;
        Assert.Equal(fa.data<double>().ToArray(), aligned.data<double>().ToArray());
        Assert.Equal(["0", "4"], result.Layers);
        Assert.Equal(Inverse(p0), result.Permutations[0]);
        Assert.Equal(Inverse(p1), result.Permutations[1]);

        // The running statistics of B, reordered by the channel orders found, are A's.
        using var statsA = BatchNormStatistics.Capture(a);
        using var statsB = BatchNormStatistics.Capture(b);
        using var permuted = statsB.Permute(result.BatchNormChannelOrder);
        for (int i = 0; i < statsA.Tensors.Count; i++) Assert.Equal(statsA.Tensors[i].data<double>().ToArray(), permuted.Tensors[i].data<double>().ToArray());
    }

    [Fact]
    public void ReestimatedStatisticsAreTheMeanOfPerBatchMeansAndUnbiasedVariances()
    {
        using var model = Model(2);
        var bn0 = (BatchNorm)((SequentialModel)model).Layers[1];
        var conv0 = (Conv2d)((SequentialModel)model).Layers[0];
        var inputs = torch.randn([12, 1, 8, 8], ScalarType.Float64, generator: new torch.Generator(4));
        using var data = new Dataset("twelve", inputs, torch.zeros(12, ScalarType.Int64), 3);
        // By hand: the conv output of each batch of 4, per channel mean and unbiased variance over (N, H, W), averaged over the 3 batches.
        var mean = new double[3];
        var variance = new double[3];
        using (torch.no_grad())
            for (int b = 0; b < 3; b++)
            {
                using var z = conv0.call(inputs.narrow(0, 4 * b, 4));
                var values = z.permute(1, 0, 2, 3).reshape(3, -1).data<double>().ToArray();
                int m = values.Length / 3;
                for (int c = 0; c < 3; c++)
                {
                    var v = values.Skip(c * m).Take(m).ToArray();
                    double mu = v.Average();
                    mean[c] += mu / 3;
                    variance[c] += v.Sum(t => (t - mu) * (t - mu)) / (m - 1) / 3;
                }
            }
        long passed = BatchNormStatistics.Reestimate(model, data, batchSize: 4);
        Assert.Equal(12, passed);
        Assert.False(model.training);
        var gotMean = bn0.running_mean!.data<double>().ToArray();
        var gotVar = bn0.running_var!.data<double>().ToArray();
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(mean[c], gotMean[c], 1e-10);
            Assert.Equal(variance[c], gotVar[c], 1e-10);
        }
    }

    private static int[] Inverse(int[] p)
    {
        var inverse = new int[p.Length];
        for (int i = 0; i < p.Length; i++) inverse[p[i]] = i;
        return inverse;
    }
}
