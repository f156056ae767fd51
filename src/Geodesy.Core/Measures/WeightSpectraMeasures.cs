using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>A power-law fit p(x) ~ x^-alpha for x &gt;= xmin.</summary>
public sealed record PowerLawFit(double Alpha, double XMin, double KsDistance, int TailCount);

/// <summary>
/// Continuous power-law fit of Clauset, Shalizi &amp; Newman (2009): for each candidate xmin (each
/// sample value leaving at least minTail samples in the tail) alpha = 1 + n / sum ln(x_i / xmin)
/// by maximum likelihood, and the Kolmogorov-Smirnov distance between the tail's empirical CDF and
/// 1 - (x/xmin)^(1-alpha); the xmin with the smallest distance wins.
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
            if (k > 0 && x[k] == x[k - 1]) continue;   // same xmin as before
            int tail = n - k;
            double xmin = x[k];
            double sumLog = suffixLog[k] - tail * Math.Log(xmin);
            if (sumLog <= 0) continue;
            double alpha = 1 + tail / sumLog;
            double ks = 0;
            for (int j = k; j < n; j++)
            {
                double model = 1 - Math.Pow(x[j] / xmin, 1 - alpha);
                double below = (j - k) / (double)tail, upTo = (j - k + 1) / (double)tail;
                ks = Math.Max(ks, Math.Max(Math.Abs(model - below), Math.Abs(upTo - model)));
            }
            if (best is null || ks < best.KsDistance) best = new PowerLawFit(alpha, xmin, ks, tail);
        }
        return best ?? throw new MeasureSkippedException("no power-law fit: all tail values are equal");
    }
}

/// <summary>Per-layer spectra of W^T W and their power-law fits (WeightWatcher-style).</summary>
public sealed record LayerSpectrum(string Name, int Eigenvalues, double LambdaMax, PowerLawFit? Fit);

public static class WeightSpectra
{
    /// <summary>Eigenvalues of W^T W (squared singular values of the folded weight matrix, conv kernels reshaped).</summary>
    public static double[] Eigenvalues(Tensor weight)
    {
        using var scope = NewDisposeScope();
        var m = weight.to_type(ScalarType.Float64).reshape(weight.shape[0], -1);
        var sv = torch.linalg.svdvals(m).data<double>().ToArray();
        return sv.Select(s => s * s).ToArray();
    }

    public static IReadOnlyList<LayerSpectrum> Of(MeasureContext ctx) => ctx.Cached("spectra", () =>
    {
        var set = WeightMatrices.Trained(ctx);
        var list = new List<LayerSpectrum>();
        foreach (var m in set.Matrices)
        {
            var ev = Eigenvalues(m.Weight);
            PowerLawFit? fit = ev.Length >= ctx.Options.MinSpectrumSize ? PowerLaw.Fit(ev, ctx.Options.MinTailSize) : null;
            list.Add(new LayerSpectrum(m.Name, ev.Length, ev.Max(), fit));
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
    "mean over fitted layers of the power-law exponent alpha of the ESD of W^T W", Citations.Martin)
{
    public override MeasureValue Compute(MeasureContext c) =>
        new(WeightSpectra.Fitted(c, Name).Average(l => l.Fit!.Alpha), null, WeightSpectra.Details(c));
}

public sealed class AlphaWeightedMeasure() : Measure("alpha-weighted", MeasureFamily.WeightSpectra, MeasureNeeds.Weights, 1,
    "mean over fitted layers of alpha * log10(lambda_max)", Citations.Martin)
{
    public override MeasureValue Compute(MeasureContext c) =>
        new(WeightSpectra.Fitted(c, Name).Average(l => l.Fit!.Alpha * Math.Log10(l.LambdaMax)), null, WeightSpectra.Details(c));
}
