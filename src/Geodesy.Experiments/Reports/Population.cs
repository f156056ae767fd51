using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Stats;
using Geodesy.Core.Training;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Reports;

/// <summary>A model's training curve (metrics rows from the store).</summary>
public sealed record TrainingCurve(string Id, IReadOnlyList<MetricsRow> Rows);

/// <summary>A trial of the sweep left out of the ranked population, with its status and why.</summary>
/// <param name="Status">"max-epochs", "diverged", "failed", "pending" or "running".</param>
public sealed record ExcludedTrial(string Id, string Status, string Reason);

/// <summary>Which trials and values a population admits.</summary>
/// <param name="IncludeUnconverged">Also rank trials that stopped at max-epochs without meeting the
/// stopping rule, and measure values whose solver or search did not converge.</param>
public sealed record PopulationOptions(bool IncludeUnconverged = false);

/// <summary>
/// The trained models of a sweep as the ranking sees them: by default only the trials whose
/// training met its stopping rule (status "completed"), with only their converged measure values;
/// every other trial is listed in <see cref="Excluded"/> and every other value is a reason in
/// <see cref="PopulationModel.Missing"/>, so nothing is dropped silently.
/// </summary>
public sealed record Population(
    string SweepId, JsonObject SweepSpec, IReadOnlyList<PopulationModel> Models, IReadOnlyList<TrainingCurve> Curves,
    IReadOnlyDictionary<string, string> ModelStatus, IReadOnlyList<ExcludedTrial> Excluded,
    IReadOnlyDictionary<string, int> Statuses, PopulationOptions Options)
{
    /// <summary>The status of a trial whose training met its stopping rule (or ran its fixed epochs).</summary>
    public const string Completed = "completed", MaxEpochs = "max-epochs";

    /// <summary>Reads the trials of a sweep (the newest sweep when none is named).</summary>
    public static Population Load(IExperimentStore store, string? sweepId, PopulationOptions? options = null)
    {
        options ??= new PopulationOptions();
        var sweep = FindSweep(store, sweepId);
        var sweepJson = JsonNode.Parse(sweep.SpecJson) as JsonObject ?? new JsonObject();
        string hash = MeasureSpec.FromSweepJson(sweepJson).Hash();
        var measures = store.GetSweepMeasures(sweep.Id, hash).GroupBy(m => m.TrialId)
            .ToDictionary(g => g.Key, g => g.Select(m => m.Measure).ToList());

        var models = new List<PopulationModel>();
        var curves = new List<TrainingCurve>();
        var modelStatus = new Dictionary<string, string>(StringComparer.Ordinal);
        var excluded = new List<ExcludedTrial>();
        var statuses = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in store.ListTrials(sweep.Id))
        {
            var (status, reason) = TrainingStatus(t);
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            bool ranked = status == Completed || (status == MaxEpochs && options.IncludeUnconverged);
            if (!ranked)
            {
                excluded.Add(new ExcludedTrial(t.Id, status, reason));
                continue;
            }
            var (values, missing) = Usable(measures.GetValueOrDefault(t.Id) ?? [], options.IncludeUnconverged);
            models.Add(new PopulationModel(t.Id, HyperparametersOf(t), Metric(t, "train_accuracy"), Metric(t, "test_accuracy"), values, missing));
            modelStatus[t.Id] = status;
            curves.Add(new TrainingCurve(t.Id, store.GetMetricRows(t.Id).Select(r => new MetricsRow(
                r.Epoch, r.Step, double.NaN, r.TrainLoss ?? double.NaN, r.TrainAccuracy ?? double.NaN,
                r.TestLoss ?? double.NaN, r.TestAccuracy ?? double.NaN, 0)).ToList()));
        }
        return new Population(sweep.Id, sweepJson, models, curves, modelStatus, excluded, statuses, options);
    }

    /// <summary>A trial's hyperparameter values as strings (JSON strings unquoted, other values as JSON text).</summary>
    public static Dictionary<string, string> HyperparametersOf(Trial t) =>
        (JsonNode.Parse(t.HparamsJson) as JsonObject ?? new JsonObject())
            .ToDictionary(kv => kv.Key, kv => kv.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : kv.Value?.ToJsonString() ?? "");

    /// <summary>A summary metric of a trial ("train_accuracy", "test_loss", ...), NaN when absent.</summary>
    public static double Metric(Trial t, string name) => t.Metrics?.GetValueOrDefault(name, double.NaN) ?? double.NaN;

    /// <summary>The sweep named by id or id prefix, or the newest.</summary>
    public static SweepRecord FindSweep(IExperimentStore store, string? sweepId)
    {
        var sweeps = store.ListSweeps();
        if (sweeps.Count == 0) throw new InputException($"store {store.Description} has no sweep yet (run 'geodesy sweep' or 'geodesy study')");
        string id = sweepId ?? sweeps[^1].Id;
        return sweeps.FirstOrDefault(s => s.Id == id) ?? sweeps.FirstOrDefault(s => s.Id.StartsWith(id, StringComparison.Ordinal))
            ?? throw new InputException($"store {store.Description} has no sweep '{id}' (it has {string.Join(", ", sweeps.Select(s => s.Id[..Math.Min(12, s.Id.Length)]))})");
    }

    /// <summary>
    /// The training status of a trial: the store says whether it trained at all (completed,
    /// diverged, failed, or still pending / running); run.json (its result) says whether a trained
    /// model met its stopping rule ("completed") or ran out of epochs ("max-epochs").
    /// </summary>
    public static (string Status, string Reason) TrainingStatus(Trial t)
    {
        var result = t.ResultJson is null ? null : JsonNode.Parse(t.ResultJson) as JsonObject;
        string message = (string?)result?["message"] ?? (string?)result?["error"] ?? (string?)result?["reason"] ?? "";
        return t.Status switch
        {
            TrialStatus.Completed when (string?)result?["status"] == MaxEpochs =>
                (MaxEpochs, message.Length > 0 ? message : "the stopping rule was not met within the epoch budget"),
            TrialStatus.Completed => (Completed, message),
            TrialStatus.Diverged => ("diverged", message.Length > 0 ? message : "training diverged"),
            TrialStatus.Failed => ("failed", message.Length > 0 ? message : "the trial failed"),
            TrialStatus.Running => ("running", "still training"),
            _ => ("pending", "not trained yet"),
        };
    }

    /// <summary>Splits stored measures into usable values and reasons for the rest.</summary>
    private static (Dictionary<string, double> Values, Dictionary<string, string> Missing) Usable(IEnumerable<MeasureRecord> records, bool includeUnconverged)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        var missing = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in records)
        {
            if (m.Status is null) missing[m.Name] = "skipped: " + (m.SkipReason ?? "no reason recorded");
            else if (m.Value is not { } v || !double.IsFinite(v)) missing[m.Name] = "not a finite number";
            else if (m.Status != SolverStatus.Converged && !includeUnconverged) missing[m.Name] = "not converged: " + m.StatusName;
            else values[m.Name] = v;
        }
        return (values, missing);
    }

    /// <summary>The rank document: the population's models (hyperparameters, accuracies, gap, usable measures, reasons
    /// for the others), the excluded trials, and the ranking in two arrays of one population each.</summary>
    public JsonObject RankDocument(RankingTable table)
    {
        var models = Ranking.ModelsToJson(Models);
        foreach (var m in models) m!["status"] = ModelStatus.GetValueOrDefault((string)m["id"]!);
        return new JsonObject
        {
            ["schema"] = "geodesy.rank/1",
            ["sweep"] = SweepId,
            ["statuses"] = new JsonObject(Statuses.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["include_unconverged"] = Options.IncludeUnconverged,
            ["psi_definition"] = table.PsiName,
            ["models_ranked"] = table.Models,
            ["excluded"] = new JsonArray(Excluded.Select(e => (JsonNode)new JsonObject { ["id"] = e.Id, ["status"] = e.Status, ["reason"] = e.Reason }).ToArray()),
            ["models"] = models,
            ["ranking"] = table.ToJson(),
            ["partial_ranking"] = table.PartialToJson(),
        };
    }
}
