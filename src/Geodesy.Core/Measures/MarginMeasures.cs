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

/// <summary>gamma over the product of the layers' spectral norms (the Lipschitz bound of the network).</summary>
public sealed class NormalizedMarginMeasure() : Measure("normalized-margin", MeasureFamily.Margin, MeasureNeeds.Data, 1,
    "gamma / prod_i ||W_i||_2", Citations.Bartlett)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var norms = LayerNorms.Trained(context);
        double logProd = norms.SpecSquared.Sum(s => 0.5 * Math.Log(s));
        return new(MeasureData.Margin(context) * Math.Exp(-logProd), null,
            new Dictionary<string, double> { ["log_prod_spec"] = logProd });
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
