using Geodesy.Core.Interop;
using Geodesy.Core.Training.Techniques;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Pruning;

/// <summary>
/// A 0/1 mask per prunable tensor (parameter name → mask of its shape). As a training constraint
/// it multiplies those weights by their mask before the first step and after every optimizer
/// step, so pruned weights are exactly 0 throughout training whatever momentum or weight decay
/// do (the projection of open_lth's PrunedModel, which re-masks before every forward pass).
/// Parameters without a mask are dense. Saved as safetensors (float32 0/1, PyTorch names).
/// </summary>
public sealed class PruningMask : IParameterConstraint, IDisposable
{
    private readonly Dictionary<string, Tensor> _masks;

    public PruningMask(IEnumerable<KeyValuePair<string, Tensor>> masks) =>
        _masks = masks.ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(ScalarType.Float32).clone().DetachFromDisposeScope(), StringComparer.Ordinal);

    /// <summary>The masked tensor names, in the order given.</summary>
    public IReadOnlyCollection<string> Names => _masks.Keys;

    public Tensor this[string name] => _masks[name];

    /// <summary>The all-ones mask over the prunable weights of the model (<see cref="MagnitudePruning.PrunableNames"/>).</summary>
    public static PruningMask Dense(nn.Module model)
    {
        var names = MagnitudePruning.PrunableNames(model).ToHashSet(StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        return new PruningMask(model.named_parameters().Where(p => names.Contains(p.name))
            .Select(p => KeyValuePair.Create(p.name, torch.ones_like(p.parameter, dtype: ScalarType.Float32))));
    }

    /// <summary>Entries kept (mask 1), counted exactly.</summary>
    public long Remaining => _masks.Values.Sum(m => m.count_nonzero().item<long>());

    /// <summary>Entries under the mask (kept or pruned).</summary>
    public long Total => _masks.Values.Sum(m => m.numel());

    /// <summary>Fraction of masked entries that are pruned: 1 − Remaining/Total, from exact counts.</summary>
    public double Sparsity => Total == 0 ? 0 : 1 - Remaining / (double)Total;

    public IEnumerable<Parameter> Trainable(nn.Module model) => model.parameters();

    public void Project(nn.Module model)
    {
        foreach (var (name, parameter) in model.named_parameters())
            if (_masks.TryGetValue(name, out var mask))
            {
                using var m = mask.to_type(parameter.dtype);
                parameter.mul_(m);
            }
    }

    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) => SafeTensors.Write(path, _masks, metadata);

    public static PruningMask Load(string path)
    {
        using var file = SafeTensors.Read(path);
        return new PruningMask(file.Tensors.Select(t => KeyValuePair.Create(t.Name, t.Tensor)));
    }

    public void Dispose()
    {
        foreach (var m in _masks.Values) m.Dispose();
    }
}
