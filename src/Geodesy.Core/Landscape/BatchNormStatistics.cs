using Geodesy.Core.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>
/// The running statistics (running_mean, running_var) of every BatchNorm layer of a model, in
/// module order: captured, assigned, interpolated, and re-estimated from data. A point between two
/// models has no statistics of its own; interpolating theirs is the naive choice, re-estimating
/// them at the point (a "BN reset") is the one Frankle et al. 2020 (Appendix) and Jordan et al.
/// 2023 ("REPAIR") recommend, because the statistics of the interpolated network differ from the
/// interpolated statistics.
/// </summary>
public sealed class BatchNormStatistics : IDisposable
{
    private readonly Tensor[] _tensors;

    private BatchNormStatistics(Tensor[] tensors) => _tensors = tensors;

    /// <summary>running_mean, running_var of layer 0, then of layer 1, ... (copies).</summary>
    public IReadOnlyList<Tensor> Tensors => _tensors;

    /// <summary>The BatchNorm layers that keep running statistics, in module order.</summary>
    public static IReadOnlyList<BatchNorm> Layers(nn.Module model) =>
        model.modules().OfType<BatchNorm>().Where(bn => bn.running_mean is not null && bn.running_var is not null).ToArray();

    public static bool Present(nn.Module model) => Layers(model).Count > 0;

    /// <summary>A copy of the model's running statistics.</summary>
    public static BatchNormStatistics Capture(nn.Module model)
    {
        using var scope = NewDisposeScope(); // the detached views are temporaries
        var tensors = Layers(model).SelectMany(bn => new[] { bn.running_mean!.detach().clone(), bn.running_var!.detach().clone() }).ToArray();
        foreach (var t in tensors) t.DetachFromDisposeScope();
        return new BatchNormStatistics(tensors);
    }

    /// <summary>Copies these statistics into the model's BatchNorm layers (same architecture).</summary>
    public void AssignTo(nn.Module model)
    {
        using var _ = torch.no_grad();
        var layers = Layers(model);
        if (layers.Count * 2 != _tensors.Length)
            throw new ArgumentException($"the statistics are of {_tensors.Length / 2} BatchNorm layer(s), the model has {layers.Count}");
        for (int i = 0; i < layers.Count; i++)
        {
            layers[i].running_mean!.copy_(_tensors[2 * i]);
            layers[i].running_var!.copy_(_tensors[2 * i + 1]);
        }
    }

    /// <summary>(1 − t)·a + t·b, entry by entry.</summary>
    public static BatchNormStatistics Interpolate(BatchNormStatistics a, BatchNormStatistics b, double t)
    {
        if (a._tensors.Length != b._tensors.Length) throw new ArgumentException("the statistics are of different models");
        using var scope = NewDisposeScope();
        var tensors = a._tensors.Zip(b._tensors, (x, y) => (x * (1 - t) + y * t).DetachFromDisposeScope()).ToArray();
        return new BatchNormStatistics(tensors);
    }

    /// <summary>These statistics with the channels of layer i reordered by <paramref name="channelOrder"/>[i] (null: unchanged).</summary>
    public BatchNormStatistics Permute(IReadOnlyList<int[]?> channelOrder)
    {
        if (channelOrder.Count * 2 != _tensors.Length) throw new ArgumentException("one channel order per BatchNorm layer");
        var tensors = new Tensor[_tensors.Length];
        for (int i = 0; i < channelOrder.Count; i++)
            for (int k = 0; k < 2; k++)
            {
                var t = _tensors[2 * i + k];
                if (channelOrder[i] is not { } p) tensors[2 * i + k] = t.clone().DetachFromDisposeScope();
                else
                {
                    using var index = torch.tensor(p.Select(j => (long)j).ToArray());
                    tensors[2 * i + k] = t.index_select(0, index).DetachFromDisposeScope();
                }
            }
        return new BatchNormStatistics(tensors);
    }

    /// <summary>
    /// Re-estimates every BatchNorm layer's running statistics at the model's current weights from
    /// <paramref name="data"/>: statistics reset, then one pass in batches of
    /// <paramref name="batchSize"/> with only the BatchNorm layers in train mode (dropout stays off),
    /// without gradients, each batch weighted equally (the cumulative average of PyTorch's
    /// momentum=None, as in torch.optim.swa_utils.update_bn). The running variance is the unbiased
    /// batch variance, PyTorch's convention. The model is left in eval mode. Returns the examples passed.
    /// </summary>
    public static long Reestimate(nn.Module<Tensor, Tensor> model, Dataset data, int batchSize)
    {
        var layers = Layers(model);
        if (layers.Count == 0 || data.Count == 0) return 0;
        var momenta = layers.Select(bn => bn.momentum).ToArray();
        var dtype = Training.Evaluation.ParameterDType(model);
        using var _ = torch.no_grad();
        model.eval();
        try
        {
            foreach (var bn in layers)
            {
                bn.running_mean!.zero_();
                bn.running_var!.fill_(1);
                bn.num_batches_tracked?.zero_();
                bn.train();
            }
            int batch = 0;
            for (long start = 0; start < data.Count; start += batchSize, batch++)
            {
                using var scope = NewDisposeScope();
                // Momentum 1/(k+1) at batch k makes the running value the mean over the batches so far.
                foreach (var bn in layers) bn.momentum = 1.0 / (batch + 1);
                long len = Math.Min(batchSize, data.Count - start);
                var x = data.Inputs.narrow(0, start, len);
                model.call(x.to_type(dtype)).Dispose();
            }
            return data.Count;
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++)
            {
                layers[i].momentum = momenta[i];
                layers[i].eval();
            }
            model.eval();
        }
    }

    public void Dispose()
    {
        foreach (var t in _tensors) t.Dispose();
    }
}
