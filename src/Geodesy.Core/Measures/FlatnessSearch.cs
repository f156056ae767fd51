using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>A perturbation scale found by bisection, with its bracket and the deviation reached.</summary>
public sealed record SearchResult(
    double Scale, double Lower, double Upper, double Deviation, double DeviationStdErr,
    int Evaluations, bool Converged, double BaseError, long ForwardExamples)
{
    public Dictionary<string, double> Details(string scaleName) => new()
    {
        [scaleName] = Scale,
        [$"{scaleName}_lower"] = Lower,
        [$"{scaleName}_upper"] = Upper,
        ["deviation"] = Deviation,
        ["deviation_stderr"] = DeviationStdErr,
        ["base_error"] = BaseError,
        ["evaluations"] = Evaluations,
        ["converged"] = Converged ? 1 : 0,
        ["forward_examples"] = ForwardExamples,
    };

    /// <summary>Half the spread of a measure over the final bracket (null when the bracket reaches 0 or is open above).</summary>
    public double? HalfSpread(Func<double, double> measure) =>
        Lower > 0 && double.IsFinite(Upper) ? Math.Abs(measure(Upper) - measure(Lower)) / 2 : null;
}

/// <summary>
/// The searches of Fantastic Algorithms 1 and 2: the largest perturbation scale whose train-error
/// deviation reaches TargetDeviation (within SearchTolerance), by bisection. The error is measured on
/// a fixed seeded subset of SearchExamples examples; every evaluation at any scale reuses the same
/// random draws (common random numbers), so the deviation is a smooth function of the scale.
/// </summary>
public static class DeviationSearch
{
    /// <summary>Upper end of the first bracket; doubled while the deviation stays below target.</summary>
    public const double InitialUpper = 2.0;
    public const double MaxUpper = 1e4;

    /// <summary>
    /// The search of a context, run once and cached under <paramref name="name"/>: a seeded subset of
    /// SearchExamples, the trained weights snapshotted (and restored), the unperturbed error as the
    /// base, and a bisection over the scale with forward passes counted into the context.
    /// <paramref name="deviation"/> gets (scale, subset, weights, base error, seed).
    /// </summary>
    public static SearchResult Cached(MeasureContext ctx, string name,
        Func<double, ExampleSet, ParameterSnapshot, double, long, (double Deviation, double StdErr)> deviation) =>
        ctx.Cached("search:" + name, () =>
        {
            var o = ctx.Options;
            var set = MeasureData.Subset(ctx, o.SearchExamples, "search");
            using var weights = new ParameterSnapshot(ctx.Model);
            double baseError = MeasureData.LossError(ctx.Model, set, o.EvalBatchSize).Error;
            long start = ctx.ForwardExamples;
            ctx.ForwardExamples += set.Count;
            long seed = MeasureData.SeedFor(ctx, name);
            return Bisect(scale => deviation(scale, set, weights, baseError, seed), o, baseError, () => ctx.ForwardExamples - start, name);
        });

    public static SearchResult Bisect(Func<double, (double Deviation, double StdErr)> deviation, MeasureOptions o,
        double baseError, Func<long> forwardCount, string what)
    {
        double target = o.TargetDeviation, tol = o.SearchTolerance;
        double lo = 0, hi = InitialUpper;
        int evaluations = 1;
        var (dHi, sHi) = deviation(hi);
        while (dHi < target - tol)
        {
            lo = hi;
            hi *= 2;
            // Out of range: the scale is only known to exceed lo. Reported at lo, unconverged, with an open bracket.
            if (hi > MaxUpper)
                return new SearchResult(lo, lo, double.PositiveInfinity, dHi, sHi, evaluations, false, baseError, forwardCount());
            (dHi, sHi) = deviation(hi);
            evaluations++;
        }
        if (Math.Abs(dHi - target) < tol)
            return new SearchResult(hi, lo, hi, dHi, sHi, evaluations, true, baseError, forwardCount());

        double mid = hi, dMid = dHi, sMid = sHi;
        bool converged = false;
        for (int step = 0; step < o.SearchDepth; step++)
        {
            mid = (lo + hi) / 2;
            (dMid, sMid) = deviation(mid);
            evaluations++;
            if (Math.Abs(dMid - target) < tol)
            {
                converged = true;
                break;
            }
            if (dMid > target) hi = mid;
            else lo = mid;
        }
        return new SearchResult(mid, lo, hi, dMid, sMid, evaluations, converged, baseError, forwardCount());
    }
}

