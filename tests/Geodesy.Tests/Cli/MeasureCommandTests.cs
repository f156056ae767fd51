using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>One tiny trained run shared by the measure command tests.</summary>
public sealed class TrainedRunFixture : IDisposable
{
    public const string DataSpec = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";
    public const string Arch = "mlp:6-8-3";
    private readonly TempDir _tmp = new();

    public TrainedRunFixture()
    {
        var r = RunCli("train", "--data", DataSpec, "--arch", Arch, "--epochs", "3", "--lr", "0.1", "--seed", "3", "--out", RunDir);
        if (r.ExitCode != 0) throw new InvalidOperationException("training the fixture run failed: " + r.Stderr);
    }

    public string RunDir => _tmp["run"];
    public string Final => Path.Combine(RunDir, "final.safetensors");
    public string Init => Path.Combine(RunDir, "init.safetensors");

    public void Dispose() => _tmp.Dispose();
}

public class MeasureCommandTests(TrainedRunFixture run) : IClassFixture<TrainedRunFixture>
{
    private static JsonNode ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!;

    [Fact]
    public void RunFolderGivesJsonWhoseValuesEqualTheLibrarysOwn()
    {
        using var tmp = new TempDir();
        var r = RunCli("measure", "--run", run.RunDir, "--measures", "param-norm,cross-entropy,frob-distance,hessian-trace,steps-to-0.1",
            "--json", tmp["m.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("hessian-trace", r.Stdout); // the table
        var json = ReadJson(tmp["m.json"]);
        Assert.Equal("geodesy.measure/1", (string?)json["schema"]);
        Assert.Equal(TrainedRunFixture.Arch, (string?)json["arch"]);
        foreach (var key in new[] { "matvecs", "gradients", "seconds", "threads", "forward_examples" })
            Assert.NotNull(json["cost"]![key]);
        Assert.Equal(Provenance.Sha256OfFile(run.Final), (string?)json["provenance"]!["weights_sha256"]);
        Assert.Equal(3L, (long)json["provenance"]!["seed"]!); // the run's seed
        Assert.Equal(64, ((string?)json["provenance"]!["data_sha256"])!.Length);
        var measures = json["measures"]!.AsObject();
        Assert.Equal(["param-norm", "cross-entropy", "frob-distance", "hessian-trace", "steps-to-0.1"], measures.Select(kv => kv.Key));
        foreach (var (_, m) in measures)
        {
            Assert.NotNull(m!["value"]);
            Assert.True(m.AsObject().ContainsKey("stderr"));
            Assert.True((double)m["seconds"]! >= 0);
            Assert.Equal("converged", (string?)m["status"]);
            Assert.True(m.AsObject().ContainsKey("bracket_halfwidth"));
        }
        Assert.Null(measures["param-norm"]!["stderr"]);
        Assert.NotNull(measures["hessian-trace"]!["stderr"]);
        Assert.Equal(60L, (long)measures["hessian-trace"]!["matvecs"]!);
        Assert.Equal(60L, (long)json["cost"]!["matvecs"]!);
        Assert.Empty(json["skipped"]!.AsObject());

        // The same numbers from the library, built by hand.
        using var split = DataSpecs.Load(TrainedRunFixture.DataSpec, new DataOptions(null, 0, false, 3));
        Assert.Equal(split.Train.Count, (long)json["examples"]!);
        using var model = ModelZoo.Create(TrainedRunFixture.Arch, split.Train.InputShape, split.Train.NumClasses, seed: 0);
        using var init = ModelZoo.Create(TrainedRunFixture.Arch, split.Train.InputShape, split.Train.NumClasses, seed: 0);
        SafeTensors.LoadInto(model, run.Final);
        SafeTensors.LoadInto(init, run.Init);
        Assert.Equal(ParameterVector.Count(model), (long)json["params"]!);
        using var ctx = new MeasureContext { Model = model, InitModel = init, Data = split.Train, ArchSpec = TrainedRunFixture.Arch, Seed = 3 };
        var expected = MeasureRunner.Compute(ctx, MeasureRegistry.Select("param-norm,cross-entropy,frob-distance,hessian-trace"))
            .ToDictionary(o => o.Name, o => o.Value!);
        foreach (var (name, v) in expected)
            // Float32 model: two runs of the same computation may differ in the last bits (kernel choice by alignment).
            Assert.Equal(v.Value, (double)measures[name]!["value"]!, 1e-5 * Math.Max(1, Math.Abs(v.Value)));
        Assert.Equal(expected["hessian-trace"].StdErr!.Value, (double)measures["hessian-trace"]!["stderr"]!, 1e-9);
    }

    [Fact]
    public void WeightsAloneSkipWhatNeedsInitOrTheRecordWithReasons()
    {
        using var tmp = new TempDir();
        var r = RunCli("measure", "--arch", TrainedRunFixture.Arch, "--weights", run.Final, "--data", TrainedRunFixture.DataSpec,
            "--measures", "spec-init,param-norm,steps-to-0.1", "--examples", "50", "--dtype", "float64", "--json", tmp["m.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var json = ReadJson(tmp["m.json"]);
        Assert.Contains("initial weights", (string?)json["skipped"]!["spec-init"]);
        Assert.Contains("training record", (string?)json["skipped"]!["steps-to-0.1"]);
        Assert.NotNull(json["measures"]!["param-norm"]);
        Assert.Null(json["measures"]!["spec-init"]);
        Assert.Equal(50L, (long)json["examples"]!);
        Assert.Equal("float64", (string?)json["dtype"]);
        Assert.Contains("skipped", r.Stdout);
    }

    [Fact]
    public void JsonToStdoutIsTheWholeOutput()
    {
        var r = RunCli("measure", "--run", run.RunDir, "--measures", "num-params", "--json", "-");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var json = JsonNode.Parse(r.Stdout)!;
        Assert.Equal(ModelZoo.CountParameters(TrainedRunFixture.Arch, [6], 3), (double)json["measures"]!["num-params"]!["value"]!);
    }

    [Fact]
    public void ListPrintsEveryMeasureWithFamilyNeedsCostAndCitation()
    {
        var r = RunCli("measure", "--list");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        foreach (var m in MeasureRegistry.All)
        {
            var line = lines.Single(l => l.StartsWith(m.Name + " ", StringComparison.Ordinal));
            Assert.Contains(m.Family.ToString(), line);
            Assert.Contains(m.Citation, line);
        }
        Assert.Contains(lines, l => l.StartsWith("hessian-top-eigenvalue ") && l.Contains("weights,data"));
    }

    public static TheoryData<string, string[]> BadInputs => new()
    {
        { "does not exist", ["--arch", TrainedRunFixture.Arch, "--weights", "/no/such/final.safetensors", "--data", TrainedRunFixture.DataSpec] },
        { "does not fit", ["--arch", "mlp:6-9-3", "--weights", "@final", "--data", TrainedRunFixture.DataSpec] },
        { "expects 7 inputs", ["--arch", "mlp:7-8-3", "--weights", "@final", "--data", TrainedRunFixture.DataSpec] },
        { "path-norm", ["--run", "@run", "--measures", "path-nrom"] },
        { "does not exist", ["--run", "/no/such/run"] },
        { "--arch", ["--weights", "@final", "--data", TrainedRunFixture.DataSpec] },
        { "--examples", ["--run", "@run", "--examples", "0"] },
        { "--dtype", ["--run", "@run", "--dtype", "float16"] },
        { "--init-weights", ["--run", "@run", "--init-weights", "/no/such/init.safetensors"] },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputsGiveOneLineExitCode2AndNoJson(string fragment, string[] args)
    {
        using var tmp = new TempDir();
        var full = new List<string> { "measure" };
        full.AddRange(args.Select(a => a == "@final" ? run.Final : a == "@run" ? run.RunDir : a));
        full.AddRange(["--json", tmp["m.json"]]);
        var r = RunCli(full.ToArray());
        AssertUsageError(r, fragment);
        Assert.False(File.Exists(tmp["m.json"]));
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }
}
