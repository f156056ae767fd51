using Geodesy.Core.Curvature;

namespace Geodesy.Experiments.Store;

/// <summary>Where a trial is in its life. Completed, Diverged and Failed are final: a final trial is
/// never leased again and its outcome is never overwritten.</summary>
public enum TrialStatus { Pending, Running, Completed, Diverged, Failed }

/// <summary>A trial to add to a sweep. <paramref name="TrialId"/> is the hash of the run spec, so the
/// same run shared by two sweeps is one trial (computed once) that belongs to both.</summary>
public sealed record TrialSpec(string TrialId, string SpecJson, string HparamsJson);

/// <summary>How a trial ended. <paramref name="Status"/> must be final (Completed, Diverged or Failed).
/// <paramref name="Metrics"/> are summary numbers (e.g. train/test accuracy); NaN is kept.</summary>
public sealed record TrialOutcome(
    TrialStatus Status,
    string ResultJson,
    IReadOnlyDictionary<string, double>? Metrics = null,
    string? ArtifactsPath = null);

/// <summary>A trial as stored. Times are UTC. <see cref="Owner"/> is the worker that last leased it;
/// <see cref="CompletedBy"/> the worker whose outcome was recorded (the first to complete).</summary>
public sealed record Trial(
    string Id,
    string SpecJson,
    string HparamsJson,
    TrialStatus Status,
    string? Owner,
    int Attempts,
    DateTime? LeaseExpiresUtc,
    string? ResultJson,
    IReadOnlyDictionary<string, double>? Metrics,
    string? ArtifactsPath,
    string? CompletedBy,
    DateTime? CompletedAtUtc);

/// <summary>A sweep: its id and the spec it was created from.</summary>
public sealed record SweepRecord(string Id, string SpecJson);

/// <summary>
/// One measure of one trial. A NaN value is stored (and read back) as null. <paramref name="Status"/>
/// says how its solver or search stopped (null: the measure was skipped, <paramref name="SkipReason"/>
/// says why); <paramref name="Stderr"/> is only ever a standard error, the final bracket of a
/// bisection is <paramref name="BracketHalfwidth"/>.
/// </summary>
public sealed record MeasureRecord(string Name, double? Value, double? Stderr, double Seconds,
    SolverStatus? Status = SolverStatus.Converged, double? BracketHalfwidth = null, string? SkipReason = null)
{
    /// <summary>"converged", "budget_exhausted", "diverged" or "skipped", as stored.</summary>
    public string StatusName => Status?.ToSnakeCase() ?? SkippedStatus;

    /// <summary>The stored status of a skipped measure.</summary>
    public const string SkippedStatus = "skipped";
}

/// <summary>A stored measure with its trial and the hash of the <see cref="Specs.MeasureSpec"/> it was computed under.</summary>
public sealed record StoredMeasure(string TrialId, string MeasureSpecHash, MeasureRecord Measure);

/// <summary>One point of a training curve, keyed by (trial, step). NaN values are stored as null.</summary>
public sealed record MetricRow(
    long Step,
    int Epoch,
    double? TrainLoss,
    double? TrainAccuracy,
    double? TestLoss,
    double? TestAccuracy);

/// <summary>
/// The experiment store shared by sweeps, workers, ranking and reports (SQLite or PostgreSQL; see
/// docs/store.md). Every method is safe to call from several threads and several processes at once.
/// Failures of the store itself (unreachable server, locked file for too long, SQL error) surface as
/// <see cref="Geodesy.Core.ComputationException"/> with a one-line message.
/// </summary>
public interface IExperimentStore : IDisposable
{
    /// <summary>The store URI with any password removed, for messages and reports.</summary>
    string Description { get; }

    /// <summary>Creates or migrates the schema to <see cref="StoreSchema.CurrentVersion"/>. Idempotent
    /// and safe when several processes call it at once. <see cref="StoreFactory.Open"/> calls it.</summary>
    void EnsureSchema();

    /// <summary>The highest migration recorded in <c>schema_version</c> (0 for an empty database).</summary>
    int GetSchemaVersion();

    /// <summary>Creates the sweep or replaces its spec.</summary>
    void UpsertSweep(string sweepId, string specJson);

    IReadOnlyList<SweepRecord> ListSweeps();

    /// <summary>Adds trials to an existing sweep. Idempotent by trial id: a trial already stored keeps its
    /// spec, status and results and is only linked to this sweep.</summary>
    void AddTrials(string sweepId, IEnumerable<TrialSpec> trials);

    /// <summary>Atomically takes the oldest trial (of <paramref name="sweepId"/>, or of any sweep when null)
    /// that is pending, or running with an expired lease, and not final. Sets its owner, lease expiry and
    /// attempts + 1. Returns null when there is nothing to lease.</summary>
    Trial? TryLease(string? sweepId, string workerId, TimeSpan lease);

    /// <summary>Extends the lease of a running trial to now + <paramref name="lease"/>. False when the
    /// worker no longer owns it (another worker re-leased it, or it is final).</summary>
    bool Heartbeat(string trialId, string workerId, TimeSpan lease);

    /// <summary>Gives back a lease (e.g. on a graceful stop): the trial is pending again. False when the
    /// worker does not own it.</summary>
    bool Release(string trialId, string workerId);

    /// <summary>Records a trial's outcome exactly once: the first completion wins; later completions of
    /// the same trial (by any worker) return false and change nothing.</summary>
    bool Complete(string trialId, string workerId, TrialOutcome outcome);

    /// <summary>Inserts or replaces measures of a trial, keyed by (trial, measure-spec hash, name).</summary>
    void RecordMeasures(string trialId, string measureSpecHash, IEnumerable<MeasureRecord> measures);

    /// <summary>Inserts or replaces training-curve rows, keyed by (trial, step).</summary>
    void AddMetricRows(string trialId, IEnumerable<MetricRow> rows);

    Trial? GetTrial(string trialId);

    /// <summary>The trials of a sweep in the order they were added.</summary>
    IReadOnlyList<Trial> ListTrials(string sweepId);

    /// <summary>The measures of one trial computed under one measure spec, by name.</summary>
    IReadOnlyDictionary<string, MeasureRecord> GetMeasures(string trialId, string measureSpecHash);

    /// <summary>The measures of a sweep's trials under one measure spec, ordered by trial then name. A trial
    /// recorded before measure specs were hashed (schema 1) contributes its <see cref="StoreSchema.LegacyMeasureSpec"/>
    /// measures when it has none under this hash.</summary>
    IReadOnlyList<StoredMeasure> GetSweepMeasures(string sweepId, string measureSpecHash);

    /// <summary>The training curve of a trial, ordered by step.</summary>
    IReadOnlyList<MetricRow> GetMetricRows(string trialId);

    /// <summary>Number of trials of a sweep in each status (every status present, zero included).</summary>
    IReadOnlyDictionary<TrialStatus, int> CountByStatus(string sweepId);
}
