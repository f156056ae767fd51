using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Geodesy.Core;
using Geodesy.Core.Curvature;

namespace Geodesy.Experiments.Store;

/// <summary>The schema version this code writes and understands.</summary>
public static class StoreSchema
{
    public const int CurrentVersion = 2;

    /// <summary>Measure-spec hash given by migration 2 to measures stored before measure specs were hashed.</summary>
    public const string LegacyMeasureSpec = "legacy";

    /// <summary>The statuses a measures row may carry (CHECK constraint of migration 2).</summary>
    internal const string MeasureStatusCheck = "status IN ('converged','budget_exhausted','diverged','skipped')";
}

/// <summary>
/// The SQL shared by the SQLite and PostgreSQL stores. Subclasses supply connections, transactions,
/// the clock and the few dialect differences; every statement is parameterized.
/// </summary>
public abstract class SqlExperimentStore : IExperimentStore
{
    private static readonly JsonSerializerOptions MetricsJson = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private protected SqlExperimentStore() { }

    public abstract string Description { get; }

    // ---- what a backend supplies -------------------------------------------------------------

    /// <summary>Runs read-only work on an open connection, translating driver errors.</summary>
    private protected abstract T Read<T>(Func<DbConnection, T> work);

    /// <summary>Runs work in a write transaction (SQLite: BEGIN IMMEDIATE) and commits it.</summary>
    private protected abstract T Write<T>(Func<DbConnection, DbTransaction, T> work);

    /// <summary>The migrations, in order: migration i (1-based) brings the schema to version i.</summary>
    private protected abstract IReadOnlyList<string[]> Migrations { get; }

    /// <summary>Serializes concurrent schema creation beyond what the write transaction already does.</summary>
    private protected virtual void LockSchema(DbConnection c, DbTransaction tx) { }

    /// <summary>SQL for "now" where leases are compared: a parameter bound by <see cref="BindClock"/>
    /// (SQLite, caller clock in UTC ticks) or the server clock (PostgreSQL now()).</summary>
    private protected abstract string NowSql { get; }

    private protected abstract void BindClock(DbCommand cmd);

    /// <summary>The value bound to <c>@lease</c> so that <c>NowSql + @lease</c> is the expiry.</summary>
    private protected abstract object LeaseValue(TimeSpan lease);

    /// <summary>Row-locking clause of the lease subquery (PostgreSQL: FOR UPDATE OF t SKIP LOCKED).</summary>
    private protected abstract string LockClause { get; }

    /// <summary>Column giving insertion order of trials (alias t).</summary>
    private protected abstract string TrialOrder { get; }

    private protected abstract DateTime? ReadTime(DbDataReader r, int ordinal);

    // ---- schema ------------------------------------------------------------------------------

