using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>The element-wise nonlinearities an arch spec may name (all parameter-free).</summary>
internal static class Activations
{
    public const string Default = "relu";
    public static readonly string[] Names = ["relu", "tanh", "gelu", "square"];

    public static string Parse(string spec, string text) =>
        Names.Contains(text)
            ? text
            : throw SpecOptions.Error(spec, $"unknown activation '{text}' (known: {string.Join(", ", Names)})");

    public static nn.Module<Tensor, Tensor> Create(string name) => name switch
    {
        "relu" => nn.ReLU(),
        "tanh" => nn.Tanh(),
        "gelu" => nn.GELU(),
        "square" => new Square(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a known activation"),
    };
}

/// <summary>
/// x ↦ x², element-wise: the quadratic activation of Gromov 2023 ("Grokking modular arithmetic") and
/// Doshi et al. 2024, whose MLPs on modular arithmetic have closed-form periodic solutions with it.
/// </summary>
public sealed class Square() : nn.Module<Tensor, Tensor>(nameof(Square))
{
    public override Tensor forward(Tensor input) => input.square();
}
