using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// <c>mlp:784-h1-...-10[:relu|tanh|gelu|square][:nobias]</c>: Linear, act, Linear, ..., Linear on the
/// input flattened row-major, named like nn.Sequential: 0.weight [h1, 784], 0.bias, 2.weight, ...;
/// <c>nobias</c> leaves out every bias (Doshi et al.'s modular-arithmetic MLP).
/// </summary>
internal sealed class MlpArchitecture : IArchitecture
{
    /// <summary>The spec suffix that leaves out the biases.</summary>
    public const string NoBias = "nobias";

    private MlpArchitecture(string spec, int[] sizes, string activation, bool bias)
    {
        Spec = spec;
        Sizes = sizes;
        Activation = activation;
        Bias = bias;
    }

    public string Spec { get; }
    /// <summary>Layer widths from the input size to the class count.</summary>
    public int[] Sizes { get; }
    public string Activation { get; }
    public bool Bias { get; }

    public static MlpArchitecture Parse(string spec, string? body)
    {
        if (string.IsNullOrEmpty(body))
            throw SpecOptions.Error(spec, "an mlp needs its layer sizes, e.g. mlp:784-100-10");
        var parts = body.Split(':').ToList();
        bool bias = !(parts.Count > 1 && parts[^1] == NoBias);
        if (!bias) parts.RemoveAt(parts.Count - 1);
        if (parts.Count > 2)
            throw SpecOptions.Error(spec, $"expected mlp:SIZES[:ACTIVATION][:{NoBias}] with one activation at most");
        var sizes = SpecOptions.ParseSizes(spec, "layer size", parts[0]);
        if (sizes.Length < 2)
            throw SpecOptions.Error(spec, "an mlp needs at least an input and an output size, e.g. mlp:784-10");
        string activation = parts.Count == 2 ? Activations.Parse(spec, parts[1]) : Activations.Default;
        return new MlpArchitecture(spec, sizes, activation, bias);
    }

    private void CheckData(long[] inputShape, int numClasses)
    {
        long inputs = inputShape.Aggregate(1L, (a, b) => a * b);
        if (Sizes[0] != inputs)
            throw SpecOptions.Error(Spec, $"expects {Sizes[0]} inputs but the data has {inputs} (input shape [{string.Join(", ", inputShape)}])");
        if (Sizes[^1] != numClasses)
            throw SpecOptions.Error(Spec, $"expects {Sizes[^1]} classes but the data has {numClasses}");
    }

    public IReadOnlyList<ParameterShape> Parameters(long[] inputShape, int numClasses)
    {
        CheckData(inputShape, numClasses);
        var list = new List<ParameterShape>();
        for (int i = 0; i + 1 < Sizes.Length; i++)
        {
            list.Add(new($"{2 * i}.weight", [Sizes[i + 1], Sizes[i]]));
            if (Bias) list.Add(new($"{2 * i}.bias", [Sizes[i + 1]]));
        }
        return list;
    }

    public nn.Module<Tensor, Tensor> Build(long[] inputShape, int numClasses)
    {
        CheckData(inputShape, numClasses);
        var layers = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i + 1 < Sizes.Length; i++)
        {
            if (i > 0) layers.Add(Activations.Create(Activation));
            layers.Add(nn.Linear(Sizes[i], Sizes[i + 1], hasBias: Bias));
        }
        return new SequentialModel(Spec, layers, flattenInput: true);
    }
}
