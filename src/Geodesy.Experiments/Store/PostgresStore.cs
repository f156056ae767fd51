using System.Data.Common;
using System.Net.Sockets;
using Geodesy.Core;
using Npgsql;

namespace Geodesy.Experiments.Store;

/// <summary>
/// The experiment store on a PostgreSQL server (<c>postgres://user[:password]@host[:port]/db</c>), shared
/// by workers on any machine that reaches it. Leases use the server clock (now()), so the workers'
/// clocks do not matter; a lease is taken with UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED).
/// Driver errors become one-line <see cref="ComputationException"/>s naming the server.
/// </summary>
public sealed class PostgresStore : SqlExperimentStore
{
    /// <summary>How long opening a connection may take before the server counts as unreachable.</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(5);

    // Any constant: serializes concurrent EnsureSchema calls across processes.
    private const long SchemaLockKey = 0x67656F6465737931; // "geodesy1"

    private readonly PostgresUri _uri;
    private readonly NpgsqlDataSource _dataSource;

    public PostgresStore(PostgresUri uri, TimeSpan? connectTimeout = null)
    {
        _uri = uri;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.Port,
            Username = uri.User,
            Database = uri.Database,
            Timeout = Math.Max(1, (int)Math.Ceiling((connectTimeout ?? DefaultConnectTimeout).TotalSeconds)),
            CommandTimeout = 60,
            ApplicationName = "geodesy",
            Pooling = true,
        };
        if (uri.Password is not null) builder.Password = uri.Password;
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    public override string Description => _uri.Redacted;

    private protected override IReadOnlyList<string[]> Migrations { get; } =
    [
        // 1: sweeps, trials (shared by sweeps through sweep_trials), measures, training curves.
        [
            "CREATE TABLE sweeps (id text PRIMARY KEY, spec_json text NOT NULL)",
            "CREATE TABLE trials (id text PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE, " +
            "spec_json text NOT NULL, hparams_json text NOT NULL, " +
            "status text NOT NULL CHECK (status IN ('pending','running','completed','diverged','failed')), " +
            "owner text, attempts integer NOT NULL DEFAULT 0, lease_expires timestamptz, " +
            "result_json text, metrics_json text, artifacts_path text, completed_by text, completed_at timestamptz)",
            "CREATE INDEX trials_status ON trials (status, lease_expires)",
            "CREATE TABLE sweep_trials (sweep_id text NOT NULL REFERENCES sweeps (id), " +
            "trial_id text NOT NULL REFERENCES trials (id), PRIMARY KEY (sweep_id, trial_id))",
            "CREATE INDEX sweep_trials_trial ON sweep_trials (trial_id)",
            "CREATE TABLE measures (trial_id text NOT NULL REFERENCES trials (id), name text NOT NULL, " +
            "value double precision, stderr double precision, seconds double precision NOT NULL, PRIMARY KEY (trial_id, name))",
            "CREATE TABLE metric_rows (trial_id text NOT NULL REFERENCES trials (id), step bigint NOT NULL, " +
            "epoch integer NOT NULL, train_loss double precision, train_acc double precision, " +
            "test_loss double precision, test_acc double precision, PRIMARY KEY (trial_id, step))",
        ],
        // 2: measures keyed by (trial, measure-spec hash, name) with status, bracket half-width and skip reason.
        [
            $"ALTER TABLE measures ADD COLUMN spec_hash text NOT NULL DEFAULT '{StoreSchema.LegacyMeasureSpec}', " +
            $"ADD COLUMN status text NOT NULL DEFAULT 'converged' CHECK ({StoreSchema.MeasureStatusCheck}), " +
            "ADD COLUMN bracket_halfwidth double precision, ADD COLUMN skip_reason text",
            "UPDATE measures SET status = 'skipped' WHERE value IS NULL",
            "ALTER TABLE measures DROP CONSTRAINT measures_pkey, ADD PRIMARY KEY (trial_id, spec_hash, name)",
            "ALTER TABLE measures ALTER COLUMN spec_hash DROP DEFAULT, ALTER COLUMN status DROP DEFAULT",
        ],
    ];

