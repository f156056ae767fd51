using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// Ghost batch normalization (Hoffer, Hubara &amp; Soudry 2017, "Train longer, generalize better"):
/// in training, a mini-batch is split into consecutive virtual batches of <see cref="VirtualBatch"/>
/// examples and each is normalized with its own mean and (biased) variance; the running statistics
/// are updated once per virtual batch, with the layer's momentum. In eval mode it is the plain layer
/// (running statistics). It takes over the parameters and buffers of a BatchNorm layer under the
/// same names (weight, bias, running_mean, running_var, num_batches_tracked), so state dicts and
/// safetensors files are those of the plain model.
/// </summary>
public sealed class GhostBatchNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter _weight, _bias;
    private readonly Tensor _runningMean, _runningVar, _batchesTracked;
    private readonly double _momentum, _eps;

    public GhostBatchNorm(BatchNorm bn, int virtualBatch) : base("GhostBatchNorm")
    {
        if (virtualBatch < 1) throw new InputException($"--ghost-batch must be at least 1 (got {virtualBatch})");
        if (bn.weight is null || bn.bias is null || bn.running_mean is null || bn.running_var is null || bn.num_batches_tracked is null)
            throw new InputException("--ghost-batch needs BatchNorm layers with affine parameters and running statistics");
        VirtualBatch = virtualBatch;
        _weight = bn.weight;
        _bias = bn.bias;
        _runningMean = bn.running_mean;
        _runningVar = bn.running_var;
        _batchesTracked = bn.num_batches_tracked;
        _momentum = bn.momentum ?? 0.1;
        _eps = bn.eps;
        register_parameter("weight", _weight);
        register_parameter("bias", _bias);
        register_buffer("running_mean", _runningMean);
        register_buffer("running_var", _runningVar);
        register_buffer("num_batches_tracked", _batchesTracked);
    }

    public int VirtualBatch { get; }

    public override Tensor forward(Tensor input)
    {
        if (!training)
            return nn.functional.batch_norm(input, _runningMean, _runningVar, _weight, _bias, training: false, momentum: _momentum, eps: _eps);
        var chunks = input.split(VirtualBatch, 0);
        var outputs = new Tensor[chunks.Length];
        for (int i = 0; i < chunks.Length; i++)
            outputs[i] = nn.functional.batch_norm(chunks[i], _runningMean, _runningVar, _weight, _bias, training: true, momentum: _momentum, eps: _eps);
        using (torch.no_grad()) _batchesTracked.add_(chunks.Length);
        var result = torch.cat(outputs, 0);
        foreach (var t in outputs.Concat(chunks)) t.Dispose();
        return result;
    }

    /// <summary>
    /// The model with every BatchNorm layer replaced by a ghost BatchNorm over virtual batches of
    /// <paramref name="virtualBatch"/> (same parameters, same names). Sequential zoo models only
    /// (cnn and nin with bn=1); other models and models without BatchNorm are an input error.
    /// </summary>
    public static SequentialModel Install(nn.Module<Tensor, Tensor> model, int virtualBatch)
    {
        if (model is not SequentialModel sequential)
            throw new InputException("--ghost-batch supports the sequential zoo models (cnn and nin with bn=1), not this architecture");
        if (!sequential.Layers.Any(l => l is BatchNorm))
            throw new InputException("--ghost-batch: the architecture has no BatchNorm layer (e.g. use cnn:...,bn=1)");
        var layers = sequential.Layers.Select(l => l is BatchNorm bn ? new GhostBatchNorm(bn, virtualBatch) : l).ToList();
        var ghost = new SequentialModel(sequential.Spec, layers, sequential.FlattenInput);
        ghost.train(sequential.training);
        return ghost;
    }
}
