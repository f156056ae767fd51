using System.Text.Json.Nodes;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>
/// `geodesy bench`: every documented key is written with a sane value on a tiny model. Times are
/// machine-dependent, so nothing here asserts on them beyond being positive and finite.
/// </summary>
public class BenchCommandTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=120";
    private const string Arch = "mlp:6-8-3";
    /// <summary>6*8 + 8 + 8*3 + 3.</summary>
    private const long ArchParams = 83;
    /// <summary>Agreement asked of Lanczos and power iteration at --tol 1e-3 in float64.</summary>
    private const double EigenAgreement = 1e-2;
    /// <summary>Exact trace (P unit-vector products) against Hutch++ with a full-rank sketch, float64.</summary>
    private const double ExactTraceTolerance = 1e-8;

    private static JsonNode RunJson(TempDir tmp, params string[] args)
    {
        string path = tmp["bench.json"];
        var r = RunCli([.. args, "--json", path]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal("geodesy.bench/1", (string?)json["schema"]);
        Assert.Equal(args[1], (string?)json["benchmark"]);
        Assert.NotNull(json["provenance"]!["data_sha256"]);
        Assert.NotNull(json["load_average"]);
        return json;
    }

    private static double PositiveFinite(JsonNode json, string key)
    {
        var node = json[key];
        Assert.True(node is not null, $"missing key {key}");
        double value = (double)node!;
        Assert.True(double.IsFinite(value) && value > 0, $"{key} = {value}");
        return value;
    }

    [Fact]
    public void GradHvpWritesMediansRatiosAndRepetitions()
    {
        using var tmp = new TempDir();
        var json = RunJson(tmp, "bench", "grad-hvp", "--data", Mixture, "--arch", Arch, "--batch", "50", "--reps", "2", "--warmup", "1");
        foreach (var key in new[] { "grad_ms", "hvp_ms", "hvp_kept_forward_ms", "ggnvp_ms", "hvp_over_grad", "ggnvp_over_grad", "hvp_double_backprop_over_grad" }) PositiveFinite(json, key);
        Assert.Equal("r-operator", (string?)json["hvp_method"]);
        Assert.Equal(ArchParams, (long)json["params"]!);
        Assert.Equal(50, (long)json["examples"]!);
        foreach (var key in new[] { "grad_ms_reps", "hvp_ms_reps", "ggnvp_ms_reps" })
        {
            var reps = json[key]!.AsArray();
            Assert.Equal(2, reps.Count);
            Assert.All(reps, t => Assert.True((double)t! > 0));
        }
        // The ratio is the ratio of the medians (of two values: their means).
        Assert.Equal((double)json["hvp_ms"]! / (double)json["grad_ms"]!, (double)json["hvp_over_grad"]!, 1e-2);
        // Warm-up + timed repetitions: one HVP by each method, one with a kept forward and one GGN product each, one gradient each.
        Assert.Equal(12, (long)json["cost"]!["matvecs"]!);
        Assert.Equal(3, (long)json["cost"]!["gradients"]!);
        Assert.Equal("seeded-init", (string?)json["weights"]);
    }

    [Fact]
    public void PerExampleComparesNormsWithOneGradient()
    {
        using var tmp = new TempDir();
        var json = RunJson(tmp, "bench", "per-example", "--data", Mixture, "--arch", Arch, "--batch", "40", "--reps", "2", "--warmup", "0");
        foreach (var key in new[] { "per_example_ms", "grad_ms", "per_example_over_grad" }) PositiveFinite(json, key);
        Assert.Equal("closed-form", (string?)json["per_example_method"]);
        Assert.Equal(40, (long)json["examples"]!);
    }

    [Fact]
    public void TrainReportsThroughputAndLoopOverhead()
    {
        using var tmp = new TempDir();
        var json = RunJson(tmp, "bench", "train", "--data", Mixture, "--arch", Arch, "--epochs", "2", "--batch", "32");
        foreach (var key in new[] { "examples_per_second", "epoch_seconds", "forward_backward_seconds", "epoch_over_forward_backward", "forward_backward_step_seconds", "epoch_over_forward_backward_step" })
            PositiveFinite(json, key);
        Assert.Equal(120, (long)json["examples"]!);
        Assert.Equal(4, (long)json["steps_per_epoch"]!);
        Assert.Equal(2, json["epoch_seconds_reps"]!.AsArray().Count);
        // Baseline before and after training, once per epoch each.
        Assert.Equal(4, json["forward_backward_seconds_reps"]!.AsArray().Count);
        Assert.Equal(120 / (double)json["epoch_seconds"]!, (double)json["examples_per_second"]!, 1e-3 * (double)json["examples_per_second"]!);
    }

    [Fact]
    public void EigenCountsProductsOfBothSolversAndTheyAgree()
    {
        using var tmp = new TempDir();
        var r = RunCli("bench", "eigen", "--data", Mixture, "--arch", Arch, "--subset", "60", "--k", "2", "--tol", "1e-3",
            "--dtype", "float64", "--json", tmp["e.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("seeded initialization", r.Stdout);
        var json = JsonNode.Parse(File.ReadAllText(tmp["e.json"]))!;
        foreach (var key in new[] { "lanczos_matvecs", "power_matvecs", "matvec_ratio", "time_ratio", "lanczos_seconds", "power_seconds" })
            PositiveFinite(json, key);
        Assert.Equal((double)(long)json["power_matvecs"]! / (long)json["lanczos_matvecs"]!, (double)json["matvec_ratio"]!, 1e-3);
        Assert.Equal((long)json["lanczos_matvecs"]! + (long)json["power_matvecs"]!, (long)json["cost"]!["matvecs"]!);
        Assert.Equal(2, json["lanczos_eigenvalues"]!.AsArray().Count);
        Assert.True((double)json["max_relative_difference"]! < EigenAgreement, json["max_relative_difference"]!.ToJsonString());
        Assert.Equal(60, (long)json["examples"]!);
    }

    [Fact]
    public void TraceUsesTheExactTraceOfASmallModelAsReference()
    {
        using var tmp = new TempDir();
        const string small = "mlp:6-4-3";
        const long smallParams = 6 * 4 + 4 + 4 * 3 + 3;
        var json = RunJson(tmp, "bench", "trace", "--data", Mixture, "--arch", small, "--subset", "60", "--seeds", "1",
            "--max-budget", "8", "--dtype", "float64");
        var reference = json["reference"]!;
        Assert.Equal("exact", (string?)reference["method"]);
        Assert.Equal(smallParams, (long)reference["matvecs"]!);
        Assert.Equal(8L, (long)json["hutchinson_budgets"]!.AsArray()[0]!);
        Assert.Equal(8L, (long)json["hutchpp_budgets"]!.AsArray()[0]!);
        Assert.True(json.AsObject().ContainsKey("hutchinson_matvecs"));
        Assert.True(json.AsObject().ContainsKey("hutchpp_matvecs"));
        Assert.True(json.AsObject().ContainsKey("matvec_ratio"));

        // Hutch++ whose sketch spans the whole space is exact: an independent check of the reference.
        using var data = DataSpecs.Load(Mixture, new DataOptions(Subset: 60));
        using var model = ModelZoo.Create(small, data.Train.InputShape, data.Train.NumClasses, seed: 0);
        model.to(torch.ScalarType.Float64); // as the bench does: seeded float32 init, then converted
        var problem = CurvatureProblem.FromData(model, data.Train.Inputs, data.Train.Labels);
        var full = TraceEstimators.HutchPlusPlus(new HessianOperator(problem),
            new TraceOptions { SketchSize = (int)smallParams, MaxMatvecs = 2 * smallParams + 2 });
        double exact = (double)reference["estimate"]!;
        Assert.Equal(full.Estimate, exact, ExactTraceTolerance * Math.Max(1, Math.Abs(exact)));
    }

    [Fact]
    public void WeightsAreLoadedAndHashed()
    {
        using var tmp = new TempDir();
        using var data = DataSpecs.Load(Mixture);
        using var model = ModelZoo.Create(Arch, data.Train.InputShape, data.Train.NumClasses, seed: 5);
        SafeTensors.SaveModel(model, tmp["w.safetensors"]);
        var json = RunJson(tmp, "bench", "grad-hvp", "--data", Mixture, "--arch", Arch, "--batch", "20", "--reps", "1", "--warmup", "0",
            "--weights", tmp["w.safetensors"]);
        Assert.Equal(tmp["w.safetensors"], (string?)json["weights"]);
        Assert.Equal(64, ((string?)json["provenance"]!["weights_sha256"])!.Length);
    }

    [Theory]
    [InlineData("--reps", "0", "--reps")]
    [InlineData("--warmup", "-1", "--warmup")]
    [InlineData("--examples", "500", "--examples 500")]
    [InlineData("--dtype", "float16", "--dtype")]
    [InlineData("--weights", "/nonexistent/w.safetensors", "does not exist")]
    public void BadGradHvpArgumentsExitWithUsageError(string option, string value, string fragment)
    {
        using var tmp = new TempDir();
        var r = RunCli("bench", "grad-hvp", "--data", Mixture, "--arch", Arch, option, value, "--json", tmp["x.json"]);
        AssertUsageError(r, fragment);
        Assert.False(File.Exists(tmp["x.json"]));
    }

    [Fact]
    public void OtherBadArgumentsExitWithUsageError()
    {
        AssertUsageError(RunCli("bench", "grad-hvp", "--data", Mixture), "--arch");
        AssertUsageError(RunCli("bench", "eigen", "--data", Mixture, "--arch", Arch, "--tol", "2"), "--tol");
        AssertUsageError(RunCli("bench", "eigen", "--data", Mixture, "--arch", Arch, "--k", "0"), "--k");
        AssertUsageError(RunCli("bench", "train", "--data", Mixture, "--arch", Arch, "--epochs", "0"), "--epochs");
        AssertUsageError(RunCli("bench", "trace", "--data", Mixture, "--arch", Arch, "--seeds", "0"), "--seeds");
        AssertUsageError(RunCli("bench", "grad-hvp", "--data", Mixture, "--arch", "mlp:5-8-3"), "mlp:5-8-3");
        AssertUsageError(RunCli("bench", "--arch", Arch), "required command");
    }

    [Fact]
    public void ProbesWritesPairedTimesOverheadAndPerProbeCosts()
    {
        using var tmp = new TempDir();
        var json = RunJson(tmp, "bench", "probes", "--data", Mixture, "--arch", Arch, "--epochs", "1", "--batch", "16",
            "--probe", "hessian-top@every=3", "--probe", "fisher-trace:on=batch@every=2", "--probe-examples", "40", "--reps", "2");
        Assert.Equal(2, json["plain_seconds_reps"]!.AsArray().Count);
        Assert.Equal(2, json["probed_seconds_reps"]!.AsArray().Count);
        PositiveFinite(json, "plain_seconds");
        PositiveFinite(json, "probed_seconds");
        PositiveFinite(json, "probe_seconds");
        Assert.True(double.IsFinite((double)json["overhead"]!));
        Assert.Equal(8, (long)json["steps"]!); // 120 examples in a 0.8 train split / 16
        var per = json["per_probe"]!.AsObject();
        Assert.Equal(3, (long)per["hessian-top"]!["rows"]!); // steps 0, 3, 6 (not 8: no final multiple)
        Assert.True((long)per["hessian-top"]!["matvecs"]! > 0);
        var calls = per["hessian-top"]!["calls"]!.AsArray();
        Assert.Equal([0L, 3L, 6L], calls.Select(c => (long)c!["step"]!));
        Assert.Equal((long)per["hessian-top"]!["matvecs"]!, calls.Sum(c => (long)c!["matvecs"]!));
        Assert.Equal(["gradient", "previous", "previous"], calls.Select(c => (string)c!["start"]!)); // the first call has no previous eigenvector
        Assert.All(calls, c => Assert.Equal("converged", (string)c!["status"]!));
        Assert.True((double)json["recorder_seconds"]! >= (double)json["probe_seconds"]!);
        Assert.Equal(4, (long)per["fisher-trace"]!["rows"]!); // steps 0, 2, 4, 6 on the batch; 8 has none
        Assert.True((long)json["cost"]!["matvecs"]! > 0);
        AssertUsageError(RunCli("bench", "probes", "--data", Mixture, "--arch", Arch, "--reps", "0"), "--reps");
        AssertUsageError(RunCli("bench", "probes", "--data", Mixture, "--arch", Arch, "--probe", "bogus"), "unknown probe 'bogus'");
    }
}
