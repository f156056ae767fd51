using Geodesy.Core;
using Geodesy.Experiments.Store;
using Microsoft.Data.Sqlite;

namespace Geodesy.Tests.Store;

/// <summary>A temp folder for SQLite files, deleted after the test.</summary>
public abstract class SqliteTempFolder : IDisposable
{
    protected string Folder { get; } = Directory.CreateTempSubdirectory("geodesy-store-").FullName;

    protected string NewPath() => Path.Combine(Folder, $"{Guid.NewGuid():N}.db");

    // Stores clear their own connection pools on dispose; raw connections in these tests do not pool.
    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

public sealed class SqliteStoreContractTests : StoreContractTests, IDisposable
{
    private readonly Folder _folder = new();

    protected override string NewStoreUri() => "sqlite:" + _folder.NewDb();

    public void Dispose() => _folder.Dispose();

    private sealed class Folder : SqliteTempFolder
    {
        public string NewDb() => NewPath();
    }
}

public sealed class SqliteStoreTests : SqliteTempFolder
{
    /// <summary>A clock the test moves by hand, to check lease expiry without sleeping.</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void File_UsesWalJournalAndForeignKeys()
    {
        string path = NewPath();
        using (StoreFactory.Open("sqlite:" + path)) { }
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)cmd.ExecuteScalar());
        cmd.CommandText = "SELECT COUNT(*) FROM schema_version";
        Assert.Equal((long)StoreSchema.CurrentVersion, (long)cmd.ExecuteScalar()!);
    }

    [Fact]
    public void SchemaOneStore_IsMigrated_AndItsMeasuresStandInUntilTheSpecHasItsOwn()
    {
        // A store written by schema 1: measures keyed by (trial, name) only, stderr and no status.
        string path = NewPath();
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = string.Join(";",
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                "INSERT INTO schema_version VALUES (1, 'then')",
                "CREATE TABLE sweeps (id TEXT PRIMARY KEY, spec_json TEXT NOT NULL)",
                "CREATE TABLE trials (id TEXT PRIMARY KEY, spec_json TEXT NOT NULL, hparams_json TEXT NOT NULL, status TEXT NOT NULL, " +
                "owner TEXT, attempts INTEGER NOT NULL DEFAULT 0, lease_expires INTEGER, result_json TEXT, metrics_json TEXT, " +
                "artifacts_path TEXT, completed_by TEXT, completed_at INTEGER)",
                "CREATE TABLE sweep_trials (sweep_id TEXT NOT NULL REFERENCES sweeps (id), trial_id TEXT NOT NULL REFERENCES trials (id), PRIMARY KEY (sweep_id, trial_id))",
                "CREATE TABLE measures (trial_id TEXT NOT NULL REFERENCES trials (id), name TEXT NOT NULL, value REAL, stderr REAL, seconds REAL NOT NULL, PRIMARY KEY (trial_id, name))",
                "CREATE TABLE metric_rows (trial_id TEXT NOT NULL REFERENCES trials (id), step INTEGER NOT NULL, epoch INTEGER NOT NULL, " +
                "train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL, PRIMARY KEY (trial_id, step))",
                "INSERT INTO sweeps VALUES ('s', '{}')",
                "INSERT INTO trials (id, spec_json, hparams_json, status) VALUES ('t', '{}', '{}', 'completed')",
                "INSERT INTO sweep_trials VALUES ('s', 't')",
                "INSERT INTO measures VALUES ('t', 'param-norm', 3.5, NULL, 0.1)",
                "INSERT INTO measures VALUES ('t', 'fisher-rao', NULL, NULL, 0.2)");
            cmd.ExecuteNonQuery();
        }
        using var store = StoreFactory.Open("sqlite:" + path);
        Assert.Equal(2, store.GetSchemaVersion());
        var legacy = store.GetSweepMeasures("s", "new-spec");
        Assert.Equal(["fisher-rao", "param-norm"], legacy.Select(m => m.Measure.Name));
        Assert.All(legacy, m => Assert.Equal(StoreSchema.LegacyMeasureSpec, m.MeasureSpecHash));
        Assert.Equal("skipped", legacy[0].Measure.StatusName);
        Assert.Equal("converged", legacy[1].Measure.StatusName);
        store.RecordMeasures("t", "new-spec", [new MeasureRecord("param-norm", 4.0, null, 0.1)]);
        Assert.Equal(4.0, Assert.Single(store.GetSweepMeasures("s", "new-spec")).Measure.Value);
    }

    [Fact]
    public void Lease_ExpiryFollowsTheCallersClock()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        string path = NewPath();
        using var store = new SqliteStore(path, clock);
        store.EnsureSchema();
        store.UpsertSweep("s", "{}");
        store.AddTrials("s", [new TrialSpec("t", "{}", "{}")]);

        var t = store.TryLease("s", "A", TimeSpan.FromMinutes(5))!;
        Assert.Equal(clock.Now.UtcDateTime.AddMinutes(5), t.LeaseExpiresUtc);
        clock.Now += TimeSpan.FromMinutes(4);
        Assert.Null(store.TryLease("s", "B", TimeSpan.FromMinutes(5)));
        Assert.True(store.Heartbeat("t", "A", TimeSpan.FromMinutes(5)));
        clock.Now += TimeSpan.FromMinutes(4); // 8 min: past the first lease, inside the renewed one
        Assert.Null(store.TryLease("s", "B", TimeSpan.FromMinutes(5)));
        clock.Now += TimeSpan.FromMinutes(1) + TimeSpan.FromTicks(1);
        var b = store.TryLease("s", "B", TimeSpan.FromMinutes(5))!;
        Assert.Equal(("B", 2), (b.Owner, b.Attempts));
        Assert.True(store.Complete("t", "B", new TrialOutcome(TrialStatus.Completed, "{}")));
        Assert.Equal(clock.Now.UtcDateTime, store.GetTrial("t")!.CompletedAtUtc);
    }

    [Fact]
    public void Open_InAMissingFolder_IsAnInputError()
    {
        var e = Assert.Throws<InputException>(() => StoreFactory.Open($"sqlite:{Folder}/no/such/dir/x.db"));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Open_OnAFileThatIsNotSqlite_IsAnInputError()
    {
        string path = NewPath();
        File.WriteAllText(path, new string('x', 4096));
        var e = Assert.Throws<InputException>(() => StoreFactory.Open("sqlite:" + path));
        Assert.Equal($"'{path}' is not a SQLite database (store sqlite:{path})", e.Message);
    }

    [Fact]
    public void Open_OnANewerSchema_SaysToUpgrade()
    {
        string path = NewPath();
        using (StoreFactory.Open("sqlite:" + path)) { }
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<ComputationException>(() => StoreFactory.Open("sqlite:" + path));
        Assert.Contains($"schema version 99, newer than this geodesy understands ({StoreSchema.CurrentVersion})", e.Message);
    }

    [Fact]
    public void Writer_WaitsForAnotherProcessHoldingTheWriteLock()
    {
        string path = NewPath();
        using var store = StoreFactory.Open("sqlite:" + path);
        store.UpsertSweep("s", "{}");
        // Another connection (as another process would) holds the write lock for a while.
        using var blocker = new SqliteConnection($"Data Source={path};Pooling=False");
        blocker.Open();
        using var tx = blocker.BeginTransaction(deferred: false);
        var release = new Thread(() => { Thread.Sleep(400); tx.Commit(); });
        release.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        store.AddTrials("s", [new TrialSpec("t", "{}", "{}")]);
        Assert.True(clock.ElapsedMilliseconds >= 300, "the write should have waited for the lock");
        release.Join();
        Assert.Single(store.ListTrials("s"));
    }
}
