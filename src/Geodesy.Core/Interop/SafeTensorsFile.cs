using static TorchSharp.torch;

namespace Geodesy.Core.Interop;

/// <summary>
/// The contents of a safetensors file: its tensors in the order of their data in the file
/// (F16/BF16 already widened to float32) and its string metadata (empty when the file has none).
/// Disposing it disposes the tensors.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    internal SafeTensorsFile(string source, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Where the tensors came from (the path, or the name given for a stream).</summary>
    public string Source { get; }
    public IReadOnlyList<(string Name, Tensor Tensor)> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensor called <paramref name="name"/>; an <see cref="InputException"/> when absent.</summary>
    public Tensor this[string name] =>
        Tensors.FirstOrDefault(t => t.Name == name).Tensor
        ?? throw new InputException($"safetensors file '{Source}' has no tensor '{name}'");

    public void Dispose()
    {
        foreach (var (_, t) in Tensors) t.Dispose();
    }
}
