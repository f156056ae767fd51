using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>Examples held in the model's dtype, ready for repeated evaluation.</summary>
public sealed class ExampleSet(Tensor inputs, Tensor labels) : IDisposable, ITensorHolder
{
    public IEnumerable<Tensor> Tensors => [Inputs, Labels];
    public Tensor Inputs { get; } = inputs;
    public Tensor Labels { get; } = labels;
    public long Count => Inputs.shape[0];

    public void Dispose()
    {
        Inputs.Dispose();
        Labels.Dispose();
    }
}

/// <summary>Output margins and their Fantastic-style summary.</summary>
public static class Margins
{
    /// <summary>Per example: logit of the true class minus the largest other logit (negative when misclassified).</summary>
    public static double[] FromLogits(Tensor logits, Tensor labels)
    {
        if (logits.dim() != 2 || labels.dim() != 1 || logits.shape[0] != labels.shape[0])
            throw new InputException($"margins need logits [N,C] and labels [N]; got [{string.Join(",", logits.shape)}] and [{string.Join(",", labels.shape)}]");
        if (logits.shape[1] < 2) throw new InputException("margins need at least two classes");
        using var scope = NewDisposeScope();
        var z = logits.to_type(ScalarType.Float64);
        var idx = labels.to_type(ScalarType.Int64).unsqueeze(1);
        var trueLogit = z.gather(1, idx).squeeze(1);
        var others = z.scatter(1, idx, torch.full_like(idx, double.NegativeInfinity, dtype: ScalarType.Float64));
        var maxOther = others.max(1).values;
        return (trueLogit - maxOther).data<double>().ToArray();
    }

    /// <summary>The index (1-based rank) used for the "10th percentile": k = max(1, floor(m/10)).</summary>
    public static int TenthPercentileRank(int m) => Math.Max(1, m / 10);

    /// <summary>The k-th smallest margin with k = max(1, floor(m/10)), as torch.kthvalue(m // 10) in the Fantastic code.</summary>
    public static double TenthPercentile(IReadOnlyList<double> margins)
    {
        if (margins.Count == 0) throw new InputException("margin of an empty dataset");
        var sorted = margins.OrderBy(v => v).ToArray();
        return sorted[TenthPercentileRank(sorted.Length) - 1];
    }
}

/// <summary>Evaluation helpers shared by the measures: cached logits, seeded subsets, flat gradients.</summary>
public static class MeasureData
{
    /// <summary>Logits of the model on all examples, float64 [N, C], no grad (counted as forward passes).</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor inputs, int batchSize) =>
        Batched(model, inputs, batchSize, model.call);