    private protected override void LockSchema(DbConnection c, DbTransaction tx) =>
        Exec(c, tx, "SELECT pg_advisory_xact_lock(@key)", ("key", SchemaLockKey));

    private protected override string NowSql => "now()";

    private protected override void BindClock(DbCommand cmd) { }

    private protected override object LeaseValue(TimeSpan lease) => lease;

    private protected override string LockClause => "FOR UPDATE OF t SKIP LOCKED";

    private protected override string TrialOrder => "t.seq";

    private protected override DateTime? ReadTime(DbDataReader r, int ordinal) =>
        r.IsDBNull(ordinal) ? null : DateTime.SpecifyKind(r.GetDateTime(ordinal), DateTimeKind.Utc);

    private protected override bool TableExists(DbConnection c, string table) =>
        Scalar(c, null,
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = @name",
            ("name", table)) is not null;

    private protected override T Read<T>(Func<DbConnection, T> work) => Translate(() =>
    {
        using var c = _dataSource.OpenConnection();
        return work(c);
    });

    private protected override T Write<T>(Func<DbConnection, DbTransaction, T> work) => Translate(() =>
    {
        using var c = _dataSource.OpenConnection();
        using var tx = c.BeginTransaction();
        T result = work(c, tx);
        tx.Commit();
        return result;
    });

    private T Translate<T>(Func<T> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or IOException)
        {
            throw new ComputationException(Explain(e, _uri), e);
        }
    }

    /// <summary>One line saying what went wrong with the server, without the driver's stack trace.</summary>
    internal static string Explain(Exception e, PostgresUri uri)
    {
        string at = uri.Endpoint;
        if (Find<PostgresException>(e) is { } pe)
        {
            return pe.SqlState switch
            {
                PostgresErrorCodes.InvalidPassword =>
                    $"PostgreSQL rejected user '{uri.User}': password authentication failed",
                PostgresErrorCodes.InvalidAuthorizationSpecification =>
                    $"PostgreSQL rejected user '{uri.User}': {SqliteStore.OneLine(pe.MessageText)}",
                PostgresErrorCodes.InvalidCatalogName =>
                    $"PostgreSQL database '{uri.Database}' does not exist at {at}",
                PostgresErrorCodes.InsufficientPrivilege =>
                    $"PostgreSQL user '{uri.User}' lacks a permission on {uri.Database}: {SqliteStore.OneLine(pe.MessageText)}",
                PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.CrashShutdown =>
                    $"PostgreSQL at {at} is not accepting connections: {SqliteStore.OneLine(pe.MessageText)}",
                _ => $"PostgreSQL error at {at}: {SqliteStore.OneLine(pe.MessageText)} (SQLSTATE {pe.SqlState})",
            };
        }
        if (Find<SocketException>(e) is { } se)
        {
            string why = se.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => "host not found",
                SocketError.TimedOut => "connection timed out",
                SocketError.HostUnreachable or SocketError.NetworkUnreachable => "no route to host",
                SocketError.ConnectionReset or SocketError.ConnectionAborted => "connection lost",
                _ => SqliteStore.OneLine(se.Message).ToLowerInvariant(),
            };
            return $"cannot reach PostgreSQL at {at}: {why}";
        }
        if (Find<TimeoutException>(e) is not null)
            return $"cannot reach PostgreSQL at {at}: connection timed out";
        if (e.Message.Contains("No password has been provided", StringComparison.Ordinal))
            return $"PostgreSQL rejected user '{uri.User}': a password is required (write it in the URI or set PGPASSWORD)";
        if (Find<IOException>(e) is not null || Find<EndOfStreamException>(e) is not null)
            return $"lost the connection to PostgreSQL at {at}";
        return $"PostgreSQL at {at}: {SqliteStore.OneLine(e.Message)}";
    }

    private static TEx? Find<TEx>(Exception? e) where TEx : Exception
    {
        for (; e is not null; e = e.InnerException)
            if (e is TEx hit) return hit;
        return null;
    }

    public override void Dispose() => _dataSource.Dispose();
}
