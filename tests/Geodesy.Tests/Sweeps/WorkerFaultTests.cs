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
public class WorkerFaultTests
{
    internal const string Spec = """
        name: fault
        base:
          data: "gaussian-mixture:classes=3,dim=8,sep=3,n=1200"
          arch: "mlp:8-{width}-3"
          epochs: 25
          batch: 16
        grid:
          lr: [0.02, 0.05]
          width: [16, 32, 48]
        measures: "cross-entropy,param-norm,margin,path-norm,frob-distance"
        """;

    internal static Process StartGeodesy(params string[] args)
    {
        var psi = new ProcessStartInfo(SweepRunner.SelfCommand()[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in SweepRunner.SelfCommand().Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>
    /// Runs <paramref name="workers"/> worker processes on the store's sweep and, <paramref name="kills"/>
    /// times, SIGKILLs a random worker that holds a lease (one in the middle of a trial), then starts
    /// a replacement. Waits until every worker has finished; returns how many kills hit a leaseholder.
    /// </summary>
    internal static int RunKillingWorkers(string storeUri, string runs, int workers, int kills, int seed)
    {
        var rng = new Random(seed);
        string[] WorkerArgs(int i) => ["worker", "--store", storeUri, "--runs", runs, "--threads", "1", "--lease", "3", "--name", $"w{i}"];
        var procs = Enumerable.Range(0, workers).Select(i => (Name: $"w{i}", Process: StartGeodesy(WorkerArgs(i)))).ToList();
        int next = workers, hits = 0;
        using var store = StoreFactory.Open(storeUri);
        string sweepId = store.ListSweeps()[^1].Id;
        try
        {
            for (int k = 0; k < kills; k++)
            {
                Thread.Sleep(800 + rng.Next(1500));
                var alive = procs.Where(p => !p.Process.HasExited).ToList();
                if (alive.Count == 0) break;
                var owners = store.ListTrials(sweepId).Where(t => t.Status == TrialStatus.Running).Select(t => t.Owner).ToHashSet();
                var training = alive.Where(p => owners.Contains(p.Name)).ToList();
                var victim = training.Count > 0 ? training[rng.Next(training.Count)] : alive[rng.Next(alive.Count)];
                if (training.Count > 0) hits++;
                victim.Process.Kill(); // SIGKILL: no cleanup, no lease release
                procs.Add(($"w{next}", StartGeodesy(WorkerArgs(next++))));
            }
            foreach (var p in procs)
                Assert.True(p.Process.WaitForExit(WorkerDeadlineMs), $"worker {p.Name} did not finish within {WorkerDeadlineMs / 1000} s");
        }
        finally
        {
            foreach (var (_, p) in procs) { if (!p.HasExited) p.Kill(); p.Dispose(); }
        }
        return hits;
    }

    private const int WorkerDeadlineMs = 240_000;

    /// <summary>Runs the spec uninterrupted with one worker into a SQLite store (the reference run).</summary>
    internal static void RunReference(string yamlPath, string dbPath, string runs)
    {
        var reference = StartGeodesy("sweep", "--spec", yamlPath, "--store", "sqlite:" + dbPath, "--runs", runs, "--workers", "1", "--threads", "1");
        Assert.True(reference.WaitForExit(WorkerDeadlineMs), "the reference sweep did not finish");
        Assert.Equal(0, reference.ExitCode);
    }

    /// <summary>The kills really interrupted trials: some trial was leased more than once.</summary>
    internal static void AssertTrialsWereInterrupted(IExperimentStore store, string sweepId, int hits)
    {
        Assert.True(hits > 0, "no kill hit a worker holding a lease");
        var trials = store.ListTrials(sweepId);
        Assert.True(trials.Sum(t => t.Attempts) > trials.Count,
            $"every trial was leased once ({trials.Count}) although {hits} kill(s) hit a leaseholder");
    }

    internal static void AssertSameResults(IExperimentStore expected, IExperimentStore actual, string sweepId)
    {
        var want = expected.ListTrials(sweepId).ToDictionary(t => t.Id);
        var got = actual.ListTrials(sweepId);
        Assert.Equal(want.Count, got.Count);
        Assert.Equal(got.Count, actual.CountByStatus(sweepId)[TrialStatus.Completed]);
        foreach (var t in got)
        {
            Assert.Equal(TrialStatus.Completed, t.Status);
            Assert.NotNull(t.CompletedBy);
            foreach (var key in new[] { "train_accuracy", "test_accuracy", "train_loss", "test_loss", "steps" })
                Assert.Equal(want[t.Id].Metrics![key], t.Metrics![key]);
            var wm = expected.GetMeasures(t.Id);
            var gm = actual.GetMeasures(t.Id);
            Assert.Equal(wm.Keys.Order(), gm.Keys.Order());
            foreach (var (name, m) in wm) Assert.Equal(m.Value, gm[name].Value);
            Assert.Equal(expected.GetMetricRows(t.Id).Count, actual.GetMetricRows(t.Id).Count);
        }
    }

    [Fact]
    public void KilledSqliteWorkersLoseNothingAndMatchAnUninterruptedRun()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["s.yaml"], Spec);
        RunReference(tmp["s.yaml"], tmp["ref.db"], tmp["ref-runs"]);

        string uri = "sqlite:" + tmp["faulty.db"];
        string sweepId;
        using (var store = StoreFactory.Open(uri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(Spec)).SweepId;
        int hits = RunKillingWorkers(uri, tmp["faulty-runs"], workers: 3, kills: 4, seed: 1);

        using var expected = StoreFactory.Open("sqlite:" + tmp["ref.db"]);
        using var actual = StoreFactory.Open(uri);
        AssertSameResults(expected, actual, sweepId);
        AssertTrialsWereInterrupted(actual, sweepId, hits);
        Assert.Empty(Directory.GetDirectories(tmp["faulty-runs"], "*.partial-*"));
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
public sealed class PostgresWorkerFaultTests(PostgresServer server)
{
    [Fact]
    public void KilledPostgresWorkersLoseNothingAndMatchAnUninterruptedRun()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["s.yaml"], WorkerFaultTests.Spec);
        WorkerFaultTests.RunReference(tmp["s.yaml"], tmp["ref.db"], tmp["ref-runs"]);

        string uri = server.CreateDatabase();
        string sweepId;
        using (var store = StoreFactory.Open(uri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(WorkerFaultTests.Spec)).SweepId;
        int hits = WorkerFaultTests.RunKillingWorkers(uri, tmp["faulty-runs"], workers: 3, kills: 5, seed: 2);

        using var expected = StoreFactory.Open("sqlite:" + tmp["ref.db"]);
        using var actual = StoreFactory.Open(uri);
        WorkerFaultTests.AssertSameResults(expected, actual, sweepId);
        WorkerFaultTests.AssertTrialsWereInterrupted(actual, sweepId, hits);
        Assert.Empty(Directory.GetDirectories(tmp["faulty-runs"], "*.partial-*"));
    }
}
