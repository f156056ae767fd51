using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Analyses;

/// <summary>
/// How two trained models of the same architecture and data differ on the test set (the
/// seed-variability question of Forde et al., "individual predictions matter"): the fraction of
/// test examples whose predicted class differs, the mean KL divergence between their predictive
/// distributions in both directions and symmetrized, the L2 distance of their parameter vectors
/// (absolute and relative to each norm), and both test accuracies. Computed in float64.
/// </summary>
public sealed record RunComparison(
    long Examples, double Disagreement, double KlAB, double KlBA,
    double WeightDistance, double WeightNormA, double WeightNormB,
    double TestAccuracyA, double TestAccuracyB, double Seconds)
{
    /// <summary>(KL(A‖B) + KL(B‖A)) / 2: the mean of both directions (half of Jeffreys' divergence).</summary>
    public double KlSymmetric => (KlAB + KlBA) / 2;

    /// <summary>Examples per forward pass (memory only).</summary>
    public const int Chunk = 2000;

    /// <summary>Compares two models loaded in float64; different architectures or test sets are an InputException.</summary>
    public static RunComparison Compute(LoadedModel a, LoadedModel b, string nameA = "RUN_A", string nameB = "RUN_B")
    {
        if (a.Source.Arch != b.Source.Arch)
            throw new InputException($"{nameA} is {a.Source.Arch} but {nameB} is {b.Source.Arch}: compare runs of one architecture");
        if (a.Source.DataSpec != b.Source.DataSpec)
            throw new InputException($"{nameA} was trained on '{a.Source.DataSpec}' but {nameB} on '{b.Source.DataSpec}': compare runs on the same data");
        var ta = a.Data.Test;
        var tb = b.Data.Test;
        if (ta.Count == 0) throw new InputException($"data '{a.Source.DataSpec}' has no test examples to compare on");
        using (var scope = NewDisposeScope())
            if (ta.Count != tb.Count || !ta.Labels.eq(tb.Labels).all().item<bool>())
                throw new InputException($"{nameA} and {nameB} have different test sets (their data options differ): compare runs on the same data");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        long n = ta.Count, disagree = 0, correctA = 0, correctB = 0;
        double klAB = 0, klBA = 0;
        a.Model.eval();
        b.Model.eval();
        using (no_grad())
            for (long start = 0; start < n; start += Chunk)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(Chunk, n - start);
                var la = LogProbabilities(a.Model, ta.Inputs.narrow(0, start, len));
                var lb = LogProbabilities(b.Model, tb.Inputs.narrow(0, start, len));
                var y = ta.Labels.narrow(0, start, len);
                var ya = la.argmax(1L);
                var yb = lb.argmax(1L);
                disagree += ya.ne(yb).sum().item<long>();
                correctA += ya.eq(y).sum().item<long>();
                correctB += yb.eq(y).sum().item<long>();
                var diff = la - lb;
                klAB += (la.exp() * diff).sum().item<double>();
                klBA += (lb.exp() * -diff).sum().item<double>();
            }
        double distance, normA, normB;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var wa = ParameterVector.Flatten(a.Model).to_type(ScalarType.Float64);
            var wb = ParameterVector.Flatten(b.Model).to_type(ScalarType.Float64);
            if (wa.shape[0] != wb.shape[0]) throw new InputException($"{nameA} has {wa.shape[0]} parameters but {nameB} has {wb.shape[0]}");
            distance = (wa - wb).norm().item<double>();
            normA = wa.norm().item<double>();
            normB = wb.norm().item<double>();
        }
        return new RunComparison(n, disagree / (double)n, klAB / n, klBA / n, distance, normA, normB,
            correctA / (double)n, correctB / (double)n, clock.Elapsed.TotalSeconds);
    }

    private static Tensor LogProbabilities(nn.Module<Tensor, Tensor> model, Tensor x) =>
        nn.functional.log_softmax(model.call(x.to_type(ScalarType.Float64)).to_type(ScalarType.Float64), 1);

    /// <summary>The result keys of the geodesy.compare/1 document.</summary>
    public void WriteTo(JsonObject root)
    {
        root["examples"] = Examples;
        root["prediction_disagreement"] = JsonNumbers.Finite(Disagreement);
        root["kl_a_b"] = JsonNumbers.Finite(KlAB);
        root["kl_b_a"] = JsonNumbers.Finite(KlBA);
        root["kl_symmetric"] = JsonNumbers.Finite(KlSymmetric);
        root["weight_distance"] = JsonNumbers.Finite(WeightDistance);
        root["weight_norm_a"] = JsonNumbers.Finite(WeightNormA);
        root["weight_norm_b"] = JsonNumbers.Finite(WeightNormB);
        root["relative_weight_distance_a"] = JsonNumbers.Finite(WeightDistance / WeightNormA);
        root["relative_weight_distance_b"] = JsonNumbers.Finite(WeightDistance / WeightNormB);
        root["test_accuracy_a"] = JsonNumbers.Finite(TestAccuracyA);
        root["test_accuracy_b"] = JsonNumbers.Finite(TestAccuracyB);
    }
}
