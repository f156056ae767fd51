using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The part of a batch's R-operator pass that does not depend on the direction v: every layer's
/// <see cref="LayerState"/>, the logits and their softmax.
/// </summary>
internal sealed class BatchForward(LayerState[] states, Tensor logits, Tensor probabilities)
{
    public LayerState[] States => states;
    public Tensor Logits => logits;
    public Tensor Probabilities => probabilities;

    /// <summary>Every tensor, each once (a layer's state may share its input with the previous layer's output).</summary>
    public IEnumerable<Tensor> Tensors =>
        states.SelectMany(s => s.Tensors).Append(logits).Append(probabilities).DistinctBy(t => t.Handle);
}

/// <summary>
/// Keeps the <see cref="BatchForward"/> of each batch between products while it fits under a byte
/// cap (<see cref="CurvatureOptions.ForwardCacheBytes"/>; 0 turns it off). Batches that do not fit
/// are recomputed at every product, as without a cache (streaming, memory of one batch). The
/// cache holds a copy of the model's parameters and buffers and is dropped at the start of any
/// product that finds them changed, so operators still follow the model's current weights.
/// </summary>
internal sealed class ForwardCache(nn.Module model, long capBytes)
{
    private readonly Dictionary<int, BatchForward> _batches = [];
    private Tensor[] _snapshot = [];
    private long _bytes;

    /// <summary>Bytes held now (kept forwards and the weight snapshot).</summary>
    public long Bytes => _bytes;
    /// <summary>Number of batches kept now.</summary>
    public int Count => _batches.Count;

    /// <summary>Call at the start of every product: drops everything if the weights or buffers changed.</summary>
    public void Validate()
    {
        if (_batches.Count == 0) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var current = State().ToArray();
        bool same = current.Length == _snapshot.Length;
        for (int i = 0; same && i < current.Length; i++) same = current[i].allclose(_snapshot[i], rtol: 0, atol: 0); // exact equality, one native call
        if (!same) Clear();
    }

    public BatchForward? TryGet(int index) => _batches.GetValueOrDefault(index);

    /// <summary>Keeps <paramref name="forward"/> (taking it out of the caller's dispose scope) when it fits under the cap.</summary>
    public void TryKeep(int index, BatchForward forward)
    {
        if (capBytes <= 0) return;
        long bytes = forward.Tensors.Sum(BytesOf);
        if (_batches.Count == 0)
        {
            Clear();
            if (State().Sum(BytesOf) + bytes > capBytes) return;
            TakeSnapshot();
        }
        else if (_bytes + bytes > capBytes) return;
        foreach (var t in forward.Tensors) t.DetachFromDisposeScope();
        _batches[index] = forward;
        _bytes += bytes;
    }

    public void Clear()
    {
        foreach (var f in _batches.Values)
            foreach (var t in f.Tensors) t.Dispose();
        _batches.Clear();
        foreach (var t in _snapshot) t.Dispose();
        _snapshot = [];
        _bytes = 0;
    }

    private IEnumerable<Tensor> State() => model.parameters().Cast<Tensor>().Concat(model.buffers());

    private void TakeSnapshot()
    {
        using var _ = no_grad();
        _snapshot = State().Select(t => t.detach().clone().DetachFromDisposeScope()).ToArray();
        _bytes = _snapshot.Sum(BytesOf);
    }

    private static long BytesOf(Tensor t) => t.numel() * t.ElementSize;
}
