using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

public sealed record TraceBenchOptions
{
    public int BatchSize { get; init; } = 1000;
    /// <summary>Relative error to reach (0.01 = 1%).</summary>
    public double TargetRelativeError { get; init; } = 0.01;
    /// <summary>Independent runs per budget; the error at a budget is the root mean square over them.</summary>
    public int Seeds { get; init; } = 5;
    /// <summary>Largest budget tried; budgets double from <see cref="MinBudget"/>.</summary>
    public long MaxBudget { get; init; } = 512;
    public long MinBudget { get; init; } = 8;
    /// <summary>
    /// The reference: exact (sum of eᵢᵀHeᵢ, P products) when P is at most this, otherwise one
    /// Hutch++ run with this many products (seed distinct from the runs measured).
    /// </summary>
    public long ReferenceMatvecs { get; init; } = 4000;
    public long Seed { get; init; }

    /// <summary>Throws <see cref="InputException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (!(TargetRelativeError > 0 && TargetRelativeError < 1)) throw new InputException($"bench trace: --target must be in (0, 1) (got {TargetRelativeError})");
        if (Seeds < 1) throw new InputException($"bench trace: --seeds must be >= 1 (got {Seeds})");
        if (MinBudget < 8 || MaxBudget < MinBudget)
            throw new InputException($"bench trace: --max-budget must be at least {Math.Max(8, MinBudget)} (got {MaxBudget})");
        if (ReferenceMatvecs < 4) throw new InputException($"bench trace: --reference-matvecs must be at least 4 (got {ReferenceMatvecs})");
    }
}

/// <summary>One estimator's root-mean-square relative error at every budget tried.</summary>
public sealed record TraceSweep(string Method, long[] Budgets, double[] RmsRelativeError, long? MatvecsForTarget, long MatvecsSpent);

public sealed record TraceBenchResult(
    double Reference, double ReferenceStdErr, string ReferenceMethod, long ReferenceMatvecs,
    TraceSweep Hutchinson, TraceSweep HutchPlusPlus, double Target, int Seeds, long Parameters, long Examples)
{
    /// <summary>Hutchinson products over Hutch++ products for the target; null when either missed it.</summary>
    public double? MatvecRatio => Hutchinson.MatvecsForTarget is long a && HutchPlusPlus.MatvecsForTarget is long b ? (double)a / b : null;

    /// <summary>Every product made: reference and both sweeps.</summary>
    public long TotalMatvecs => ReferenceMatvecs + Hutchinson.MatvecsSpent + HutchPlusPlus.MatvecsSpent;

    public void AddTo(JsonObject root)
    {
        root["target_relative_error"] = Target;
        root["hutchinson_matvecs"] = Hutchinson.MatvecsForTarget;
        root["hutchpp_matvecs"] = HutchPlusPlus.MatvecsForTarget;
        root["matvec_ratio"] = MatvecRatio is double r ? Math.Round(r, 4) : null;
        root["reference"] = new JsonObject
        {
            ["estimate"] = Reference,
            ["stderr"] = ReferenceStdErr,
            ["method"] = ReferenceMethod,
            ["matvecs"] = ReferenceMatvecs,
        };
        root["seeds"] = Seeds;
        root["hutchinson_budgets"] = new JsonArray(Hutchinson.Budgets.Select(b => (JsonNode)b).ToArray());
        root["hutchpp_budgets"] = new JsonArray(HutchPlusPlus.Budgets.Select(b => (JsonNode)b).ToArray());
        root["hutchinson_rms_relative_error"] = Numbers(Hutchinson.RmsRelativeError);
        root["hutchpp_rms_relative_error"] = Numbers(HutchPlusPlus.RmsRelativeError);
        root["params"] = Parameters;
        root["examples"] = Examples;
    }

    public string Summary() =>
        $"trace {Reference:G6} ({ReferenceMethod}); products for {Target:P0} error: hutchinson {Describe(Hutchinson)}, hutch++ {Describe(HutchPlusPlus)}" +
        (MatvecRatio is double r ? $" ({r:F1}x fewer)" : "");

    private static string Describe(TraceSweep s) => s.MatvecsForTarget?.ToString() ?? $"> {s.Budgets[^1]}";
    private static JsonArray Numbers(IEnumerable<double> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(Math.Round(v, 6))).ToArray());
}

