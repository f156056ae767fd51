using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Pruning;

public enum PruningScope { Global, PerLayer }

/// <summary>
/// One round of magnitude pruning (Frankle &amp; Carbin 2019; open_lth's sparse_global): of the
/// weights the current mask keeps, the ⌈rate · remaining⌉ of smallest magnitude are pruned —
/// over all prunable tensors together (<see cref="PruningScope.Global"/>, open_lth's default) or
/// in each tensor separately, ⌈rate · remaining in that tensor⌉ (<see cref="PruningScope.PerLayer"/>).
/// Prunable tensors are the weights of Linear and Conv layers (not biases, not BatchNorm), the
/// output layer included, as open_lth's default prunable_layer_names. Exactly that many are pruned:
/// ties in magnitude are broken by position (flat index), so the sparsity is exact, where open_lth
/// keeps |w| &gt; threshold and may prune one more (or more on ties).
/// </summary>
public static class MagnitudePruning
{
    /// <summary>Names of the weights of Linear and Conv layers, in parameter order.</summary>
    public static IEnumerable<string> PrunableNames(nn.Module model) =>
        model.named_modules()
            .Where(m => m.module is Linear or Conv1d or Conv2d or Conv3d)
            .Select(m => string.IsNullOrEmpty(m.name) ? "weight" : m.name + ".weight");

    /// <summary>Number pruned this round from <paramref name="remaining"/> kept weights.</summary>
    public static long CountToPrune(long remaining, double rate) => (long)Math.Ceiling(rate * remaining - 1e-9);

    /// <summary>The mask after pruning <paramref name="rate"/> of the weights <paramref name="current"/> keeps, by the magnitudes in <paramref name="trained"/>.</summary>
    public static PruningMask Prune(nn.Module trained, PruningMask current, double rate, PruningScope scope)
    {
        if (!(rate > 0 && rate < 1)) throw new InputException($"--rate must be in (0, 1) (got {rate})");
        using var dispose = NewDisposeScope();
        var weights = trained.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var names = current.Names.ToList();
        foreach (var name in names)
            if (!weights.ContainsKey(name)) throw new InputException($"the mask names '{name}', which the model does not have");
        // Magnitudes of kept entries; pruned entries get +inf so they are never chosen again.
        var scores = names.ToDictionary(n => n, n => weights[n].detach().abs().to_type(ScalarType.Float64)
            .masked_fill(current[n].eq(0), double.PositiveInfinity).flatten());
        var next = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var n in names) next[n] = current[n].flatten().clone();
        if (scope == PruningScope.Global)
        {
            long remaining = names.Sum(n => current[n].count_nonzero().item<long>());
            var all = torch.cat(names.Select(n => scores[n]).ToArray());
            var chosen = SmallestIndices(all, CountToPrune(remaining, rate));
            long offset = 0;
            foreach (var n in names)
            {
                long len = scores[n].numel();
                var local = chosen.masked_select(chosen.ge(offset).logical_and(chosen.lt(offset + len))) - offset;
                next[n].index_fill_(0, local, 0.0);
                offset += len;
            }
        }
        else
        {
            foreach (var n in names)
            {
                long remaining = current[n].count_nonzero().item<long>();
                next[n].index_fill_(0, SmallestIndices(scores[n], CountToPrune(remaining, rate)), 0.0);
            }
        }
        var result = new PruningMask(names.Select(n => KeyValuePair.Create(n, next[n].reshape(current[n].shape))));
        return result;
    }

    /// <summary>Indices of the k smallest values, ties broken by lower index (a stable sort).</summary>
    private static Tensor SmallestIndices(Tensor values, long k)
    {
        if (k == 0) return torch.empty(0, dtype: ScalarType.Int64);
        var (_, order) = values.sort(dim: 0, descending: false, stable: true);
        return order.narrow(0, 0, k);
    }
}
