using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Stats;
using Geodesy.Core.Training;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Reports;

/// <summary>A model's training curve (metrics rows from the store).</summary>
public sealed record TrainingCurve(string Id, IReadOnlyList<MetricsRow> Rows);

/// <summary>The trained models of a sweep as the ranking sees them, with their curves and statuses.</summary>
public sealed record Population(
    string SweepId, IReadOnlyList<PopulationModel> Models, IReadOnlyList<TrainingCurve> Curves,
    IReadOnlyDictionary<TrialStatus, int> Statuses)
{
    /// <summary>Reads the completed trials of a sweep (the newest sweep when none is named).</summary>
    public static Population Load(IExperimentStore store, string? sweepId)
    {
        var sweeps = store.ListSweeps();
        if (sweeps.Count == 0) throw new InputException($"store {store.Description} has no sweep yet (run 'geodesy sweep' or 'geodesy study')");
        string id = sweepId ?? sweeps[^1].Id;
        if (sweeps.All(s => s.Id != id && !s.Id.StartsWith(id, StringComparison.Ordinal)))
            throw new InputException($"store {store.Description} has no sweep '{id}' (it has {string.Join(", ", sweeps.Select(s => s.Id[..12]))})");
        id = sweeps.First(s => s.Id == id || s.Id.StartsWith(id, StringComparison.Ordinal)).Id;

        var measures = store.GetSweepMeasures(id).GroupBy(m => m.TrialId)
            .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, double>)g.Where(m => m.Value.HasValue).ToDictionary(m => m.Name, m => m.Value!.Value));
        var models = new List<PopulationModel>();
        var curves = new List<TrainingCurve>();
        foreach (var t in store.ListTrials(id).Where(t => t.Status == TrialStatus.Completed))
        {
            var hp = JsonNode.Parse(t.HparamsJson)?.AsObject() ?? new JsonObject();
            var hparams = hp.ToDictionary(kv => kv.Key, kv => kv.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : kv.Value?.ToJsonString() ?? "");
            double train = t.Metrics?.GetValueOrDefault("train_accuracy", double.NaN) ?? double.NaN;
            double test = t.Metrics?.GetValueOrDefault("test_accuracy", double.NaN) ?? double.NaN;
            models.Add(new PopulationModel(t.Id, hparams, train, test, measures.GetValueOrDefault(t.Id) ?? new Dictionary<string, double>()));
            curves.Add(new TrainingCurve(t.Id, store.GetMetricRows(t.Id).Select(r => new MetricsRow(
                r.Epoch, r.Step, double.NaN, r.TrainLoss ?? double.NaN, r.TrainAccuracy ?? double.NaN,
                r.TestLoss ?? double.NaN, r.TestAccuracy ?? double.NaN, 0)).ToList()));
        }
        return new Population(id, models, curves, store.CountByStatus(id));
    }

    /// <summary>The rank document (docs/ranking.md): models with hyperparameters, accuracies, gap and measures, plus the ranking.</summary>
    public JsonObject RankDocument(RankingTable table) => new()
    {
        ["schema"] = "geodesy.rank/1",
        ["sweep"] = SweepId,
        ["statuses"] = new JsonObject(Statuses.Select(kv => KeyValuePair.Create(kv.Key.ToString().ToLowerInvariant(), (JsonNode?)kv.Value))),
        ["models"] = new JsonArray(Models.Select(m => (JsonNode)new JsonObject
        {
            ["id"] = m.Id,
            ["hparams"] = new JsonObject(m.Hparams.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["train_accuracy"] = Num(m.TrainAccuracy),
            ["test_accuracy"] = Num(m.TestAccuracy),
            ["gap"] = Num(m.Gap),
            ["measures"] = new JsonObject(m.Measures.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Num(kv.Value)))),
        }).ToArray()),
        ["ranking"] = table.ToJson(),
    };

    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
