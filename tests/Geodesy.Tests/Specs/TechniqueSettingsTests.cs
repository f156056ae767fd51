using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Training.Regularizers;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Sweeps;

namespace Geodesy.Tests.Specs;

/// <summary>The training-technique settings: each enters the run id only when set, and builds its regularizer.</summary>
public class TechniqueSettingsTests
{
    public static TheoryData<string, object> Settings => new()
    {
        { "fisher_penalty", "0.01@every=10" },
        { "elr", "3,beta=0.7" },
        { "label_smoothing", 0.1 },
        { "margin_reg", "0.01" },
        { "jacobian_reg", "0.01,kind=frobenius" },
        { "dropout", 0.2 },
        { "init", "identical-rows:eps=0.01" },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void EachTechniqueEntersTheIdAndTwoRunsDifferingOnlyInItDiffer(string key, object value)
    {
        var baseline = new RunSpec { Arch = "mlp:784-32-10", Subset = 500 };
        var setting = RunSpec.Setting(key);
        var with = setting.With(baseline, value);
        with.Validate();
        Assert.NotEqual(baseline.Id(), with.Id());
        Assert.True(with.NonDefaultSettings().ContainsKey(key));
        Assert.False(baseline.NonDefaultSettings().ContainsKey(key)); // the default is omitted: old ids stay valid
        var back = RunSpec.FromJson(JsonNode.Parse(with.ToJson().ToJsonString())!.AsObject());
        Assert.Equal(with.Id(), back.Id());
    }

    [Fact]
    public void RegularizerSettingsBuildTheirRegularizersInRegistryOrder()
    {
        var spec = new RunSpec { JacobianReg = "0.1", Elr = "2", FisherPenalty = "0.5,sub=32@every=4", LabelSmoothing = 0.1, MarginReg = "0.2,var=0" };
        var names = spec.TrainerOptions.Regularizers.Select(r => r.Name).ToArray();
        Assert.Equal(["fisher-penalty", "elr", "label-smoothing", "margin-reg", "jacobian-reg"], names);
        var fisher = Assert.IsType<FisherPenalty>(spec.TrainerOptions.Regularizers[0]);
        Assert.Equal((0.5, 32, 4, true), (fisher.Coefficient, fisher.SubBatch, fisher.Every, fisher.Exact));
        Assert.Empty(new RunSpec().TrainerOptions.Regularizers);
    }

    [Fact]
    public void ASweepNumberIsAcceptedForAStringRegularizerSetting()
    {
        var spec = RunSpec.FromJson(new JsonObject { ["fisher_penalty"] = 0.01 });
        Assert.Equal("0.01", spec.FisherPenalty);
    }

    [Theory]
    [InlineData("fisher_penalty", "x", "--fisher-penalty")]
    [InlineData("elr", "1,beta=1", "--elr: beta=1")]
    [InlineData("jacobian_reg", "1,kind=orthogonal,projections=1", "projections >= 2")]
    [InlineData("init", "orthogonal", "--init 'orthogonal'")]
    [InlineData("dropout", 1.0, "--dropout must be in [0, 1)")]
    [InlineData("label_smoothing", -0.1, "--label-smoothing must be in [0, 1)")]
    public void BadTechniqueValuesAreInputErrorsNamingTheOption(string key, object value, string fragment)
    {
        var spec = RunSpec.Setting(key).With(new RunSpec(), value);
        var e = Assert.Throws<InputException>(spec.Validate);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void TheDocumentedTechniqueSweepExpandsToItsFourTrials()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Geodesy.sln"))) dir = dir.Parent;
        var sweep = SweepSpec.Load(Path.Combine(dir!.FullName, "docs", "examples", "label-smoothing-by-subset.yaml"));
        var trials = sweep.Expand();
        Assert.Equal(4, trials.Count);
        Assert.Equal([0, 0, 0.1, 0.1], trials.Select(t => t.Spec.LabelSmoothing).Order());
        Assert.Equal([500, 500, 2000, 2000], trials.Select(t => t.Spec.Subset ?? 0).Order());
        Assert.Equal(4, trials.Select(t => t.Spec.Id()).Distinct().Count());
    }

    [Theory]
    [InlineData("--fisher-penalty", "0.1@every=x", "--fisher-penalty '0.1@every=x'")]
    [InlineData("--init", "symmetric", "--init 'symmetric'")]
    [InlineData("--elr", "3,gamma=1", "unknown key 'gamma'")]
    public void TrainRejectsBadTechniqueTextWithOneLine(string option, string value, string fragment)
    {
        using var dir = new TestSupport.TempDir();
        var r = TestSupport.RunCli("train", "--data", "gaussian-mixture:classes=3,dim=4,n=60", "--arch", "mlp:4-3", "--epochs", "1", option, value, "--out", dir["run"]);
        TestSupport.AssertUsageError(r, fragment);
        Assert.False(Directory.Exists(dir["run"]));
    }
}
