using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Data;

/// <summary>
/// A labelled set of examples held in memory: inputs as a float32 tensor [N, ...InputShape]
/// (images as byte/255.0, no other normalization unless asked) and int64 labels [N].
/// </summary>
public sealed class Dataset : IDisposable
{
    public Dataset(string name, Tensor inputs, Tensor labels, int numClasses)
    {
        if (inputs.shape[0] != labels.shape[0])
            throw new InputException($"{name}: {inputs.shape[0]} inputs but {labels.shape[0]} labels");
        Name = name;
        Inputs = inputs;
        Labels = labels;
        NumClasses = numClasses;
    }

    public string Name { get; }
    /// <summary>float32 [N, ...InputShape].</summary>
    public Tensor Inputs { get; }
    /// <summary>int64 [N], each in [0, NumClasses).</summary>
    public Tensor Labels { get; }
    public int NumClasses { get; }
    public long Count => Inputs.shape[0];
    /// <summary>The shape of one example, e.g. [1, 28, 28] for MNIST.</summary>
    public long[] InputShape => Inputs.shape.Skip(1).ToArray();
    /// <summary>Number of input features of one example flattened (784 for MNIST).</summary>
    public long InputSize => InputShape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The examples at the given indices (a copy).</summary>
    public Dataset Select(long[] indices, string? name = null)
    {
        using var idx = torch.tensor(indices, dtype: ScalarType.Int64);
        return new Dataset(name ?? Name, Inputs.index_select(0, idx), Labels.index_select(0, idx), NumClasses);
    }

    /// <summary>The first n examples (a view).</summary>
    public Dataset Take(long n, string? name = null) =>
        new(name ?? Name, Inputs.narrow(0, 0, Math.Min(n, Count)), Labels.narrow(0, 0, Math.Min(n, Count)), NumClasses);

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
    }
}

/// <summary>A train/test pair with the SHA-256 that identifies the data (for provenance).</summary>
public sealed record DataSplit(Dataset Train, Dataset Test, string Sha256, string Spec) : IDisposable
{
    /// <summary>
    /// Indices (into Train, ascending) whose label differs from the clean label: flipped by
    /// --label-noise or corrupted by the source (modular corrupt=). Empty if none.
    /// </summary>
    public long[] FlippedIndices { get; init; } = [];

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
