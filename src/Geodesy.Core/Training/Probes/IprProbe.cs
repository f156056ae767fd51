using System.Diagnostics;
using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// The inverse participation ratio of the Fourier spectrum of the input-embedding weights, for
/// <c>modular:</c> data (inputs [onehot_p(a), onehot_p(b)]): for every hidden neuron k and each
/// operand, the p weights u = W[k, block] are Fourier-transformed over the token axis,
/// ν = |rfft(u)| on the ⌊p/2⌋ + 1 non-negative frequencies, and
/// IPR(ν) = Σ ν⁴ / (Σ ν²)² (Doshi et al. 2024, r = 2). A neuron whose weights are one Fourier
/// mode has IPR 1 (a generalizing, periodic neuron); a flat spectrum gives 1/(⌊p/2⌋ + 1).
/// <c>value</c> is the mean over neurons and both operands.
/// </summary>
public sealed class IprProbe : IProbe
{
    public string Name => "ipr";

    public void Check(nn.Module model) => Embedding(model);

    /// <summary>The first layer, a Linear over 2p one-hot inputs into a model with p classes.</summary>
    private static (Linear Layer, int P) Embedding(nn.Module model)
    {
        const string Need = "--probe ipr needs modular: data and a model whose first layer is Linear over its 2p one-hot inputs with p outputs at the end (e.g. mlp:194-128-97 for p=97)";
        if (model is not SequentialModel sequential || sequential.Layers.Count == 0 || sequential.Layers[0] is not Linear first)
            throw new InputException(Need);
        long inputs = first.weight!.shape[1];
        long classes = sequential.Layers.OfType<Linear>().Last().weight!.shape[0];
        if (inputs != 2 * classes || classes < 2) throw new InputException($"{Need}; this one has {inputs} inputs and {classes} outputs");
        return (first, (int)classes);
    }

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (layer, p) = Embedding(context.Model);
        // One-hot pairs: every probe input has a single 1 among the first p entries and one among the last p.
        var x = context.ProbeInputs;
        if (!x.narrow(1, 0, p).sum([1]).eq(1).all().item<bool>() || !x.narrow(1, p, p).sum([1]).eq(1).all().item<bool>())
            throw new InputException("--probe ipr needs modular: data (inputs [onehot_p(a), onehot_p(b)])");
        var weight = layer.weight!.detach().to_type(ScalarType.Float64);
        var a = Ratio(weight.narrow(1, 0, p));
        var b = Ratio(weight.narrow(1, p, p));
        var both = cat([a, b]);
        double[] sorted = both.sort().Values.data<double>().ToArray();
        return [context.Row(Name, both.mean().item<double>(),
            Of("ipr_a", a.mean().item<double>()),
            Of("ipr_b", b.mean().item<double>()),
            Of("median", sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2),
            Of("neurons", weight.shape[0]),
            Of("frequencies", (long)(p / 2 + 1)),
            Of("matvecs", 0L),
            Of("seconds", clock.Elapsed.TotalSeconds))];
    }

    /// <summary>IPR per row of <paramref name="rows"/> [k, p]: Σ ν⁴ / (Σ ν²)² with ν = |rfft(row)|; NaN for an all-zero row.</summary>
    public static Tensor Ratio(Tensor rows)
    {
        var power = fft.rfft(rows, dim: 1).abs().square();
        return power.square().sum([1]).div(power.sum([1]).square());
    }
}
