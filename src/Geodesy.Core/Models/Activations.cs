using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>The element-wise nonlinearities an arch spec may name (all parameter-free).</summary>
internal static class Activations
{
    public const string Default = "relu";
    public static readonly string[] Names = ["relu", "tanh", "gelu"];

    public static string Parse(string spec, string text) =>
        Names.Contains(text)
            ? text
            : throw SpecOptions.Error(spec, $"unknown activation '{text}' (known: {string.Join(", ", Names)})");

    public static nn.Module<Tensor, Tensor> Create(string name) => name switch
    {
        "relu" => nn.ReLU(),
        "tanh" => nn.Tanh(),
        "gelu" => nn.GELU(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a known activation"),
    };
}
