using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using Geodesy.Tests.Store;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Sweeps;

/// <summary>Probes in sweep specs, and their final and peak values as measures in the store.</summary>
public class ProbeSweepTests
{
    public const string Spec = """
        name: probes
        base: { data: "gaussian-mixture:classes=3,dim=6,sep=3,n=300", arch: "mlp:6-8-3", epochs: 2, batch: 50 }
        grid: { lr: [0.05, 0.2] }
        measures: "param-norm"
        probes: ["weights@epochs=0,1,2", "nc1"]
        probe_examples: 60
        """;

    private static ProbeRecord Row(string probe, long step, double value, string extra = "") =>
        ProbeRecord.FromJson(JsonNode.Parse($$"""{"probe":"{{probe}}","step":{{step}},"epoch":0,"value":{{(double.IsFinite(value) ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "null")}}{{extra}}}""")!.AsObject());

    [Fact]
    public void FinalPeakAndPeakStepOfEachSeries()
    {
        var rows = new[]
        {
            Row("fisher-trace", 0, 1.0, ",\"set\":\"batch\""), Row("fisher-trace", 10, 7.0, ",\"set\":\"batch\""),
            Row("fisher-trace", 20, 7.0, ",\"set\":\"batch\""), Row("fisher-trace", 30, 2.0, ",\"set\":\"batch\""),
            Row("fisher-trace", 0, 5.0, ",\"set\":\"probe\""),
            Row("hessian-top", 0, 3.0, ",\"status\":\"converged\""), Row("hessian-top", 5, 9.0, ",\"status\":\"budget_exhausted\""),
            Row("nc1", 0, double.NaN, ",\"skipped\":\"one class\""),
        };
        var m = ProbeMeasures.From(rows).ToDictionary(r => r.Name);
        Assert.Equal(2.0, m["probe:fisher-trace/batch:final"].Value);
        Assert.Equal(7.0, m["probe:fisher-trace/batch:peak"].Value);
        Assert.Equal(10.0, m["probe:fisher-trace/batch:peak_step"].Value); // the first step reaching the peak
        Assert.Equal(5.0, m["probe:fisher-trace/probe:peak"].Value);
        Assert.Equal(SolverStatus.BudgetExhausted, m["probe:hessian-top:peak"].Status);
        Assert.Equal(SolverStatus.BudgetExhausted, m["probe:hessian-top:final"].Status);
        Assert.Null(m["probe:nc1:peak"].Status);
        Assert.Equal("one class", m["probe:nc1:peak"].SkipReason);
        Assert.Equal(4 * 3, m.Count); // four series, three measures each
    }

    [Fact]
    public void SweepProbesGoIntoEveryTrialSpec_AndLeaveOtherSweepIdsAlone()
    {
        var spec = SweepSpec.Parse(Spec, "s.yaml");
        Assert.All(spec.Expand(), t =>
        {
            Assert.Equal(["weights@epochs=0,1,2", "nc1"], t.Spec.Probe);
            Assert.Equal(60, t.Spec.ProbeExamples);
        });
        Assert.NotNull(spec.ToJson()["probes"]);
        var plain = SweepSpec.Parse("base: { arch: \"mlp:784-8-10\" }\n", "p.yaml");
        Assert.False(plain.ToJson().ContainsKey("probes"));
        Assert.False(plain.ToJson().ContainsKey("probe_examples"));
    }

    /// <summary>Runs the sweep in-process on a store and checks the probe measures against the run folders.</summary>
    internal static void AssertProbeMeasuresRecorded(string storeUri, string runsDir)
    {
        string sweepId;
        using (var store = StoreFactory.Open(storeUri)) sweepId = SweepRunner.Register(store, SweepSpec.Parse(Spec)).SweepId;
        using (var store = StoreFactory.Open(storeUri)) new SweepWorker(store, sweepId, runsDir, "w", new WorkerOptions()).Run();
        using var s = StoreFactory.Open(storeUri);
        var hash = Experiments.Specs.MeasureSpec.FromSweepJson(JsonNode.Parse(s.ListSweeps().Single().SpecJson)).Hash();
        var byTrial = s.GetSweepMeasures(sweepId, hash).GroupBy(m => m.TrialId).ToDictionary(g => g.Key, g => g.ToDictionary(m => m.Measure.Name, m => m.Measure));
        Assert.Equal(2, byTrial.Count);
        var data = DataSpecs.Load("gaussian-mixture:classes=3,dim=6,sep=3,n=300");
        foreach (var (trial, measures) in byTrial)
        {
            Assert.Contains("param-norm", measures.Keys);
            // probe:weights:final is ||w|| of the final weights, computed here from final.safetensors.
            using var model = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 5);
            SafeTensors.LoadInto(model, Path.Combine(runsDir, trial, RunFiles.FinalWeights));
            double norm = Math.Sqrt(model.parameters().Sum(p => p.detach().to_type(TorchSharp.torch.ScalarType.Float64).square().sum().item<double>()));
            Assert.Equal(norm, measures["probe:weights:final"].Value!.Value, 1e-5);
            // The peak is the largest recorded value, at its step.
            var rows = ProbeRecord.Read(Path.Combine(runsDir, trial)).Where(r => r.Series == "weights").ToList();
            Assert.Equal(3, rows.Count);
            var peak = rows.MaxBy(r => r.Value)!;
            Assert.Equal(peak.Value, measures["probe:weights:peak"].Value);
            Assert.Equal(peak.Step, measures["probe:weights:peak_step"].Value);
            Assert.Contains("probe:nc1:final", measures.Keys);
        }
    }

    [Fact]
    [Trait(TestCategory.Key, TestCategory.Slow)]
    public void SqliteSweepRecordsProbeMeasures_AndRankRanksThem()
    {
        using var tmp = new TempDir();
        string uri = "sqlite:" + tmp["s.db"];
        AssertProbeMeasuresRecorded(uri, tmp["runs"]);
        var r = RunCli("rank", "--store", uri, "--json", tmp["rank.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var doc = JsonNode.Parse(File.ReadAllText(tmp["rank.json"]))!;
        var ranked = doc["ranking"]!.AsArray().Select(x => (string?)x!["measure"]).ToList();
        Assert.Contains("probe:weights:final", ranked);
        Assert.Contains("probe:weights:peak", ranked);
    }
}

[Collection(PostgresCollection.Name)]
[Trait(TestCategory.Key, TestCategory.Service)]
public sealed class PostgresProbeSweepTests(PostgresServer server)
{
    [Fact]
    public void PostgresSweepRecordsProbeMeasures()
    {
        using var tmp = new TempDir();
        ProbeSweepTests.AssertProbeMeasuresRecorded(server.CreateDatabase(), tmp["runs"]);
    }
}
