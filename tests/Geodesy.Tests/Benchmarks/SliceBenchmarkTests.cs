using System.Text.Json.Nodes;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Benchmarks;

/// <summary>`geodesy bench slice` runs and reports its keys (no timing asserts).</summary>
public sealed class SliceBenchmarkTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void WritesTheRatioAndItsParts()
    {
        var r = RunCli("bench", "slice", "--arch", "mlp:784-8-10", "--examples", "40", "--grid", "3", "--reps", "1", "--warmup", "0",
            "--threads", "1", "--json", _dir["b.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var doc = JsonNode.Parse(File.ReadAllText(_dir["b.json"]))!.AsObject();
        Assert.Equal("slice", (string?)doc["benchmark"]);
        Assert.Equal(9, (int)doc["points"]!);
        Assert.Equal(40, (long)doc["examples_per_point"]!);
        Assert.True((double)doc["slice_over_forward"]! > 0);
        Assert.Equal("first-layer-precompute", (string?)doc["evaluation"]!["path"]);
        Assert.Equal(1, (int)doc["threads"]!);
        AssertUsageError(RunCli("bench", "slice", "--arch", "mlp:784-8-10", "--grid", "1", "--json", _dir["bad.json"]), "--grid");
        Assert.False(File.Exists(_dir["bad.json"]));
    }
}
