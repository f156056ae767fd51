using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;

namespace Geodesy.Experiments.Reproductions;

/// <summary>The result of one recipe: its "geodesy.reproduce/1" document, verdict and plots.</summary>
public sealed record ReproductionResult(Recipe Recipe, JsonObject Document, Judgement Judgement, IReadOnlyList<(string File, string Caption)> Plots, string Directory)
{
    public JsonObject Evidence => (JsonObject)Document["evidence"]!;
}

/// <summary>Runs a recipe and writes DIR/reproduce.json (docs/reproduce.md has the keys).</summary>
public static class Reproduction
{
    public const string Schema = "geodesy.reproduce/1", DocumentFile = "reproduce.json";

    /// <summary>
    /// Fixes the criterion, runs the recipe, judges its evidence, and writes the document to
    /// OUT/reproduce.json (atomically). <paramref name="command"/> is recorded in the provenance;
    /// <paramref name="studyFolder"/> is the store of population recipes (default OUT/study).
    /// </summary>
    public static ReproductionResult Run(Recipe recipe, RecipeOptions options, string outDir, string command, Action<string> log,
        string? studyFolder = null)
    {
        string criterion = recipe.Criterion(options); // stated before any number exists
        var context = new RecipeContext(options, outDir, log, studyFolder);
        log($"{recipe.Name}: {recipe.Claim}");
        log($"criterion: {criterion}");
        var evidence = recipe.Run(context);
        var judgement = recipe.Judge(evidence, options);
        var doc = new JsonObject
        {
            ["schema"] = Schema,
            ["recipe"] = recipe.Name,
            ["claim"] = recipe.Claim,
            ["source"] = recipe.Source,
            ["criterion"] = criterion,
            ["verdict"] = judgement.Verdict.Name(),
            ["reason"] = judgement.Reason,
            ["quick"] = options.Quick,
            ["options"] = options.ToJson(),
            ["evidence"] = evidence,
            ["plots"] = new JsonArray(context.Plots.Select(p => (JsonNode)new JsonObject { ["file"] = p.File, ["caption"] = p.Caption }).ToArray()),
            ["cost"] = context.CostJson(),
            ["provenance"] = new JsonObject
            {
                ["version"] = Provenance.Version,
                ["git"] = Provenance.GitCommit,
                ["torchsharp"] = Provenance.TorchSharpVersion,
                ["seed"] = new JsonArray(options.Seeds.Select(s => (JsonNode)s).ToArray()),
                ["command"] = command,
                // Recipes train on several data sets and models: each run folder (runs/, study/) records its own hashes.
                ["data_sha256"] = null,
                ["weights_sha256"] = null,
            },
        };
        WriteJson(Path.Combine(context.OutDir, DocumentFile), doc);
        return new ReproductionResult(recipe, doc, judgement, context.Plots, context.OutDir);
    }

    public static void WriteJson(string path, JsonObject doc) =>
        AtomicFile.WriteAllText(path, doc.ToJsonString(Sweeps.StudyPipeline.Indented) + "\n");
}
