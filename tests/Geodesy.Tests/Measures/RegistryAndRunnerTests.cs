using Geodesy.Core;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class RegistryAndRunnerTests
{
    private static string RepoFile(string relative)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Geodesy.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, relative);
    }

    [Fact]
    public void NamesAreUniqueKebabCaseAndDocumented()
    {
        var names = MeasureRegistry.All.Select(m => m.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        var doc = File.ReadAllText(RepoFile("docs/measures.md"));
        foreach (var m in MeasureRegistry.All)
        {
            Assert.Matches("^[a-z0-9][a-z0-9.-]*$", m.Name);
            Assert.Contains($"### `{m.Name}`", doc);
            Assert.False(string.IsNullOrWhiteSpace(m.Citation));
            Assert.False(string.IsNullOrWhiteSpace(m.Formula));
            Assert.InRange(m.Cost, 1, 5);
        }
        foreach (var required in new[] { "param-norm", "path-norm", "spec-orig", "pacbayes-mag-flatness", "fisher-rao", "fro-over-spec",
                     "path-norm-over-margin", "cross-entropy", "inverse-margin", "frob-distance", "spec-dist", "prod-of-fro", "sum-of-spec", "relative-flatness" })
            Assert.Contains(required, names);
    }

    [Fact]
    public void SelectParsesListsAndUnknownNamesSuggestCloseOnes()
    {
        Assert.Equal(MeasureRegistry.All.Count, MeasureRegistry.Select("all").Count);
        Assert.Equal(["path-norm", "margin"], MeasureRegistry.Select(" path-norm, margin ,path-norm").Select(m => m.Name));
        var e = Assert.Throws<InputException>(() => MeasureRegistry.Get("path-nrom"));
        Assert.Contains("path-norm", e.Message);
    }

    [Fact]
    public void FantasticNameDistSpecInitIsAnAliasOfSpecDist()
    {
        Assert.Same(MeasureRegistry.Get("spec-dist"), MeasureRegistry.Get("dist-spec-init"));
        Assert.Equal(["spec-dist"], MeasureRegistry.Select("dist-spec-init,spec-dist").Select(m => m.Name));
        Assert.DoesNotContain(MeasureRegistry.All, m => m.Name == "dist-spec-init");
    }

    [Fact]
    public void MeasuresThatNeedInitOrARecordReportAReason()
    {
        var model = Mlp(3, 4, 2);
        using var data = Clusters(3, 3, 2, 2.0, 13);
        using var ctx = Context(model, data);
        var outcomes = MeasureRunner.Compute(ctx, MeasureRegistry.Select("spec-init,frob-distance,steps-to-0.1,param-norm"));
        Assert.Contains("initial weights", outcomes[0].SkippedReason);
        Assert.Contains("initial weights", outcomes[1].SkippedReason);
        Assert.Contains("training record", outcomes[2].SkippedReason);
        Assert.NotNull(outcomes[3].Value);
        Assert.All(outcomes, o => Assert.True(o.Seconds >= 0));
    }

    [Fact]
    public void StepMeasuresInterpolateTheFirstCrossingInLogLoss()
    {
        MetricsRow Row(long step, double loss) => new(0, step, 0.1, loss, 0.9, loss, 0.9, 0);
        var record = new[] { Row(0, 2.3), Row(100, 0.5), Row(200, 0.09), Row(300, 0.02), Row(400, 0.008), Row(500, 0.005) };
        var model = Mlp(3, 2);
        using var data = Clusters(2, 3, 2, 1.0, 14);
        using var ctx = Context(model, data, record: record);
        // 0.1 is crossed between (100, 0.5) and (200, 0.09): 100 + 100 ln(0.5/0.1)/ln(0.5/0.09) = 193.8558...;
        // 0.01 between (300, 0.02) and (400, 0.008): 300 + 100 ln(2)/ln(2.5) = 375.6470...
        var toLoss = new StepsToLossMeasure().Compute(ctx);
        Assert.Equal(193.85580754380197, toLoss.Value, 1e-9);
        Assert.Equal(100, toLoss.Details!["loss_0.1_bracket_lower"]);
        Assert.Equal(200, toLoss.Details["loss_0.1_bracket_upper"]);
        Assert.Equal(375.647079736603 - 193.85580754380197, new StepsBetweenLossesMeasure().Compute(ctx).Value, 1e-9);
        using var early = Context(model, data, record: record.Take(3).ToArray());
        var outcome = MeasureRunner.Compute(early, [new StepsBetweenLossesMeasure()]).Single();
        Assert.Contains("0.01", outcome.SkippedReason);
    }

    [Fact]
    public void StepMeasuresReadTheRunningLossBetweenEpochEvaluations()
    {
        // Two epochs of 100 steps; running means of 10 batches every 10 steps sit at step - 5.5.
        MetricsRow Row(long step, double loss) => new(0, step, 0.1, loss, 0.9, loss, 0.9, 0);
        var record = new[] { Row(0, 2.3), Row(100, 0.3), Row(200, 0.05) };
        var running = Enumerable.Range(1, 20).Select(i => new RunningLossRow(1 + (i - 1) / 10, 10 * i, i <= 13 ? 0.4 : 0.08, 10)).ToArray();
        var model = Mlp(3, 2);
        using var data = Clusters(2, 3, 2, 1.0, 14);
        using var ctx = new MeasureContext
        {
            Model = model, Data = data, ArchSpec = "mlp:3-2", TrainingRecord = record, RunningLoss = running,
        };
        // The first point at or below 0.1 is the running row of step 140 (at 134.5); the last above, step 130 (at 124.5).
        double expected = 124.5 + 10 * Math.Log(0.4 / 0.1) / Math.Log(0.4 / 0.08);
        var value = new StepsToLossMeasure().Compute(ctx);
        Assert.Equal(expected, value.Value, 1e-9);
        Assert.Equal(20, value.Details!["running_rows"]);
    }

    [Fact]
    public void GradientNoiseMatchesTheSamplingWithoutReplacementFormula()
    {
        // E||g_B - g||^2 = (N - B) / (B (N - 1)) * (1/N) sum_i ||g_i - g||^2 for batches drawn without replacement
        var model = Mlp(3, 4, 2);
        using var data = Clusters(6, 3, 2, 1.0, 15);
        var set = new ExampleSet(data.Inputs.to_type(ScalarType.Float64), data.Labels);
        int n = (int)set.Count, b = 3;
        var grads = Enumerable.Range(0, n).Select(i => MeasureData.LossGradient(model, set.Inputs.narrow(0, i, 1), set.Labels.narrow(0, i, 1)).Gradient).ToArray();
        var g = torch.stack(grads).mean([0L]);
        double spread = grads.Average(gi => (gi - g).pow(2).sum().item<double>());
        double expected = (n - b) / (double)(b * (n - 1)) * spread;

        var r = GradientNoise.Compute(model, set, b, 400, seed: 3, evalBatch: 5);
        Assert.InRange(r.Noise, expected - 4 * r.NoiseStdErr, expected + 4 * r.NoiseStdErr);
        Assert.Equal(g.pow(2).sum().item<double>(), r.FullGradientSquaredNorm, 1e-12);
        Assert.Equal(0.0, GradientNoise.Compute(model, set, n, 3, seed: 3, evalBatch: 5).Noise, 1e-20);
    }

    [Fact]
    public void EveryMeasureRunsOnATinyModelWithInitAndRecord()
    {
        var init = Mlp(6, 8, 3);
        var model = Mlp(6, 8, 3);
        using var data = Clusters(30, 6, 3, 2.5, 16);
        Fit(model, data, 150, 0.3);
        MetricsRow Row(long step, double loss) => new(0, step, 0.1, loss, 0.9, loss, 0.9, 0);
        var options = new MeasureOptions { SearchExamples = 90, MonteCarloDraws = 2, AscentSteps = 3, SearchDepth = 6, SearchTolerance = 0.03, GradientNoiseBatches = 8, StiffnessExamples = 30, MinSpectrumSize = 6, MinTailSize = 3 };
        using var ctx = Context(model, data, init, options, [Row(0, 1.0), Row(10, 0.05), Row(20, 0.005)], batch: 16);
        var outcomes = MeasureRunner.Compute(ctx, MeasureRegistry.All);
        Assert.Equal(MeasureRegistry.All.Count, outcomes.Count);
        foreach (var o in outcomes)
        {
            Assert.True(o.Value is not null, $"{o.Name} skipped: {o.SkippedReason}");
            Assert.True(double.IsFinite(o.Value!.Value), $"{o.Name} = {o.Value.Value}");
        }
        Assert.True(ctx.ForwardExamples > 0 && ctx.Gradients > 0);
        Assert.False(model.training);
    }
}
