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
        int batch = ctx.TrainingBatchSize ?? ctx.Options.DefaultBatchSize;
        var r = Compute(ctx.Model, set, batch, ctx.Options.GradientNoiseBatches, MeasureData.SeedFor(ctx, "gradient-noise"), ctx.Options.EvalBatchSize);
        ctx.ForwardExamples += set.Count + (long)r.Batches * r.BatchSize;
        ctx.Gradients += (set.Count + ctx.Options.EvalBatchSize - 1) / ctx.Options.EvalBatchSize + r.Batches;
        return r;
    });

    public static Dictionary<string, double> Details(MeasureContext ctx, GradientNoiseResult r) => new()
    {
        ["batch_size"] = r.BatchSize,
        ["batch_size_known"] = ctx.TrainingBatchSize is null ? 0 : 1,
        ["batches"] = r.Batches,
        ["noise"] = r.Noise,
        ["full_gradient_sq_norm"] = r.FullGradientSquaredNorm,
    };
}

/// <summary>Variance of mini-batch gradients at the final weights.</summary>
public sealed class GradNoiseFinalMeasure() : Measure("grad-noise-final", MeasureFamily.GradientNoise, MeasureNeeds.Data, 2,
    "E_B ||g_B - g||^2, B random batches of the training batch size", Citations.GradNoise)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = GradientNoise.Of(c);
        return new(r.Noise, r.NoiseStdErr, GradientNoise.Details(c, r));
    }
}

/// <summary>Gradient signal-to-noise ratio: squared full gradient over the mini-batch noise.</summary>
public sealed class GradientSnrMeasure() : Measure("gradient-snr", MeasureFamily.GradientNoise, MeasureNeeds.Data, 2,
    "||g||^2 / E_B ||g_B - g||^2", Citations.GradNoise)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = GradientNoise.Of(c);
        if (r.Noise == 0) throw new MeasureSkippedException("gradient-snr: the mini-batch gradients have no noise (batch = whole data?)");
        double snr = r.FullGradientSquaredNorm / r.Noise;
        return new(snr, snr * r.NoiseStdErr / r.Noise, GradientNoise.Details(c, r));
    }
}

/// <summary>Optimisation speed read from the training record.</summary>
public static class OptimizationSpeed
{
    /// <summary>The step of the first logged row whose train cross-entropy is at most the threshold.</summary>
    public static long? FirstStepBelow(IReadOnlyList<MetricsRow> record, double threshold) =>
        record.OrderBy(r => r.Step).FirstOrDefault(r => r.TrainLoss <= threshold)?.Step;
}

public sealed class StepsToLossMeasure() : Measure("steps-to-0.1", MeasureFamily.OptimizationSpeed, MeasureNeeds.TrainingRecord, 1,
    "first logged step with train cross-entropy <= 0.1", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var record = c.RequireRecord(Name);
        long step = OptimizationSpeed.FirstStepBelow(record, 0.1)
            ?? throw new MeasureSkippedException($"{Name}: the train cross-entropy never reached 0.1 in the record");
        return new(step);
    }
}

public sealed class StepsBetweenLossesMeasure() : Measure("steps-0.1-to-0.01", MeasureFamily.OptimizationSpeed, MeasureNeeds.TrainingRecord, 1,
    "(first logged step with train cross-entropy <= 0.01) - (first with <= 0.1)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var record = c.RequireRecord(Name);
        long first = OptimizationSpeed.FirstStepBelow(record, 0.1)
            ?? throw new MeasureSkippedException($"{Name}: the train cross-entropy never reached 0.1 in the record");
        long second = OptimizationSpeed.FirstStepBelow(record, 0.01)
            ?? throw new MeasureSkippedException($"{Name}: the train cross-entropy never reached 0.01 in the record");
        return new(second - first);
    }
}