    public virtual void EnsureSchema()
    {
        Write((c, tx) =>
        {
            LockSchema(c, tx);
            Exec(c, tx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
            int current = CurrentVersion(c, tx);
            if (current > Migrations.Count)
                throw new ComputationException(
                    $"store {Description} has schema version {current}, newer than this geodesy understands ({Migrations.Count}): upgrade geodesy");
            for (int v = current + 1; v <= Migrations.Count; v++)
            {
                foreach (string statement in Migrations[v - 1]) Exec(c, tx, statement);
                Exec(c, tx, "INSERT INTO schema_version (version, applied_at) VALUES (@v, @at)",
                    ("v", v), ("at", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
            }
            return 0;
        });
    }

    public int GetSchemaVersion() => Read(c =>
    {
        if (!TableExists(c, "schema_version")) return 0;
        return CurrentVersion(c, null);
    });

    private protected abstract bool TableExists(DbConnection c, string table);

    private static int CurrentVersion(DbConnection c, DbTransaction? tx) =>
        Convert.ToInt32(Scalar(c, tx, "SELECT COALESCE(MAX(version), 0) FROM schema_version"), CultureInfo.InvariantCulture);

    // ---- sweeps and trials -------------------------------------------------------------------

    public void UpsertSweep(string sweepId, string specJson)
    {
        RequireId(sweepId, "sweep id");
        ArgumentNullException.ThrowIfNull(specJson);
        Write((c, tx) => Exec(c, tx,
            "INSERT INTO sweeps (id, spec_json) VALUES (@id, @spec) ON CONFLICT (id) DO UPDATE SET spec_json = excluded.spec_json",
            ("id", sweepId), ("spec", specJson)));
    }

    public IReadOnlyList<SweepRecord> ListSweeps() => Read(c =>
    {
        var list = new List<SweepRecord>();
        using var cmd = Command(c, null, "SELECT id, spec_json FROM sweeps ORDER BY id");
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(new SweepRecord(r.GetString(0), r.GetString(1)));
        return list;
    });

    public void AddTrials(string sweepId, IEnumerable<TrialSpec> trials)
    {
        RequireId(sweepId, "sweep id");
        var batch = trials.ToList();
        foreach (var t in batch)
        {
            RequireId(t.TrialId, "trial id");
            ArgumentNullException.ThrowIfNull(t.SpecJson);
            ArgumentNullException.ThrowIfNull(t.HparamsJson);
        }
        Write((c, tx) =>
        {
            if (Scalar(c, tx, "SELECT 1 FROM sweeps WHERE id = @id", ("id", sweepId)) is null)
                throw new InputException($"sweep '{sweepId}' does not exist in store {Description}");
            using var insertTrial = Command(c, tx,
                "INSERT INTO trials (id, spec_json, hparams_json, status, attempts) VALUES (@id, @spec, @hp, 'pending', 0) " +
                "ON CONFLICT (id) DO NOTHING",
                ("id", ""), ("spec", ""), ("hp", ""));
            using var link = Command(c, tx,
                "INSERT INTO sweep_trials (sweep_id, trial_id) VALUES (@sweep, @id) ON CONFLICT (sweep_id, trial_id) DO NOTHING",
                ("sweep", sweepId), ("id", ""));
            foreach (var t in batch)
            {
                insertTrial.Parameters["@id"].Value = t.TrialId;
                insertTrial.Parameters["@spec"].Value = t.SpecJson;
                insertTrial.Parameters["@hp"].Value = t.HparamsJson;
                insertTrial.ExecuteNonQuery();
                link.Parameters["@id"].Value = t.TrialId;
                link.ExecuteNonQuery();
            }
            return 0;
        });
    }

    private const string TrialColumns =
        "t.id, t.spec_json, t.hparams_json, t.status, t.owner, t.attempts, t.lease_expires, " +
        "t.result_json, t.metrics_json, t.artifacts_path, t.completed_by, t.completed_at";

    public Trial? TryLease(string? sweepId, string workerId, TimeSpan lease)
    {
        if (sweepId is not null) RequireId(sweepId, "sweep id");
        RequireId(workerId, "worker id");
        RequireLease(lease);
        string filter = sweepId is null
            ? "FROM trials t WHERE "
            : "FROM trials t JOIN sweep_trials st ON st.trial_id = t.id WHERE st.sweep_id = @sweep AND ";
        // Candidates: pending, or running with an expired lease. Final trials never match.
        string sql =
            $"UPDATE trials SET status = 'running', owner = @worker, lease_expires = {NowSql} + @lease, attempts = attempts + 1 " +
            $"WHERE id = (SELECT t.id {filter}" +
            $"(t.status = 'pending' OR (t.status = 'running' AND t.lease_expires < {NowSql})) " +
            $"ORDER BY {TrialOrder} LIMIT 1 {LockClause}) " +
            $"RETURNING {TrialColumns.Replace("t.", "", StringComparison.Ordinal)}";
        return Write((c, tx) =>
        {
            using var cmd = Command(c, tx, sql, ("worker", workerId), ("lease", LeaseValue(lease)));
            if (sweepId is not null) AddParameter(cmd, "sweep", sweepId);
            BindClock(cmd);
            using var r = cmd.ExecuteReader();
            return r.Read() ? ReadTrial(r) : null;
        });
    }

    public bool Heartbeat(string trialId, string workerId, TimeSpan lease)
    {
        RequireId(trialId, "trial id");
        RequireId(workerId, "worker id");
        RequireLease(lease);
        // Ownership is the truth: TryLease changes the owner atomically, so a worker that still owns a
        // running trial may extend it even if its lease ran out meanwhile and nobody took it.
        return Write((c, tx) =>
        {
            using var cmd = Command(c, tx,
                $"UPDATE trials SET lease_expires = {NowSql} + @lease WHERE id = @id AND owner = @worker AND status = 'running'",
                ("lease", LeaseValue(lease)), ("id", trialId), ("worker", workerId));
            BindClock(cmd);
            return cmd.ExecuteNonQuery() == 1;
        });
    }

    public bool Release(string trialId, string workerId)
    {
        RequireId(trialId, "trial id");
        RequireId(workerId, "worker id");
        return Write((c, tx) => Exec(c, tx,
            "UPDATE trials SET status = 'pending', owner = NULL, lease_expires = NULL " +
            "WHERE id = @id AND owner = @worker AND status = 'running'",
            ("id", trialId), ("worker", workerId)) == 1);
    }

    public bool Complete(string trialId, string workerId, TrialOutcome outcome)
    {
        RequireId(trialId, "trial id");
        RequireId(workerId, "worker id");
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.Status is TrialStatus.Pending or TrialStatus.Running)
            throw new ArgumentException($"a trial outcome must be final, not {outcome.Status}", nameof(outcome));
        ArgumentNullException.ThrowIfNull(outcome.ResultJson);
        string? metrics = outcome.Metrics is null ? null : JsonSerializer.Serialize(outcome.Metrics, MetricsJson);
        return Write((c, tx) =>
        {
            // First completion wins: only a trial that is not final yet can be completed, whoever owns it.
            using var cmd = Command(c, tx,
                "UPDATE trials SET status = @status, result_json = @result, metrics_json = @metrics, " +
                $"artifacts_path = @artifacts, completed_by = @worker, completed_at = {NowSql}, lease_expires = NULL " +
                "WHERE id = @id AND status IN ('pending', 'running')",
                ("status", StatusName(outcome.Status)), ("result", outcome.ResultJson), ("metrics", metrics),
                ("artifacts", outcome.ArtifactsPath), ("worker", workerId), ("id", trialId));
            BindClock(cmd);
            if (cmd.ExecuteNonQuery() == 1) return true;
            RequireTrial(c, tx, trialId);
            return false;
        });
    }

    // ---- measures and curves -----------------------------------------------------------------

    public void RecordMeasures(string trialId, string measureSpecHash, IEnumerable<MeasureRecord> measures)
    {
        RequireId(trialId, "trial id");
        RequireId(measureSpecHash, "measure-spec hash");
        ArgumentNullException.ThrowIfNull(measures);
        var batch = measures.ToList();
        foreach (var m in batch) RequireId(m.Name, "measure name");
        Write((c, tx) =>
        {
            RequireTrial(c, tx, trialId);
            using var cmd = Command(c, tx,
                "INSERT INTO measures (trial_id, spec_hash, name, value, stderr, seconds, status, bracket_halfwidth, skip_reason) " +
                "VALUES (@trial, @spec, @name, @value, @stderr, @seconds, @status, @bracket, @skip) " +
                "ON CONFLICT (trial_id, spec_hash, name) DO UPDATE SET value = excluded.value, stderr = excluded.stderr, " +
                "seconds = excluded.seconds, status = excluded.status, bracket_halfwidth = excluded.bracket_halfwidth, skip_reason = excluded.skip_reason",
                ("trial", trialId), ("spec", measureSpecHash), ("name", ""), ("value", null), ("stderr", null), ("seconds", 0.0),
                ("status", ""), ("bracket", null), ("skip", null));
            foreach (var m in batch)
            {
                cmd.Parameters["@name"].Value = m.Name;
                cmd.Parameters["@value"].Value = DbValue(m.Value);
                cmd.Parameters["@stderr"].Value = DbValue(m.Stderr);
                cmd.Parameters["@seconds"].Value = m.Seconds;
                cmd.Parameters["@status"].Value = m.StatusName;
                cmd.Parameters["@bracket"].Value = DbValue(m.BracketHalfwidth);
                cmd.Parameters["@skip"].Value = (object?)m.SkipReason ?? DBNull.Value;
                cmd.ExecuteNonQuery();
            }
            return 0;
        });
    }

    public void AddMetricRows(string trialId, IEnumerable<MetricRow> rows)
    {
        RequireId(trialId, "trial id");
        var batch = rows.ToList();
        Write((c, tx) =>
        {
            RequireTrial(c, tx, trialId);
            using var cmd = Command(c, tx,
                "INSERT INTO metric_rows (trial_id, step, epoch, train_loss, train_acc, test_loss, test_acc) " +
                "VALUES (@trial, @step, @epoch, @trl, @tra, @tel, @tea) " +
                "ON CONFLICT (trial_id, step) DO UPDATE SET epoch = excluded.epoch, train_loss = excluded.train_loss, " +
                "train_acc = excluded.train_acc, test_loss = excluded.test_loss, test_acc = excluded.test_acc",
                ("trial", trialId), ("step", 0L), ("epoch", 0), ("trl", null), ("tra", null), ("tel", null), ("tea", null));
            foreach (var row in batch)
            {
                cmd.Parameters["@step"].Value = row.Step;
                cmd.Parameters["@epoch"].Value = row.Epoch;
                cmd.Parameters["@trl"].Value = DbValue(row.TrainLoss);
                cmd.Parameters["@tra"].Value = DbValue(row.TrainAccuracy);
                cmd.Parameters["@tel"].Value = DbValue(row.TestLoss);
                cmd.Parameters["@tea"].Value = DbValue(row.TestAccuracy);
                cmd.ExecuteNonQuery();
            }
            return 0;
        });
    }

    // ---- queries -----------------------------------------------------------------------------

    public Trial? GetTrial(string trialId) => Read(c =>
    {
        using var cmd = Command(c, null, $"SELECT {TrialColumns} FROM trials t WHERE t.id = @id", ("id", trialId));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadTrial(r) : null;
    });

    public IReadOnlyList<Trial> ListTrials(string sweepId) => Read(c =>
    {
        var list = new List<Trial>();
        using var cmd = Command(c, null,
            $"SELECT {TrialColumns} FROM trials t JOIN sweep_trials st ON st.trial_id = t.id " +
            $"WHERE st.sweep_id = @sweep ORDER BY {TrialOrder}", ("sweep", sweepId));
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(ReadTrial(r));
        return list;
    });

    private const string MeasureColumns = "m.trial_id, m.spec_hash, m.name, m.value, m.stderr, m.seconds, m.status, m.bracket_halfwidth, m.skip_reason";

    public IReadOnlyDictionary<string, MeasureRecord> GetMeasures(string trialId, string measureSpecHash) => Read(c =>
    {
        var map = new Dictionary<string, MeasureRecord>(StringComparer.Ordinal);
        using var cmd = Command(c, null,
            $"SELECT {MeasureColumns} FROM measures m WHERE m.trial_id = @trial AND m.spec_hash = @spec ORDER BY m.name",
            ("trial", trialId), ("spec", measureSpecHash));
        using var r = cmd.ExecuteReader();
        while (r.Read()) { var m = ReadMeasure(r); map[m.Measure.Name] = m.Measure; }
        return (IReadOnlyDictionary<string, MeasureRecord>)map;
    });

    public IReadOnlyList<StoredMeasure> GetSweepMeasures(string sweepId, string measureSpecHash) => Read(c =>
    {
        var list = new List<StoredMeasure>();
        using var cmd = Command(c, null,
            $"SELECT {MeasureColumns} FROM measures m " +
            "JOIN sweep_trials st ON st.trial_id = m.trial_id WHERE st.sweep_id = @sweep AND m.spec_hash IN (@spec, @legacy) " +
            "ORDER BY m.trial_id, m.name",
            ("sweep", sweepId), ("spec", measureSpecHash), ("legacy", StoreSchema.LegacyMeasureSpec));
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(ReadMeasure(r));
        // Legacy rows only stand in for trials that have nothing under the asked hash.
        var hashed = list.Where(m => m.MeasureSpecHash == measureSpecHash).Select(m => m.TrialId).ToHashSet(StringComparer.Ordinal);
        return (IReadOnlyList<StoredMeasure>)list.Where(m => m.MeasureSpecHash == measureSpecHash || !hashed.Contains(m.TrialId)).ToList();
    });

    public IReadOnlyList<MetricRow> GetMetricRows(string trialId) => Read(c =>
    {
        var list = new List<MetricRow>();
        using var cmd = Command(c, null,
            "SELECT step, epoch, train_loss, train_acc, test_loss, test_acc FROM metric_rows WHERE trial_id = @trial ORDER BY step",
            ("trial", trialId));
        using var r = cmd.ExecuteReader();
        while (r.Read())
            list.Add(new MetricRow(Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture),
                Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture),
                NullableDouble(r, 2), NullableDouble(r, 3), NullableDouble(r, 4), NullableDouble(r, 5)));
        return list;
    });

