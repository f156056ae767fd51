using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>The penultimate representation phi(x) of a layer chain ending in a Linear layer.</summary>
public static class Penultimate
{
    /// <summary>The final Linear layer; skips the measure for other models.</summary>
    public static Linear LastLinear(nn.Module model, string measure)
    {
        if (model is not SequentialModel seq || seq.Layers.Count == 0)
            throw new MeasureSkippedException($"{measure} needs a layer chain (SequentialModel) to find the penultimate representation");
        return seq.Layers[^1] as Linear
            ?? throw new MeasureSkippedException($"{measure} needs the last layer to be Linear (it is {seq.Layers[^1].GetType().Name})");
    }

    /// <summary>phi(x): every layer but the last, float64 [N, m], no grad, batched.</summary>
    public static Tensor Features(SequentialModel model, Tensor inputs, int batchSize) =>
        MeasureData.Batched(model, inputs, batchSize, x =>
        {
            long len = x.shape[0];
            if (model.FlattenInput) x = x.reshape(len, -1);
            for (int i = 0; i < model.Layers.Count - 1; i++) x = model.Layers[i].call(x);
            return x.reshape(len, -1);
        });

    public static Tensor Features(MeasureContext ctx, string measure)
    {
        LastLinear(ctx.Model, measure);
        return ctx.Cached("penultimate", () =>
        {
            ctx.ForwardExamples += ctx.Data.Count;
            return Features((SequentialModel)ctx.Model, ctx.Data.Inputs, ctx.Options.EvalBatchSize);
        });
    }
}

/// <summary>Neural collapse NC1 (Papyan et al. 2020).</summary>
public static class NeuralCollapse
{
    /// <summary>
    /// Tr(Sigma_W Sigma_B^+) / C over the C classes present, with
    /// Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T and
    /// Sigma_B = (1/C) sum_c (mu_c - mu_G)(mu_c - mu_G)^T, mu_G the global mean of all N features
    /// (Papyan et al. 2020); with imbalanced classes it differs from the mean of the class means.
    /// </summary>
    public static double Nc1(Tensor features, Tensor labels, int numClasses)
    {
        if (features.dim() != 2 || labels.dim() != 1 || features.shape[0] != labels.shape[0])
            throw new InputException("NC1 needs features [N, m] and labels [N]");
        using var scope = NewDisposeScope();
        var h = features.to_type(ScalarType.Float64);
        var y = labels.to_type(ScalarType.Int64);
        var means = new List<Tensor>();
        var centred = torch.zeros_like(h);
        for (int c = 0; c < numClasses; c++)
        {
            var mask = y.eq(c);
            long count = mask.sum().item<long>();
            if (count == 0) continue;
            var hc = h.index(mask);
            var mu = hc.mean([0L]);
            means.Add(mu);
            centred.index_put_(hc - mu, mask);
        }
        if (means.Count < 2) throw new MeasureSkippedException("nc1 needs at least two classes in the data");
        long n = h.shape[0];
        var sigmaW = centred.t().mm(centred) / n;
        var m = torch.stack(means);
        var mg = h.mean([0L]);   // the global mean, not the mean of the class means
        var mc = m - mg;
        var sigmaB = mc.t().mm(mc) / means.Count;
        var pinv = torch.linalg.pinv(sigmaB, hermitian: true);
        return (sigmaW.mm(pinv).trace() / means.Count).item<double>();
    }
}

public sealed class Nc1Measure() : Measure("nc1", MeasureFamily.Representation, MeasureNeeds.Data, 1,
    "Tr(Sigma_W Sigma_B^+) / C on the penultimate features", Citations.Papyan)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var h = Penultimate.Features(c, Name);
        return new(NeuralCollapse.Nc1(h, c.Data.Labels, c.Data.NumClasses), null,
            new Dictionary<string, double> { ["feature_dim"] = h.shape[1] });
    }
}

/// <summary>Cosines of per-example loss gradients (Fort et al. 2019).</summary>
public sealed record StiffnessResult(double SameClass, double SameClassStdErr, long SamePairs, double DiffClass, double DiffClassStdErr, long DiffPairs, int Examples);

public static class Stiffness
{
    /// <summary>
    /// Mean cosine similarity of the per-example gradients of the cross-entropy over pairs i &lt; j of
    /// the set, separately for pairs of the same and of different classes (per-example gradients by a loop).
    /// </summary>
    public static StiffnessResult Compute(nn.Module<Tensor, Tensor> model, ExampleSet set)
    {
        using var scope = NewDisposeScope();
        int n = (int)set.Count;
        var rows = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            var (_, _, g) = MeasureData.LossGradient(model, set.Inputs.narrow(0, i, 1), set.Labels.narrow(0, i, 1));
            var g64 = g.to_type(ScalarType.Float64);
            double norm = g64.norm().item<double>();
            rows[i] = norm > 0 ? g64 / norm : g64;
        }
        var gmat = torch.stack(rows);
        var cos = gmat.mm(gmat.t()).data<double>().ToArray();
        var labels = set.Labels.to_type(ScalarType.Int64).data<long>().ToArray();
        var same = new List<double>();
        var diff = new List<double>();
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                (labels[i] == labels[j] ? same : diff).Add(cos[i * n + j]);
        var (ms, ss) = MeanStdErr(same);
        var (md, sd) = MeanStdErr(diff);
        return new StiffnessResult(ms, ss, same.Count, md, sd, diff.Count, n);
    }

    /// <summary>Mean and the naive standard error (pairs are not independent; indicative only).</summary>
    private static (double, double) MeanStdErr(List<double> v)
    {
        if (v.Count == 0) return (double.NaN, double.NaN);
        double mean = v.Average();
        double sd = v.Count > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1)) : 0;
        return (mean, sd / Math.Sqrt(v.Count));
    }

    public static StiffnessResult Of(MeasureContext ctx) => ctx.Cached("stiffness", () =>
    {
        var set = MeasureData.Subset(ctx, ctx.Options.StiffnessExamples, "stiffness");
        ctx.ForwardExamples += set.Count;
        ctx.Gradients += set.Count;
        return Compute(ctx.Model, set);
    });
}

public sealed class StiffnessSameClassMeasure() : Measure("stiffness-same-class", MeasureFamily.Representation, MeasureNeeds.Data, 2,
    "mean_{i<j, y_i = y_j} cos(grad l_i, grad l_j)", Citations.Fort)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = Stiffness.Of(c);
        if (r.SamePairs == 0) throw new MeasureSkippedException($"{Name}: no pair of examples of the same class in the subset");
        return new(r.SameClass, r.SameClassStdErr, new Dictionary<string, double> { ["pairs"] = r.SamePairs, ["examples"] = r.Examples });
    }
}

public sealed class StiffnessDiffClassMeasure() : Measure("stiffness-diff-class", MeasureFamily.Representation, MeasureNeeds.Data, 2,
    "mean_{i<j, y_i != y_j} cos(grad l_i, grad l_j)", Citations.Fort)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var r = Stiffness.Of(c);
        if (r.DiffPairs == 0) throw new MeasureSkippedException($"{Name}: no pair of examples of different classes in the subset");
        return new(r.DiffClass, r.DiffClassStdErr, new Dictionary<string, double> { ["pairs"] = r.DiffPairs, ["examples"] = r.Examples });
    }
}
