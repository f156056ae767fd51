using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class RankingTests
{
    private static readonly RankingOptions Fast = new() { Resamples = 200, OracleDraws = 3, Seed = 5 };

    private static List<PopulationModel> Population(out double[] gap)
    {
        var hp = PopulationFixtures.ThreeByThreeByThree(seeds: 1);
        var g = PopulationFixtures.Gap(hp, 31);
        gap = g;
        var rng = new SeededRandom(77);
        var models = new List<PopulationModel>();
        for (int i = 0; i < hp.Count; i++)
        {
            var measures = new Dictionary<string, double>
            {
                ["good"] = g[i] + 0.003 * rng.NextGaussian(),
                ["anti"] = -g[i] + 0.03 * rng.NextGaussian(),
                ["random"] = rng.NextDouble(),
            };
            if (i % 3 != 0) measures["partial"] = g[i] * 2; // missing for a third of the models
            models.Add(new PopulationModel($"m{i}", hp[i], 1.0, 1.0 - g[i], measures));
        }
        return models;
    }

    [Fact]
    public void RowsAreSortedByAbsoluteTau_ThenBaselines_AndAPartialMeasureIsNotAmongThem()
    {
        var table = Ranking.Rank(Population(out _), Fast);
        var names = table.Rows.Select(r => r.Measure).ToList();
        Assert.Equal(["good", "anti", "random", "canonical-ordering", "oracle-0.02", "oracle-0.05"], names);
        Assert.All(table.Rows, r => Assert.Equal(27, r.N));
        var measures = table.Rows.Where(r => r.Kind == RowKind.Measure).Select(r => Math.Abs(r.KendallTau)).ToList();
        Assert.Equal(measures.OrderByDescending(v => v), measures);
        Assert.True(table.Rows.Single(r => r.Measure == "anti").KendallTau < -0.4);
        Assert.Equal(27, table.Models);
        var partial = Assert.Single(table.Partial);
        Assert.Equal("partial", partial.Measure);
        Assert.Equal(18, partial.N);
        Assert.Equal(new Dictionary<string, int> { ["not computed"] = 9 }, partial.Missing);

        var given = Ranking.Rank(Population(out _), Fast with { Order = RankingOrder.AsGiven, IncludeBaselines = false });
        Assert.Equal(["good", "anti", "random"], given.Rows.Select(r => r.Measure));
    }

    [Fact]
    public void RowStatistics_AgreeWithAPlainPairLoop()
    {
        var models = Population(out var gap);
        var row = Ranking.Rank(models, Fast).Rows.Single(r => r.Measure == "good");
        var measure = models.Select(m => m.Measures["good"]).ToArray();
        var hp = models.Select(m => m.Hparams).ToList();
        Assert.Equal(27, row.N);
        Assert.Equal(NaiveRankStatistics.TauB(measure, gap), row.KendallTau, 1e-12);
        Assert.Equal(NaiveRankStatistics.TauA(measure, gap), row.KendallTauA, 1e-12);
        Assert.Equal(NaiveRankStatistics.Psi(hp, measure, gap), row.Psi, 1e-12);
        Assert.True(row.TauCi.Contains(row.KendallTau));
        Assert.Equal(3, row.PsiPerHparam.Count);
        Assert.Equal(7, row.CmiPerSet.Count);
    }

    [Fact]
    public void MissingMeasure_IsRankedOnTheModelsThatHaveIt_WithTheReasonsCounted()
    {
        var models = Population(out var gap);
        models[1] = models[1] with
        {
            Measures = new Dictionary<string, double>(models[1].Measures) { ["partial"] = double.NaN },
            Missing = new Dictionary<string, string> { ["partial"] = "not converged: budget_exhausted" },
        };
        var row = Ranking.Rank(models, Fast).Partial.Single(r => r.Measure == "partial");
        Assert.Equal(17, row.N); // 18 models carry it, one of them unconverged
        Assert.Equal(1.0, row.KendallTau, 1e-12);
        Assert.Equal(new Dictionary<string, int> { ["not computed"] = 9, ["not converged: budget_exhausted"] = 1 }, row.Missing);
    }

    [Fact]
    public void ModelsWithoutAccuracy_AreLeftOut()
    {
        var models = Population(out _);
        models[0] = models[0] with { TestAccuracy = double.NaN };
        var table = Ranking.Rank(models, Fast);
        Assert.Equal(26, table.Models);
        Assert.Equal(1, table.ModelsWithoutGap);
        Assert.Equal(26, table.Rows.Single(r => r.Measure == "good").N);
    }

    [Fact]
    public void GapIsTrainMinusTestAccuracy()
    {
        var m = new PopulationModel("a", new Dictionary<string, string>(), 0.99, 0.91, new Dictionary<string, double>());
        Assert.Equal(0.08, m.Gap, 1e-15);
    }

    [Fact]
    public void ZeroNoiseOracle_ScoresOneOnEveryStatistic_AndNoisierOraclesScoreLess()
    {
        var table = Ranking.Rank(Population(out _), Fast with { OracleSigmas = [0.0, 0.005, 0.05] });
        var exact = table.Rows.Single(r => r.Measure == "oracle-0");
        Assert.Equal(1.0, exact.KendallTau, 1e-12);
        Assert.Equal(1.0, exact.Psi, 1e-12);
        Assert.Equal(1.0, exact.Cmi, 1e-12);
        double low = table.Rows.Single(r => r.Measure == "oracle-0.005").KendallTau;
        double high = table.Rows.Single(r => r.Measure == "oracle-0.05").KendallTau;
        Assert.True(1.0 > low && low > high, $"tau: σ=0.005 {low}, σ=0.05 {high}");
    }

    [Fact]
    public void ConstantMeasure_GivesUndefinedTauBWithANote_AndZeroTauAAndPsi()
    {
        var models = Population(out _).Select(m => m with { Measures = new Dictionary<string, double> { ["flat"] = 3.0 } }).ToList();
        var row = Ranking.Rank(models, Fast with { IncludeBaselines = false }).Rows.Single();
        Assert.True(double.IsNaN(row.KendallTau));
        Assert.Contains("tau undefined", row.Note);
        Assert.Equal(0, row.TauCi.Valid);
        Assert.Equal(0.0, row.KendallTauA, 1e-15);
        Assert.Equal(0.0, row.Psi, 1e-15); // every cell scores 0 (Fantastic), none is dropped
        Assert.True(double.IsNaN(Ranking.Rank(models, Fast with { IncludeBaselines = false, Psi = PsiDefinition.TauBDefinedCells }).Rows.Single().Psi));
    }

    [Fact]
    public void Json_HasTheDesignKeys_AndNullForUndefined()
    {
        var models = Population(out _);
        models[0] = models[0] with { Measures = new Dictionary<string, double>(models[0].Measures) { ["lonely"] = 1.0 } };
        var table = Ranking.Rank(models, Fast);
        var json = table.ToJson();
        var good = json.Single(r => (string?)r!["measure"] == "good")!.AsObject();
        foreach (var key in new[] { "measure", "models", "kendall_tau", "kendall_tau_a", "tau_ci", "psi", "psi_per_hparam", "cmi" })
            Assert.True(good.ContainsKey(key), key);
        Assert.Equal(27, (int)good["models"]!);
        Assert.Equal(2, good["tau_ci"]!.AsArray().Count);
        Assert.Equal(3, good["psi_per_hparam"]!.AsObject().Count);
        Assert.DoesNotContain(json, r => (string?)r!["measure"] == "lonely");
        var lonely = table.PartialToJson().Single(r => (string?)r!["measure"] == "lonely")!.AsObject();
        Assert.Equal(1, (int)lonely["models"]!);
        Assert.Equal(26, (int)lonely["missing"]!["not computed"]!);
        Assert.Null(lonely["kendall_tau"]);
        Assert.Contains("at least 2", (string?)lonely["note"]);
        var modelsJson = Ranking.ModelsToJson(models);
        Assert.Equal(0.0, (double)modelsJson[0]!["train_accuracy"]! - (double)modelsJson[0]!["test_accuracy"]! - (double)modelsJson[0]!["gap"]!, 1e-15);
    }

    [Fact]
    public void DuplicateIds_Throw()
    {
        var models = Population(out _);
        models[1] = models[1] with { Id = models[0].Id };
        Assert.Throws<InputException>(() => Ranking.Rank(models, Fast));
    }
}
