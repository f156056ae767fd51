using System.Text.Json.Nodes;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.TestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Cli;

/// <summary>`geodesy landscape barrier --align weights` on CNNs, `--reset-bn`, and `landscape instability`, on tiny problems.</summary>
public sealed class LandscapePathsCommandTests : IDisposable
{
    private const string Cnn = "cnn:channels=3-4,bn=1";
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=120";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>A seeded CNN with BatchNorm statistics re-estimated on the data (so they are not the defaults), and a copy with its channels shuffled.</summary>
    private (string A, string B) CnnAndChannelPermutedCopy()
    {
        using var split = DataSpecs.Load("mnist");
        using var model = ModelZoo.Create(Cnn, split.Train.InputShape, split.Train.NumClasses, seed: 4);
        BatchNormStatistics.Reestimate(model, split.Train.Take(60), 30);
        SafeTensors.SaveModel(model, _dir["a.safetensors"]);
        var groups = PermutationSpec.For(model, Cnn);
        var rng = new Geodesy.Core.SeededRandom(12);
        var perms = groups.Select(g =>
        {
            var p = Enumerable.Range(0, g.Size).ToArray();
            rng.Shuffle(p);
            return p;
        }).ToArray();
        using var flat = ParameterVector.Flatten(model);
        using var permuted = WeightMatching.Permute(model, Cnn, flat, perms);
        using var stats = BatchNormStatistics.Capture(model);
        using var permutedStats = stats.Permute([perms[0], perms[1]]);
        ParameterVector.Assign(model, permuted);
        permutedStats.AssignTo(model);
        SafeTensors.SaveModel(model, _dir["b.safetensors"]);
        return (_dir["a.safetensors"], _dir["b.safetensors"]);
    }

    [Fact]
    public void AligningAChannelPermutedCnnGivesBarrierZero()
    {
        var (a, b) = CnnAndChannelPermutedCopy();
        string[] common = ["landscape", "barrier", "--arch", Cnn, "--data", "mnist", "--examples", "60", "--a", a, "--b", b, "--points", "5", "--threads", "1"];
        var plain = RunCli([.. common, "--json", _dir["plain.json"]]);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        var before = Read(_dir["plain.json"]);
        Assert.True((double)before["weight_distance"]! > 0.1);
        Assert.Equal("interpolated", (string?)before["batchnorm"]!["statistics"]);

        var r = RunCli([.. common, "--align", "weights", "--json", _dir["aligned.json"], "--plot", _dir["aligned.png"]]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["aligned.json"]);
        Assert.Equal(0.0, (double)doc["weight_distance"]!, 6);
        Assert.Equal(0.0, (double)doc["loss_barrier"]!, 6);
        Assert.Equal(0.0, (double)doc["error_barrier"]!);
        Assert.Equal(["0", "4"], doc["permutation_layers"]!.AsArray().Select(x => (string)x!));
        Assert.Equal([3, 4], doc["permutation"]!.AsArray().Select(p => p!.AsArray().Count));
        // Every point of the path is the same network: the loss is flat.
        var losses = doc["path"]!.AsArray().Select(p => (double)p!["test_loss"]!).ToArray();
        Assert.All(losses, l => Assert.Equal(losses[0], l, 5));
        Assert.True(File.Exists(_dir["aligned.png"]));
    }

