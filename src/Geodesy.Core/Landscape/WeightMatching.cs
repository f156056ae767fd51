using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>
/// What weight matching found: one permutation per hidden layer (named by the layer that opens it),
/// the aligned weights of B, and for each BatchNorm layer the channel order of its running
/// statistics (null when no permutation reaches it).
/// </summary>
public sealed record WeightMatchingResult(IReadOnlyList<int[]> Permutations, IReadOnlyList<string> Layers, int Iterations, Tensor AlignedB,
    IReadOnlyList<int[]?> BatchNormChannelOrder);

/// <summary>
/// Weight matching (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1; the authors'
/// weight_matching.py) for sequential MLPs and CNNs: permutes the hidden units and channels of
/// model B so its weights match model A's. For each permutation P in turn (seeded random order
/// per sweep), with the others held fixed, maximizing Σ ⟨W_a, P·W_b⟩ over every parameter axis P
/// acts on (<see cref="PermutationSpec"/>) is a linear assignment problem over the matrix
/// Σ W_a,(axis) · W_b,(axis)ᵀ (each parameter moved to put that axis first, other axes permuted
/// already, flattened); sweeps repeat until no permutation improves. Permuting hidden units leaves
/// B's function unchanged.
/// </summary>
public static class WeightMatching
{
    public const int MaxIterations = 100;

    /// <summary>Throws InputException unless weight matching knows every layer of the model (<see cref="PermutationSpec.For"/>).</summary>
    public static void Check(nn.Module model, string arch) => PermutationSpec.For(model, arch);

    /// <summary>Finds the permutations of B's hidden units (flat vectors a and b of one architecture <paramref name="model"/>) and returns B permuted.</summary>
    public static WeightMatchingResult Align(nn.Module model, string arch, Tensor a, Tensor b, long seed)
    {
        var groups = PermutationSpec.For(model, arch);
        using var scope = NewDisposeScope();
        var wa = ParameterVector.Split(model, a.to_type(ScalarType.Float64));
        var wb = ParameterVector.Split(model, b.to_type(ScalarType.Float64));
        var perms = groups.Select(g => Enumerable.Range(0, g.Size).ToArray()).ToArray();
        var rng = SeededRandom.Stream(seed, "weight-matching");
        int iteration = 0;
        bool changed = true;
        while (changed && iteration < MaxIterations)
        {
            changed = false;
            iteration++;
            var order = Enumerable.Range(0, groups.Count).ToArray();
            rng.Shuffle(order);
            foreach (int g in order)
            {
                using var step = NewDisposeScope();
                int n = groups[g].Size;
                var cost = torch.zeros(n, n, ScalarType.Float64);
                foreach (var axis in groups[g].Axes)
                {
                    var fromA = wa[axis.Parameter].reshape(axis.View).movedim([axis.Axis], [0L]).reshape(n, -1);
                    var fromB = PermutedExcept(groups, perms, wb, axis.Parameter, g).movedim([axis.Axis], [0L]).reshape(n, -1);
                    cost += fromA.mm(fromB.t());
                }
                var matrix = ToArray(cost);
                var next = LinearAssignment.Maximize(matrix);
                double Score(int[] p) => p.Select((j, i) => matrix[i, j]).Sum();
                if (Score(next) > Score(perms[g]) + 1e-12 * Math.Max(1, Math.Abs(Score(perms[g]))))
                {
                    perms[g] = next;
                    changed = true;
                }
            }
        }
        var aligned = Permute(model, arch, b, perms);
        int batchNorms = BatchNormStatistics.Layers(model).Count;
        var bnOrder = new int[]?[batchNorms];
        for (int g = 0; g < groups.Count; g++)
            foreach (int layer in groups[g].BatchNormLayers) bnOrder[layer] = perms[g];
        return new WeightMatchingResult(perms, groups.Select(x => x.Layer).ToArray(), iteration, aligned.MoveToOuterDisposeScope(), bnOrder);
    }

    /// <summary>
    /// B with unit P[i] of each group moved to position i on every axis the group acts on (the
    /// function of the network is unchanged); one permutation per group of <see cref="PermutationSpec.For"/>.
    /// </summary>
    public static Tensor Permute(nn.Module model, string arch, Tensor flat, IReadOnlyList<int[]> perms)
    {
        var groups = PermutationSpec.For(model, arch);
        if (perms.Count != groups.Count) throw new ArgumentException($"{groups.Count} permutation(s) expected, got {perms.Count}");
        using var scope = NewDisposeScope();
        var parts = ParameterVector.Split(model, flat);
        var permuted = parts.Select((p, i) => PermutedExcept(groups, perms, parts, i, except: -1).reshape(p.shape)).ToArray();
        return ParameterVector.Concat(permuted).MoveToOuterDisposeScope();
    }

    /// <summary>Parameter <paramref name="parameter"/> of B seen in its view, permuted on every axis except those of group <paramref name="except"/>.</summary>
    private static Tensor PermutedExcept(IReadOnlyList<PermutationGroup> groups, IReadOnlyList<int[]> perms, Tensor[] parts, int parameter, int except)
    {
        var w = parts[parameter];
        bool viewed = false;
        for (int g = 0; g < groups.Count; g++)
        {
            foreach (var axis in groups[g].Axes)
            {
                if (axis.Parameter != parameter) continue;
                if (!viewed)
                {
                    w = w.reshape(axis.View);
                    viewed = true;
                }
                if (g != except) w = w.index_select(axis.Axis, Index(perms[g]));
            }
        }
        return w;
    }

    private static Tensor Index(int[] p) => torch.tensor(p.Select(i => (long)i).ToArray());

    private static double[,] ToArray(Tensor m)
    {
        int rows = (int)m.shape[0], cols = (int)m.shape[1];
        var flat = m.contiguous().data<double>().ToArray();
        var result = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                result[i, j] = flat[i * cols + j];
        return result;
    }
}
