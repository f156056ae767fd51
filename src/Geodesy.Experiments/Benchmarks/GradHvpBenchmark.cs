using System.Text.Json.Nodes;
using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>Repetition settings shared by the timing benchmarks.</summary>
public sealed record TimingOptions
{
    /// <summary>Examples in the batch (the first N training examples).</summary>
    public int Batch { get; init; } = 1000;
    public int Reps { get; init; } = 20;
    public int Warmup { get; init; } = 3;
    /// <summary>Seed of the product vector v.</summary>
    public long Seed { get; init; }
}

/// <summary>Medians and per-repetition times of interleaved operations, with their ratios to the gradient.</summary>
public sealed record TimingResult(IReadOnlyList<TimingSeries> Series, long Parameters, long Examples)
{
    public TimingSeries this[string name] => Series.First(s => s.Name == name);

    /// <summary>Curvature products made, warm-up included (for the "cost" report).</summary>
    public long Matvecs { get; init; }
    /// <summary>Full gradient passes made, warm-up included.</summary>
    public long Gradients { get; init; }

    /// <summary>Per-example benchmark: "closed-form" or "loop" (how the per-example gradients were computed).</summary>
    public string? PerExampleMethod { get; init; }

    /// <summary>grad-hvp benchmark: "r-operator" or "double-backprop" (how the timed HVP and GGN product were computed).</summary>
    public string? HvpMethod { get; init; }
    public string? GgnVpMethod { get; init; }

    /// <summary>Median of <paramref name="name"/> over median of the gradient.</summary>
    public double OverGradient(string name) => this[name].Median / this[GradHvpBenchmark.Gradient].Median;

    /// <summary>Writes "&lt;name&gt;_ms" medians, "&lt;name&gt;_over_grad" ratios and "&lt;name&gt;_ms_reps" arrays.</summary>
    public void AddTo(JsonObject root)
    {
        foreach (var s in Series) root[s.Name + "_ms"] = Math.Round(s.Median, 4);
        foreach (var s in Series.Where(s => s.Name != GradHvpBenchmark.Gradient))
            root[s.Name + "_over_grad"] = Math.Round(OverGradient(s.Name), 4);
        root["params"] = Parameters;
        root["examples"] = Examples;
        if (PerExampleMethod is not null) root["per_example_method"] = PerExampleMethod;
        if (HvpMethod is not null) root["hvp_method"] = HvpMethod;
        if (GgnVpMethod is not null) root["ggnvp_method"] = GgnVpMethod;
        foreach (var s in Series) root[s.Name + "_ms_reps"] = new JsonArray(s.Milliseconds.Select(m => (JsonNode)Math.Round(m, 4)).ToArray());
    }

    public string Summary() =>
        string.Join(", ", Series.Select(s => $"{s.Name} {s.Median:F2} ms" + (s.Name == GradHvpBenchmark.Gradient ? "" : $" ({OverGradient(s.Name):F2}x grad)")))
        + (HvpMethod is null ? "" : $" [hvp by {HvpMethod}]");
}

/// <summary>
/// The cost of curvature products relative to a gradient, over one batch: one full gradient
/// (forward and backward of the mean loss, <see cref="CurvatureProblem.LossAndGradient"/>), one
/// Hessian-vector product and one GGN-vector product, each a single pass since the problem's
/// batch size is the whole batch. Eval mode, as curvature is computed by default.
/// </summary>
public static class GradHvpBenchmark
{
    public const string Gradient = "grad", Hvp = "hvp", HvpKept = "hvp_kept_forward", HvpDoubleBackprop = "hvp_double_backprop", GgnVp = "ggnvp", PerExample = "per_example";

    public static TimingResult Run(BenchSetup setup, TimingOptions options)
    {
        var (problem, v) = Prepare(setup, options, keepForwards: false);
        using (v)
        {
            // "hvp" streams (recomputes the forward each time); "hvp_kept_forward" repeats it on a problem that keeps it.
            var kept = new CurvatureProblem(problem.Model, problem.Inputs, problem.Labels, problem.Options with { ForwardCacheBytes = new CurvatureOptions().ForwardCacheBytes });
            var hessian = new HessianOperator(problem);
            var hessianKept = new HessianOperator(kept);
            var ggn = new GgnOperator(problem);
            var cases = new List<BenchCase>
            {
                new(Gradient, () => problem.LossAndGradient().Gradient.Dispose()),
                new(Hvp, () => hessian.Apply(v).Dispose()),
                new(HvpKept, () => hessianKept.Apply(v).Dispose()),
                new(GgnVp, () => ggn.Apply(v).Dispose()),
            };
            // When the R-operator is used, double backprop is timed alongside for comparison.
            var doubleBackprop = hessian.Method == "double-backprop" ? null : new HessianOperator(problem, CurvatureProductMethod.DoubleBackprop);
            if (doubleBackprop is not null) cases.Add(new(HvpDoubleBackprop, () => doubleBackprop.Apply(v).Dispose()));
            var series = Interleaved.Measure(cases, options.Warmup, options.Reps);
            return new TimingResult(series, problem.Dimension, problem.Count)
            {
                Matvecs = problem.Cost.Products + kept.Cost.Products,
                Gradients = problem.Cost.GradientPasses,
                HvpMethod = hessian.Method,
                GgnVpMethod = ggn.Method,
            };
        }
    }

    /// <summary>Per-example gradient norms of the batch (<see cref="PerExampleGradients.Norms"/>) against one batch gradient.</summary>
    public static TimingResult RunPerExample(BenchSetup setup, TimingOptions options)
    {
        var (problem, v) = Prepare(setup, options);
        v.Dispose();
        var perExample = new PerExampleGradients(problem);
        var series = Interleaved.Measure(
        [
            new BenchCase(Gradient, () => problem.LossAndGradient().Gradient.Dispose()),
            new BenchCase(PerExample, () => perExample.Norms()),
        ], options.Warmup, options.Reps);
        return new TimingResult(series, problem.Dimension, problem.Count)
        {
            PerExampleMethod = perExample.Method,
            Gradients = problem.Cost.GradientPasses,
        };
    }

    /// <summary>A problem over the first Batch examples, streamed in one batch, and a seeded unit vector.</summary>
    public static (CurvatureProblem Problem, Tensor Vector) Prepare(BenchSetup setup, TimingOptions options, bool keepForwards = true)
    {
        var (x, y) = setup.FirstExamples(options.Batch, "--examples");
        var curvature = new CurvatureOptions { BatchSize = options.Batch };
        var problem = new CurvatureProblem(setup.Model, x, y, keepForwards ? curvature : curvature with { ForwardCacheBytes = 0 });
        using var generator = new Generator(unchecked((ulong)options.Seed));
        var v = randn([problem.Dimension], dtype: problem.DType, generator: generator);
        v.div_(v.norm());
        return (problem, v);
    }
}
