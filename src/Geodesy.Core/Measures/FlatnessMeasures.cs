using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>
/// Shared pieces of the PAC-Bayes and sharpness formulas (Fantastic Appendix C.3/C.4): w is the
/// whole flat parameter vector (the vector that is perturbed), omega its length, m the number of
/// examples measured.
/// </summary>
internal static class FlatnessTerms
{
    public static double SquaredNorm(Tensor v)
    {
        using var scope = NewDisposeScope();
        return v.to_type(ScalarType.Float64).pow(2).sum().item<double>();
    }

    public static Tensor Weights(MeasureContext ctx) => ctx.Cached("flat:trained", () => ParameterVector.Flatten(ctx.Model).to_type(ScalarType.Float64));

    /// <summary>w - w0 over all parameters; skips the measure without initial weights.</summary>
    public static Tensor Displacement(MeasureContext ctx, string measure)
    {
        var init = ctx.RequireInit(measure);
        return ctx.Cached("flat:displacement", () =>
        {
            using var w0 = ParameterVector.Flatten(init).to_type(ScalarType.Float64);
            var w = Weights(ctx);
            if (w0.numel() != w.numel())
                throw new InputException($"the initial model has {w0.numel()} parameters, the trained one {w.numel()}");
            return w - w0;
        });
    }

    /// <summary>
    /// sum_i log( (eps^2 + c ||ref||^2 / omega) / (eps^2 + s^2 w_i^2) ): the KL term of the
    /// magnitude-aware posterior N(w, s^2 w_i^2 + eps^2).
    /// </summary>
    public static double MagnitudeLogRatio(Tensor w, double refSquaredNorm, double c, double s, double eps)
    {
        using var scope = NewDisposeScope();
        double omega = w.numel();
        double numerator = eps * eps + c * refSquaredNorm / omega;
        var denominator = w.pow(2) * (s * s) + eps * eps;
        return (Math.Log(numerator) - denominator.log()).sum().item<double>();
    }
}

public abstract class SearchMeasure(string name, MeasureFamily family, MeasureNeeds needs, string formula, string citation) :
    Measure(name, family, needs | MeasureNeeds.Data, 5, formula, citation)
{
    /// <summary>
    /// The measure at the scale found. No standard error exists (the search is deterministic given its
    /// seed); half the spread of the measure over the final bracket is the bracket half-width, and a
    /// bisection that used its whole depth without meeting the tolerance is BudgetExhausted.
    /// </summary>
    protected static MeasureValue Report(SearchResult r, string scaleName, Func<double, double> measure) =>
        new(measure(r.Scale), null, r.Details(scaleName),
            r.Converged ? SolverStatus.Converged : SolverStatus.BudgetExhausted, r.HalfSpread(measure));
}

public sealed class PacBayesInitMeasure() : SearchMeasure("pacbayes-init", MeasureFamily.PacBayes, MeasureNeeds.InitWeights,
    "||w - w0||^2 / (4 sigma^2) + log(m / sigma) + 10  (eq. 48)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        double dist = FlatnessTerms.SquaredNorm(FlatnessTerms.Displacement(c, Name));
        double m = c.Data.Count;
        return Report(PacBayesSearch.Sigma(c, false), "sigma", s => dist / (4 * s * s) + Math.Log(m / s) + 10);
    }
}

public sealed class PacBayesOrigMeasure() : SearchMeasure("pacbayes-orig", MeasureFamily.PacBayes, MeasureNeeds.Weights,
    "||w||^2 / (4 sigma^2) + log(m / sigma) + 10  (eq. 49)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        double norm = FlatnessTerms.SquaredNorm(FlatnessTerms.Weights(c));
        double m = c.Data.Count;
        return Report(PacBayesSearch.Sigma(c, false), "sigma", s => norm / (4 * s * s) + Math.Log(m / s) + 10);
    }
}

public sealed class PacBayesFlatnessMeasure() : SearchMeasure("pacbayes-flatness", MeasureFamily.PacBayes, MeasureNeeds.Weights,
    "1 / sigma^2  (eq. 53)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c) =>
        Report(PacBayesSearch.Sigma(c, false), "sigma", s => 1 / (s * s));
}

public sealed class PacBayesMagInitMeasure() : SearchMeasure("pacbayes-mag-init", MeasureFamily.PacBayes, MeasureNeeds.InitWeights,
    "1/4 sum_i log( (eps^2 + (sigma'^2 + 1) ||w - w0||^2 / omega) / (eps^2 + sigma'^2 w_i^2) ) + log(m / sigma') + 10  (eq. 56)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        double dist = FlatnessTerms.SquaredNorm(FlatnessTerms.Displacement(c, Name));
        var w = FlatnessTerms.Weights(c);
        double eps = c.Options.MagnitudeEpsilon, m = c.Data.Count;
        return Report(PacBayesSearch.Sigma(c, true), "sigma",
            s => 0.25 * FlatnessTerms.MagnitudeLogRatio(w, dist, s * s + 1, s, eps) + Math.Log(m / s) + 10);
    }
}

public sealed class PacBayesMagOrigMeasure() : SearchMeasure("pacbayes-mag-orig", MeasureFamily.PacBayes, MeasureNeeds.Weights,
    "1/4 sum_i log( (eps^2 + (sigma'^2 + 1) ||w||^2 / omega) / (eps^2 + sigma'^2 w_i^2) ) + log(m / sigma') + 10  (eq. 57)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var w = FlatnessTerms.Weights(c);
        double norm = FlatnessTerms.SquaredNorm(w);
        double eps = c.Options.MagnitudeEpsilon, m = c.Data.Count;
        return Report(PacBayesSearch.Sigma(c, true), "sigma",
            s => 0.25 * FlatnessTerms.MagnitudeLogRatio(w, norm, s * s + 1, s, eps) + Math.Log(m / s) + 10);
    }
}

