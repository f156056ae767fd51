using Geodesy.Core;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>The Hungarian algorithm against brute force, and weight matching on hand-permuted MLPs.</summary>
public sealed class WeightMatchingTests
{
    private static IEnumerable<int[]> AllPermutations(int[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }
        for (int k = 0; k < items.Length; k++)
            foreach (var rest in AllPermutations(items.Where((_, i) => i != k).ToArray()))
                yield return rest.Prepend(items[k]).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void HungarianMatchesBruteForce(long seed)
    {
        var rng = new SeededRandom(seed);
        int n = 6;
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                a[i, j] = Math.Round(rng.NextGaussian() * 10) / 10; // ties on purpose
        double best = AllPermutations(Enumerable.Range(0, n).ToArray()).Max(p => p.Select((j, i) => a[i, j]).Sum());
        var found = LinearAssignment.Maximize(a);
        Assert.Equal(Enumerable.Range(0, n), found.OrderBy(j => j));
        Assert.Equal(best, found.Select((j, i) => a[i, j]).Sum(), 12);
    }

    /// <summary>
    /// The hidden units of a copy permuted by hand (rows of W_ℓ and b_ℓ, columns of W_ℓ+1): weight
    /// matching finds the permutation back and the aligned copy equals the original exactly.
    /// </summary>
    [Fact]
    public void RecoversARandomPermutationOfHiddenUnitsExactly()
    {
        using var model = ModelZoo.Create("mlp:5-7-6-3", [5], 3, seed: 11, ScalarType.Float64);
        using var a = ParameterVector.Flatten(model);
        var rng = new SeededRandom(4);
        int[] p0 = Enumerable.Range(0, 7).ToArray(), p1 = Enumerable.Range(0, 6).ToArray();
        rng.Shuffle(p0);
        rng.Shuffle(p1);
        using var b = torch.tensor(PermuteByHand(model, p0, p1), ScalarType.Float64);

        var result = WeightMatching.Align(model, "mlp:5-7-6-3", a, b, seed: 0);
        using var aligned = result.AlignedB;
        Assert.Equal(a.data<double>().ToArray(), aligned.data<double>().ToArray());
        Assert.Equal(["0", "2"], result.Layers);
        // Unit i of B is unit p[i] of A, so position j of the aligned B must take B's unit p⁻¹[j].
        Assert.Equal(Inverse(p0), result.Permutations[0]);
        Assert.Equal(Inverse(p1), result.Permutations[1]);
    }

    [Fact]
    public void RejectsModelsThatAreNotSequential()
    {
        using var model = ModelZoo.Create("resnet20:width=2", [3, 8, 8], 3, seed: 1);
        using var flat = ParameterVector.Flatten(model);
        Assert.Throws<InputException>(() => WeightMatching.Align(model, "resnet20:width=2", flat, flat, 0));
    }

    private static int[] Inverse(int[] p)
    {
        var inverse = new int[p.Length];
        for (int i = 0; i < p.Length; i++) inverse[p[i]] = i;
        return inverse;
    }

    /// <summary>The flat vector of the model with hidden unit i of layer ℓ taken from unit p_ℓ[i], by explicit loops.</summary>
    public static double[] PermuteByHand(nn.Module model, int[] p0, int[] p1)
    {
        var w = model.parameters().Select(t => (t.shape, t.detach().data<double>().ToArray())).ToArray();
        var (s0, w0) = w[0];
        var (_, b0) = w[1];
        var (s2, w2) = w[2];
        var (_, b2) = w[3];
        var (s4, w4) = w[4];
        var (_, b4) = w[5];
        long in0 = s0[1], h0 = s0[0], h1 = s2[0], outs = s4[0];
        var n0 = new double[w0.Length]; var nb0 = new double[b0.Length];
        var n2 = new double[w2.Length]; var nb2 = new double[b2.Length];
        var n4 = new double[w4.Length];
        for (long i = 0; i < h0; i++)
        {
            for (long k = 0; k < in0; k++) n0[i * in0 + k] = w0[p0[i] * in0 + k];
            nb0[i] = b0[p0[i]];
        }
        for (long i = 0; i < h1; i++)
        {
            for (long k = 0; k < h0; k++) n2[i * h0 + k] = w2[p1[i] * h0 + p0[k]];
            nb2[i] = b2[p1[i]];
        }
        for (long o = 0; o < outs; o++)
            for (long k = 0; k < h1; k++) n4[o * h1 + k] = w4[o * h1 + p1[k]];
        return [.. n0, .. nb0, .. n2, .. nb2, .. n4, .. b4];
    }
}
