using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Reports;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape subspace` computes (docs/landscape.md).</summary>
public sealed record SubspaceSettings
{
    /// <summary>The subspace dimensions d to train in.</summary>
    public required long[] Dims { get; init; }
    public ProjectionKind Projection { get; init; } = ProjectionKind.Auto;
    public long MaxDenseBytes { get; init; } = SubspaceProjections.DefaultMaxDenseBytes;
    public required TrainerOptions Training { get; init; }
    /// <summary>Seed of the projections (d-th projection from the stream of this seed).</summary>
    public long Seed { get; init; }
    /// <summary>The first N training and the first N test examples (null: all of them).</summary>
    public long? Examples { get; init; }

    /// <summary>The fraction of the full model's test accuracy that defines d_int (Li et al.: 90%).</summary>
    public const double Fraction = 0.9;

    public void Validate(long parameters)
    {
        LandscapeGeometry.NonEmpty(Dims, "--dims", d => d >= 1, "a positive dimension");
        foreach (long d in Dims) SubspaceProjections.CheckDimension(d, parameters, "--dims");
        if (Examples is < 1) throw new InputException($"--examples must be at least 1 (got {Examples})");
        if (MaxDenseBytes < 0) throw new InputException($"--max-dense-mb must be >= 0 (got {MaxDenseBytes >> 20})");
        Training.Validate();
    }
}

/// <summary>Training in the subspace of one dimension d: the projection used and where training ended.</summary>
public sealed record SubspacePoint(long D, string Projection, SubspaceTrainingResult Result);

/// <summary>Everything `landscape subspace` computed, and its "geodesy.landscape-subspace/1" keys.</summary>
public sealed record SubspaceResult(LoadedModel Source, SubspaceSettings Settings, TrainingResult Baseline, IReadOnlyList<SubspacePoint> Points,
    long TrainExamples, long TestExamples, double Seconds) : ILandscapeDocument
{
    public const string Definition =
        "d_int90 = the smallest d of the list whose test accuracy is at least 0.9 x the test accuracy of the full model " +
        "trained from the same initialization with the same settings (Li et al. 2018); null when no d reaches it";

    public double BaselineAccuracy => Baseline.Final?.TestAccuracy ?? double.NaN;

    public long? DInt90 => Points.Where(p => p.Result.Status == RunStatus.Completed && p.Result.TestAccuracy >= SubspaceSettings.Fraction * BaselineAccuracy)
        .Select(p => (long?)p.D).Min();

    public Cost Cost => Cost.Of(0, Baseline.Steps + Points.Sum(p => p.Result.Steps), Seconds);

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        LandscapeGeometry.WriteSource(root, Source, TrainExamples, TestExamples, "init_weights");
        root["init"] = Source.Source.Weights is null ? $"seeded ({Source.Source.InitSeed})" : "file";
        root["training"] = LandscapeGeometry.TrainingJson(Settings.Training);
        root["projection"] = Settings.Projection.ToString().ToLowerInvariant();
        root["max_dense_bytes"] = Settings.MaxDenseBytes;
        root["baseline"] = new JsonObject
        {
            ["train_loss"] = Finite(Baseline.Final?.TrainLoss),
            ["train_accuracy"] = Finite(Baseline.Final?.TrainAccuracy),
            ["test_loss"] = Finite(Baseline.Final?.TestLoss),
            ["test_accuracy"] = Finite(Baseline.Final?.TestAccuracy),
            ["status"] = Baseline.Status.Name(),
            ["steps"] = Baseline.Steps,
        };
        root["threshold_accuracy"] = Finite(SubspaceSettings.Fraction * BaselineAccuracy);
        root["d_int90"] = DInt90;
        root["d_int90_definition"] = Definition;
        root["points"] = new JsonArray(Points.Select(p => (JsonNode)new JsonObject
        {
            ["d"] = p.D,
            ["projection"] = p.Projection,
            ["train_loss"] = Finite(p.Result.TrainLoss),
            ["train_accuracy"] = Finite(p.Result.TrainAccuracy),
            ["test_loss"] = Finite(p.Result.TestLoss),
            ["test_accuracy"] = Finite(p.Result.TestAccuracy),
            ["fraction_of_baseline"] = Finite(p.Result.TestAccuracy / BaselineAccuracy),
            ["status"] = p.Result.Status.Name(),
            ["steps"] = p.Result.Steps,
            ["seconds"] = Math.Round(p.Result.Seconds, 3),
        }).ToArray());
        Cost.WriteTo(cost);
        cost["training_steps"] = Baseline.Steps + Points.Sum(p => p.Result.Steps);
        LandscapeGeometry.WriteProvenance(provenance, Source, Settings.Seed, TrainExamples, TestExamples);
        provenance["training_seed"] = Settings.Training.Seed;
    }

    /// <summary>d,projection,status,train_loss,train_accuracy,test_loss,test_accuracy (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("d,projection,status,").Append(LandscapeJson.CsvHeader).Append('\n');
        foreach (var p in Points)
            text.Append($"{p.D},{p.Projection},{p.Result.Status.Name()},{LandscapeJson.CsvValues(new LandscapePoint(p.Result.TrainLoss, p.Result.TrainAccuracy, p.Result.TestLoss, p.Result.TestAccuracy))}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }

    public void WritePng(string path) =>
        GeometryPlots.SubspacePng(path, $"{Source.Source.Arch}: accuracy in random subspaces, d_int90 = {(DInt90?.ToString() ?? "not reached")}",
            Points.Select(p => (double)p.D).ToArray(), Points.Select(p => p.Result.TrainAccuracy).ToArray(),
            Points.Select(p => p.Result.TestAccuracy).ToArray(), BaselineAccuracy, DInt90);
}

/// <summary>
/// The intrinsic dimension of an objective landscape (Li, Farkhoor, Liu, Yosinski 2018): the model
/// trained from its initialization θ0 within random subspaces θ0 + P z of increasing dimension d, and
/// once in full (the baseline), all with the same settings.
/// </summary>
public static class SubspaceAnalysis
{
    public static SubspaceResult Run(LoadedModel loaded, SubspaceSettings settings, Action<string> log)
    {
        settings.Validate(loaded.Parameters);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples, "--examples");
        var test = LandscapeJson.FirstTest(loaded.Data, settings.Examples);
        var split = LandscapeGeometry.Prefix(loaded, train, test);
        var model = loaded.Model;
        using var theta0 = ParameterVector.Flatten(model);
        var dims = settings.Dims.Distinct().Order().ToArray();
        log($"subspace training of {loaded.Source.Arch} ({loaded.Parameters:N0} parameters) on {train.Count:N0} train and {test.Count:N0} test examples; d = {string.Join(", ", dims)}");

        var baseline = Trainer.Train(model, split, settings.Training);
        ParameterVector.Assign(model, theta0);
        model.eval();
        log($"full model: test accuracy {LandscapeJson.Num(baseline.Final?.TestAccuracy ?? double.NaN)} ({baseline.Status.Name()}, {baseline.Steps} steps)");
        var points = new List<SubspacePoint>();
        foreach (long d in dims)
        {
            using var projection = SubspaceProjections.Create(settings.Projection, loaded.Parameters, d, settings.Seed, theta0.dtype, settings.MaxDenseBytes);
            var result = SubspaceTraining.Train(model, split, theta0, projection, settings.Training);
            result.Weights.Dispose();
            ParameterVector.Assign(model, theta0);
            points.Add(new SubspacePoint(d, projection.Kind, result));
            log($"d = {d} ({projection.Kind}): test accuracy {LandscapeJson.Num(result.TestAccuracy)}, train accuracy {LandscapeJson.Num(result.TrainAccuracy)} ({result.Status.Name()})");
        }
        var done = new SubspaceResult(loaded, settings, baseline, points, train.Count, test.Count, clock.Elapsed.TotalSeconds);
        log($"d_int90 = {(done.DInt90?.ToString() ?? "not reached")} (90% of the full model's test accuracy {LandscapeJson.Num(done.BaselineAccuracy)})");
        return done;
    }
}