public sealed class PacBayesMagFlatnessMeasure() : SearchMeasure("pacbayes-mag-flatness", MeasureFamily.PacBayes, MeasureNeeds.Weights,
    "1 / sigma'^2  (eq. 61)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c) =>
        Report(PacBayesSearch.Sigma(c, true), "sigma", s => 1 / (s * s));
}

public sealed class SharpnessInitMeasure() : SearchMeasure("sharpness-init", MeasureFamily.Sharpness, MeasureNeeds.InitWeights,
    "||w - w0||^2 log(2 omega) / (4 alpha^2) + log(m / alpha) + 10  (eq. 50)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        double dist = FlatnessTerms.SquaredNorm(FlatnessTerms.Displacement(c, Name));
        double omega = FlatnessTerms.Weights(c).numel(), m = c.Data.Count;
        return Report(SharpnessSearch.Alpha(c, false), "alpha", a => dist * Math.Log(2 * omega) / (4 * a * a) + Math.Log(m / a) + 10);
    }
}

public sealed class SharpnessOrigMeasure() : SearchMeasure("sharpness-orig", MeasureFamily.Sharpness, MeasureNeeds.Weights,
    "||w||^2 log(2 omega) / (4 alpha^2) + log(m / alpha) + 10  (eq. 51)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var w = FlatnessTerms.Weights(c);
        double norm = FlatnessTerms.SquaredNorm(w), omega = w.numel(), m = c.Data.Count;
        return Report(SharpnessSearch.Alpha(c, false), "alpha", a => norm * Math.Log(2 * omega) / (4 * a * a) + Math.Log(m / a) + 10);
    }
}

public sealed class SharpnessFlatnessMeasure() : SearchMeasure("sharpness-flatness", MeasureFamily.Sharpness, MeasureNeeds.Weights,
    "1 / alpha^2  (eq. 54)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c) =>
        Report(SharpnessSearch.Alpha(c, false), "alpha", a => 1 / (a * a));
}

public sealed class SharpnessMagInitMeasure() : SearchMeasure("sharpness-mag-init", MeasureFamily.Sharpness, MeasureNeeds.InitWeights,
    "1/4 sum_i log( (eps^2 + (alpha'^2 + 4 log(2 omega / delta)) ||w - w0||^2 / omega) / (eps^2 + alpha'^2 w_i^2) ) + log(m / delta) + 10  (eq. 58)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        double dist = FlatnessTerms.SquaredNorm(FlatnessTerms.Displacement(c, Name));
        var w = FlatnessTerms.Weights(c);
        double eps = c.Options.MagnitudeEpsilon, delta = c.Options.Delta, m = c.Data.Count, omega = w.numel();
        return Report(SharpnessSearch.Alpha(c, true), "alpha",
            a => 0.25 * FlatnessTerms.MagnitudeLogRatio(w, dist, a * a + 4 * Math.Log(2 * omega / delta), a, eps) + Math.Log(m / delta) + 10);
    }
}

public sealed class SharpnessMagOrigMeasure() : SearchMeasure("sharpness-mag-orig", MeasureFamily.Sharpness, MeasureNeeds.Weights,
    "1/4 sum_i log( (eps^2 + (alpha'^2 + 4 log(2 omega / delta)) ||w||^2 / omega) / (eps^2 + alpha'^2 w_i^2) ) + log(m / delta) + 10  (eq. 59)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var w = FlatnessTerms.Weights(c);
        double norm = FlatnessTerms.SquaredNorm(w);
        double eps = c.Options.MagnitudeEpsilon, delta = c.Options.Delta, m = c.Data.Count, omega = w.numel();
        return Report(SharpnessSearch.Alpha(c, true), "alpha",
            a => 0.25 * FlatnessTerms.MagnitudeLogRatio(w, norm, a * a + 4 * Math.Log(2 * omega / delta), a, eps) + Math.Log(m / delta) + 10);
    }
}

public sealed class SharpnessMagFlatnessMeasure() : SearchMeasure("sharpness-mag-flatness", MeasureFamily.Sharpness, MeasureNeeds.Weights,
    "1 / alpha'^2  (eq. 62)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c) =>
        Report(SharpnessSearch.Alpha(c, true), "alpha", a => 1 / (a * a));
}

/// <summary>Keskar et al. 2017: worst relative loss increase in the box |u_i| &lt;= eps (|w_i| + 1), in percent.</summary>
public sealed class EpsilonSharpnessMeasure() : Measure("epsilon-sharpness", MeasureFamily.Sharpness, MeasureNeeds.Data, 3,
    "100 * (max_{|u_i| <= eps(|w_i|+1)} L(w+u) - L(w)) / (1 + L(w))", Citations.Keskar)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var o = c.Options;
        var set = MeasureData.Subset(c, o.SearchExamples, "search");
        long start = c.ForwardExamples;
        var (value, baseLoss, maxLoss) = SharpnessSearch.EpsilonSharpness(c.Model, set, o.SharpnessEpsilon, o.AscentSteps,
            n => c.ForwardExamples += n);
        c.Gradients += o.AscentSteps;
        return new(value, null, new Dictionary<string, double>
        {
            ["epsilon"] = o.SharpnessEpsilon,
            ["base_loss"] = baseLoss,
            ["max_loss"] = maxLoss,
            ["ascent_steps"] = o.AscentSteps,
            ["forward_examples"] = c.ForwardExamples - start,
        });
    }
}
