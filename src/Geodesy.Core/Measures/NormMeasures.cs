using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>Squared spectral and Frobenius norms per weight matrix (and of W - W0), computed once.</summary>
public sealed record LayerNorms(string[] Names, double[] SpecSquared, double[] FroSquared, bool Structured, bool Folded)
{
    public int Depth => Names.Length;

    public static LayerNorms Trained(MeasureContext ctx) => ctx.Cached("norms:trained", () =>
    {
        var set = WeightMatrices.Trained(ctx);
        if (set.Count == 0) throw new MeasureSkippedException("the model has no weight matrices");
        bool exact = ctx.Options.ExactConvSpectralNorm;
        return new LayerNorms(
            set.Matrices.Select(m => m.Name).ToArray(),
            set.Matrices.Select(m => Square(SpectralNorms.Of(m, exact))).ToArray(),
            set.Matrices.Select(m => FrobeniusSquared(m.Weight)).ToArray(),
            set.Structured, set.Matrices.Any(m => m.FoldedBatchNorm));
    });

    /// <summary>||W_i - W_i^0||_2^2 and ||W_i - W_i^0||_F^2 per layer.</summary>
    public static LayerNorms Distance(MeasureContext ctx, string measure)
    {
        var init = WeightMatrices.Initial(ctx, measure);
        return ctx.Cached("norms:distance", () =>
        {
            var trained = WeightMatrices.Trained(ctx);
            var diffs = WeightMatrices.Differences(trained, init);
            try
            {
                bool exact = ctx.Options.ExactConvSpectralNorm;
                return new LayerNorms(
                    trained.Matrices.Select(m => m.Name).ToArray(),
                    diffs.Select((d, i) => Square(SpectralNorms.Of(d, trained.Matrices[i].ConvInputSize, exact))).ToArray(),
                    diffs.Select(FrobeniusSquared).ToArray(),
                    trained.Structured, trained.Matrices.Any(m => m.FoldedBatchNorm));
            }
            finally
            {
                foreach (var d in diffs) d.Dispose();
            }
        });
    }

    public double SumLogSpec => SpecSquared.Sum(Math.Log);
    public double SumLogFro => FroSquared.Sum(Math.Log);

    public Dictionary<string, double> Details(string prefix, double[] values)
    {
        var d = new Dictionary<string, double>
        {
            ["layers"] = Depth,
            ["batchnorm_folded"] = Folded ? 1 : 0,
            ["from_layer_chain"] = Structured ? 1 : 0,
        };
        for (int i = 0; i < Depth; i++) d[$"{prefix}[{Names[i]}]"] = values[i];
        return d;
    }

    private static double Square(double v) => v * v;

    private static double FrobeniusSquared(Tensor w)
    {
        using var scope = NewDisposeScope();
        return w.to_type(ScalarType.Float64).pow(2).sum().item<double>();
    }
}

/// <summary>Base of the norm measures: the value is a function of the per-layer norms (and gamma).</summary>
public abstract class NormMeasure(string name, MeasureNeeds needs, string formula) :
    Measure(name, MeasureFamily.Norm, needs, 1, formula, Citations.Fantastic)
{
    protected static double LogGammaSq(MeasureContext ctx, string name) => Math.Log(MeasureData.MarginSquared(ctx, name));
}