    [Fact]
    public void ResetBatchNormReportsItsExamplesAndKeepsEndpointsOfAModelAtItsOwnStatistics()
    {
        var (a, b) = CnnAndChannelPermutedCopy();
        var r = RunCli("landscape", "barrier", "--arch", Cnn, "--data", "mnist", "--examples", "60", "--a", a, "--b", b, "--points", "3",
            "--reset-bn", "--reset-bn-examples", "60", "--stream-batch", "30", "--json", _dir["reset.json"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["reset.json"]);
        Assert.Equal("reset", (string?)doc["batchnorm"]!["statistics"]);
        Assert.Equal(60, (long)doc["batchnorm"]!["reset_examples"]!);
        // A's statistics were re-estimated on the same 60 examples in batches of 30 when it was saved: t = 0 is A exactly.
        var plain = RunCli("landscape", "barrier", "--arch", Cnn, "--data", "mnist", "--examples", "60", "--a", a, "--b", b, "--points", "3",
            "--json", _dir["plain.json"], "--threads", "1");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Equal((double)Read(_dir["plain.json"])["path"]![0]!["train_loss"]!, (double)doc["path"]![0]!["train_loss"]!, 5);

        var slice = RunCli("landscape", "slice", "--arch", Cnn, "--data", "mnist", "--examples", "60", "--weights", a, "--grid=-0.5:0.5:3",
            "--reset-bn", "--json", _dir["slice.json"], "--threads", "1");
        Assert.True(slice.ExitCode == 0, slice.Stderr);
        Assert.Equal("reset", (string?)Read(_dir["slice.json"])["batchnorm"]!["statistics"]);
        Assert.Equal("per-point-forward", (string?)Read(_dir["slice.json"])["evaluation"]!["path"]);

        var bad = RunCli("landscape", "slice", "--arch", Cnn, "--data", "mnist", "--examples", "60", "--weights", a, "--reset-bn-examples", "5", "--json", _dir["bad.json"]);
        AssertUsageError(bad, "--reset-bn-examples needs --reset-bn");
        Assert.False(File.Exists(_dir["bad.json"]));
    }

    private string TrainRun()
    {
        string run = _dir["run"];
        var r = RunCli("train", "--data", Mixture, "--arch", "mlp:6-8-3", "--epochs", "2", "--batch", "16", "--lr", "0.1",
            "--checkpoint-steps", "0,3,6", "--out", run, "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return run;
    }

    [Fact]
    public void InstabilityWritesTheCurveAndRefusesStepsWithoutCheckpoints()
    {
        string run = TrainRun();
        var r = RunCli("landscape", "instability", "--run", run, "--steps", "6,0", "--points", "5",
            "--json", _dir["i.json"], "--csv", _dir["i.csv"], "--plot", _dir["i.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["i.json"]);
        Assert.Equal("geodesy.landscape-instability/1", (string?)doc["schema"]);
        var curve = doc["instability"]!.AsArray();
        Assert.Equal([0L, 6L], curve.Select(p => (long)p!["step"]!));
        foreach (var p in curve)
        {
            Assert.True((double)p!["error_barrier"]! >= 0);
            var copies = p["copies"]!.AsArray();
            Assert.Equal(2, copies.Count);
            Assert.NotEqual((long)copies[0]!["data_order_seed"]!, (long)copies[1]!["data_order_seed"]!);
            Assert.Equal((long)doc["run_steps"]!, (long)copies[0]!["steps"]!);
            Assert.Equal(5, p["path"]!.AsArray().Count);
        }
        Assert.True(doc["cost"]!["training_examples"]!.GetValue<long>() > 0);
        Assert.Equal(3, File.ReadAllLines(_dir["i.csv"]).Length);
        Assert.True(File.Exists(_dir["i.png"]));

        var bad = RunCli("landscape", "instability", "--run", run, "--steps", "0,5", "--json", _dir["bad.json"], "--csv", _dir["bad.csv"]);
        AssertUsageError(bad, "no checkpoint at step 5");
        Assert.False(File.Exists(_dir["bad.json"]));
        Assert.False(File.Exists(_dir["bad.csv"]));
        var beyond = RunCli("landscape", "instability", "--run", run, "--steps", "1000", "--json", _dir["bad.json"]);
        AssertUsageError(beyond, "has only");
        Assert.False(File.Exists(_dir["bad.json"]));
        AssertUsageError(RunCli("landscape", "instability", "--run", run, "--steps", "0,-3", "--json", _dir["bad.json"]), "not a step >= 0");
        AssertUsageError(RunCli("landscape", "instability", "--run", run, "--steps", "0", "--points", "1", "--json", _dir["bad.json"]), "--points");
        Assert.False(File.Exists(_dir["bad.json"]));
    }
    /// <summary>Two seeded softmax regressions (mlp:6-3, a convex loss in the weights) and one model of another architecture.</summary>
    private (string A, string B, string Other) ConvexPair()
    {
        using var split = DataSpecs.Load(Mixture);
        foreach (var (arch, seed, name) in new[] { ("mlp:6-3", 1L, "ca"), ("mlp:6-3", 2L, "cb"), ("mlp:6-4-3", 3L, "other") })
        {
            using var model = ModelZoo.Create(arch, split.Train.InputShape, split.Train.NumClasses, seed);
            SafeTensors.SaveModel(model, _dir[name + ".safetensors"]);
        }
        return (_dir["ca.safetensors"], _dir["cb.safetensors"], _dir["other.safetensors"]);
    }

    /// <summary>
    /// On a convex loss the linear path has no barrier (convexity), and the trained Bezier curve
    /// (which starts as that straight line) has none either, with a mean loss no higher than the line's.
    /// </summary>
    [Fact]
    public void ABezierCurveBetweenTwoPointsOfAConvexProblemHasNoBarrier()
    {
        var (a, b, _) = ConvexPair();
        var r = RunCli("landscape", "connect", "--arch", "mlp:6-3", "--data", Mixture, "--a", a, "--b", b, "--epochs", "3", "--lr", "0.05",
            "--points", "11", "--dtype", "float64", "--json", _dir["c.json"], "--csv", _dir["c.csv"], "--plot", _dir["c.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["c.json"]);
        Assert.Equal("geodesy.landscape-connect/1", (string?)doc["schema"]);
        Assert.Equal("bezier", (string?)doc["curve"]);
        Assert.Equal(0.0, (double)doc["linear_loss_barrier"]!, 12);
        Assert.Equal(0.0, (double)doc["barriers"]!["curve"]!["train"]!["loss_barrier"]!, 12);
        Assert.Equal(0.0, (double)doc["loss_barrier"]!, 12);
        double Mean(string key) => doc[key]!.AsArray().Average(p => (double)p!["train_loss"]!);
        Assert.True(Mean("path") <= Mean("linear_path"), $"curve {Mean("path")} vs line {Mean("linear_path")}");
        Assert.True((double)doc["bend_distance_from_midpoint"]! > 0);
        Assert.Equal(11, doc["path"]!.AsArray().Count);
        Assert.Equal(12, File.ReadAllLines(_dir["c.csv"]).Length);
        Assert.True(File.Exists(_dir["c.png"]));
    }

    [Fact]
    public void ASimplexReportsPointsInsideWithAndWithoutTheTrainedVertex()
    {
        var (a, b, _) = ConvexPair();
        var r = RunCli("landscape", "connect", "--arch", "mlp:6-3", "--data", Mixture, "--simplex", $"{a},{b}", "--epochs", "2", "--samples", "8",
            "--json", _dir["s.json"], "--csv", _dir["s.csv"], "--plot", _dir["s.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["s.json"]);
        Assert.Equal("simplex", (string?)doc["kind"]);
        Assert.Equal(8, doc["samples"]!.AsArray().Count);
        foreach (var p in doc["samples"]!.AsArray())
        {
            var c = p!["coordinates"]!.AsArray().Select(x => (double)x!).ToArray();
            Assert.Equal(3, c.Length);
            Assert.All(c, x => Assert.InRange(x, 0, 1));
            Assert.Equal(1.0, c.Sum(), 12);
        }
        Assert.Equal(3, doc["vertex_values"]!.AsArray().Count);
        Assert.Equal(17, File.ReadAllLines(_dir["s.csv"]).Length);
        Assert.True(File.Exists(_dir["s.png"]));
    }

    /// <summary>
    /// With --grid the simplex is evaluated on its lattice: the given-only points of two vertices are the linear path,
    /// so they must equal `landscape barrier`'s path at the same t (a separate code path), and the corners the vertices.
    /// </summary>
    [Fact]
    public void ASimplexOnAGridHoldsTheLinearPathOfBarrier()
    {
        var (a, b, _) = ConvexPair();
        var r = RunCli("landscape", "connect", "--arch", "mlp:6-3", "--data", Mixture, "--simplex", $"{a},{b}", "--epochs", "1", "--grid", "4",
            "--json", _dir["g.json"], "--plot", _dir["g.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var barrier = RunCli("landscape", "barrier", "--arch", "mlp:6-3", "--data", Mixture, "--a", a, "--b", b, "--points", "5", "--json", _dir["b.json"], "--threads", "1");
        Assert.True(barrier.ExitCode == 0, barrier.Stderr);
        var doc = Read(_dir["g.json"]);
        Assert.Equal(4, (int)doc["grid"]!);
        Assert.Equal(15, doc["samples"]!.AsArray().Count);   // 6 choose 2 lattice points of the triangle
        var given = doc["given_only_samples"]!.AsArray();
        var path = Read(_dir["b.json"])["path"]!.AsArray();
        Assert.Equal(5, given.Count);
        for (int i = 0; i < 5; i++)
        {
            // The lattice starts at vertex 0 (t = 0) and walks to vertex 1.
            Assert.Equal((double)path[i]!["t"]!, (double)given[i]!["coordinates"]![1]!, 12);
            Assert.Equal((double)path[i]!["train_loss"]!, (double)given[i]!["train_loss"]!, 5);
        }
        var corner = doc["samples"]!.AsArray()[0]!;
        Assert.Equal((double)doc["vertex_values"]![0]!["train_loss"]!, (double)corner["train_loss"]!, 6);
        Assert.True(File.Exists(_dir["g.png"]));
        AssertUsageError(RunCli("landscape", "connect", "--arch", "mlp:6-3", "--data", Mixture, "--simplex", $"{a},{b}", "--grid", "0", "--json", _dir["bad.json"]), "--grid");
        Assert.False(File.Exists(_dir["bad.json"]));
    }

    [Fact]
    public void ConnectRefusesBadInputWithOneLineAndNoOutput()
    {
        var (a, b, other) = ConvexPair();
        string[] common = ["landscape", "connect", "--arch", "mlp:6-3", "--data", Mixture, "--json", _dir["bad.json"], "--plot", _dir["bad.png"]];
        AssertUsageError(RunCli([.. common, "--a", a, "--b", other]), "does not fit --arch");
        AssertUsageError(RunCli([.. common, "--a", a, "--b", _dir["missing.safetensors"]]), "does not exist");
        AssertUsageError(RunCli([.. common, "--a", a, "--b", b, "--simplex", $"{a},{b}"]), "either --b");
        AssertUsageError(RunCli([.. common, "--simplex", a]), "at least two");
        AssertUsageError(RunCli([.. common, "--a", a, "--b", b, "--points", "0"]), "--points");
        AssertUsageError(RunCli([.. common, "--a", a, "--b", b, "--epochs", "0"]), "--epochs");
        Assert.False(File.Exists(_dir["bad.json"]));
        Assert.False(File.Exists(_dir["bad.png"]));
    }
}
