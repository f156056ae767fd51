using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// PyTorch's default initialization, drawn from a local generator so that a seed alone fixes the
/// weights: independent of the global RNG, of the thread count and of the dtype (values are drawn
/// in float64 and rounded into the parameter, so the float32 model is the float64 one rounded).
/// </summary>
public static class Initialization
{
    /// <summary>
    /// Re-initializes every parameter, in named_parameters order: Linear/Conv weights and biases
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5) for weights), BatchNorm
    /// weight 1 and bias 0; BatchNorm running statistics are reset to mean 0, variance 1.
    /// </summary>
    public static void Reset(nn.Module model, long seed)
    {
        var owners = model.named_modules().ToDictionary(m => m.name, m => m.module);
        using var generator = new torch.Generator(unchecked((ulong)seed));
        using var noGrad = torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            int dot = name.LastIndexOf('.');
            string ownerName = dot < 0 ? "" : name[..dot], kind = name[(dot + 1)..];
            var owner = owners.GetValueOrDefault(ownerName) ?? (dot < 0 ? model : null);
            switch (owner, kind)
            {
                case (Linear linear, _):
                    UniformFanIn(parameter, linear.weight!, generator);
                    break;
                case (Conv2d conv, _):
                    UniformFanIn(parameter, conv.weight!, generator);
                    break;
                case (BatchNorm2d, "weight"):
                    parameter.fill_(1.0);
                    break;
                case (BatchNorm2d, "bias"):
                    parameter.fill_(0.0);
                    break;
                default:
                    throw new InvalidOperationException(
                        $"no initialization rule for parameter '{name}' of {owner?.GetType().Name ?? "an unknown module"}");
            }
        }
        foreach (var (_, module) in owners)
            if (module is BatchNorm2d bn) bn.reset_running_stats();
    }

    private static void UniformFanIn(Tensor parameter, Tensor weight, torch.Generator generator)
    {
        // fan_in = in_features (Linear) or in_channels * kh * kw (Conv): every dimension but the first.
        long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        double bound = 1.0 / Math.Sqrt(fanIn);
        using var draw = torch.empty(parameter.shape, dtype: ScalarType.Float64);
        draw.uniform_(-bound, bound, generator);
        parameter.copy_(draw);
    }
}
