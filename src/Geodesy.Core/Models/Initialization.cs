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

    /// <summary>The --init schemes: name and what it does (docs/models.md, "Initialization").</summary>
    public static IReadOnlyList<(string Name, string Description)> Schemes { get; } =
    [
        ("default", "PyTorch's default (above)"),
        ("identical-rows[:eps=E]", "reduced feature diversity (Blumenfeld et al. 2020): every unit of a Linear/Conv layer gets the same weights and bias, one row of the default draw, plus E times an independent default draw (E = 0: no diversity at all)"),
    ];

    /// <summary>
    /// Re-initializes with the scheme named by <paramref name="scheme"/>: "default" is <see cref="Reset"/>;
    /// "identical-rows[:eps=E]" follows Blumenfeld, Gilboa and Soudry 2020 ("Beyond signal propagation: is
    /// feature diversity necessary in deep neural network initialization?", ICML): the default draw W
    /// of each Linear/Conv layer is replaced by W'ᵢ = W₀ + E·Pᵢ (row 0 of W copied to every output unit
    /// i, P an independent draw of the default distribution from a second generator), the bias likewise,
    /// so the units of a layer compute the same feature up to a perturbation of relative size E.
    /// </summary>
    public static void Apply(nn.Module model, long seed, string scheme)
    {
        double eps = ParseScheme(scheme);
        if (double.IsNaN(eps))
        {
            Reset(model, seed);
            return;
        }
        // The perturbation P: the default rule from a second generator, drawn first; then the weights themselves.
        Reset(model, unchecked(seed ^ 0x5EED5EEDL));
        var perturbation = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        Reset(model, seed);
        var owners = model.named_modules().ToDictionary(m => m.name, m => m.module);
        using var noGrad = torch.no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            int dot = name.LastIndexOf('.');
            if (owners.GetValueOrDefault(dot < 0 ? "" : name[..dot]) is not (Linear or Conv2d)) continue;
            var shared = parameter.detach().narrow(0, 0, 1).expand(parameter.shape);
            parameter.copy_(shared + perturbation[name] * eps);
        }
    }

    /// <summary>The perturbation size E of an identical-rows scheme, NaN for "default"; InputException otherwise.</summary>
    public static double ParseScheme(string scheme)
    {
        if (scheme == "default") return double.NaN;
        const string Name = "identical-rows";
        if (scheme == Name) return 0;
        if (scheme.StartsWith(Name + ":eps=", StringComparison.Ordinal)
            && double.TryParse(scheme[(Name.Length + 5)..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double eps)
            && double.IsFinite(eps) && eps >= 0)
            return eps;
        throw new InputException($"--init '{scheme}' must be default, identical-rows or identical-rows:eps=E with E >= 0");
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
