using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core.Measures;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Sweeps;

public class MeasureSpecTests
{
    [Fact]
    public void CanonicalJson_HoldsOnlyNonDefaultOptions_AndTheHashIsItsSha256()
    {
        var plain = new MeasureSpec("param-norm,spec-orig", 1000);
        Assert.Equal("""{"dtype":"float32","examples":1000,"measures":"param-norm,spec-orig","options":{}}""", plain.CanonicalJson());
        var deeper = plain with { Options = new MeasureOptions { SearchDepth = 30, SharpnessEpsilon = 5e-4 } };
        Assert.Equal("""{"dtype":"float32","examples":1000,"measures":"param-norm,spec-orig","options":{"search_depth":"30","sharpness_epsilon":"0.0005"}}""",
            deeper.CanonicalJson());
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(plain.CanonicalJson()))).ToLowerInvariant(), plain.Hash());
        // Options equal to the defaults do not change the hash; anything else does.
        Assert.Equal(plain.Hash(), (plain with { Options = new MeasureOptions() }).Hash());
        Assert.NotEqual(plain.Hash(), deeper.Hash());
        Assert.NotEqual(plain.Hash(), (plain with { Examples = 500 }).Hash());
        Assert.NotEqual(plain.Hash(), (plain with { Measures = "param-norm" }).Hash());
    }

    [Fact]
    public void FromSweepJson_ReadsTheSweepsMeasureSettings()
    {
        var spec = MeasureSpec.FromSweepJson(JsonNode.Parse("""{"measures":" all ","measure_examples":300}"""));
        Assert.Equal(new MeasureSpec("all", 300), spec);
        Assert.Equal(new MeasureSpec(), MeasureSpec.FromSweepJson(null));
    }

    private const string Sweep = """
        name: NAME
        base:
          data: "gaussian-mixture:classes=3,dim=6,sep=4,n=300"
          arch: "mlp:6-{width}-3"
          epochs: 2
          batch: 32
        grid:
          width: [4, 8]
        measures: "MEASURES"
        """;

    [Fact]
    public void ATrialSharedByTwoSweeps_KeepsTheMeasuresOfBoth()
    {
        using var tmp = new TempDir();
        using var store = StoreFactory.Open("sqlite:" + tmp["s.db"]);
        var a = SweepSpec.Parse(Sweep.Replace("NAME", "a").Replace("MEASURES", "param-norm"), "a");
        var b = SweepSpec.Parse(Sweep.Replace("NAME", "b").Replace("MEASURES", "param-norm,frob-distance"), "b");
        var (idA, _) = SweepRunner.Register(store, a);
        new SweepWorker(store, idA, tmp["runs"], "w", new WorkerOptions()).Run();
        var (idB, _) = SweepRunner.Register(store, b);
        var lines = new List<string>();
        new SweepWorker(store, idB, tmp["runs"], "w", new WorkerOptions(), lines.Add).Run();

        Assert.Equal(2, lines.Count(l => l.Contains("measured with this sweep's settings")));
        var trials = store.ListTrials(idB);
        Assert.Equal(trials.Select(t => t.Id).Order(), store.ListTrials(idA).Select(t => t.Id).Order()); // the same two trials, trained once
        Assert.All(trials, t => Assert.Equal(1, t.Attempts));
        string hashA = MeasureSpec.FromSweepJson(JsonNode.Parse(a.ToJson().ToJsonString())).Hash();
        string hashB = MeasureSpec.FromSweepJson(JsonNode.Parse(b.ToJson().ToJsonString())).Hash();
        foreach (var t in trials)
        {
            Assert.Equal(["param-norm"], store.GetMeasures(t.Id, hashA).Keys);
            var both = store.GetMeasures(t.Id, hashB);
            Assert.Equal(["frob-distance", "param-norm"], both.Keys.Order());
            Assert.Equal(store.GetMeasures(t.Id, hashA)["param-norm"].Value, both["param-norm"].Value); // same weights, same number
        }
    }
}
