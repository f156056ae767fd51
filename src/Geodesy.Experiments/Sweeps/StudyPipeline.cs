using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core.Interop;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Sweeps;

/// <summary>
/// The main job in pieces: register a sweep, run its workers, rank the population, write the
/// report. `geodesy study` runs them in order; `sweep`, `worker`, `rank` and `report` each run one.
/// </summary>
public static class StudyPipeline
{
    public const string RankingFile = "ranking.json", DatabaseFile = "study.db", RunsFolder = "runs", SpecFile = "sweep.yaml";

    /// <summary>
    /// The default study: 27 MLPs on 4,000 of the embedded MNIST training digits (3 learning
    /// rates x 3 batch sizes x 3 widths, SGD with momentum), each trained until the train
    /// cross-entropy falls below 0.01 (as in Fantastic) or for at most 40 epochs, then every
    /// measure of the catalog on 1,000 training digits. About 2 minutes on 2 quiet cores.
    /// </summary>
    public static string DefaultSpecYaml(string data) => $$"""
        # The default Geodesy study (geodesy study): a population of 27 models, every measure, ranked.
        name: default-study
        base:
          data: "{{data}}"
          arch: "mlp:784-{width}-10"
          subset: 4000
          optimizer: momentum
          until_loss: 0.01
          max_epochs: 40
        grid:
          lr: [0.005, 0.02, 0.05]
          batch: [32, 64, 128]
          width: [32, 64, 128]
        seeds: [0]
        measures: all
        measure_examples: 1000
        """;

    public static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };

    /// <summary>Ranks the population of a sweep; returns the rank document and the table.</summary>
    public static (JsonObject Document, RankingTable Table, Population Population) Rank(IExperimentStore store, string? sweepId,
        IReadOnlyList<string>? measures = null, long seed = 0, PopulationOptions? populationOptions = null,
        PsiDefinition psi = PsiDefinition.Fantastic)
    {
        var population = Population.Load(store, sweepId, populationOptions);
        if (population.Models.Count < 2)
            throw new Core.InputException(
                $"sweep {population.SweepId[..12]} has {population.Models.Count} model(s) that met the stopping rule " +
                $"({string.Join(", ", population.Statuses.Select(kv => $"{kv.Value} {kv.Key}"))}); ranking needs at least 2" +
                (population.Options.IncludeUnconverged ? "" : " (--include-unconverged also ranks max-epochs trials)"));
        var table = Ranking.Rank(population.Models, new RankingOptions { Measures = measures, Seed = seed, Psi = psi });
        return (population.RankDocument(table), table, population);
    }

    public static void WriteJson(string path, JsonObject doc) => AtomicFile.WriteAllText(path, doc.ToJsonString(Indented) + "\n");

    /// <summary>Writes report.html and its PNGs for a ranked population.</summary>
    public static IReadOnlyList<string> Report(string outDir, Population population, RankingTable table, string title, IReadOnlyDictionary<string, string> summary) =>
        StudyReport.Write(outDir, title, population, table, summary);
}
