using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// `--train-only bn` (Frankle, Schwab &amp; Morcos 2021, "Training BatchNorm and only BatchNorm"):
/// the optimizer sees only the affine parameters (γ = weight, β = bias) of the BatchNorm layers;
/// every other parameter stays at its initial value, bit for bit. Running statistics still update.
/// </summary>
public sealed class BatchNormOnly : IParameterConstraint
{
    public IEnumerable<Parameter> Trainable(nn.Module model)
    {
        var parameters = BatchNormParameters(model).ToList();
        if (parameters.Count == 0)
            throw new InputException("--train-only bn: the architecture has no BatchNorm layer (e.g. use cnn:...,bn=1 or resnet20)");
        return parameters;
    }

    public void Project(nn.Module model) { }

    /// <summary>The weight and bias of every BatchNorm (and ghost BatchNorm) layer of the model.</summary>
    public static IEnumerable<Parameter> BatchNormParameters(nn.Module model) =>
        model.modules().Where(m => m is BatchNorm or GhostBatchNorm)
            .SelectMany(m => m.parameters(recurse: false));
}
