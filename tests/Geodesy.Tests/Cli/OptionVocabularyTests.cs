using System.Text.Json.Nodes;
using Geodesy.Experiments.Specs;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>
/// One option vocabulary: `--examples N` is the first N training examples a computation uses,
/// `--stream-batch` the streaming batch, `--subset` the stratified training subset of a run spec;
/// the old names (`curvature --subset`, `curvature --batch`, `bench grad-hvp --batch`) stay as
/// hidden aliases with the same results.
/// </summary>
public sealed class OptionVocabularyTests(TinyCurvatureModel tiny) : IClassFixture<TinyCurvatureModel>
{
    private JsonNode Curvature(string name, params string[] extra)
    {
        string json = tiny.Temp($"{name}-{Guid.NewGuid():N}.json");
        string[] args = ["curvature", "--arch", TinyCurvatureModel.Arch, "--weights", tiny.Weights, "--data", TinyCurvatureModel.Spec,
            "--top-k", "2", "--dtype", "float64", "--threads", "1", "--json", json, .. extra];
        var r = RunCli(args);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        return JsonNode.Parse(File.ReadAllText(json))!;
    }

    [Fact]
    public void CurvatureSubsetIsTheOldNameOfExamples()
    {
        var byNew = Curvature("new", "--examples", "120", "--stream-batch", "50");
        var byOld = Curvature("old", "--subset", "120", "--batch", "50");
        Assert.Equal(120, (long)byNew["examples"]!);
        foreach (var key in new[] { "examples", "loss", "gradient_norm" })
            Assert.Equal(byNew[key]!.ToJsonString(), byOld[key]!.ToJsonString());
        Assert.Equal(byNew["matrices"]!["hessian"]!["top_eigenvalues"]!.ToJsonString(), byOld["matrices"]!["hessian"]!["top_eigenvalues"]!.ToJsonString());
        Assert.Equal(byNew["provenance"]!["data_sha256"]!.ToJsonString(), byOld["provenance"]!["data_sha256"]!.ToJsonString());
    }

    [Fact]
    public void GivingANameAndItsOldNameIsAUsageError()
    {
        var r = RunCli("curvature", "--arch", TinyCurvatureModel.Arch, "--weights", tiny.Weights, "--data", TinyCurvatureModel.Spec,
            "--examples", "10", "--subset", "10");
        AssertUsageError(r, "give --examples or its old name --subset, not both");
    }

    [Fact]
    public void HelpShowsOnlyTheNewNames()
    {
        var r = RunCli("curvature", "--help");
        Assert.Contains("--examples", r.Stdout);
        Assert.Contains("--stream-batch", r.Stdout);
        Assert.DoesNotContain("--subset", r.Stdout);
        Assert.DoesNotContain("--batch ", r.Stdout);
    }

    [Fact]
    public void EveryRunSettingIsAnOptionOfTrain()
    {
        var help = RunCli("train", "--help").Stdout;
        foreach (var setting in RunSpec.Settings)
            Assert.Contains(setting.Option + " ", help);
    }
}
