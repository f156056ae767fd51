using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>How a random direction is rescaled to the weights it perturbs (Li et al. 2018, §4).</summary>
public enum DirectionNormalization
{
    /// <summary>Each filter (row along a weight's first axis) rescaled to the norm of the weight's filter; biases and BatchNorm zeroed.</summary>
    Filter,
    /// <summary>Each weight tensor rescaled to the norm of the weight; biases and BatchNorm zeroed.</summary>
    Layer,
    /// <summary>The raw Gaussian on every parameter.</summary>
    None,
}

/// <summary>
/// Directions on the flat parameter vector (<see cref="ParameterVector"/> order) for slices of the
/// loss landscape: seeded Gaussian directions with filter or layer normalization (Li et al. 2018,
/// "Visualizing the Loss Landscape of Neural Nets"; loss-landscape's
/// normalize_directions_for_weights with ignore='biasbn'), the difference to another model, and an
/// orthogonalized pair for 2D slices.
/// </summary>
public static class Directions
{
    /// <summary>The guard of the filter norm ratio, as in loss-landscape (a zero filter of the direction stays zero).</summary>
    public const double NormGuard = 1e-10;

    public static string Name(DirectionNormalization n) => n.ToString().ToLowerInvariant();

    public static DirectionNormalization ParseNormalization(string text, string option) => text switch
    {
        "filter" => DirectionNormalization.Filter,
        "layer" => DirectionNormalization.Layer,
        "none" => DirectionNormalization.None,
        _ => throw new InputException($"{option}: unknown normalization '{text}' (known: filter, layer, none)"),
    };

    /// <summary>
    /// A Gaussian direction from the named stream of <paramref name="seed"/> (the same numbers on
    /// every platform), normalized to the model's current weights; in the model's dtype.
    /// </summary>
    public static Tensor Random(nn.Module model, long seed, string stream, DirectionNormalization normalization)
    {
        long n = ParameterVector.Count(model);
        var rng = SeededRandom.Stream(seed, stream);
        var values = new double[n];
        for (long i = 0; i < n; i++) values[i] = rng.NextGaussian();
        using var raw = torch.tensor(values, ScalarType.Float64);
        using var typed = raw.to_type(ParameterDType(model));
        return Normalize(model, typed, normalization);
    }

    /// <summary>
    /// The direction rescaled to the model's weights: per filter (Filter) or per tensor (Layer),
    /// parameters with one dimension or none (biases, BatchNorm scale and shift) set to zero; a copy
    /// of the direction for None.
    /// </summary>
    public static Tensor Normalize(nn.Module model, Tensor direction, DirectionNormalization normalization)
    {
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        var weights = model.parameters().ToArray();
        var parts = ParameterVector.Split(model, direction);
        var result = new Tensor[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            var w = weights[i].detach();
            var d = parts[i];
            if (normalization == DirectionNormalization.None) result[i] = d.clone();
            else if (w.dim() <= 1) result[i] = torch.zeros_like(d);
            else if (normalization == DirectionNormalization.Layer) result[i] = d * (w.norm() / (d.norm() + NormGuard));
            else
            {
                // A filter is one slice along the first axis: an output row of a Linear, an output channel of a Conv.
                long rows = w.shape[0];
                var w2 = w.reshape(rows, -1);
                var d2 = d.reshape(rows, -1);
                var scale = w2.norm(1, keepdim: true) / (d2.norm(1, keepdim: true) + NormGuard);
                result[i] = (d2 * scale).reshape(d.shape);
            }
        }
        return ParameterVector.Concat(result).MoveToOuterDisposeScope();
    }

    /// <summary>The difference <paramref name="other"/> − <paramref name="model"/> of two models of one architecture.</summary>
    public static Tensor Toward(nn.Module model, nn.Module other)
    {
        using var from = ParameterVector.Flatten(model);
        using var to = ParameterVector.Flatten(other);
        if (from.numel() != to.numel())
            throw new InputException($"the two models have {from.numel()} and {to.numel()} parameters");
        using var difference = to - from;
        return difference.to_type(ParameterDType(model), copy: true);
    }

    /// <summary>
    /// <paramref name="second"/> made orthogonal to <paramref name="first"/> (one Gram-Schmidt step)
    /// and rescaled to its own norm before, so its scale stays that of its normalization. Entries that
    /// are zero in both (biases under filter normalization) stay zero.
    /// </summary>
    public static Tensor Orthogonalize(Tensor second, Tensor first)
    {
        using var scope = NewDisposeScope();
        double firstSquared = first.dot(first).ToDouble();
        if (firstSquared == 0) return second.clone().MoveToOuterDisposeScope();
        double before = second.norm().ToDouble();
        var projected = second - first * (second.dot(first).ToDouble() / firstSquared);
        double after = projected.norm().ToDouble();
        if (after == 0) throw new InputException("the second direction is parallel to the first; give another --direction2 or --seed");
        return (projected * (before / after)).MoveToOuterDisposeScope();
    }

    /// <summary>The cosine of the angle between two directions.</summary>
    public static double Cosine(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        double na = a.norm().ToDouble(), nb = b.norm().ToDouble();
        return na == 0 || nb == 0 ? double.NaN : a.dot(b).ToDouble() / (na * nb);
    }

    private static ScalarType ParameterDType(nn.Module model) =>
        model.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
}
