using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>Mini-batch gradient noise at the final weights.</summary>
public sealed record GradientNoiseResult(double Noise, double NoiseStdErr, double FullGradientSquaredNorm, int BatchSize, int Batches);

public static class GradientNoise
{
    /// <summary>
    /// E||g_B - g||^2 over <paramref name="batches"/> random batches of <paramref name="batchSize"/>
    /// examples drawn without replacement (seeded), g the full-data gradient of the mean cross-entropy.
    /// </summary>
    public static GradientNoiseResult Compute(nn.Module<Tensor, Tensor> model, ExampleSet set, int batchSize, int batches, int seed, int evalBatch)
    {
        if (batchSize > set.Count) batchSize = (int)set.Count;
        using var scope = NewDisposeScope();
        Tensor? full = null;
        for (long start = 0; start < set.Count; start += evalBatch)
        {
            using var chunkScope = NewDisposeScope();
            long len = Math.Min(evalBatch, set.Count - start);
            var (_, _, g) = MeasureData.LossGradient(model, set.Inputs.narrow(0, start, len), set.Labels.narrow(0, start, len));
            var weighted = g * ((double)len / set.Count);
            full = full is null ? weighted.MoveToOuterDisposeScope() : (full + weighted).MoveToOuterDisposeScope();
        }
        var gFull = full!;
        var sq = new double[batches];
        for (int k = 0; k < batches; k++)
        {
            using var batchScope = NewDisposeScope();
            var idx = MeasureData.SeededIndices(set.Count, batchSize, unchecked(seed + 7919 * (k + 1)));
            using var it = torch.tensor(idx, dtype: ScalarType.Int64);
            var (_, _, g) = MeasureData.LossGradient(model, set.Inputs.index_select(0, it), set.Labels.index_select(0, it));
            sq[k] = (g - gFull).to_type(ScalarType.Float64).pow(2).sum().item<double>();
        }
        double mean = sq.Average();
        double sd = batches > 1 ? Math.Sqrt(sq.Sum(v => (v - mean) * (v - mean)) / (batches - 1)) : 0;
        double fullSq = gFull.to_type(ScalarType.Float64).pow(2).sum().item<double>();
        return new GradientNoiseResult(mean, sd / Math.Sqrt(batches), fullSq, batchSize, batches);
    }

    public static GradientNoiseResult Of(MeasureContext ctx) => ctx.Cached("gradient-noise", () =>
    {
        var set = MeasureData.All(ctx);
        // One batch size for every model (not each model's training batch), so that the measure does
        // not encode the sweep's batch-size axis by construction.
        int batch = ctx.Options.GradientNoiseBatchSize;
        var r = Compute(ctx.Model, set, batch, ctx.Options.GradientNoiseBatches, MeasureData.SeedFor(ctx, "gradient-noise"), ctx.Options.EvalBatchSize);
        ctx.ForwardExamples += set.Count + (long)r.Batches * r.BatchSize;
        ctx.Gradients += (set.Count + ctx.Options.EvalBatchSize - 1) / ctx.Options.EvalBatchSize + r.Batches;
        return r;
    });

    public static Dictionary<string, double> Details(MeasureContext ctx, GradientNoiseResult r)
    {
        var d = new Dictionary<string, double>
        {
            ["batch_size"] = r.BatchSize,
            ["batches"] = r.Batches,
            ["noise"] = r.Noise,
            ["full_gradient_sq_norm"] = r.FullGradientSquaredNorm,
        };
        if (ctx.TrainingBatchSize is int trained) d["training_batch_size"] = trained;   // for reference only
        return d;
    }
}

/// <summary>Variance of mini-batch gradients at the final weights.</summary>
public sealed class GradNoiseFinalMeasure() : Measure("grad-noise-final", MeasureFamily.GradientNoise, MeasureNeeds.Data, 2,
    "E_B ||g_B - g||^2, B random batches of GradientNoiseBatchSize examples (the same for every model)", Citations.GradNoise)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = GradientNoise.Of(c);
        return new(r.Noise, r.NoiseStdErr, GradientNoise.Details(c, r));
    }
}

/// <summary>Gradient signal-to-noise ratio: squared full gradient over the mini-batch noise.</summary>
public sealed class GradientSnrMeasure() : Measure("gradient-snr", MeasureFamily.GradientNoise, MeasureNeeds.Data, 2,
    "||g||^2 / E_B ||g_B - g||^2, B random batches of GradientNoiseBatchSize examples", Citations.GradNoise)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = GradientNoise.Of(c);
        if (r.Noise == 0) throw new MeasureSkippedException("gradient-snr: the mini-batch gradients have no noise (batch = whole data?)");
        double snr = r.FullGradientSquaredNorm / r.Noise;
        return new(snr, snr * r.NoiseStdErr / r.Noise, GradientNoise.Details(c, r));
    }
}

