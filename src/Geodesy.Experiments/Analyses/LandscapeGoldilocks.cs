using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Reports;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape goldilocks` computes (docs/landscape.md).</summary>
public sealed record GoldilocksSettings
{
    /// <summary>The radii r the initialization is rescaled to.</summary>
    public required double[] Radii { get; init; }
    /// <summary>d, the dimension of each random hyperplane.</summary>
    public int Dim { get; init; } = 10;
    /// <summary>Random hyperplanes per radius (the same orientations at every radius).</summary>
    public int Hyperplanes { get; init; } = 3;
    /// <summary>Training examples the Hessian and the optimization use (the first N).</summary>
    public long? Examples { get; init; } = 1000;
    /// <summary>The short optimization inside the first hyperplane; null skips it.</summary>
    public TrainerOptions? Training { get; init; }
    /// <summary>Train accuracy that counts as "low loss reached" in the hyperplane.</summary>
    public double TargetAccuracy { get; init; } = 0.5;
    public long Seed { get; init; }

    public void Validate(long parameters)
    {
        LandscapeGeometry.NonEmpty(Radii, "--radii", r => r > 0 && double.IsFinite(r), "a positive radius");
        if (Dim < 1) throw new InputException($"--dim must be at least 1 (got {Dim})");
        SubspaceProjections.CheckDimension(Dim, parameters, "--dim");
        if (Hyperplanes < 1) throw new InputException($"--hyperplanes must be at least 1 (got {Hyperplanes})");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (!(TargetAccuracy >= 0 && TargetAccuracy <= 1)) throw new InputException($"--target-accuracy must be in [0, 1] (got {TargetAccuracy})");
        Training?.Validate();
    }
}

/// <summary>One radius: the restricted curvature of every hyperplane and, optionally, where the optimization inside the first one ended.</summary>
public sealed record GoldilocksPoint(double Radius, double TrainLoss, double TrainAccuracy, IReadOnlyList<RestrictedCurvature> Hyperplanes, SubspaceTrainingResult? Optimized)
{
    public (double Mean, double StdErr) FractionPositive => MeanStdErr(Hyperplanes.Select(h => h.FractionPositive));
    public (double Mean, double StdErr) TraceOverFrobenius => MeanStdErr(Hyperplanes.Select(h => h.TraceOverFrobenius));

    /// <summary>The mean and its standard error over the hyperplanes (NaN with one).</summary>
    private static (double, double) MeanStdErr(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        double se = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1) / v.Length) : double.NaN;
        return (mean, se);
    }
}

/// <summary>Everything `landscape goldilocks` computed, and its "geodesy.landscape-goldilocks/1" keys.</summary>
public sealed record GoldilocksResult(LoadedModel Source, GoldilocksSettings Settings, double InitRadius, IReadOnlyList<GoldilocksPoint> Points,
    long TrainExamples, long TestExamples, long Matvecs, long Gradients, double Seconds) : ILandscapeDocument
{
    public Cost Cost => Cost.Of(Matvecs, Gradients, Seconds);

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        LandscapeGeometry.WriteSource(root, Source, TrainExamples, TestExamples, "init_weights");
        root["mode"] = "eval";
        root["init_radius"] = InitRadius;
        root["dim"] = Settings.Dim;
        root["hyperplanes"] = Settings.Hyperplanes;
        root["basis"] = "orthonormal (QR of a seeded Gaussian D x d matrix), the same orientations at every radius";
        root["training"] = Settings.Training is { } t ? LandscapeGeometry.TrainingJson(t) : null;
        root["target_accuracy"] = Settings.TargetAccuracy;
        root["points"] = new JsonArray(Points.Select(p =>
        {
            var o = new JsonObject
            {
                ["radius"] = p.Radius,
                ["radius_over_init"] = p.Radius / InitRadius,
                ["train_loss"] = Finite(p.TrainLoss),
                ["train_accuracy"] = Finite(p.TrainAccuracy),
                ["fraction_positive"] = Finite(p.FractionPositive.Mean),
                ["fraction_positive_stderr"] = Finite(p.FractionPositive.StdErr),
                ["trace_over_frobenius"] = Finite(p.TraceOverFrobenius.Mean),
                ["trace_over_frobenius_stderr"] = Finite(p.TraceOverFrobenius.StdErr),
                ["per_hyperplane"] = new JsonArray(p.Hyperplanes.Select(h => (JsonNode)new JsonObject
                {
                    ["fraction_positive"] = h.FractionPositive,
                    ["trace_over_frobenius"] = Finite(h.TraceOverFrobenius),
                    ["trace"] = Finite(h.Trace),
                    ["eigenvalues"] = new JsonArray(h.Eigenvalues.Select(l => (JsonNode?)Finite(l)).ToArray()),
                }).ToArray()),
            };
            if (p.Optimized is { } r)
            {
                o["optimized_train_loss"] = Finite(r.TrainLoss);
                o["optimized_train_accuracy"] = Finite(r.TrainAccuracy);
                o["optimized_test_accuracy"] = Finite(r.TestAccuracy);
                o["optimized_status"] = r.Status.Name();
                o["low_loss_reached"] = r.Status == RunStatus.Completed && r.TrainAccuracy >= Settings.TargetAccuracy;
            }
            return (JsonNode)o;
        }).ToArray());
        Cost.WriteTo(cost);
        LandscapeGeometry.WriteProvenance(provenance, Source, Settings.Seed, TrainExamples, TestExamples);
    }

    /// <summary>radius,fraction_positive,fraction_positive_stderr,trace_over_frobenius,trace_over_frobenius_stderr,train_loss,optimized_train_accuracy (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("radius,fraction_positive,fraction_positive_stderr,trace_over_frobenius,trace_over_frobenius_stderr,train_loss,optimized_train_accuracy\n");
        foreach (var p in Points)
            text.Append(string.Join(",", new[] { p.Radius, p.FractionPositive.Mean, p.FractionPositive.StdErr, p.TraceOverFrobenius.Mean, p.TraceOverFrobenius.StdErr,
                p.TrainLoss, p.Optimized?.TrainAccuracy ?? double.NaN }.Select(LandscapeJson.Num))).Append('\n');
        AtomicFile.WriteAllText(path, text.ToString());
    }

    public void WritePng(string path) =>
        GeometryPlots.GoldilocksPng(path, $"{Source.Source.Arch}: curvature of random {Settings.Dim}-dim hyperplanes ({Settings.Hyperplanes} per radius)",
            Points.Select(p => p.Radius).ToArray(),
            Points.Select(p => p.FractionPositive.Mean).ToArray(), Points.Select(p => Zero(p.FractionPositive.StdErr)).ToArray(),
            Points.Select(p => p.TraceOverFrobenius.Mean).ToArray(), Points.Select(p => Zero(p.TraceOverFrobenius.StdErr)).ToArray(),
            Settings.Training is null ? null : Points.Select(p => p.Optimized?.TrainAccuracy ?? double.NaN).ToArray(), InitRadius);

    private static double Zero(double x) => double.IsFinite(x) ? x : 0;
}

/// <summary>
/// The Goldilocks zone (Fort and Scherlis 2019): the initialization θ0 rescaled to each radius r, and at
/// θ = r θ0/‖θ0‖ the Hessian of the training loss restricted to random d-dimensional hyperplanes through
/// θ (<see cref="GoldilocksZone"/>), with an optional short training restricted to the first hyperplane.
/// </summary>
public static class GoldilocksAnalysis
{
    public static GoldilocksResult Run(LoadedModel loaded, GoldilocksSettings settings, Action<string> log)
    {
        settings.Validate(loaded.Parameters);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples is long n ? Math.Min(n, loaded.Data.Train.Count) : null, "--examples");
        var test = LandscapeJson.FirstTest(loaded.Data, settings.Examples);
        var split = LandscapeGeometry.Prefix(loaded, train, test);
        var model = loaded.Model;
        using var theta0 = ParameterVector.Flatten(model);
        double initRadius = theta0.norm().ToDouble();
        log($"goldilocks zone of {loaded.Source.Arch} ({loaded.Parameters:N0} parameters, init radius {LandscapeJson.Num(initRadius)}) on {train.Count:N0} train examples; " +
            $"{settings.Hyperplanes} random {settings.Dim}-dim hyperplanes per radius");
        var bases = Enumerable.Range(0, settings.Hyperplanes)
            .Select(s => GoldilocksZone.RandomOrthonormalBasis(loaded.Parameters, settings.Dim, settings.Seed, $"goldilocks-hyperplane-{s}", theta0.dtype)).ToArray();
        long matvecs = 0, gradients = 0;
        var points = new List<GoldilocksPoint>();
        try
        {
            foreach (double radius in settings.Radii)
            {
                using var scope = NewDisposeScope();
                var theta = GoldilocksZone.AtRadius(theta0, radius);
                ParameterVector.Assign(model, theta);
                model.eval();
                var at = Evaluation.Evaluate(model, train);
                var problem = CurvatureProblem.FromData(model, train.Inputs, train.Labels, new CurvatureOptions { Mode = CurvatureMode.Eval });
                var hessian = new HessianOperator(problem);
                var curvatures = bases.Select(b =>
                {
                    using var inner = NewDisposeScope();
                    long before = hessian.Applications;
                    return GoldilocksZone.Statistics(GoldilocksZone.RestrictedHessian(hessian, b), hessian.Applications - before);
                }).ToArray();
                problem.ReleaseKeptForwards();
                matvecs += hessian.Applications;
                gradients += problem.Cost.GradientPasses;
                SubspaceTrainingResult? optimized = null;
                if (settings.Training is { } training)
                {
                    using var plane = new DenseProjection(bases[0].alias(), "orthonormal");
                    optimized = SubspaceTraining.Train(model, split, theta, plane, training);
                    optimized.Weights.Dispose();
                    gradients += optimized.Steps;
                }
                var point = new GoldilocksPoint(radius, at.Loss, at.Accuracy, curvatures, optimized);
                points.Add(point);
                log($"r = {LandscapeJson.Num(radius)} ({LandscapeJson.Num(radius / initRadius)} x init): fraction positive {LandscapeJson.Num(point.FractionPositive.Mean)}, " +
                    $"Tr/||.||_F {LandscapeJson.Num(point.TraceOverFrobenius.Mean)}" +
                    (optimized is null ? "" : $", train accuracy reached in the hyperplane {LandscapeJson.Num(optimized.TrainAccuracy)}"));
            }
        }
        finally
        {
            foreach (var b in bases) b.Dispose();
            ParameterVector.Assign(model, theta0);
        }
        return new GoldilocksResult(loaded, settings, initRadius, points, train.Count, test.Count, matvecs, gradients, clock.Elapsed.TotalSeconds);
    }
}
