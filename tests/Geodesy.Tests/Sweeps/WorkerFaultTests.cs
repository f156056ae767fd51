using System.Diagnostics;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using Geodesy.Tests.Store;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Sweeps;

/// <summary>
/// Crash safety of sweeps: worker processes killed with SIGKILL at random moments lose at most
/// their current trial; at the end every trial is completed exactly once with results identical
/// to an uninterrupted run.
/// </summary>
[Trait(TestCategory.Key, TestCategory.Slow)]
public class WorkerFaultTests
{
    /// <summary>Leaseholders killed per fault test: each costs a re-run of a trial after its lease expires.</summary>
    internal const int Kills = 4;

    internal const string Spec = """
        name: fault
        base:
          data: "gaussian-mixture:classes=3,dim=8,sep=3,n=1200"
          arch: "mlp:8-{width}-3"
          epochs: 25
          batch: 16
        grid:
          lr: [0.02, 0.05]
          width: [16, 24, 32, 48]
        measures: "cross-entropy,param-norm,margin,path-norm,frob-distance"
        """;

    internal static Process StartGeodesy(params string[] args) => StartGeodesy(null, args);

    /// <summary>Starts geodesy as a child process; its output lines go to <paramref name="log"/> (or nowhere).</summary>
    internal static Process StartGeodesy(Action<string>? log, params string[] args)
    {
        var psi = new ProcessStartInfo(SweepRunner.SelfCommand()[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in SweepRunner.SelfCommand().Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data != null) log?.Invoke(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) log?.Invoke(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Runs <paramref name="workers"/> worker processes on the store's newest sweep and, <paramref name="kills"/>
    /// times, waits until some worker holds a lease, lets it train for a random moment, SIGKILLs a random
    /// leaseholder and starts a replacement. Waits until every worker has finished; returns the number of
    /// kills (fewer than asked only if the sweep ran out of trials first).
    /// </summary>
    internal static int RunKillingWorkers(string storeUri, string runs, int workers, int kills, int seed, WorkerLog log)
    {
        var rng = new Random(seed);
        string[] WorkerArgs(int i) => ["worker", "--store", storeUri, "--runs", runs, "--threads", "1", "--lease", LeaseSeconds, "--name", $"w{i}"];
        Process Start(int i) => StartGeodesy(line => log.Add($"w{i}: {line}"), WorkerArgs(i));
        var procs = Enumerable.Range(0, workers).Select(i => (Name: $"w{i}", Process: Start(i))).ToList();
        int next = workers, done = 0;
        using var store = StoreFactory.Open(storeUri);
        string sweepId = store.ListSweeps()[^1].Id;
        List<(string Name, Process Process)> Leaseholders()
        {
            var owners = store.ListTrials(sweepId).Where(t => t.Status == TrialStatus.Running).Select(t => t.Owner).ToHashSet();
            return procs.Where(p => !p.Process.HasExited && owners.Contains(p.Name)).ToList();
        }
        try
        {
            var deadline = Stopwatch.StartNew();
            while (done < kills && deadline.ElapsedMilliseconds < WorkerDeadlineMs && procs.Any(p => !p.Process.HasExited))
            {
                if (Leaseholders().Count == 0) { Thread.Sleep(100); continue; } // workers still starting, or between trials
                Thread.Sleep(50 + rng.Next(450)); // a random moment into training (short: a trial takes about a second on a quiet machine)
                var training = Leaseholders();
                if (training.Count == 0) continue;
                var victim = training[rng.Next(training.Count)];
                victim.Process.Kill(); // SIGKILL: no cleanup, no lease release
                log.Add($"test: killed {victim.Name}");
                done++;
                procs.Add(($"w{next}", Start(next++)));
            }
            foreach (var p in procs)
                Assert.True(p.Process.WaitForExit(WorkerDeadlineMs), $"worker {p.Name} did not finish within {WorkerDeadlineMs / 1000} s");
        }
        finally
        {
            foreach (var (_, p) in procs) { if (!p.HasExited) p.Kill(); p.Dispose(); }
        }
        return done;
    }

    private const int WorkerDeadlineMs = 240_000;
    /// <summary>Short, so that killed trials are re-run soon, but long enough that a live worker on a busy machine keeps its lease.</summary>
    private const string LeaseSeconds = "4";

    /// <summary>The output of the workers of a fault test, shown when an assertion fails.</summary>
    internal sealed class WorkerLog
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();
        public void Add(string line) => _lines.Enqueue(line);

        /// <summary>Runs the checks; on failure repeats the message with the tail of the workers' output.</summary>
        public void Explain(Action checks)
        {
            try { checks(); }
            catch (Xunit.Sdk.XunitException e)
            {
                throw new Xunit.Sdk.XunitException($"{e.Message}\nworker output (tail):\n{string.Join('\n', _lines.TakeLast(60))}");
            }
        }
    }

    /// <summary>
    /// The store URI of the uninterrupted reference run of <see cref="Spec"/> (one worker process, SQLite),
    /// run once and shared by the SQLite and PostgreSQL fault tests; its folder goes when the test process ends.
    /// </summary>
    internal static string ReferenceStore => Reference.Value;

    private static readonly Lazy<string> Reference = new(() =>
    {
        var tmp = new TempDir();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => tmp.Dispose();
        File.WriteAllText(tmp["s.yaml"], Spec);
        using var reference = StartGeodesy("sweep", "--spec", tmp["s.yaml"], "--store", "sqlite:" + tmp["ref.db"], "--runs", tmp["ref-runs"], "--workers", "1", "--threads", "1");
        Assert.True(reference.WaitForExit(WorkerDeadlineMs), "the reference sweep did not finish");
        Assert.Equal(0, reference.ExitCode);
        return "sqlite:" + tmp["ref.db"];
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The kills really interrupted trials: each killed leaseholder's trial was leased again.</summary>
    internal static void AssertTrialsWereInterrupted(IExperimentStore store, string sweepId, int kills, int asked)
    {
        Assert.True(kills == asked, $"only {kills} of {asked} kills happened before the sweep ran out of trials");
        var trials = store.ListTrials(sweepId);
        Assert.True(trials.Sum(t => t.Attempts) > trials.Count,
            $"every trial was leased once ({trials.Count}) although {kills} leaseholder(s) were killed");
    }

    internal static void AssertSameResults(IExperimentStore expected, IExperimentStore actual, string sweepId)
    {
        var want = expected.ListTrials(sweepId).ToDictionary(t => t.Id);
        var got = actual.ListTrials(sweepId);
        Assert.Equal(want.Count, got.Count);
        string measureSpec = Experiments.Specs.MeasureSpec.FromSweepJson(
            System.Text.Json.Nodes.JsonNode.Parse(actual.ListSweeps().Single(s => s.Id == sweepId).SpecJson)).Hash();
        foreach (var t in got)
        {
            string trial = $"trial {t.Id[..12]} (attempts {t.Attempts}, completed by {t.CompletedBy})";
            Assert.True(t.Status == TrialStatus.Completed, $"{trial} is {t.Status}: {t.ResultJson}");
            Assert.NotNull(t.CompletedBy);
            foreach (var key in new[] { "train_accuracy", "test_accuracy", "train_loss", "test_loss", "steps" })
                Assert.True(want[t.Id].Metrics![key].Equals(t.Metrics![key]), $"{trial}: {key} {t.Metrics![key]:R}, uninterrupted {want[t.Id].Metrics![key]:R}");
            var wm = expected.GetMeasures(t.Id, measureSpec);
            var gm = actual.GetMeasures(t.Id, measureSpec);
            Assert.Equal(wm.Keys.Order(), gm.Keys.Order());
            foreach (var (name, m) in wm)
                Assert.True(Equals(m.Value, gm[name].Value), $"{trial}: measure {name} {gm[name].Value:R}, uninterrupted {m.Value:R}");
            Assert.True(expected.GetMetricRows(t.Id).Count == actual.GetMetricRows(t.Id).Count,
                $"{trial}: {actual.GetMetricRows(t.Id).Count} metric rows, uninterrupted {expected.GetMetricRows(t.Id).Count}");
        }
        Assert.Equal(got.Count, actual.CountByStatus(sweepId)[TrialStatus.Completed]);
    }

    [Fact]
    public void KilledSqliteWorkersLoseNothingAndMatchAnUninterruptedRun()
    {
        using var tmp = new TempDir();
        string uri = "sqlite:" + tmp["faulty.db"];
        string sweepId;
        using (var store = StoreFactory.Open(uri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(Spec)).SweepId;
        var log = new WorkerLog();
        int kills = RunKillingWorkers(uri, tmp["faulty-runs"], workers: 3, kills: Kills, seed: 1, log);

        using var expected = StoreFactory.Open(ReferenceStore);
        using var actual = StoreFactory.Open(uri);
        log.Explain(() =>
        {
            AssertSameResults(expected, actual, sweepId);
            AssertTrialsWereInterrupted(actual, sweepId, kills, Kills);
            Assert.Empty(Directory.GetDirectories(tmp["faulty-runs"], "*.partial-*"));
        });
    }

    [Fact]
    public void ADivergingTrialIsRecordedAndTheSweepGoesOn()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["s.yaml"], """
            base: { data: "gaussian-mixture:classes=3,dim=6,sep=4,n=300", arch: "mlp:6-8-3", epochs: 5 }
            grid: { lr: [0.1, 1.0e12] }
            measures: "param-norm"
            """);
        var r = RunCli("sweep", "--spec", tmp["s.yaml"], "--store", "sqlite:" + tmp["s.db"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        using var store = StoreFactory.Open("sqlite:" + tmp["s.db"]);
        var counts = store.CountByStatus(store.ListSweeps()[0].Id);
        Assert.Equal(1, counts[TrialStatus.Completed]);
        Assert.Equal(1, counts[TrialStatus.Diverged]);
    }

    [Fact]
    public void BadStoresGiveOneLineErrors()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["s.yaml"], "base: { data: mnist, arch: \"mlp:784-8-10\" }\n");
        AssertUsageError(RunCli("sweep", "--spec", tmp["s.yaml"], "--store", "mysql://x"), "mysql");
        AssertUsageError(RunCli("sweep", "--spec", tmp["missing.yaml"]), "not found");
        var r = RunCli("sweep", "--spec", tmp["s.yaml"], "--store", "postgres://u:p@127.0.0.1:1/db");
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("127.0.0.1:1", r.Stderr);
    }
}

/// <summary>
/// The same crash-safety scenario against a real PostgreSQL server (started by the tests): three
/// worker processes, random leaseholders SIGKILLed during training and replaced; every trial ends
/// completed exactly once with results identical to an uninterrupted (SQLite) run.
/// </summary>
[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Key, TestCategory.Service)]
public sealed class PostgresWorkerFaultTests(PostgresServer server)
{
    [Fact]
    public void KilledPostgresWorkersLoseNothingAndMatchAnUninterruptedRun()
    {
        using var tmp = new TempDir();

        string uri = server.CreateDatabase();
        string sweepId;
        using (var store = StoreFactory.Open(uri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(WorkerFaultTests.Spec)).SweepId;
        var log = new WorkerFaultTests.WorkerLog();
        int kills = WorkerFaultTests.RunKillingWorkers(uri, tmp["faulty-runs"], workers: 3, kills: WorkerFaultTests.Kills, seed: 2, log);

        using var expected = StoreFactory.Open(WorkerFaultTests.ReferenceStore);
        using var actual = StoreFactory.Open(uri);
        log.Explain(() =>
        {
            WorkerFaultTests.AssertSameResults(expected, actual, sweepId);
            WorkerFaultTests.AssertTrialsWereInterrupted(actual, sweepId, kills, WorkerFaultTests.Kills);
            Assert.Empty(Directory.GetDirectories(tmp["faulty-runs"], "*.partial-*"));
        });
    }
}
