using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Reports;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape stiffness` computes (docs/landscape.md).</summary>
public sealed record StiffnessSettings
{
    /// <summary>The first N examples of the split.</summary>
    public long Examples { get; init; } = 500;
    /// <summary>"train" or "test".</summary>
    public string Split { get; init; } = "train";
    /// <summary>Bins of input-space distance.</summary>
    public int Bins { get; init; } = 10;
    public int StreamBatch { get; init; } = 1000;

    public void Validate()
    {
        if (Examples < 2) throw new InputException($"--examples must be at least 2 (got {Examples})");
        if (Bins < 1) throw new InputException($"--bins must be at least 1 (got {Bins})");
        if (Split is not ("train" or "test")) throw new InputException($"--split must be train or test (got '{Split}')");
        if (StreamBatch < 1) throw new InputException($"--stream-batch must be at least 1 (got {StreamBatch})");
    }
}

/// <summary>Everything `landscape stiffness` computed, and its "geodesy.landscape-stiffness/1" keys.</summary>
public sealed record StiffnessAnalysisResult(LoadedModel Source, StiffnessSettings Settings, StiffnessTable Table, string GradientMethod, long Gradients, double Seconds) : ILandscapeDocument
{
    public const string Definition =
        "cosine stiffness = cos(g_i, g_j), sign stiffness = sign(g_i . g_j), g_i the gradient of example i's cross-entropy (Fort et al. 2019); " +
        "class matrices average over pairs i != j with y_i = a, y_j = b; distance bins over pairs i < j by the Euclidean distance of the inputs";

    public Cost Cost => Cost.Of(0, Gradients, Seconds);

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        long n = Table.Examples;
        bool train = Settings.Split == "train";
        LandscapeGeometry.WriteSource(root, Source, train ? n : 0, train ? 0 : n);
        root["mode"] = "eval";
        root["split"] = Settings.Split;
        root["examples"] = n;
        root["gradient_method"] = GradientMethod;
        root["zero_gradients"] = Table.ZeroGradients;
        root["definition"] = Definition;
        root["same_class_cosine"] = Finite(Table.SameClassCosine);
        root["diff_class_cosine"] = Finite(Table.DiffClassCosine);
        root["same_class_sign"] = Finite(Table.SameClassSign);
        root["diff_class_sign"] = Finite(Table.DiffClassSign);
        root["class_cosine"] = Matrix(Table.ClassCosine);
        root["class_sign"] = Matrix(Table.ClassSign);
        root["class_pairs"] = new JsonArray(Enumerable.Range(0, Table.ClassPairs.GetLength(0))
            .Select(a => (JsonNode)new JsonArray(Enumerable.Range(0, Table.ClassPairs.GetLength(1)).Select(b => (JsonNode)Table.ClassPairs[a, b]).ToArray())).ToArray());
        root["distance_bins"] = new JsonArray(Table.Bins.Select(b => (JsonNode)new JsonObject
        {
            ["lo"] = b.Lo, ["hi"] = b.Hi, ["pairs"] = b.Pairs,
            ["cosine"] = Finite(b.Cosine), ["sign"] = Finite(b.Sign),
            ["same_class_pairs"] = b.SamePairs, ["same_class_cosine"] = Finite(b.SameCosine),
            ["diff_class_pairs"] = b.DiffPairs, ["diff_class_cosine"] = Finite(b.DiffCosine),
        }).ToArray());
        Cost.WriteTo(cost);
        LandscapeGeometry.WriteProvenance(provenance, Source, 0, train ? n : 0, train ? 0 : n);
        provenance["seed"] = null;
    }

    private static JsonArray Matrix(double[,] m) => new(Enumerable.Range(0, m.GetLength(0))
        .Select(a => (JsonNode)new JsonArray(Enumerable.Range(0, m.GetLength(1)).Select(b => (JsonNode?)Finite(m[a, b])).ToArray())).ToArray());

    /// <summary>The class grid: class_i,class_j,pairs,cosine,sign; then the distance bins in a second CSV beside it is not needed: both in one file, one kind per row (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("kind,class_i,class_j,distance_lo,distance_hi,pairs,cosine,sign\n");
        int k = Table.ClassCosine.GetLength(0);
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                text.Append($"class,{a},{b},,,{Table.ClassPairs[a, b]},{LandscapeJson.Num(Table.ClassCosine[a, b])},{LandscapeJson.Num(Table.ClassSign[a, b])}\n");
        foreach (var bin in Table.Bins)
            text.Append($"distance,,,{LandscapeJson.Num(bin.Lo)},{LandscapeJson.Num(bin.Hi)},{bin.Pairs},{LandscapeJson.Num(bin.Cosine)},{LandscapeJson.Num(bin.Sign)}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }

    public void WritePng(string path) =>
        GeometryPlots.ClassMatrixPng(path, $"{Source.Source.Arch}: cosine stiffness by class ({Table.Examples} {Settings.Split} examples)", Table.ClassCosine, "mean cos(g_i, g_j)");

    public void WriteDistancePng(string path) =>
        GeometryPlots.DistancePng(path, $"{Source.Source.Arch}: cosine stiffness against input distance ({Table.Examples} {Settings.Split} examples)",
            Table.Bins.Select(b => (b.Lo + b.Hi) / 2).ToArray(), Table.Bins.Select(b => b.Cosine).ToArray(),
            Table.Bins.Select(b => b.SameCosine).ToArray(), Table.Bins.Select(b => b.DiffCosine).ToArray());
}

/// <summary>Stiffness (Fort et al. 2019) of a trained model between the per-example gradients of N examples (closed forms where the layers allow).</summary>
public static class StiffnessAnalysis
{
    public static StiffnessAnalysisResult Run(LoadedModel loaded, StiffnessSettings settings, Action<string> log)
    {
        settings.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var set = settings.Split == "train" ? loaded.Data.Train : loaded.Data.Test;
        if (settings.Examples > set.Count)
            throw new InputException($"--examples {settings.Examples} is more than the {set.Count} {settings.Split} examples of '{loaded.Source.DataSpec}'");
        var examples = settings.Examples == set.Count ? set : set.Take(settings.Examples);
        using var scope = NewDisposeScope();
        var inputs = examples.Inputs.to_type(loaded.Source.DType);
        var problem = CurvatureProblem.FromData(loaded.Model, inputs, examples.Labels,
            new CurvatureOptions { BatchSize = settings.StreamBatch, Mode = CurvatureMode.Eval });
        var perExample = new PerExampleGradients(problem);
        log($"stiffness of {loaded.Source.Arch} ({loaded.Parameters:N0} parameters) on {examples.Count:N0} {settings.Split} examples ({perExample.Method} per-example gradients)");
        using var gradients = perExample.Materialize();
        var table = GradientStiffness.Compute(gradients, examples.Inputs, examples.Labels, set.NumClasses, settings.Bins);
        log($"cosine stiffness: same class {LandscapeJson.Num(table.SameClassCosine)}, different classes {LandscapeJson.Num(table.DiffClassCosine)}; " +
            $"sign stiffness: same class {LandscapeJson.Num(table.SameClassSign)}, different classes {LandscapeJson.Num(table.DiffClassSign)}");
        return new StiffnessAnalysisResult(loaded, settings, table, perExample.Method, examples.Count, clock.Elapsed.TotalSeconds);
    }
}
