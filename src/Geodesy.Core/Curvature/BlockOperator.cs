using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The restriction P^T A P of an operator to a subset of the coordinates (one layer, or any set
/// of parameter indices): v of the block's length is embedded with zeros, multiplied by A, and the
/// block's rows are read back. Each product costs one product of the inner operator.
/// </summary>
public sealed class BlockOperator : ILinearOperator
{
    private readonly ILinearOperator _inner;
    private readonly long _offset = -1;
    private readonly Tensor? _indices;

    /// <summary>The contiguous block [offset, offset + length).</summary>
    public BlockOperator(ILinearOperator inner, long offset, long length, string? block = null)
    {
        if (length < 1 || offset < 0 || offset + length > inner.Dimension)
            throw new InputException($"{inner.Name}: block [{offset}, {offset + length}) is outside [0, {inner.Dimension})");
        _inner = inner;
        _offset = offset;
        Dimension = length;
        Block = block ?? $"{offset}:{offset + length}";
    }

    /// <summary>The block of the given coordinates, in the order given (no duplicates).</summary>
    public BlockOperator(ILinearOperator inner, IReadOnlyCollection<long> indices, string? block = null)
    {
        if (indices.Count == 0) throw new InputException($"{inner.Name}: a block needs at least one index");
        var seen = new HashSet<long>();
        foreach (long i in indices)
        {
            if (i < 0 || i >= inner.Dimension) throw new InputException($"{inner.Name}: block index {i} is outside [0, {inner.Dimension})");
            if (!seen.Add(i)) throw new InputException($"{inner.Name}: block index {i} is repeated");
        }
        _inner = inner;
        _indices = tensor(indices.ToArray(), dtype: ScalarType.Int64).DetachFromDisposeScope();
        Dimension = indices.Count;
        Block = block ?? $"{indices.Count} indices";
    }

    public long Dimension { get; }
    /// <summary>What the block is, e.g. a layer name "0".</summary>
    public string Block { get; }
    public string Name => _inner.Name;
    public ScalarType DType => _inner.DType;
    public string ProductMethod => _inner.ProductMethod;
    public long Applications { get; private set; }

    public Tensor Apply(Tensor v)
    {
        CurvatureProblem.CheckVector(v, Dimension, DType, $"{Name} block {Block}");
        using var scope = NewDisposeScope();
        var full = zeros(_inner.Dimension, dtype: DType);
        Tensor result;
        if (_indices is null)
        {
            full.narrow(0, _offset, Dimension).copy_(v);
            using var av = _inner.Apply(full);
            result = av.narrow(0, _offset, Dimension).clone();
        }
        else
        {
            full.index_copy_(0, _indices, v.detach());
            using var av = _inner.Apply(full);
            result = av.index_select(0, _indices);
        }
        Applications++;
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The layers of a model as contiguous ranges of the flat vector: parameters are grouped by
    /// their module path (the name without its last part), so "0.weight" and "0.bias" form
    /// layer "0", "layer1.0.conv1.weight" forms "layer1.0.conv1".
    /// </summary>
    public static IReadOnlyList<(string Layer, long Offset, long Length)> Layers(nn.Module model)
    {
        var layers = new List<(string Layer, long Offset, long Length)>();
        foreach (var (name, offset, length, _) in Models.ParameterVector.Layout(model))
        {
            int dot = name.LastIndexOf('.');
            string layer = dot < 0 ? name : name[..dot];
            if (layers.Count > 0 && layers[^1].Layer == layer && layers[^1].Offset + layers[^1].Length == offset)
                layers[^1] = (layer, layers[^1].Offset, layers[^1].Length + length);
            else
                layers.Add((layer, offset, length));
        }
        return layers;
    }

    /// <summary>One block operator per layer of <paramref name="model"/> (see <see cref="Layers"/>).</summary>
    public static IReadOnlyList<BlockOperator> PerLayer(ILinearOperator inner, nn.Module model)
    {
        long total = Models.ParameterVector.Count(model);
        if (total != inner.Dimension)
            throw new InputException($"{inner.Name}: the operator has dimension {inner.Dimension} but the model has {total} parameters");
        return Layers(model).Select(l => new BlockOperator(inner, l.Offset, l.Length, l.Layer)).ToList();
    }
}
