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
    /// The default study, shaped like Fantastic's: 81 MLPs on 4,000 of the embedded MNIST training digits,
    /// 4 hyperparameters with 3 values each (learning rate 0.05/0.07/0.1 x batch 32/64/128 x width
    /// 32/64/128 x weight decay 0/1e-4/2e-4, SGD with momentum 0.9), every model trained until its train
    /// cross-entropy falls below 0.01 (Fantastic's stopping rule; every corner of this grid meets it, the
    /// slowest, lr 0.05 with batch 128, in about 52 of the 80 epochs allowed), then every measure of the
    /// catalog on the same 1,000 training digits per model. Learning rates of 0.2 (batch 32) fail to
    /// converge and weight decay 5e-4 keeps the loss above 0.01, which is why the grid stops where it does.
    /// </summary>
    public static string DefaultSpecYaml(string data) => $$"""
        # The default Geodesy study (geodesy study): 81 models over 4 hyperparameters, every measure, ranked.
        # Every model is trained to the same train cross-entropy (0.01), as in Fantastic.
        name: default-study
        base:
          data: "{{data}}"
          arch: "mlp:784-{width}-10"
          subset: 4000
          optimizer: momentum
          until_loss: 0.01
          max_epochs: 80
        grid:
          lr: [0.05, 0.07, 0.1]
          batch: [32, 64, 128]
          width: [32, 64, 128]
          weight_decay: [0, 0.0001, 0.0002]
        seeds: [0]
        measures: all
        measure_examples: 1000
        """;

    public static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };

    /// <summary>
    /// Where run folders go: the folder given, else runs/ beside a SQLite store's file, else runs/ in
    /// the working folder (a PostgreSQL store has no folder of its own).
    /// </summary>
    public static string RunsFolderFor(string? runs, string storeUri) => Path.GetFullPath(runs ??
        (storeUri.StartsWith("sqlite:", StringComparison.Ordinal)
            ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(storeUri["sqlite:".Length..])) ?? ".", RunsFolder)
            : RunsFolder));

    /// <summary>The facts at the top of a report: sweep, models ranked, trials by status, store.</summary>
    public static Dictionary<string, string> Summary(IExperimentStore store, Population population) => new()
    {
        ["sweep"] = population.SweepId,
        ["models ranked"] = population.Models.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["trials"] = string.Join(", ", population.Statuses.Select(kv => $"{kv.Value} {kv.Key}")),
        ["store"] = store.Description,
    };

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
