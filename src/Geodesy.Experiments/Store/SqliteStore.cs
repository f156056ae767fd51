using System.Data.Common;
using System.Diagnostics;
using Geodesy.Core;
using Microsoft.Data.Sqlite;

namespace Geodesy.Experiments.Store;

/// <summary>
/// The experiment store in one SQLite file (<c>sqlite:PATH</c>), shared by the workers of one machine.
/// WAL journal (readers never wait for the writer), foreign keys on, a 10 s busy timeout, and every
/// write inside BEGIN IMMEDIATE, retried while another process holds the write lock. Leases are
/// compared against the caller's clock (<see cref="TimeProvider"/>, stored as UTC ticks): every
/// process on the machine shares that clock.
/// </summary>
public sealed class SqliteStore : SqlExperimentStore
{
    /// <summary>How long SQLite itself waits for a lock (PRAGMA busy_timeout).</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a write keeps retrying BEGIN IMMEDIATE on SQLITE_BUSY before giving up.</summary>
    public static readonly TimeSpan WriteLockDeadline = TimeSpan.FromSeconds(60);

    private const int SqliteBusy = 5, SqliteLocked = 6, SqliteCantOpen = 14, SqliteNotADb = 26;

    private readonly string _path;
    private readonly string _connectionString;
    private readonly TimeProvider _clock;
    private int _walChecked;

    public SqliteStore(string path, TimeProvider? clock = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        _path = path;
        _clock = clock ?? TimeProvider.System;
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir))
            throw new InputException($"cannot open SQLite store '{path}': folder '{dir}' does not exist");
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
            Pooling = true,
        }.ToString();
    }

    public override string Description => $"sqlite:{_path}";

    private protected override IReadOnlyList<string[]> Migrations { get; } =
    [
        // 1: sweeps, trials (shared by sweeps through sweep_trials), measures, training curves.
        [
            "CREATE TABLE sweeps (id TEXT PRIMARY KEY, spec_json TEXT NOT NULL)",
            "CREATE TABLE trials (id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, hparams_json TEXT NOT NULL, " +
            "status TEXT NOT NULL CHECK (status IN ('pending','running','completed','diverged','failed')), " +
            "owner TEXT, attempts INTEGER NOT NULL DEFAULT 0, lease_expires INTEGER, " +
            "result_json TEXT, metrics_json TEXT, artifacts_path TEXT, completed_by TEXT, completed_at INTEGER)",
            "CREATE INDEX trials_status ON trials (status, lease_expires)",
            "CREATE TABLE sweep_trials (sweep_id TEXT NOT NULL REFERENCES sweeps (id), " +
            "trial_id TEXT NOT NULL REFERENCES trials (id), PRIMARY KEY (sweep_id, trial_id))",
            "CREATE INDEX sweep_trials_trial ON sweep_trials (trial_id)",
            "CREATE TABLE measures (trial_id TEXT NOT NULL REFERENCES trials (id), name TEXT NOT NULL, " +
            "value REAL, stderr REAL, seconds REAL NOT NULL, PRIMARY KEY (trial_id, name))",
            "CREATE TABLE metric_rows (trial_id TEXT NOT NULL REFERENCES trials (id), step INTEGER NOT NULL, " +
            "epoch INTEGER NOT NULL, train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL, PRIMARY KEY (trial_id, step))",
        ],
        // 2: measures keyed by (trial, measure-spec hash, name) with status, bracket half-width and skip reason.
        // SQLite cannot change a primary key in place: rebuild the table (nothing references it).
        [
            "CREATE TABLE measures_v2 (trial_id TEXT NOT NULL REFERENCES trials (id), spec_hash TEXT NOT NULL, name TEXT NOT NULL, " +
            "value REAL, stderr REAL, seconds REAL NOT NULL, " +
            $"status TEXT NOT NULL CHECK ({StoreSchema.MeasureStatusCheck}), bracket_halfwidth REAL, skip_reason TEXT, " +
            "PRIMARY KEY (trial_id, spec_hash, name))",
            "INSERT INTO measures_v2 (trial_id, spec_hash, name, value, stderr, seconds, status) " +
            $"SELECT trial_id, '{StoreSchema.LegacyMeasureSpec}', name, value, stderr, seconds, " +
            "CASE WHEN value IS NULL THEN 'skipped' ELSE 'converged' END FROM measures",
            "DROP TABLE measures",
            "ALTER TABLE measures_v2 RENAME TO measures",
        ],
    ];

    private protected override string NowSql => "@now";

    private protected override void BindClock(DbCommand cmd) => AddParameter(cmd, "now", _clock.GetUtcNow().UtcTicks);

    private protected override object LeaseValue(TimeSpan lease) => lease.Ticks;

    private protected override string LockClause => "";

    private protected override string TrialOrder => "t.rowid";

    private protected override DateTime? ReadTime(DbDataReader r, int ordinal) =>
        r.IsDBNull(ordinal) ? null : new DateTime(r.GetInt64(ordinal), DateTimeKind.Utc);

    private protected override bool TableExists(DbConnection c, string table) =>
        Scalar(c, null, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = @name", ("name", table)) is not null;

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        try
        {
            c.Open();
            Exec(c, null, $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}");
            // WAL is a property of the file: set it once (it cannot change inside a transaction).
            if (Interlocked.Exchange(ref _walChecked, 1) == 0)
                Exec(c, null, "PRAGMA journal_mode = WAL");
            // Safe in WAL mode against process crashes (kill -9); only a power loss may drop the last commits.
            Exec(c, null, "PRAGMA synchronous = NORMAL");
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    private protected override T Read<T>(Func<DbConnection, T> work) => Translate(() =>
    {
        using var c = Open();
        return work(c);
    });

    private protected override T Write<T>(Func<DbConnection, DbTransaction, T> work) => Translate(() =>
    {
        using var c = Open();
        using var tx = BeginImmediate(c);
        T result = work(c, tx);
        tx.Commit();
        return result;
    });

    // busy_timeout already waits inside SQLite; this loop covers the cases where SQLite returns BUSY
    // at once (e.g. a WAL checkpoint or recovery in another process) and very long write queues.
    private static SqliteTransaction BeginImmediate(SqliteConnection c)
    {
        var clock = Stopwatch.StartNew();
        int delayMs = 5;
        while (true)
        {
            try
            {
                return c.BeginTransaction(deferred: false);
            }
            catch (SqliteException e) when (e.SqliteErrorCode is SqliteBusy or SqliteLocked && clock.Elapsed < WriteLockDeadline)
            {
                Thread.Sleep(Random.Shared.Next(delayMs, 2 * delayMs));
                delayMs = Math.Min(delayMs * 2, 200);
            }
        }
    }

    private T Translate<T>(Func<T> body)
    {
        try
        {
            return body();
        }
        catch (SqliteException e) when (e.SqliteErrorCode == SqliteNotADb)
        {
            throw new InputException($"'{_path}' is not a SQLite database (store {Description})", e);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == SqliteCantOpen)
        {
            throw new InputException($"cannot open SQLite store '{_path}': {OneLine(e.Message)}", e);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is SqliteBusy or SqliteLocked)
        {
            throw new ComputationException(
                $"SQLite store '{_path}' stayed locked by another process for over {WriteLockDeadline.TotalSeconds:0} s", e);
        }
        catch (SqliteException e)
        {
            throw new ComputationException($"SQLite store '{_path}': {OneLine(e.Message)}", e);
        }
    }

    internal static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    public override void Dispose()
    {
        // Close pooled handles so the file can be moved or deleted once the store is disposed.
        using var c = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(c);
    }
}
