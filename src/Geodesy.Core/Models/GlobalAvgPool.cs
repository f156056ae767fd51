using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// Mean over the spatial dimensions: [N, C, H, W] -> [N, C]. Parameter-free, so it occupies an index
/// in a <see cref="SequentialModel"/> without adding names (like nn.AdaptiveAvgPool2d(1) + Flatten).
/// </summary>
public sealed class GlobalAvgPool : nn.Module<Tensor, Tensor>
{
    public GlobalAvgPool() : base(nameof(GlobalAvgPool)) { }

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4)
            throw new InputException($"GlobalAvgPool expects [N, C, H, W], got [{string.Join(", ", input.shape)}]");
        return input.mean([2L, 3L]);
    }
}