    public IReadOnlyDictionary<TrialStatus, int> CountByStatus(string sweepId) => Read(c =>
    {
        var counts = Enum.GetValues<TrialStatus>().ToDictionary(s => s, _ => 0);
        using var cmd = Command(c, null,
            "SELECT t.status, COUNT(*) FROM trials t JOIN sweep_trials st ON st.trial_id = t.id " +
            "WHERE st.sweep_id = @sweep GROUP BY t.status", ("sweep", sweepId));
        using var r = cmd.ExecuteReader();
        while (r.Read()) counts[ParseStatus(r.GetString(0))] = Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture);
        return (IReadOnlyDictionary<TrialStatus, int>)counts;
    });

    public abstract void Dispose();

    // ---- helpers -----------------------------------------------------------------------------

    private Trial ReadTrial(DbDataReader r) => new(
        Id: r.GetString(0),
        SpecJson: r.GetString(1),
        HparamsJson: r.GetString(2),
        Status: ParseStatus(r.GetString(3)),
        Owner: r.IsDBNull(4) ? null : r.GetString(4),
        Attempts: Convert.ToInt32(r.GetValue(5), CultureInfo.InvariantCulture),
        LeaseExpiresUtc: ReadTime(r, 6),
        ResultJson: r.IsDBNull(7) ? null : r.GetString(7),
        Metrics: r.IsDBNull(8) ? null : JsonSerializer.Deserialize<Dictionary<string, double>>(r.GetString(8), MetricsJson),
        ArtifactsPath: r.IsDBNull(9) ? null : r.GetString(9),
        CompletedBy: r.IsDBNull(10) ? null : r.GetString(10),
        CompletedAtUtc: ReadTime(r, 11));

    private static StoredMeasure ReadMeasure(DbDataReader r) => new(r.GetString(0), r.GetString(1), new MeasureRecord(
        r.GetString(2), NullableDouble(r, 3), NullableDouble(r, 4), Convert.ToDouble(r.GetValue(5), CultureInfo.InvariantCulture),
        ParseMeasureStatus(r.GetString(6)), NullableDouble(r, 7), r.IsDBNull(8) ? null : r.GetString(8)));

    private static SolverStatus? ParseMeasureStatus(string s) => s switch
    {
        "converged" => SolverStatus.Converged,
        "budget_exhausted" => SolverStatus.BudgetExhausted,
        "diverged" => SolverStatus.Diverged,
        MeasureRecord.SkippedStatus => null,
        _ => throw new ComputationException($"unknown measure status '{s}' in the store"),
    };

    private static double? NullableDouble(DbDataReader r, int i) =>
        r.IsDBNull(i) ? null : Convert.ToDouble(r.GetValue(i), CultureInfo.InvariantCulture);

    // NaN means "no number": SQLite cannot store it, so both backends store NULL.
    private static object DbValue(double? x) => x is { } v && !double.IsNaN(v) ? v : DBNull.Value;

    internal static string StatusName(TrialStatus s) => s.ToString().ToLowerInvariant();

    private static TrialStatus ParseStatus(string s) => s switch
    {
        "pending" => TrialStatus.Pending,
        "running" => TrialStatus.Running,
        "completed" => TrialStatus.Completed,
        "diverged" => TrialStatus.Diverged,
        "failed" => TrialStatus.Failed,
        _ => throw new ComputationException($"unknown trial status '{s}' in the store"),
    };

    private void RequireTrial(DbConnection c, DbTransaction tx, string trialId)
    {
        if (Scalar(c, tx, "SELECT 1 FROM trials WHERE id = @id", ("id", trialId)) is null)
            throw new InputException($"trial '{trialId}' does not exist in store {Description}");
    }

    private static void RequireId(string? id, string what)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ArgumentException($"{what} must not be empty");
    }

    private static void RequireLease(TimeSpan lease)
    {
        if (lease <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(lease), lease, "a lease must be positive");
    }

    private protected static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] ps)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in ps) AddParameter(cmd, name, value);
        return cmd;
    }

    private protected static void AddParameter(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = "@" + name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }

    private protected static int Exec(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] ps)
    {
        using var cmd = Command(c, tx, sql, ps);
        return cmd.ExecuteNonQuery();
    }

    private protected static object? Scalar(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] ps)
    {
        using var cmd = Command(c, tx, sql, ps);
        object? v = cmd.ExecuteScalar();
        return v is DBNull ? null : v;
    }
}
