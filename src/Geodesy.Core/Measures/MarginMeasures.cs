namespace Geodesy.Core.Measures;

/// <summary>gamma: the 10th-percentile output margin over the data (signed).</summary>
public sealed class MarginMeasure() : Measure("margin", MeasureFamily.Margin, MeasureNeeds.Data, 1,
    "gamma = k-th smallest of f(x_i)[y_i] - max_{j!=y_i} f(x_i)[j], k = max(1, floor(m/10))", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var margins = MeasureData.MarginValues(context);
        return new(MeasureData.Margin(context), null, new Dictionary<string, double>
        {
            ["rank"] = Margins.TenthPercentileRank(margins.Length),
            ["negative_fraction"] = margins.Count(v => v < 0) / (double)margins.Length,
        });
    }
}

/// <summary>1/gamma^2 (Fantastic eq. 22).</summary>
public sealed class InverseMarginMeasure() : Measure("inverse-margin", MeasureFamily.Margin, MeasureNeeds.Data, 1,
    "1 / gamma^2", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context) => new(1.0 / MeasureData.MarginSquared(context, Name));
}

/// <summary>
/// Bartlett, Foster &amp; Telgarsky's normalized margin: gamma / (R_A ||X||_F / m), R_A the spectral
/// complexity with 1-Lipschitz activations and reference matrices M_i = 0.
/// </summary>
public sealed class NormalizedMarginMeasure() : Measure("normalized-margin", MeasureFamily.Margin, MeasureNeeds.Data, 1,
    "gamma m / (R_A ||X||_F), R_A = prod_i ||W_i||_2 (sum_i (||W_i^T||_{2,1} / ||W_i||_2)^(2/3))^(3/2)", Citations.Bartlett)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var norms = LayerNorms.Trained(context);
        var matrices = WeightMatrices.Trained(context).Matrices;
        double logProdSpec = 0, sum = 0;
        for (int i = 0; i < matrices.Count; i++)
        {
            double spec = Math.Sqrt(norms.SpecSquared[i]);
            logProdSpec += Math.Log(spec);
            sum += Math.Pow(SpectralComplexity.RowNormSum(matrices[i].Weight) / spec, 2.0 / 3.0);
        }
        double logComplexity = logProdSpec + 1.5 * Math.Log(sum);
        double dataNorm = SpectralComplexity.FrobeniusNorm(context.Data.Inputs);
        double m = context.Data.Count;
        double value = MeasureData.Margin(context) * m / dataNorm * Math.Exp(-logComplexity);
        return new(value, null, new Dictionary<string, double>
        {
            ["log_spectral_complexity"] = logComplexity,
            ["log_prod_spec"] = logProdSpec,
            ["data_frobenius_norm"] = dataNorm,
        });
    }
}

/// <summary>The pieces of Bartlett et al.'s spectral complexity.</summary>
public static class SpectralComplexity
{
    /// <summary>
    /// ||W^T||_{2,1}: the sum over output units of the Euclidean norm of their incoming weights
    /// (convolution kernels reshaped to [c_out, c_in k_h k_w]).
    /// </summary>
    public static double RowNormSum(TorchSharp.torch.Tensor weight)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var w = weight.to_type(TorchSharp.torch.ScalarType.Float64).reshape(weight.shape[0], -1);
        return w.pow(2).sum(1).sqrt().sum().item<double>();
    }

    /// <summary>||X||_F of the inputs, every example flattened.</summary>
    public static double FrobeniusNorm(TorchSharp.torch.Tensor inputs)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        return inputs.to_type(TorchSharp.torch.ScalarType.Float64).pow(2).sum().sqrt().item<double>();
    }
}

/// <summary>Mean output margin over the data.</summary>
public sealed class AverageMarginMeasure() : Measure("average-margin", MeasureFamily.Margin, MeasureNeeds.Data, 1,
    "(1/m) sum_i (f(x_i)[y_i] - max_{j!=y_i} f(x_i)[j])", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var m = MeasureData.MarginValues(context);
        double mean = m.Average();
        double sd = Math.Sqrt(m.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, m.Length - 1));
        return new(mean, sd / Math.Sqrt(m.Length));
    }
}
