using Geodesy.Core.Data;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// Rewrites each training mini-batch before the loss (e.g. <see cref="MimoBatches"/>: member-stacked
/// inputs and one label per member). Runs inside the step's dispose scope; keeps its own random stream.
/// </summary>
public interface IBatchTransform
{
    (Tensor Inputs, Tensor Labels) Apply(Tensor x, Tensor y);
}

/// <summary>A model with metrics of its own, added to every metrics row (e.g. MIMO member and ensemble accuracy).</summary>
public interface IExtraMetrics
{
    IReadOnlyDictionary<string, double> Evaluate(DataSplit data, int batchSize);
}