    /// <summary>
    /// <paramref name="forward"/> applied batch by batch to the inputs (converted to the model's
    /// dtype), no grad, concatenated as float64 [N, ...].
    /// </summary>
    public static Tensor Batched(nn.Module<Tensor, Tensor> model, Tensor inputs, int batchSize, Func<Tensor, Tensor> forward)
    {
        using var noGrad = torch.no_grad();
        var dtype = Evaluation.ParameterDType(model);
        var parts = new List<Tensor>();
        try
        {
            for (long start = 0; start < inputs.shape[0]; start += batchSize)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(batchSize, inputs.shape[0] - start);
                var z = forward(inputs.narrow(0, start, len).to_type(dtype)).to_type(ScalarType.Float64);
                parts.Add(z.MoveToOuterDisposeScope());
            }
            if (parts.Count == 0) throw new InputException("the dataset has no examples");
            return torch.cat(parts, 0);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>The trained model's logits on the measured data, computed once per context.</summary>
    public static Tensor Logits(MeasureContext ctx) => ctx.Cached("logits", () =>
    {
        ctx.ForwardExamples += ctx.Data.Count;
        var z = Logits(ctx.Model, ctx.Data.Inputs, ctx.Options.EvalBatchSize);
        if (z.dim() != 2 || z.shape[1] != ctx.Data.NumClasses)
            throw new InputException($"model '{ctx.ArchSpec}' outputs shape [{string.Join(",", z.shape)}] but data '{ctx.Data.Name}' has {ctx.Data.NumClasses} classes");
        return z;
    });

    /// <summary>Output margins of the trained model on the measured data.</summary>
    public static double[] MarginValues(MeasureContext ctx) =>
        ctx.Cached("margins", () => Margins.FromLogits(Logits(ctx), ctx.Data.Labels));

    /// <summary>gamma: the 10th-percentile output margin (Fantastic convention).</summary>
    public static double Margin(MeasureContext ctx) => ctx.Cached("margin", () => Margins.TenthPercentile(MarginValues(ctx)));

    /// <summary>gamma^2, refusing a zero margin (the "-over-margin" measures divide by it).</summary>
    public static double MarginSquared(MeasureContext ctx, string measure)
    {
        double g = Margin(ctx);
        if (g == 0) throw new MeasureSkippedException($"{measure}: the 10th-percentile margin is exactly 0");
        return g * g;
    }

    /// <summary>A seeded integer from the context seed and a salt naming the use (no cross-talk between measures).</summary>
    public static int SeedFor(MeasureContext ctx, string salt)
    {
        unchecked
        {
            int h = 17;
            foreach (char c in salt) h = h * 31 + c;
            return (int)(ctx.Seed ^ (ctx.Seed >> 32)) ^ h;
        }
    }

    /// <summary>n indices drawn without replacement from [0, count), seeded; all of them (in order) when n >= count.</summary>
    public static long[] SeededIndices(long count, int n, int seed)
    {
        if (n >= count) return Enumerable.Range(0, (int)count).Select(i => (long)i).ToArray();
        var rng = new Random(seed);
        var idx = Enumerable.Range(0, (int)count).Select(i => (long)i).ToArray();
        for (int i = 0; i < n; i++)
        {
            int j = rng.Next(i, idx.Length);
            (idx[i], idx[j]) = (idx[j], idx[i]);
        }
        return idx.Take(n).ToArray();
    }

    /// <summary>A fixed seeded subset of the data (in the model dtype), cached by size and purpose.</summary>
    public static ExampleSet Subset(MeasureContext ctx, int n, string purpose) => ctx.Cached($"subset:{purpose}:{n}", () =>
    {
        var idx = SeededIndices(ctx.Data.Count, n, SeedFor(ctx, purpose));
        using var it = torch.tensor(idx, dtype: ScalarType.Int64);
        var dtype = Evaluation.ParameterDType(ctx.Model);
        return new ExampleSet(ctx.Data.Inputs.index_select(0, it).to_type(dtype), ctx.Data.Labels.index_select(0, it));
    });

    /// <summary>All examples in the model dtype (cached).</summary>
    public static ExampleSet All(MeasureContext ctx) => ctx.Cached("all-examples", () =>
        new ExampleSet(ctx.Data.Inputs.to_type(Evaluation.ParameterDType(ctx.Model)), ctx.Data.Labels.alias()));

    /// <summary>Mean cross-entropy and error (1 - accuracy) of the model on a set, no grad, batched.</summary>
    public static (double Loss, double Error) LossError(nn.Module<Tensor, Tensor> model, ExampleSet set, int batchSize)
    {
        using var noGrad = torch.no_grad();
        double loss = 0, wrong = 0;
        for (long start = 0; start < set.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long len = Math.Min(batchSize, set.Count - start);
            var y = set.Labels.narrow(0, start, len);
            var z = model.call(set.Inputs.narrow(0, start, len));
            loss += nn.functional.cross_entropy(z, y, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
            wrong += z.argmax(1).ne(y).sum().item<long>();
        }
        return (loss / set.Count, wrong / set.Count);
    }

    /// <summary>The gradient of a scalar with respect to all parameters, as one flat vector.</summary>
    public static Tensor FlatGradient(nn.Module model, Tensor scalar)
    {
        var ps = model.parameters().ToArray();
        var grads = torch.autograd.grad([scalar], ps);
        var flat = ParameterVector.Concat(grads);
        foreach (var g in grads) g.Dispose();
        return flat;
    }

    /// <summary>Mean cross-entropy of a batch with its flat gradient and error count.</summary>
    public static (double Loss, long Wrong, Tensor Gradient) LossGradient(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        var z = model.call(x);
        var loss = nn.functional.cross_entropy(z, y);
        var g = FlatGradient(model, loss);
        long wrong = z.detach().argmax(1).ne(y).sum().item<long>();
        return (loss.to_type(ScalarType.Float64).item<double>(), wrong, g.MoveToOuterDisposeScope());
    }
}

/// <summary>Holds a copy of the model's parameters; sets perturbed values and always restores them.</summary>
public sealed class ParameterSnapshot : IDisposable
{
    private readonly nn.Module _model;

    public ParameterSnapshot(nn.Module model)
    {
        _model = model;
        Values = ParameterVector.Flatten(model);
    }

    /// <summary>The original flat parameter vector (do not modify).</summary>
    public Tensor Values { get; }

    public void Set(Tensor flat) => ParameterVector.Assign(_model, flat);

    public void Restore() => ParameterVector.Assign(_model, Values);

    public void Dispose()
    {
        Restore();
        Values.Dispose();
    }
}
