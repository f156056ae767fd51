using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>What weight matching found: one permutation per hidden layer and the aligned weights of B.</summary>
public sealed record WeightMatchingResult(IReadOnlyList<int[]> Permutations, IReadOnlyList<string> Layers, int Iterations, Tensor AlignedB);

/// <summary>
/// Weight matching (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1) for MLPs: permutes the
/// hidden units of model B so its weights match model A's. For each hidden layer ℓ in turn, the
/// permutation P_ℓ maximizing Σ ⟨W_a, P W_b⟩ over the layer's incoming weights and bias and the next
/// layer's outgoing weights (with the neighbouring permutations held fixed) is a linear assignment;
/// sweeps repeat until no permutation changes. Permuting hidden units leaves B's function unchanged.
/// </summary>
public static class WeightMatching
{
    public const int MaxIterations = 100;

    /// <summary>
    /// Throws InputException unless the model is an mlp: spec whose parameters are weight [out, in],
    /// bias [out] pairs that chain, with at least one hidden layer.
    /// </summary>
    public static void CheckMlp(nn.Module model, string arch)
    {
        var shapes = model.parameters().Select(p => p.shape).ToArray();
        bool chained = shapes.Length >= 4 && shapes.Length % 2 == 0;
        for (int k = 0; chained && k < shapes.Length; k += 2)
        {
            chained = shapes[k].Length == 2 && shapes[k + 1].Length == 1 && shapes[k + 1][0] == shapes[k][0];
            if (chained && k > 0) chained = shapes[k][1] == shapes[k - 2][0];
        }
        if (!arch.StartsWith("mlp:", StringComparison.Ordinal) || !chained)
            throw new InputException($"--align weights supports MLPs with at least one hidden layer (mlp:IN-H-...-OUT), not '{arch}'");
    }

    /// <summary>Finds the permutations of B's hidden units (flat vectors a and b of one MLP <paramref name="model"/>) and returns B permuted.</summary>
    public static WeightMatchingResult Align(nn.Module model, string arch, Tensor a, Tensor b, long seed)
    {
        CheckMlp(model, arch);
        using var scope = NewDisposeScope();
        var wa = ParameterVector.Split(model, a.to_type(ScalarType.Float64));
        var wb = ParameterVector.Split(model, b.to_type(ScalarType.Float64));
        int layers = wa.Length / 2;
        int hidden = layers - 1;
        var perms = Enumerable.Range(0, hidden).Select(l => Enumerable.Range(0, (int)wa[2 * l].shape[0]).ToArray()).ToArray();
        var rng = SeededRandom.Stream(seed, "weight-matching");
        int iteration = 0;
        bool changed = true;
        while (changed && iteration < MaxIterations)
        {
            changed = false;
            iteration++;
            var order = Enumerable.Range(0, hidden).ToArray();
            rng.Shuffle(order);
            foreach (int l in order)
            {
                using var step = NewDisposeScope();
                // Incoming: W_a,l · (W_b,l with its inputs permuted by P_{l-1})ᵀ, plus the biases' outer product.
                var wbIn = l == 0 ? wb[0] : wb[2 * l].index_select(1, Index(perms[l - 1]));
                var cost = wa[2 * l].mm(wbIn.t()) + wa[2 * l + 1].unsqueeze(1).mm(wb[2 * l + 1].unsqueeze(0));
                // Outgoing: columns of W_a,l+1 against columns of W_b,l+1 with its outputs permuted by P_{l+1}.
                var wbOut = l + 1 < hidden ? wb[2 * l + 2].index_select(0, Index(perms[l + 1])) : wb[2 * l + 2];
                cost = cost + wa[2 * l + 2].t().mm(wbOut);
                var matrix = ToArray(cost);
                var next = LinearAssignment.Maximize(matrix);
                double Score(int[] p) => p.Select((j, i) => matrix[i, j]).Sum();
                if (Score(next) > Score(perms[l]) + 1e-12 * Math.Max(1, Math.Abs(Score(perms[l]))))
                {
                    perms[l] = next;
                    changed = true;
                }
            }
        }
        var aligned = Permute(model, b, perms);
        var names = model.named_parameters().Where((_, k) => k % 2 == 0).Take(hidden).Select(p => p.name[..p.name.LastIndexOf('.')]).ToArray();
        return new WeightMatchingResult(perms, names, iteration, aligned.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// B with hidden unit P_ℓ[i] of layer ℓ moved to position i: rows of W_ℓ and entries of b_ℓ by
    /// P_ℓ, columns of W_{ℓ+1} by P_ℓ (the function of the network is unchanged).
    /// </summary>
    public static Tensor Permute(nn.Module model, Tensor flat, IReadOnlyList<int[]> perms)
    {
        using var scope = NewDisposeScope();
        var parts = ParameterVector.Split(model, flat).ToArray();
        for (int l = 0; l < perms.Count; l++)
        {
            var index = Index(perms[l]);
            parts[2 * l] = parts[2 * l].index_select(0, index);
            parts[2 * l + 1] = parts[2 * l + 1].index_select(0, index);
            parts[2 * l + 2] = parts[2 * l + 2].index_select(1, index);
        }
        return ParameterVector.Concat(parts).MoveToOuterDisposeScope();
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
