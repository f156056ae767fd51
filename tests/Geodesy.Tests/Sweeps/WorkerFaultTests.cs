using System.Diagnostics;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Sweeps;

/// <summary>
/// Crash safety of sweeps: worker processes killed with SIGKILL at random moments lose at most
/// their current trial; at the end every trial is completed exactly once with results identical
/// to an uninterrupted run.
/// </summary>
public class WorkerFaultTests
{
    private const string Spec = """
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

    internal static void RunKillingWorkers(string storeUri, string runs, int workers, int kills, int seed)
    {
        var rng = new Random(seed);
        string[] WorkerArgs(int i) => ["worker", "--store", storeUri, "--runs", runs, "--threads", "1", "--lease", "3", "--name", $"w{i}"];
        var procs = Enumerable.Range(0, workers).Select(i => StartGeodesy(WorkerArgs(i))).ToList();
        int next = workers;
        try
        {
            for (int k = 0; k < kills; k++)
            {
                Thread.Sleep(800 + rng.Next(1500));
                var alive = procs.Where(p => !p.HasExited).ToList();
                if (alive.Count == 0) break;
                alive[rng.Next(alive.Count)].Kill(); // SIGKILL: no cleanup, no lease release
                procs.Add(StartGeodesy(WorkerArgs(next++)));
            }
            foreach (var p in procs)
                Assert.True(p.WaitForExit(240_000), "a worker did not finish");
        }
        finally
        {
            foreach (var p in procs) { if (!p.HasExited) p.Kill(); p.Dispose(); }
        }
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
        var reference = StartGeodesy("sweep", "--spec", tmp["s.yaml"], "--store", "sqlite:" + tmp["ref.db"], "--runs", tmp["ref-runs"], "--workers", "1", "--threads", "1");
        Assert.True(reference.WaitForExit(240_000));
        Assert.Equal(0, reference.ExitCode);

        string uri = "sqlite:" + tmp["faulty.db"];
        string sweepId;
        using (var store = StoreFactory.Open(uri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(Spec)).SweepId;
        RunKillingWorkers(uri, tmp["faulty-runs"], workers: 3, kills: 4, seed: 1);

        using var expected = StoreFactory.Open("sqlite:" + tmp["ref.db"]);
        using var actual = StoreFactory.Open(uri);
        AssertSameResults(expected, actual, sweepId);
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