public sealed class SpecInitMeasure() : NormMeasure("spec-init", MeasureNeeds.Data | MeasureNeeds.InitWeights,
    "log( prod_i ||W_i||_2^2 / gamma^2 * sum_i ||W_i - W_i^0||_F^2 / ||W_i||_2^2 )  (eq. 29)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        var d = LayerNorms.Distance(c, Name);
        double ratio = d.FroSquared.Select((f, i) => f / n.SpecSquared[i]).Sum();
        return new(n.SumLogSpec - LogGammaSq(c, Name) + Math.Log(ratio), null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class SpecOrigMeasure() : NormMeasure("spec-orig", MeasureNeeds.Data,
    "log( prod_i ||W_i||_2^2 / gamma^2 * sum_i ||W_i||_F^2 / ||W_i||_2^2 )  (eq. 30)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        double ratio = n.FroSquared.Select((f, i) => f / n.SpecSquared[i]).Sum();
        return new(n.SumLogSpec - LogGammaSq(c, Name) + Math.Log(ratio), null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class ProdOfSpecOverMarginMeasure() : NormMeasure("prod-of-spec-over-margin", MeasureNeeds.Data,
    "log( prod_i ||W_i||_2^2 / gamma^2 )  (eq. 31)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(n.SumLogSpec - LogGammaSq(c, Name), null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class ProdOfSpecMeasure() : NormMeasure("prod-of-spec", MeasureNeeds.Weights,
    "log prod_i ||W_i||_2^2  (eq. 32)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(n.SumLogSpec, null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class FroOverSpecMeasure() : NormMeasure("fro-over-spec", MeasureNeeds.Weights,
    "sum_i ||W_i||_F^2 / ||W_i||_2^2  (eq. 33)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        var ratios = n.FroSquared.Select((f, i) => f / n.SpecSquared[i]).ToArray();
        return new(ratios.Sum(), null, n.Details("stable_rank", ratios));
    }
}

public sealed class SumOfSpecOverMarginMeasure() : NormMeasure("sum-of-spec-over-margin", MeasureNeeds.Data,
    "log( d * (prod_i ||W_i||_2^2 / gamma^2)^(1/d) )  (eq. 34)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(Math.Log(n.Depth) + (n.SumLogSpec - LogGammaSq(c, Name)) / n.Depth, null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class SumOfSpecMeasure() : NormMeasure("sum-of-spec", MeasureNeeds.Weights,
    "log( d * (prod_i ||W_i||_2^2)^(1/d) )  (eq. 35)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(Math.Log(n.Depth) + n.SumLogSpec / n.Depth, null, n.Details("spec_sq", n.SpecSquared));
    }
}

public sealed class ProdOfFroOverMarginMeasure() : NormMeasure("prod-of-fro-over-margin", MeasureNeeds.Data,
    "log( prod_i ||W_i||_F^2 / gamma^2 )  (eq. 36)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(n.SumLogFro - LogGammaSq(c, Name), null, n.Details("fro_sq", n.FroSquared));
    }
}

public sealed class ProdOfFroMeasure() : NormMeasure("prod-of-fro", MeasureNeeds.Weights,
    "log prod_i ||W_i||_F^2  (eq. 37)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(n.SumLogFro, null, n.Details("fro_sq", n.FroSquared));
    }
}

public sealed class SumOfFroOverMarginMeasure() : NormMeasure("sum-of-fro-over-margin", MeasureNeeds.Data,
    "log( d * (prod_i ||W_i||_F^2 / gamma^2)^(1/d) )  (eq. 38)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(Math.Log(n.Depth) + (n.SumLogFro - LogGammaSq(c, Name)) / n.Depth, null, n.Details("fro_sq", n.FroSquared));
    }
}

public sealed class SumOfFroMeasure() : NormMeasure("sum-of-fro", MeasureNeeds.Weights,
    "log( d * (prod_i ||W_i||_F^2)^(1/d) )  (eq. 39)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(Math.Log(n.Depth) + n.SumLogFro / n.Depth, null, n.Details("fro_sq", n.FroSquared));
    }
}

public sealed class FrobDistanceMeasure() : NormMeasure("frob-distance", MeasureNeeds.InitWeights,
    "sum_i ||W_i - W_i^0||_F^2  (eq. 40)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var d = LayerNorms.Distance(c, Name);
        return new(d.FroSquared.Sum(), null, d.Details("dist_fro_sq", d.FroSquared));
    }
}

public sealed class SpecDistMeasure() : NormMeasure("spec-dist", MeasureNeeds.InitWeights,
    "sum_i ||W_i - W_i^0||_2^2  (eq. 41)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var d = LayerNorms.Distance(c, Name);
        return new(d.SpecSquared.Sum(), null, d.Details("dist_spec_sq", d.SpecSquared));
    }
}

public sealed class ParamNormMeasure() : NormMeasure("param-norm", MeasureNeeds.Weights,
    "sum_i ||W_i||_F^2  (eq. 42)")
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var n = LayerNorms.Trained(c);
        return new(n.FroSquared.Sum(), null, n.Details("fro_sq", n.FroSquared));
    }
}

