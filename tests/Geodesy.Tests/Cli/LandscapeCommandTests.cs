using System.Text.Json.Nodes;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>`geodesy landscape slice|barrier`: documents, CSV, PNG and bad input, on seeded tiny models.</summary>
public sealed class LandscapeCommandTests : IDisposable
{
    private const string Data = "gaussian-mixture:classes=3,dim=6,sep=4,n=60";
    private const string Arch = "mlp:6-8-5-3";
    private readonly TempDir _dir = new();

    public LandscapeCommandTests()
    {
        using var split = DataSpecs.Load(Data);
        Save(Arch, 1, A);
        Save(Arch, 2, B);
        Save("mlp:6-5-3", 3, Other);
        // A with its hidden units shuffled: the same function, other weights.
        using (var model = ModelZoo.Create(Arch, split.Train.InputShape, split.Train.NumClasses, 1, TorchSharp.torch.ScalarType.Float64))
        {
            var rng = new Geodesy.Core.SeededRandom(9);
            int[] p0 = Enumerable.Range(0, 8).ToArray(), p1 = Enumerable.Range(0, 5).ToArray();
            rng.Shuffle(p0);
            rng.Shuffle(p1);
            using var permuted = TorchSharp.torch.tensor(Landscape.WeightMatchingTests.PermuteByHand(model, p0, p1), TorchSharp.torch.ScalarType.Float64);
            ParameterVector.Assign(model, permuted);
            model.to(TorchSharp.torch.ScalarType.Float32);
            SafeTensors.SaveModel(model, Permuted);
        }

        void Save(string arch, long seed, string path)
        {
            using var model = ModelZoo.Create(arch, split.Train.InputShape, split.Train.NumClasses, seed);
            SafeTensors.SaveModel(model, path);
        }
    }

    private string A => _dir["a.safetensors"];
    private string B => _dir["b.safetensors"];
    private string Other => _dir["other.safetensors"];
    private string Permuted => _dir["permuted.safetensors"];

    public void Dispose() => _dir.Dispose();

