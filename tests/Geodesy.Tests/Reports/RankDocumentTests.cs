using System.Text.Json.Nodes;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using Geodesy.Tests.Stats;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>The rank document: one population per table, nothing dropped silently, and statistics anyone can recompute.</summary>
public sealed class RankDocumentTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly IExperimentStore _store;

    public RankDocumentTests()
    {
        _store = StoreFactory.Open("sqlite:" + _tmp["s.db"]);
        SyntheticStudy.Write(_store);
    }

    public void Dispose()
    {
        _store.Dispose();
        _tmp.Dispose();
    }

    [Fact]
    public void OnlyTrialsThatMetTheStoppingRuleAreRanked_TheOthersAreListed()
    {
        var (doc, _, _) = StudyPipeline.Rank(_store, null);
        var excluded = doc["excluded"]!.AsArray().Select(e => ((string)e!["id"]!, (string)e["status"]!, (string)e["reason"]!)).ToList();
        Assert.Equal(5, excluded.Count);
        Assert.Equal(3, excluded.Count(e => e.Item2 == "max-epochs"));
        Assert.Contains((SyntheticStudy.TrialId(SyntheticStudy.DivergedAt), "diverged", "loss became NaN at step 40"), excluded);
        Assert.Contains((SyntheticStudy.TrialId(SyntheticStudy.FailedAt), "failed", "arch does not fit the data"), excluded);
        Assert.All(excluded.Where(e => e.Item2 == "max-epochs"), e => Assert.Contains("after 40 epochs", e.Item3));
        Assert.Equal(SyntheticStudy.Converged, doc["models"]!.AsArray().Count);
        Assert.All(doc["models"]!.AsArray(), m => Assert.Equal("completed", (string?)m!["status"]));
        Assert.Equal(22, (int)doc["statuses"]!["completed"]!);
        Assert.Equal(3, (int)doc["statuses"]!["max-epochs"]!);
    }

    [Fact]
    public void TheRankingHasOneN_AndMeasuresMissingSomewhereArePartial_WithTheirReasons()
    {
        var (doc, _, _) = StudyPipeline.Rank(_store, null);
        var ranking = doc["ranking"]!.AsArray();
        Assert.All(ranking, r => Assert.Equal(SyntheticStudy.Converged, (int)r!["models"]!));
        var names = ranking.Select(r => (string)r!["measure"]!).ToList();
        Assert.Contains("good", names);
        Assert.Contains("width-only", names);
        Assert.DoesNotContain("partial", names);
        Assert.DoesNotContain("searched", names);

        var partial = doc["partial_ranking"]!.AsArray().ToDictionary(r => (string)r!["measure"]!, r => r!.AsObject());
        Assert.Equal(18, (int)partial["partial"]["models"]!); // 22 minus the 4 skipped
        Assert.Equal(4, (int)partial["partial"]["missing"]!["skipped: needs the initial weights"]!);
        Assert.Equal(20, (int)partial["searched"]["models"]!);
        Assert.Equal(2, (int)partial["searched"]["missing"]!["not converged: budget_exhausted"]!);
    }

    [Fact]
    public void IncludeUnconverged_RanksMaxEpochsTrialsAndUnconvergedValues()
    {
        var (doc, _, _) = StudyPipeline.Rank(_store, null, populationOptions: new PopulationOptions(IncludeUnconverged: true));
        Assert.Equal(25, doc["models"]!.AsArray().Count);
        Assert.Equal(2, doc["excluded"]!.AsArray().Count); // diverged and failed have no model to rank
        var searched = doc["ranking"]!.AsArray().Single(r => (string)r!["measure"]! == "searched")!;
        Assert.Equal(25, (int)searched["models"]!);
    }

    [Fact]
    public void TauTauAAndPsi_RecomputedFromTheModelsTable_Agree()
    {
        var (doc, _, _) = StudyPipeline.Rank(_store, null);
        // Round-trip through text, as a reader of ranking.json would.
        var parsed = JsonNode.Parse(doc.ToJsonString())!.AsObject();
        var models = parsed["models"]!.AsArray().Select(m => m!.AsObject()).ToList();
        int checkedRows = 0;
        foreach (var row in parsed["ranking"]!.AsArray().Concat(parsed["partial_ranking"]!.AsArray()).Select(r => r!.AsObject()))
        {
            if ((string)row["kind"]! != "measure") continue;
            string name = (string)row["measure"]!;
            var have = models.Where(m => m["measures"]!.AsObject().ContainsKey(name)).ToList();
            Assert.Equal((int)row["models"]!, have.Count);
            var measure = have.Select(m => (double)m["measures"]![name]!).ToList();
            var gap = have.Select(m => (double)m["gap"]!).ToList();
            var hparams = have.Select(m => (IReadOnlyDictionary<string, string>)m["hparams"]!.AsObject()
                .ToDictionary(kv => kv.Key, kv => (string)kv.Value!)).ToList();
            Assert.Equal(NaiveRankStatistics.TauA(measure, gap), (double)row["kendall_tau_a"]!, 1e-9);
            Assert.Equal(NaiveRankStatistics.Psi(hparams, measure, gap), (double)row["psi"]!, 1e-9);
            Assert.Equal(NaiveRankStatistics.TauB(measure, gap), (double)row["kendall_tau"]!, 1e-9);
            checkedRows++;
        }
        Assert.Equal(4, checkedRows);
    }

    [Fact]
    public void Report_StatesTheDesign_AndListsThePartialRankingAndTheExcludedTrials()
    {
        var (_, table, population) = StudyPipeline.Rank(_store, null);
        string dir = _tmp["report"];
        var files = StudyPipeline.Report(dir, population, table, "synthetic", new Dictionary<string, string>());
        foreach (var png in new[] { "tau.png", "psi.png", "cmi.png", "psi-per-hparam.png", "curves.png" }) Assert.Contains(png, files);
        Assert.Contains(files, f => f.StartsWith("scatter-", StringComparison.Ordinal));
        string html = System.Net.WebUtility.HtmlDecode(File.ReadAllText(Path.Combine(dir, "report.html")));
        Assert.Contains("lr ∈ {0.01, 0.03, 0.1} × batch ∈ {32, 64, 128} × width ∈ {16, 64, 256} (27 combinations)", html);
        Assert.Contains("train until the train cross-entropy is below 0.01 (at most 40 epochs", html);
        Assert.Contains("<table id=\"partial\">", html);
        Assert.Contains("4 (skipped: needs the initial weights)", html);
        Assert.Contains("<table id=\"excluded\">", html);
        foreach (var e in population.Excluded) Assert.Contains(e.Reason, html);
        Assert.Contains("3 max-epochs, 1 diverged, 1 failed", html);
    }
}
