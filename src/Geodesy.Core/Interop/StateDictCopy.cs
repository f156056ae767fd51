using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Interop;

/// <summary>Strict copy of named tensors into a model's state_dict, shared by the safetensors and TorchScript importers.</summary>
internal static class StateDictCopy
{
    /// <summary>
    /// Checks that <paramref name="source"/> has exactly the model's state_dict names and shapes,
    /// then copies every value (converted to the model's dtype) without recording gradients. On the
    /// first mismatch it throws an <see cref="InputException"/> prefixed by <paramref name="what"/>
    /// and leaves the model unchanged.
    /// </summary>
    public static void CopyStrict(nn.Module model, IReadOnlyList<(string Name, Tensor Tensor)> source, string what)
    {
        var target = model.state_dict();
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in source)
            if (!byName.TryAdd(name, t)) throw new InputException($"{what}: tensor '{name}' appears twice");
        foreach (var name in target.Keys)
            if (!byName.ContainsKey(name)) throw new InputException($"{what}: missing tensor '{name}'");
        foreach (var (name, _) in source)
            if (!target.ContainsKey(name)) throw new InputException($"{what}: unexpected tensor '{name}'");
        foreach (var (name, t) in target)
        {
            long[] inFile = byName[name].shape, inModel = t.shape;
            if (!inFile.SequenceEqual(inModel))
                throw new InputException($"{what}: '{name}' has shape {SafeTensors.FormatShape(inFile)} in file, {SafeTensors.FormatShape(inModel)} in model");
        }
        using var noGrad = torch.no_grad();
        foreach (var (name, t) in target) t.copy_(byName[name]);
    }
}