/// <summary>Gaussian weight noise for the PAC-Bayes family (Fantastic Algorithm 1).</summary>
public static class PacBayesSearch
{
    /// <summary>
    /// Mean train-error increase (and its Monte-Carlo standard error) over <paramref name="draws"/>
    /// draws of u ~ N(0, sigma^2) per parameter, or N(0, sigma^2 w_i^2 + eps^2) when magnitude-aware.
    /// </summary>
    public static (double Deviation, double StdErr) Deviation(
        nn.Module<Tensor, Tensor> model, ParameterSnapshot weights, ExampleSet set, double baseError,
        double sigma, bool magnitudeAware, double epsilon, int draws, long seed, int batchSize)
    {
        using var gen = new torch.Generator((ulong)seed);
        var errors = new double[draws];
        try
        {
            for (int d = 0; d < draws; d++)
            {
                using var scope = NewDisposeScope();
                var w = weights.Values;
                var z = torch.randn(w.shape, dtype: w.dtype, generator: gen);
                var std = magnitudeAware ? (w.pow(2) * (sigma * sigma) + epsilon * epsilon).sqrt() : torch.full_like(w, sigma);
                weights.Set(w + std * z);
                errors[d] = MeasureData.LossError(model, set, batchSize).Error;
            }
        }
        finally
        {
            weights.Restore();
        }
        double mean = errors.Average();
        double sd = draws > 1 ? Math.Sqrt(errors.Sum(e => (e - mean) * (e - mean)) / (draws - 1)) : 0;
        return (mean - baseError, sd / Math.Sqrt(draws));
    }

    /// <summary>sigma (or sigma' when magnitude-aware) for the context, searched once and cached.</summary>
    public static SearchResult Sigma(MeasureContext ctx, bool magnitudeAware)
    {
        var o = ctx.Options;
        return DeviationSearch.Cached(ctx, magnitudeAware ? "pacbayes-mag" : "pacbayes", (sigma, set, weights, baseError, seed) =>
        {
            ctx.ForwardExamples += o.MonteCarloDraws * set.Count;
            return Deviation(ctx.Model, weights, set, baseError, sigma, magnitudeAware, o.MagnitudeEpsilon,
                o.MonteCarloDraws, seed, o.EvalBatchSize);
        });
    }
}

/// <summary>Worst-case perturbations in a box, by projected gradient ascent (Fantastic Algorithm 2).</summary>
public static class SharpnessSearch
{
    /// <summary>Sign-gradient step as a fraction of the box half-width (PGD in the infinity norm).</summary>
    public const double StepFraction = 2.5;

    /// <summary>
    /// The largest train-error increase found by projected sign-gradient ascent of the cross-entropy
    /// inside the box |u_i| &lt;= r_i (r_i = alpha, or alpha |w_i| + eps when magnitude-aware), from a
    /// seeded uniform start in the box; the error is checked at every iterate. The ascent stops as
    /// soon as the deviation exceeds <paramref name="stopAbove"/> (the search only needs to know that).
    /// </summary>
    public static (double Deviation, double StdErr) Deviation(
        nn.Module<Tensor, Tensor> model, ParameterSnapshot weights, ExampleSet set, double baseError,
        double alpha, bool magnitudeAware, double epsilon, int steps, long seed, Action<long>? countForward = null,
        double stopAbove = double.PositiveInfinity, Action? countGradient = null)
    {
        using var gen = new torch.Generator((ulong)seed);
        using var scope = NewDisposeScope();
        var w = weights.Values;
        var r = magnitudeAware ? w.abs() * alpha + epsilon : torch.full_like(w, alpha);
        var u = (torch.rand(w.shape, dtype: w.dtype, generator: gen) * 2 - 1) * r;
        double worst = 0;
        ProjectedAscent(model, weights, set, w, u, r, steps, (_, error) =>
        {
            worst = Math.Max(worst, error);
            return worst - baseError <= stopAbove;
        }, countForward, countGradient);
        return (worst - baseError, 0);
    }

