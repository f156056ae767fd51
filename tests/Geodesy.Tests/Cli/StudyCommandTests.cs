using System.Diagnostics;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Store;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>`geodesy study --spec --out DIR` end to end: its folder layout, and re-running continues without recomputing.</summary>
[Trait(TestCategory.Key, TestCategory.Slow)]
public sealed class StudyCommandTests
{
    private const int Trials = 4;
    private const string Spec = """
        name: tiny-study
        base:
          data: "gaussian-mixture:classes=3,dim=6,sep=3,n=400"
          arch: "mlp:6-{width}-3"
          epochs: 6
          batch: 16
        grid:
          lr: [0.03, 0.1]
          width: [8, 24]
        measures: "param-norm,frob-distance,cross-entropy"
        """;

    [Fact]
    public void StudyWritesItsFolderAndARerunContinuesWithoutRecomputing()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["small.yaml"], Spec);
        string dir = tmp["study"];

        var first = RunCli("study", "--spec", tmp["small.yaml"], "--out", dir, "--threads", "1");
        Assert.True(first.ExitCode == 0, first.Stderr + first.Stdout);
        foreach (var file in new[] { "report.html", "ranking.json", "study.db" })
            Assert.True(File.Exists(Path.Combine(dir, file)), $"study left no {file}");
        Assert.True(Directory.Exists(Path.Combine(dir, "runs")), "study left no runs/ folder");

        var rank = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "ranking.json")))!.AsObject();
        Assert.Equal("geodesy.rank/1", (string?)rank["schema"]);
        Assert.Equal(Trials, rank["models"]!.AsArray().Count);
        Assert.Contains(rank["ranking"]!.AsArray(), r => (string?)r!["measure"] == "param-norm");

        var trialsBefore = StoredTrials(dir);
        Assert.Equal(Trials, trialsBefore.Count);
        Assert.All(trialsBefore, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(trialsBefore.Select(t => t.Id).Order(), Directory.GetDirectories(Path.Combine(dir, "runs")).Select(Path.GetFileName).Order());
        var runsBefore = Snapshot(Path.Combine(dir, "runs"));

        var second = RunCli("study", "--spec", tmp["small.yaml"], "--out", dir, "--threads", "1");
        Assert.True(second.ExitCode == 0, second.Stderr + second.Stdout);
        Assert.Contains($"{Trials} of {Trials} trials already done", second.Stdout);
        Assert.DoesNotContain("completed: test acc", second.Stdout); // no worker trained anything

        var trialsAfter = StoredTrials(dir);
        Assert.Equal(trialsBefore.Select(t => (t.Id, t.Attempts, t.CompletedAtUtc)), trialsAfter.Select(t => (t.Id, t.Attempts, t.CompletedAtUtc)));
        Assert.Equal(runsBefore, Snapshot(Path.Combine(dir, "runs")));
        Assert.DoesNotContain("measured with this sweep's settings", second.Stdout + second.Stderr); // nor measured anything again
        Assert.True(File.Exists(Path.Combine(dir, "report.html")));
    }

    private static List<Trial> StoredTrials(string dir)
    {
        using var store = StoreFactory.Open("sqlite:" + Path.Combine(dir, "study.db"));
        var sweep = Assert.Single(store.ListSweeps());
        return store.ListTrials(sweep.Id).OrderBy(t => t.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>Every file under a folder with its size and last write time.</summary>
    private static List<string> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => $"{Path.GetRelativePath(dir, f)} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f):O}").ToList();
}
