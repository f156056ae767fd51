using System.Text.Json.Nodes;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>`geodesy landscape subspace|goldilocks|criticality|stiffness`: documents, CSV, PNG and bad input on a tiny trained run.</summary>
[Trait(TestCategory.Key, TestCategory.Slow)]
public sealed class LandscapeGeometryCommandTests : IClassFixture<TinyCurvatureModel>
{
    private readonly TinyCurvatureModel _tiny;
    public LandscapeGeometryCommandTests(TinyCurvatureModel tiny) => _tiny = tiny;

    private string Temp(string name) => _tiny.Temp($"geometry-{Guid.NewGuid():N}-{name}");

    private static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>Runs the verb with --json, --csv and --plot and checks the common keys and files.</summary>
    private JsonObject Run(string verb, params string[] args)
    {
        string json = Temp("doc.json"), csv = Temp("grid.csv"), png = Temp("plot.png");
        var r = RunCli(["landscape", verb, "--run", _tiny.RunDir, .. args, "--threads", "1", "--json", json, "--csv", csv, "--plot", png]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var doc = Read(json);
        Assert.Equal($"geodesy.landscape-{verb}/1", (string?)doc["schema"]);
        foreach (var key in new[] { "matvecs", "gradients", "seconds", "threads" }) Assert.NotNull(doc["cost"]![key]);
        foreach (var key in new[] { "version", "git", "command", "data_sha256" }) Assert.True(doc["provenance"]!.AsObject().ContainsKey(key), key);
        Assert.True(File.ReadAllLines(csv).Length >= 2);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(png).Take(4).ToArray());
        return doc;
    }

    [Fact]
    public void SubspaceReportsAccuracyPerDimensionAndDInt90()
    {
        var doc = Run("subspace", "--dims", "2,20," + TinyCurvatureModel.Params, "--epochs", "3", "--lr", "0.05", "--optimizer", "momentum");
        var points = doc["points"]!.AsArray();
        Assert.Equal(new long[] { 2, 20, TinyCurvatureModel.Params }, points.Select(p => (long)p!["d"]!));
        Assert.Equal("completed", (string?)doc["baseline"]!["status"]);
        double baseline = (double)doc["baseline"]!["test_accuracy"]!;
        long? dInt = (long?)doc["d_int90"];
        var reached = points.Where(p => (double)p!["test_accuracy"]! >= 0.9 * baseline).Select(p => (long)p!["d"]!).ToArray();
        Assert.Equal(reached.Length == 0 ? null : reached.Min(), dInt);
    }

    [Fact]
    public void GoldilocksReportsCurvatureStatisticsPerRadius()
    {
        var doc = Run("goldilocks", "--radii", "0.5,2,8", "--dim", "4", "--hyperplanes", "2", "--examples", "100", "--optimize", "--epochs", "1");
        var points = doc["points"]!.AsArray();
        Assert.Equal(3, points.Count);
        foreach (var p in points)
        {
            double f = (double)p!["fraction_positive"]!;
            Assert.InRange(f, 0, 1);
            Assert.InRange((double)p["trace_over_frobenius"]!, -2.0 - 1e-9, 2.0 + 1e-9); // |Tr|/||.||_F <= sqrt(d)
            Assert.Equal(2, p["per_hyperplane"]!.AsArray().Count);
            Assert.NotNull(p["low_loss_reached"]);
        }
        Assert.Equal(3L * 2 * 4, (long)doc["cost"]!["matvecs"]!);
        Assert.True((double)doc["init_radius"]! > 0);
    }

    [Fact]
    public void CriticalityReportsEveryModuleAndTheirSum()
    {
        var doc = Run("criticality", "--epsilon", "0.3", "--alphas", "0,0.5,1", "--sigmas", "0.01,0.1,1", "--noise-samples", "2");
        var modules = doc["modules"]!.AsArray();
        Assert.Equal(new[] { "0", "2" }, modules.Select(m => (string?)m!["module"]));
        if ((string?)doc["status"] == "feasible")
            Assert.Equal(modules.Sum(m => (double)m!["criticality"]!), (double)doc["network_criticality"]!, 9);
    }

    [Fact]
    public void StiffnessWritesTheClassMatrixAndTheDistancePlot()
    {
        string distance = Temp("distance.png");
        var doc = Run("stiffness", "--examples", "60", "--bins", "4", "--distance-plot", distance);
        Assert.True(File.Exists(distance));
        var matrix = doc["class_cosine"]!.AsArray();
        Assert.Equal(3, matrix.Count);
        Assert.Equal(60L * 59 / 2, doc["distance_bins"]!.AsArray().Sum(b => (long)b!["pairs"]!));
        Assert.Equal("closed-form", (string?)doc["gradient_method"]);
    }

    [Theory]
    [InlineData("subspace", "--dims", "", "--dims: give at least one value")]
    [InlineData("subspace", "--dims", "0,5", "--dims: 0 is not a positive dimension")]
    [InlineData("subspace", "--dims", "-3", "--dims: -3 is not a positive dimension")]
    [InlineData("subspace", "--dims", "5,100000", "larger than the model's 83 parameters")]
    [InlineData("goldilocks", "--radii", "", "--radii: give at least one value")]
    [InlineData("goldilocks", "--radii", "1,-2", "--radii: -2 is not a positive radius")]
    [InlineData("goldilocks", "--radii", "0", "--radii: 0 is not a positive radius")]
    [InlineData("goldilocks", "--dim", "84", "larger than the model's 83 parameters")]
    [InlineData("criticality", "--alphas", "", "--alphas: give at least one value")]
    [InlineData("criticality", "--sigmas", "0,0.1", "--sigmas: 0 is outside (0, 1]")]
    [InlineData("criticality", "--alphas", "-0.5", "--alphas: -0.5 is outside [0, 1]")]
    [InlineData("stiffness", "--examples", "1", "--examples must be at least 2")]
    [InlineData("stiffness", "--bins", "0", "--bins must be at least 1")]
    public void BadInputIsOneLineExitTwoAndNoOutput(string verb, string option, string value, string message)
    {
        string json = Temp("bad.json");
        string[] required = verb switch
        {
            "subspace" when option != "--dims" => ["--dims", "2"],
            "goldilocks" when option != "--radii" => ["--radii", "1"],
            _ => [],
        };
        var r = RunCli(["landscape", verb, "--run", _tiny.RunDir, option, value, .. required, "--threads", "1", "--json", json]);
        AssertUsageError(r, message);
        Assert.False(File.Exists(json));
    }
}