    private static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    [Fact]
    public void OneDimensionalSliceWritesTheDocumentCsvAndPlot()
    {
        var r = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid", "-1:1:5", "--examples", "40",
            "--json", _dir["s.json"], "--csv", _dir["s.csv"], "--plot", _dir["s.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["s.json"]);
        Assert.Equal("geodesy.landscape-slice/1", (string?)doc["schema"]);
        var points = doc["points"]!.AsArray();
        Assert.Equal(5, points.Count);
        Assert.Equal([-1, -0.5, 0, 0.5, 1], points.Select(p => (double)p!["alpha"]!));
        foreach (var key in new[] { "train_loss", "train_accuracy", "test_loss", "test_accuracy" })
        {
            Assert.NotNull(points[0]![key]);
            Assert.NotNull(doc["centre"]![key]);
        }
        Assert.Null(points[0]!["beta"]);
        // α = 0 is the centre.
        Assert.Equal((double)doc["centre"]!["train_loss"]!, (double)points[2]!["train_loss"]!, 6);
        Assert.Equal(40, (int)doc["data"]!["train_examples"]!);
        Assert.Equal("filter", (string?)doc["directions"]![0]!["normalization"]);
        Assert.Equal("first-layer-precompute", (string?)doc["evaluation"]!["path"]);
        Assert.Equal(6L * 80, (long)doc["cost"]!["forward_examples"]!);
        Assert.NotNull(doc["provenance"]!["weights_sha256"]);
        var csv = File.ReadAllLines(_dir["s.csv"]);
        Assert.Equal("alpha,train_loss,train_accuracy,test_loss,test_accuracy", csv[0]);
        Assert.Equal(6, csv.Length);
        Assert.True(new FileInfo(_dir["s.png"]).Length > 1000);
    }

    [Fact]
    public void TwoDimensionalSliceHasBetaAndOrthogonalDirections()
    {
        var r = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid", "-1:1:3", "--grid2", "-0.5:0.5:2",
            "--direction2", "random", "--normalization", "layer", "--json", _dir["s2.json"], "--csv", _dir["s2.csv"], "--plot", _dir["s2.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["s2.json"]);
        var points = doc["points"]!.AsArray();
        Assert.Equal(6, points.Count);
        Assert.Equal([-0.5, 0.5], points.Take(2).Select(p => (double)p!["beta"]!));
        Assert.Equal(2, (int)doc["dimensions"]!);
        Assert.Equal(0, (double)doc["directions_cosine"]!, 6);
        Assert.Equal(7, File.ReadAllLines(_dir["s2.csv"]).Length);
        Assert.True(new FileInfo(_dir["s2.png"]).Length > 1000);
    }

    [Fact]
    public void SliceTowardAnotherModelReachesItAtAlphaOne()
    {
        var toward = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid", "0:1:2",
            "--direction", "toward:" + B, "--json", _dir["t.json"], "--threads", "1");
        Assert.True(toward.ExitCode == 0, toward.Stderr);
        var atB = RunCli("landscape", "slice", "--arch", Arch, "--weights", B, "--data", Data, "--grid", "0:1:2", "--json", _dir["b.json"], "--threads", "1");
        Assert.True(atB.ExitCode == 0, atB.Stderr);
        double reached = (double)Read(_dir["t.json"])["points"]![1]!["train_loss"]!;
        Assert.Equal((double)Read(_dir["b.json"])["centre"]!["train_loss"]!, reached, 5);
    }

    /// <summary>Along eigen:1 the central second difference of the train loss is the top Hessian eigenvalue (float64).</summary>
    [Fact]
    public void SliceAlongTheTopEigenvectorCurvesByTheTopEigenvalue()
    {
        const double h = 1e-3;
        var r = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid", FormattableString.Invariant($"{-h}:{h}:3"), "--direction", "eigen:1",
            "--dtype", "float64", "--json", _dir["e.json"], "--plot", _dir["e.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["e.json"]);
        var direction = doc["directions"]![0]!;
        Assert.Equal("eigen", (string?)direction["kind"]);
        Assert.Equal(1.0, (double)direction["norm"]!, 9);
        double lambda = (double)direction["eigenvalue"]!;
        var loss = doc["points"]!.AsArray().Select(p => (double)p!["train_loss"]!).ToArray();
        Assert.Equal(lambda, (loss[0] - 2 * loss[1] + loss[2]) / (h * h), Math.Abs(lambda) * 1e-3);
        Assert.True((long)doc["cost"]!["matvecs"]! > 0);
        AssertUsageError(RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--direction", "eigen:0"), "eigen:K needs an integer K >= 1");
    }

    [Fact]
    public void BarrierBetweenIdenticalModelsIsZero()
    {
        var r = RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", A, "--points", "5",
            "--json", _dir["z.json"], "--csv", _dir["z.csv"], "--plot", _dir["z.png"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["z.json"]);
        Assert.Equal("geodesy.landscape-barrier/1", (string?)doc["schema"]);
        Assert.Equal(0, (double)doc["loss_barrier"]!, 6);
        Assert.Equal(0, (double)doc["error_barrier"]!, 12);
        Assert.Contains("max over t", (string?)doc["barrier_definition"]);
        var path = doc["path"]!.AsArray();
        Assert.Equal([0, 0.25, 0.5, 0.75, 1], path.Select(p => (double)p!["t"]!));
        foreach (var key in new[] { "train_loss", "train_error", "test_loss", "test_error" }) Assert.NotNull(path[0]![key]);
        Assert.Equal("t,train_loss,train_error,test_loss,test_error", File.ReadAllLines(_dir["z.csv"])[0]);
        Assert.True(new FileInfo(_dir["z.png"]).Length > 1000);
    }

    [Fact]
    public void BarrierOfTwoModelsMatchesItsPath()
    {
        var r = RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", B, "--points", "7", "--json", _dir["ab.json"], "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = Read(_dir["ab.json"]);
        var path = doc["path"]!.AsArray();
        var t = path.Select(p => (double)p!["t"]!).ToArray();
        var loss = path.Select(p => (double)p!["test_loss"]!).ToArray();
        double expected = t.Select((ti, i) => loss[i] - ((1 - ti) * loss[0] + ti * loss[^1])).Max();
        Assert.Equal(Math.Max(0, expected), (double)doc["loss_barrier"]!, 9);
    }

    [Fact]
    public void WeightMatchingAlignsAPermutedCopyToBarrierZero()
    {
        var plain = RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", Permuted, "--points", "5", "--json", _dir["p.json"], "--threads", "1");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        var aligned = RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", Permuted, "--points", "5", "--align", "weights",
            "--json", _dir["pa.json"], "--threads", "1");
        Assert.True(aligned.ExitCode == 0, aligned.Stderr);
        var before = Read(_dir["p.json"]);
        var after = Read(_dir["pa.json"]);
        Assert.Null(before["permutation"]);
        Assert.True((double)before["weight_distance"]! > 0.1);
        Assert.Equal("weights", (string?)after["align"]);
        Assert.Equal(0, (double)after["weight_distance"]!, 12);
        Assert.Equal(0, (double)after["loss_barrier"]!, 12);
        Assert.Equal(0, (double)after["error_barrier"]!, 12);
        var permutation = after["permutation"]!.AsArray();
        Assert.Equal([8, 5], permutation.Select(p => p!.AsArray().Count));
    }

    [Fact]
    public void WeightMatchingWithoutHiddenLayersIsAUsageErrorWithoutOutput()
    {
        using (var split = DataSpecs.Load(Data))
        using (var linear = ModelZoo.Create("mlp:6-3", split.Train.InputShape, split.Train.NumClasses, seed: 1))
            SafeTensors.SaveModel(linear, _dir["linear.safetensors"]);
        var r = RunCli("landscape", "barrier", "--arch", "mlp:6-3", "--data", Data, "--a", _dir["linear.safetensors"], "--b", _dir["linear.safetensors"],
            "--align", "weights", "--json", _dir["bad.json"]);
        AssertUsageError(r, "no hidden layer");
        Assert.False(File.Exists(_dir["bad.json"]));
    }

    [Theory]
    [InlineData("1:1:5", "HI must be larger than LO")]
    [InlineData("1:-1:5", "HI must be larger than LO")]
    [InlineData("-1:1:1", "N must be at least 2")]
    [InlineData("-1:1", "expected LO:HI:N")]
    [InlineData("x:1:3", "is not a finite number")]
    public void BadGridsAreUsageErrorsWithoutOutput(string grid, string message)
    {
        var r = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid=" + grid, "--json", _dir["bad.json"], "--plot", _dir["bad.png"]);
        AssertUsageError(r, message);
        Assert.False(File.Exists(_dir["bad.json"]));
        Assert.False(File.Exists(_dir["bad.png"]));
    }

    [Fact]
    public void ModelsOfDifferentArchitecturesAreUsageErrorsWithoutOutput()
    {
        var barrier = RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", Other, "--json", _dir["bad.json"], "--csv", _dir["bad.csv"]);
        AssertUsageError(barrier, "--b does not fit --arch");
        var slice = RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--direction", "toward:" + Other, "--json", _dir["bad.json"]);
        AssertUsageError(slice, "does not fit --arch");
        Assert.False(File.Exists(_dir["bad.json"]));
        Assert.False(File.Exists(_dir["bad.csv"]));
        Assert.Empty(Directory.GetFiles(_dir.Path, ".*tmp"));
    }

    [Fact]
    public void OtherBadInputsAreUsageErrors()
    {
        AssertUsageError(RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--direction", "eastward"), "unknown direction");
        AssertUsageError(RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--grid2", "-1:1:3"), "give --direction2");
        AssertUsageError(RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", B, "--points", "1"), "--points must be at least 2");
        AssertUsageError(RunCli("landscape", "barrier", "--arch", Arch, "--data", Data, "--a", A, "--b", _dir["missing.safetensors"]), "does not exist");
        AssertUsageError(RunCli("landscape", "slice", "--arch", Arch, "--weights", A, "--data", Data, "--examples", "0"), "--examples");
    }
}