/// <summary>
/// Hutch++ against Hutchinson: the smallest budget (doubling from MinBudget) at which the root
/// mean square relative error over several seeds is within the target, against an exact trace
/// (small models) or a long Hutch++ reference run.
/// </summary>
public static class TraceBenchmark
{
    public static TraceBenchResult Run(BenchSetup setup, TraceBenchOptions options)
    {
        options.Validate();
        var (x, y) = setup.FirstExamples(setup.Data.Train.Count, "--subset");
        var problem = new CurvatureProblem(setup.Model, x, y, new CurvatureOptions { BatchSize = options.BatchSize });
        var hessian = new HessianOperator(problem);

        double reference, referenceStdErr;
        string referenceMethod;
        long before = hessian.Applications;
        if (problem.Dimension <= options.ReferenceMatvecs)
        {
            (reference, referenceStdErr, referenceMethod) = (ExactTrace(hessian), 0.0, "exact");
        }
        else
        {
            // A seed no measured run uses: the measured runs take Seed + 1 .. Seed + Seeds.
            var r = TraceEstimators.HutchPlusPlus(hessian, new TraceOptions { MaxMatvecs = options.ReferenceMatvecs, Seed = options.Seed });
            (reference, referenceStdErr, referenceMethod) = (r.Estimate, r.StdErr, "hutch++");
        }
        long referenceMatvecs = hessian.Applications - before;
        if (!(Math.Abs(reference) > 0) || !double.IsFinite(reference))
            throw new ComputationException($"bench trace: the reference trace is {reference}; a relative error needs a non-zero trace (use trained --weights)");

        var hutchinson = Sweep("hutchinson", hessian, reference, options, TraceEstimators.Hutchinson);
        var hutchpp = Sweep("hutch++", hessian, reference, options, TraceEstimators.HutchPlusPlus);
        return new TraceBenchResult(reference, referenceStdErr, referenceMethod, referenceMatvecs, hutchinson, hutchpp,
            options.TargetRelativeError, options.Seeds, problem.Dimension, problem.Count);
    }

    private static TraceSweep Sweep(string method, ILinearOperator op, double reference, TraceBenchOptions options,
        Func<ILinearOperator, TraceOptions, TraceResult> estimator)
    {
        var budgets = new List<long>();
        var errors = new List<double>();
        long spent = 0;
        for (long budget = options.MinBudget; budget <= options.MaxBudget; budget *= 2)
        {
            double sumSquares = 0;
            for (int s = 1; s <= options.Seeds; s++)
            {
                var r = estimator(op, new TraceOptions { MaxMatvecs = budget, Seed = options.Seed + s });
                spent += r.Matvecs;
                double e = (r.Estimate - reference) / reference;
                sumSquares += e * e;
            }
            budgets.Add(budget);
            errors.Add(Math.Sqrt(sumSquares / options.Seeds));
            if (errors[^1] <= options.TargetRelativeError)
                return new TraceSweep(method, budgets.ToArray(), errors.ToArray(), budget, spent);
        }
        return new TraceSweep(method, budgets.ToArray(), errors.ToArray(), null, spent);
    }

    /// <summary>Σ eᵢᵀ H eᵢ: P products, exact up to rounding.</summary>
    private static double ExactTrace(ILinearOperator op)
    {
        double trace = 0;
        using var e = zeros(op.Dimension, dtype: op.DType);
        for (long i = 0; i < op.Dimension; i++)
        {
            using var scope = NewDisposeScope();
            var unit = e[i];
            unit.fill_(1.0);
            trace += op.Apply(e)[i].ToDouble();
            unit.fill_(0.0);
        }
        return trace;
    }
}