/// <summary>One point of the train-loss curve the step-count measures read.</summary>
public readonly record struct LossPoint(double Step, double Loss, bool Exact);

/// <summary>A threshold crossing of the train-loss curve: the interpolated step and the bracket it lies in.</summary>
public readonly record struct Crossing(double Step, double Lower, double Upper);

/// <summary>
/// Optimisation speed read from the training record. The curve is every full-set evaluation of the train
/// cross-entropy (exact, at its step) together with every running mean of the last k mini-batch losses
/// (placed at the centre of the weights its window saw: batch j's loss is that of the weights after j-1
/// updates, so a window ending at step s sits at s - (k+1)/2), sorted by position. The first crossing of
/// a threshold X is interpolated linearly in log-loss between the last point above X and the first at or
/// below it; the two points are the bracket.
/// </summary>
public static class OptimizationSpeed
{
    public static IReadOnlyList<LossPoint> Curve(IReadOnlyList<MetricsRow> record, IReadOnlyList<RunningLossRow>? running)
    {
        var points = record.Where(r => double.IsFinite(r.TrainLoss)).Select(r => new LossPoint(r.Step, r.TrainLoss, true));
        if (running is not null)
            points = points.Concat(running.Where(r => double.IsFinite(r.Loss))
                .Select(r => new LossPoint(r.Step - (r.Batches + 1) / 2.0, r.Loss, false)));
        return points.OrderBy(p => p.Step).ThenBy(p => p.Exact ? 0 : 1).ToList();
    }

    /// <summary>The first crossing of <paramref name="threshold"/>, or null if the curve never reaches it.</summary>
    public static Crossing? FirstCrossing(IReadOnlyList<LossPoint> curve, double threshold)
    {
        for (int i = 0; i < curve.Count; i++)
        {
            if (curve[i].Loss > threshold) continue;
            if (i == 0) return new Crossing(curve[0].Step, curve[0].Step, curve[0].Step);
            var (a, b) = (curve[i - 1], curve[i]);
            double t = b.Loss > 0
                ? (Math.Log(a.Loss) - Math.Log(threshold)) / (Math.Log(a.Loss) - Math.Log(b.Loss))
                : 1;
            return new Crossing(a.Step + t * (b.Step - a.Step), a.Step, b.Step);
        }
        return null;
    }

    public static Crossing Require(MeasureContext c, string measure, double threshold)
    {
        var curve = Curve(c.RequireRecord(measure), c.RunningLoss);
        return FirstCrossing(curve, threshold)
            ?? throw new MeasureSkippedException($"{measure}: the train cross-entropy never reached {threshold} in the record");
    }

    public static Dictionary<string, double> Details(MeasureContext c, params (string Prefix, Crossing X)[] crossings)
    {
        var d = new Dictionary<string, double> { ["running_rows"] = c.RunningLoss?.Count ?? 0 };
        foreach (var (prefix, x) in crossings)
        {
            d[$"{prefix}_step"] = x.Step;
            d[$"{prefix}_bracket_lower"] = x.Lower;
            d[$"{prefix}_bracket_upper"] = x.Upper;
        }
        return d;
    }
}

public sealed class StepsToLossMeasure() : Measure("steps-to-0.1", MeasureFamily.OptimizationSpeed, MeasureNeeds.TrainingRecord, 1,
    "step at which the train-loss curve (evaluations and k-step running means) first reaches 0.1, log-linearly interpolated", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var x = OptimizationSpeed.Require(c, Name, 0.1);
        return new(x.Step, null, OptimizationSpeed.Details(c, ("loss_0.1", x)));
    }
}

public sealed class StepsBetweenLossesMeasure() : Measure("steps-0.1-to-0.01", MeasureFamily.OptimizationSpeed, MeasureNeeds.TrainingRecord, 1,
    "(step at which the train-loss curve first reaches 0.01) - (step at which it first reaches 0.1), both interpolated", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var first = OptimizationSpeed.Require(c, Name, 0.1);
        var second = OptimizationSpeed.Require(c, Name, 0.01);
        return new(second.Step - first.Step, null, OptimizationSpeed.Details(c, ("loss_0.1", first), ("loss_0.01", second)));
    }
}
