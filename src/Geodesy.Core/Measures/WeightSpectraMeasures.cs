using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>A power-law fit p(x) ~ x^-alpha for x &gt;= xmin.</summary>
public sealed record PowerLawFit(double Alpha, double XMin, double KsDistance, int TailCount);

/// <summary>
/// Continuous power-law fit of Clauset, Shalizi &amp; Newman (2009) as WeightWatcher runs it: for each
/// candidate xmin (every sorted value leaving at least minTail values in the tail; WeightWatcher's
/// candidates are all values but the largest, i.e. minTail = 2) alpha = 1 + n / sum ln(x_i / xmin) by
/// maximum likelihood, and the Kolmogorov-Smirnov distance D = max_j |1 - (x_j/xmin)^(1-alpha) - j/n|
/// between the power-law CDF and the tail's empirical CDF at its sorted points x_0 &lt;= ... &lt;= x_{n-1};
/// the xmin with the smallest D wins (candidates with alpha &lt;= 1 get D = 1, as in WeightWatcher).
/// </summary>
public static class PowerLaw
{
    public static PowerLawFit Fit(IReadOnlyList<double> samples, int minTail)
    {
        var x = samples.Where(v => v > 0 && double.IsFinite(v)).OrderBy(v => v).ToArray();
        int n = x.Length;
        if (n < minTail || minTail < 2) throw new MeasureSkippedException($"a power-law fit needs at least {Math.Max(2, minTail)} positive values (got {n})");
        // suffix sums of ln x for O(1) MLE per candidate
        var suffixLog = new double[n + 1];
        for (int i = n - 1; i >= 0; i--) suffixLog[i] = suffixLog[i + 1] + Math.Log(x[i]);
        PowerLawFit? best = null;
        for (int k = 0; k <= n - minTail; k++)
        {
            int tail = n - k;
            double xmin = x[k];
            double sumLog = suffixLog[k] - tail * Math.Log(xmin);
            if (sumLog <= 0) continue;   // every tail value equals xmin: no finite alpha
            double alpha = 1 + tail / sumLog;
            double ks = 1;
            if (alpha > 1)
            {
                ks = 0;
                for (int j = k; j < n; j++)
                {
                    double model = 1 - Math.Pow(x[j] / xmin, 1 - alpha);
                    ks = Math.Max(ks, Math.Abs(model - (j - k) / (double)tail));
                }
            }
            if (best is null || ks < best.KsDistance) best = new PowerLawFit(alpha, xmin, ks, tail);
        }
        return best ?? throw new MeasureSkippedException("no power-law fit: all tail values are equal");
    }
}

/// <summary>Per-layer spectra and their power-law fits (WeightWatcher conventions).</summary>
public sealed record LayerSpectrum(string Name, int Eigenvalues, double LambdaMax, PowerLawFit? Fit);

public static class WeightSpectra
{
    /// <summary>Eigenvalues at or below this are dropped before the fit (WeightWatcher's EVALS_THRESH).</summary>
    public const double EigenvalueThreshold = 1e-5;

    /// <summary>
    /// The layer's empirical spectral density as WeightWatcher builds it: a Linear weight [out, in] is
    /// one matrix; a convolution [out, in, kh, kw] gives kh kw matrices W[:, :, i, j], one per kernel
    /// position, whose eigenvalues are pooled. Each matrix W (N x M after transposing so that N &gt;= M)
    /// contributes the M eigenvalues of the normalized correlation matrix X = W^T W / N (Martin &amp; Mahoney),
    /// i.e. its squared singular values over N. Sorted ascending, thresholded at <see cref="EigenvalueThreshold"/>.
    /// </summary>
    public static double[] Eigenvalues(Tensor weight)
    {
        using var scope = NewDisposeScope();
        var w = weight.to_type(ScalarType.Float64);
        var slices = new List<Tensor>();
        if (w.dim() == 4)
            for (long i = 0; i < w.shape[2]; i++)
                for (long j = 0; j < w.shape[3]; j++)
                    slices.Add(w.select(3, j).select(2, i));
        else slices.Add(w.reshape(w.shape[0], -1));
        var all = new List<double>();
        foreach (var m in slices)
        {
            double n = Math.Max(m.shape[0], m.shape[1]);
            all.AddRange(torch.linalg.svdvals(m).data<double>().ToArray().Select(s => s * s / n));
        }
        return all.Where(v => v > EigenvalueThreshold).OrderBy(v => v).ToArray();
    }

    /// <summary>How many eigenvalues the layer's ESD has before thresholding (WeightWatcher's M x receptive field).</summary>
    public static long SpectrumSize(Tensor weight) =>
        weight.dim() == 4
            ? Math.Min(weight.shape[0], weight.shape[1]) * weight.shape[2] * weight.shape[3]
            : Math.Min(weight.shape[0], weight.numel() / weight.shape[0]);

    public static IReadOnlyList<LayerSpectrum> Of(MeasureContext ctx) => ctx.Cached("spectra", () =>
    {
        var set = WeightMatrices.Trained(ctx);
        var list = new List<LayerSpectrum>();
        foreach (var m in set.Matrices)
        {
            var ev = Eigenvalues(m.Weight);
            PowerLawFit? fit = SpectrumSize(m.Weight) >= ctx.Options.MinSpectrumSize && ev.Length >= ctx.Options.MinTailSize
                ? PowerLaw.Fit(ev, ctx.Options.MinTailSize) : null;
            list.Add(new LayerSpectrum(m.Name, ev.Length, ev.Length > 0 ? ev[^1] : 0, fit));
        }
        return list;
    });

    public static IReadOnlyList<LayerSpectrum> Fitted(MeasureContext ctx, string measure)
    {
        var fitted = Of(ctx).Where(l => l.Fit is not null).ToList();
        if (fitted.Count == 0)
            throw new MeasureSkippedException($"{measure}: no layer has at least {ctx.Options.MinSpectrumSize} eigenvalues to fit");
        return fitted;
    }

    public static Dictionary<string, double> Details(MeasureContext ctx)
    {
        var d = new Dictionary<string, double>();
        foreach (var l in Of(ctx))
        {
            d[$"eigenvalues[{l.Name}]"] = l.Eigenvalues;
            d[$"lambda_max[{l.Name}]"] = l.LambdaMax;
            if (l.Fit is { } f)
            {
                d[$"alpha[{l.Name}]"] = f.Alpha;
                d[$"xmin[{l.Name}]"] = f.XMin;
                d[$"ks[{l.Name}]"] = f.KsDistance;
                d[$"tail[{l.Name}]"] = f.TailCount;
            }
        }
        return d;
    }
}

public sealed class AlphaMeasure() : Measure("alpha", MeasureFamily.WeightSpectra, MeasureNeeds.Weights, 1,
    "mean over fitted layers of the power-law exponent alpha of the normalized ESD (W^T W / N, conv slices pooled), xmin by the KS rule", Citations.Martin)
{
    public override MeasureValue Compute(MeasureContext c) =>
        new(WeightSpectra.Fitted(c, Name).Average(l => l.Fit!.Alpha), null, WeightSpectra.Details(c));
}

public sealed class AlphaWeightedMeasure() : Measure("alpha-weighted", MeasureFamily.WeightSpectra, MeasureNeeds.Weights, 1,
    "mean over fitted layers of alpha * log10(lambda_max), lambda_max of the normalized ESD", Citations.Martin)
{
    public override MeasureValue Compute(MeasureContext c) =>
        new(WeightSpectra.Fitted(c, Name).Average(l => l.Fit!.Alpha * Math.Log10(l.LambdaMax)), null, WeightSpectra.Details(c));
}