    /// <summary>alpha (or alpha') for the context, searched once and cached.</summary>
    public static SearchResult Alpha(MeasureContext ctx, bool magnitudeAware)
    {
        var o = ctx.Options;
        return DeviationSearch.Cached(ctx, magnitudeAware ? "sharpness-mag" : "sharpness", (alpha, set, weights, baseError, seed) =>
            Deviation(ctx.Model, weights, set, baseError, alpha, magnitudeAware, o.MagnitudeEpsilon,
                o.AscentSteps, seed, n => ctx.ForwardExamples += n, o.TargetDeviation + o.SearchTolerance, () => ctx.Gradients++));
    }

    /// <summary>
    /// Keskar et al.'s epsilon-sharpness: 100 (max_{|u_i| &lt;= eps(|w_i|+1)} L(w+u) - L(w)) / (1 + L(w)),
    /// the maximum found by projected sign-gradient ascent from u = 0.
    /// </summary>
    public static (double Value, double BaseLoss, double MaxLoss) EpsilonSharpness(
        nn.Module<Tensor, Tensor> model, ExampleSet set, double eps, int steps, Action<long>? countForward = null)
    {
        using var weights = new ParameterSnapshot(model);
        using var scope = NewDisposeScope();
        var w = weights.Values;
        var r = (w.abs() + 1) * eps;
        var u = torch.zeros_like(w);
        double baseLoss = double.NaN, maxLoss = double.NegativeInfinity;
        ProjectedAscent(model, weights, set, w, u, r, steps, (loss, _) =>
        {
            if (double.IsNaN(baseLoss)) baseLoss = loss; // the first iterate is u = 0
            maxLoss = Math.Max(maxLoss, loss);
            return true;
        }, countForward, null);
        return (100 * (maxLoss - baseLoss) / (1 + baseLoss), baseLoss, maxLoss);
    }

    /// <summary>
    /// Projected sign-gradient ascent of the cross-entropy from u inside the box |u_i| &lt;= r_i:
    /// <paramref name="steps"/> gradient steps, then a final evaluation. <paramref name="observe"/>
    /// gets (loss, error) of every iterate and returns false to stop early. Restores the weights.
    /// </summary>
    private static void ProjectedAscent(nn.Module<Tensor, Tensor> model, ParameterSnapshot weights, ExampleSet set,
        Tensor w, Tensor u, Tensor r, int steps, Func<double, double, bool> observe, Action<long>? countForward, Action? countGradient)
    {
        try
        {
            for (int t = 0; t <= steps; t++)
            {
                using var stepScope = NewDisposeScope();
                weights.Set(w + u);
                if (t == steps)
                {
                    var (loss, error) = MeasureData.LossError(model, set, (int)set.Count);
                    countForward?.Invoke(set.Count);
                    observe(loss, error);
                    break;
                }
                var (batchLoss, wrong, g) = MeasureData.LossGradient(model, set.Inputs, set.Labels);
                countForward?.Invoke(set.Count);
                countGradient?.Invoke();
                if (!observe(batchLoss, wrong / (double)set.Count)) break;
                u.copy_(torch.maximum(torch.minimum(u + g.sign() * r * (StepFraction / steps), r), -r));
            }
        }
        finally
        {
            weights.Restore();
        }
    }
}