public sealed class PathNormOverMarginMeasure() : NormMeasure("path-norm-over-margin", MeasureNeeds.Data,
    "sum_j f_{w^2}(1)[j] / gamma^2, every parameter (biases too) squared  (eq. 43)")
{
    public override MeasureValue Compute(MeasureContext c) =>
        new(PathNorm.Of(c) / MeasureData.MarginSquared(c, Name));
}

public sealed class PathNormMeasure() : NormMeasure("path-norm", MeasureNeeds.Weights,
    "sum_j f_{w^2}(1)[j]: the network with every parameter (biases too) squared, on an all-ones input, outputs summed  (eq. 44)")
{
    public override MeasureValue Compute(MeasureContext c) => new(PathNorm.Of(c));
}

/// <summary>
/// Path-norm as Fantastic's eq. 44 and the reference code of Dziugaite et al. 2020 (after Neyshabur
/// et al. 2015) compute it: every parameter squared, weights and biases alike, one forward pass in eval
/// mode on an all-ones input, the outputs summed. With ReLU (or any activation that is the identity on
/// non-negative inputs) every pre-activation is non-negative, so this is the sum over input-output paths
/// of the product of squared weights plus the paths that start at a bias. Other activations are applied
/// as the reference's forward pass applies them. Not defined here for BatchNorm networks: the value
/// would depend on how the normalization is folded into the weights, so those models are skipped.
/// </summary>
public static class PathNorm
{
    public static double Of(MeasureContext ctx) => ctx.Cached("path-norm", () => Of(ctx.Model, ctx.Data.InputShape));

    public static double Of(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        if (model.modules().Any(m => m is BatchNorm))
            throw new MeasureSkippedException("path-norm is not defined for networks with BatchNorm (its value would depend on how the normalization is folded into the weights)");
        return model is SequentialModel seq ? OfLayers(seq, inputShape) : OfModule(model, inputShape);
    }

    private static double OfLayers(SequentialModel model, long[] inputShape)
    {
        var x = torch.ones([1, .. inputShape], dtype: ScalarType.Float64);
        if (model.FlattenInput) x = x.reshape(1, -1);
        var layers = model.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            switch (layer)
            {
                case Linear lin:
                    x = nn.functional.linear(x, Squared(lin.weight)!, Squared(lin.bias));
                    break;
                case Conv2d conv:
                    if (conv.padding_mode != PaddingModes.Zeros)
                        throw new MeasureSkippedException($"path-norm: layer {i} uses {conv.padding_mode} padding; only zero padding is supported");
                    x = nn.functional.conv2d(x, Squared(conv.weight)!, Squared(conv.bias), conv.stride, ConvPadding(conv), conv.dilation);
                    break;
                default:
                    if (layer.parameters().Any())
                        throw new MeasureSkippedException($"path-norm: layer {i} ({layer.GetType().Name}) has parameters and is not Linear/Conv2d");
                    x = layer.call(x);   // activations, flatten, pooling: applied as in the reference forward pass
                    break;
            }
        }
        return x.sum().item<double>();
    }

    private static Tensor? Squared(Tensor? p) => p?.detach().to_type(ScalarType.Float64).pow(2);

    private static long[] ConvPadding(Conv2d conv)
    {
        if (conv.padding is { } p) return p;
        if (conv.padding_type == Padding.Same)
            return conv.kernel_size.Select((k, j) => conv.dilation[j] * (k - 1) / 2).ToArray();
        return new long[conv.kernel_size.Length];
    }

    /// <summary>Fallback for models that are not a layer chain: every parameter squared, the model run as is.</summary>
    private static double OfModule(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        using var snapshot = new ParameterSnapshot(model);
        foreach (var (_, p) in model.named_parameters()) p.pow_(2);
        var dtype = Training.Evaluation.ParameterDType(model);
        var y = model.call(torch.ones([1, .. inputShape], dtype: dtype));
        return y.to_type(ScalarType.Float64).sum().item<double>();
    }
}
