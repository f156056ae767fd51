using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Geodesy.Tests.Store;

/// <summary>
/// A throwaway PostgreSQL server for tests: initdb into a temp folder, postgres on a free loopback port
/// with password (SCRAM) authentication over TCP, stopped and deleted on dispose. Needs Debian's
/// <c>postgresql</c> package (binaries in /usr/lib/postgresql/*/bin); when they are missing the tests
/// that use it FAIL with the install command. As root, the server runs as the <c>postgres</c> user
/// (initdb refuses root) through <c>setpriv</c>. The server runs under a small sh watchdog that stops it
/// when this process goes away, however it goes away.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    public const string InstallHint = "apt-get install -y postgresql";
    public const string Host = "127.0.0.1";
    public const string User = "geodesy_test";
    private const string AdminUser = "geodesy_admin";
    private const string ServiceUser = "postgres";
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);

    private readonly string _root;
    private readonly string _adminPassword = Guid.NewGuid().ToString("N");
    private readonly StringBuilder _log = new();
    private readonly Process? _postgres;
    private int _databases;
    private int _disposed;

    public int Port { get; }
    public string Password { get; } = Guid.NewGuid().ToString("N");
    public string BinDir { get; }

    public PostgresServer()
    {
        BinDir = FindBinDir();
        bool root = Environment.IsPrivilegedProcess;
        if (root && Run("id", ["-u", ServiceUser], null).ExitCode != 0)
            throw new InvalidOperationException(
                $"running as root, PostgreSQL must run as user '{ServiceUser}', which does not exist: {InstallHint} creates it");

        _root = Path.Combine(Path.GetTempPath(), "geodesy-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(Path.Combine(_root, "sock"));
        File.WriteAllText(Path.Combine(_root, "pwfile"), _adminPassword + "\n");
        if (root) Check(Run("chown", ["-R", $"{ServiceUser}:{ServiceUser}", _root], null), "chown");
        try
        {
            string data = Path.Combine(_root, "data");
            Check(Run(Path.Combine(BinDir, "initdb"),
                ["-D", data, "-U", AdminUser, $"--pwfile={Path.Combine(_root, "pwfile")}", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"], root ? ServiceUser : null), "initdb");

            Port = FreeLoopbackPort();
            // Wrapped in sh: when our stdin closes (Dispose, or this test process dies even by kill -9), the
            // watcher asks postgres for a fast shutdown and removes the folder, so nothing outlives the tests.
            _postgres = StartProcess("sh",
                ["-c", WatchdogScript, Path.Combine(BinDir, "postgres"), "-D", data, "-p", Port.ToString(), "-k", Path.Combine(_root, "sock"), "-c", $"listen_addresses={Host}",
                 // Durability does not matter for a throwaway server; speed does.
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=60"], root ? ServiceUser : null, _log, keepStdinOpen: true,
                environment: new() { ["GEODESY_PG_ROOT"] = _root });
            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
            WaitUntilReady();
            Admin($"CREATE ROLE {User} LOGIN PASSWORD '{Password}'");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A fresh, empty database owned by the test user; returns its store URI.</summary>
    public string CreateDatabase()
    {
        string name = $"t{Interlocked.Increment(ref _databases)}";
        Admin($"CREATE DATABASE {name} OWNER {User} STRATEGY FILE_COPY");
        return Uri(name);
    }

    public string Uri(string database, string? password = null, string user = User) =>
        $"postgres://{user}:{password ?? Password}@{Host}:{Port}/{database}";

    private void Admin(string sql)
    {
        using var c = new NpgsqlConnection(AdminConnectionString("postgres"));
        c.Open();
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }

    private string AdminConnectionString(string db) => new NpgsqlConnectionStringBuilder
    {
        Host = Host, Port = Port, Username = AdminUser, Password = _adminPassword, Database = db, Timeout = 2, Pooling = false,
    }.ToString();

    private void WaitUntilReady()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_postgres!.HasExited)
                throw new InvalidOperationException($"postgres exited with code {_postgres.ExitCode} while starting:\n{Log}");
            try
            {
                using var c = new NpgsqlConnection(AdminConnectionString("postgres"));
                c.Open();
                return;
            }
            catch (NpgsqlException) when (clock.Elapsed < StartDeadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    private string Log { get { lock (_log) return _log.ToString(); } }

    private static string FindBinDir()
    {
        if (Environment.GetEnvironmentVariable("GEODESY_PG_BINDIR") is { Length: > 0 } custom)
            return File.Exists(Path.Combine(custom, "initdb")) ? custom
                : throw new InvalidOperationException($"GEODESY_PG_BINDIR={custom} has no initdb (or unset it and `{InstallHint}`)");
        const string parent = "/usr/lib/postgresql";
        var found = Directory.Exists(parent)
            ? Directory.GetDirectories(parent)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out int v) ? v : 0))
                .Where(x => File.Exists(Path.Combine(x.Dir, "initdb")) && File.Exists(Path.Combine(x.Dir, "postgres")))
                .OrderByDescending(x => x.Version)
                .Select(x => x.Dir)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            $"PostgreSQL server binaries not found (no {parent}/*/bin/initdb): install them with `{InstallHint}`");
    }

    private static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private const string WatchdogScript = """
        exec 3<&0
        "$0" "$@" </dev/null & pid=$!
        ( read -r _ <&3; kill -INT "$pid" 2>/dev/null ) & watcher=$!
        wait "$pid"; code=$?
        kill "$watcher" 2>/dev/null
        rm -rf "$GEODESY_PG_ROOT"
        exit "$code"
        """;

    private static ProcessStartInfo StartInfo(string exe, IReadOnlyList<string> args, string? asUser)
    {
        // setpriv execs the program in place (unlike su/runuser, which fork and wait), so our child is the program.
        var psi = asUser is null ? new ProcessStartInfo(exe) : new ProcessStartInfo("setpriv");
        if (asUser is not null)
            foreach (string a in new[] { $"--reuid={asUser}", $"--regid={asUser}", "--clear-groups", "--", exe })
                psi.ArgumentList.Add(a);
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = Path.GetTempPath();
        psi.Environment["LC_ALL"] = "C";
        return psi;
    }

    private static Process StartProcess(string exe, IReadOnlyList<string> args, string? asUser, StringBuilder log,
        bool keepStdinOpen = false, Dictionary<string, string>? environment = null)
    {
        var p = new Process { StartInfo = StartInfo(exe, args, asUser) };
        p.StartInfo.RedirectStandardInput = keepStdinOpen;
        foreach (var (k, v) in environment ?? []) p.StartInfo.Environment[k] = v;
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data is null) return;
            lock (log) if (log.Length < 64_000) log.AppendLine(e.Data);
        };
        p.OutputDataReceived += append;
        p.ErrorDataReceived += append;
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static (int ExitCode, string Output) Run(string exe, IReadOnlyList<string> args, string? asUser)
    {
        var log = new StringBuilder();
        using var p = StartProcess(exe, args, asUser, log);
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{exe} did not finish within 60 s");
        }
        p.WaitForExit(); // flush the async readers
        lock (log) return (p.ExitCode, log.ToString());
    }

    private static void Check((int ExitCode, string Output) r, string what)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"{what} failed with exit code {r.ExitCode}:\n{r.Output}");
    }

    private void OnProcessExit(object? sender, EventArgs e) => Dispose();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        NpgsqlConnection.ClearAllPools();
        if (_postgres is { } p)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.StandardInput.Close(); // the watchdog asks for a fast shutdown
                    if (!p.WaitForExit(10_000)) p.Kill(entireProcessTree: true);
                    p.WaitForExit();
                }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        try { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }
        catch (IOException) { } // includes the watchdog having removed it first
        catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "PostgreSQL server";
}
