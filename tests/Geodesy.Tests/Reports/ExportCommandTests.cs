using System.Globalization;
using Geodesy.Experiments.Store;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>`geodesy export --csv`: one row per trial with everything a pandas user needs.</summary>
public sealed class ExportCommandTests
{
    [Fact]
    public void Csv_HasOneRowPerTrial_WithStatusesHyperparametersGapAndEveryMeasureWithItsStatus()
    {
        using var tmp = new TempDir();
        string uri = "sqlite:" + tmp["s.db"];
        using (var store = StoreFactory.Open(uri)) SyntheticStudy.Write(store);

        var r = RunCli("export", "--store", uri, "--csv", tmp["population.csv"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("27 trials, 4 measures", r.Stdout);
        var lines = File.ReadAllLines(tmp["population.csv"]);
        Assert.Equal(28, lines.Length);
        var header = lines[0].Split(',');
        Assert.Equal(["id", "status", "batch", "lr", "width", "train_accuracy", "test_accuracy", "train_loss", "test_loss", "gap",
            "good", "good:status", "partial", "partial:status", "searched", "searched:status", "width-only", "width-only:status"], header);
        var rows = lines.Skip(1).Select(l => header.Zip(l.Split(',')).ToDictionary(p => p.First, p => p.Second)).ToList();
        Assert.Equal(22, rows.Count(x => x["status"] == "completed"));
        Assert.Equal(3, rows.Count(x => x["status"] == "max-epochs"));
        var failed = rows.Single(x => x["id"] == SyntheticStudy.TrialId(SyntheticStudy.FailedAt));
        Assert.Equal(("failed", "", ""), (failed["status"], failed["gap"], failed["good:status"]));
        var skipped = rows.Single(x => x["id"] == SyntheticStudy.TrialId(SyntheticStudy.SkippedAt[0]));
        Assert.Equal(("", "skipped"), (skipped["partial"], skipped["partial:status"]));
        var unconverged = rows.Single(x => x["id"] == SyntheticStudy.TrialId(SyntheticStudy.UnconvergedAt[0]));
        Assert.Equal("budget_exhausted", unconverged["searched:status"]);
        Assert.NotEqual("", unconverged["searched"]);
        foreach (var x in rows.Where(x => x["gap"] != ""))
        {
            double D(string k) => double.Parse(x[k], CultureInfo.InvariantCulture);
            Assert.Equal(D("train_accuracy") - D("test_accuracy"), D("gap"));
            Assert.Equal("converged", x["width-only:status"]);
            Assert.Equal(x["width"], x["width-only"]);
        }
    }

    [Fact]
    public void MissingFolder_IsAUsageError_AndNoFileIsLeft()
    {
        using var tmp = new TempDir();
        string uri = "sqlite:" + tmp["s.db"];
        using (var store = StoreFactory.Open(uri)) SyntheticStudy.Write(store);
        AssertUsageError(RunCli("export", "--store", uri, "--csv", tmp["nowhere/population.csv"]), "does not exist");
        AssertUsageError(RunCli("export", "--store", uri, "--sweep", "nosuch", "--csv", tmp["population.csv"]), "no sweep");
        Assert.False(File.Exists(tmp["population.csv"]));
    }
}
