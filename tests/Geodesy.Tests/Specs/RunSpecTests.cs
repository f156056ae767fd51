using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Training;
using Geodesy.Experiments.Specs;

namespace Geodesy.Tests.Specs;

public class RunSpecTests
{
    [Fact]
    public void IdHashesOnlyNonDefaultSettingsInSortedOrder()
    {
        var spec = new RunSpec { Arch = "mlp:784-8-10", Lr = 0.1, Seed = 3 };
        Assert.Equal("{\"arch\":\"mlp:784-8-10\",\"lr\":0.1,\"seed\":3}", spec.CanonicalJson());
        Assert.Equal(64, spec.Id().Length);
        Assert.Equal(spec.Id(), (spec with { }).Id());
        Assert.NotEqual(spec.Id(), (spec with { Lr = 0.2 }).Id());
        // Spelling a default explicitly does not change the id.
        Assert.Equal(spec.Id(), (spec with { Batch = 64, Optimizer = "momentum" }).Id());
    }

    [Fact]
    public void JsonRoundTripKeepsTheId()
    {
        var spec = new RunSpec { Arch = "cnn", UntilLoss = 0.01, CheckpointEpochs = [1, 2], LabelNoise = 0.2, Subset = 500 };
        var back = RunSpec.FromJson(JsonNode.Parse(spec.ToJson().ToJsonString())!.AsObject());
        Assert.Equal(spec.Id(), back.Id());
        Assert.Equal([1, 2], back.CheckpointEpochs);
    }

    [Fact]
    public void UnknownOrBadSettingsAreInputErrors()
    {
        var e = Assert.Throws<InputException>(() => RunSpec.FromJson(new JsonObject { ["learning_rate"] = 0.1 }));
        Assert.Contains("learning_rate", e.Message);
        e = Assert.Throws<InputException>(() => RunSpec.FromJson(new JsonObject { ["lr"] = "fast" }));
        Assert.Contains("lr", e.Message);
    }

    [Theory]
    [InlineData(0.0, 64, 5, "--lr")]
    [InlineData(-1.0, 64, 5, "--lr")]
    [InlineData(0.1, 0, 5, "--batch")]
    [InlineData(0.1, 64, -1, "--epochs")]
    public void BadTrainingValuesAreRejected(double lr, int batch, int epochs, string option)
    {
        var spec = new RunSpec { Lr = lr, Batch = batch, Epochs = epochs };
        var e = Assert.Throws<InputException>(spec.Validate);
        Assert.Contains(option, e.Message);
    }

    [Fact]
    public void TheSettingTableDeclaresEveryKeyOnceWithItsDefaultAndOption()
    {
        var keys = RunSpec.Settings.Select(s => s.Key).ToArray();
        Assert.Equal(38, keys.Length);
        Assert.Equal(keys.Length, keys.Distinct().Count());
        Assert.Equal(keys, new RunSpec().ToJson().Select(kv => kv.Key));
        var weightDecay = RunSpec.Setting("weight_decay");
        Assert.Equal("--weight-decay", weightDecay.Option);
        Assert.Equal(typeof(double), weightDecay.Type);
        Assert.Equal(64, RunSpec.Setting("batch").Default);
        Assert.Null(RunSpec.Setting("subset").Default);
    }

    [Theory]
    [InlineData("momentum", 1.0, "--momentum must be in [0, 1) (got 1)")]
    [InlineData("label_noise", -0.1, "--label-noise must be in [0, 1) (got -0.1)")]
    [InlineData("step_every", 0, "--step-every must be at least 1 (got 0)")]
    [InlineData("warmup", -2, "--warmup must be >= 0 (got -2)")]
    [InlineData("step_gamma", 0.0, "--step-gamma must be > 0 (got 0)")]
    [InlineData("optimizer", "rmsprop", "--optimizer must be sgd, momentum, adam or adamw (got 'rmsprop')")]
    [InlineData("data", " ", "--data must not be empty (e.g. mnist)")]
    [InlineData("probe_examples", 0, "--probe-examples must be at least 1 (got 0)")]
    public void EachSettingIsCheckedByItsDeclaredRule(string key, object value, string message)
    {
        var setting = RunSpec.Setting(key);
        var converted = setting.Type == typeof(int) ? Convert.ToInt32(value) : value;
        var e = Assert.Throws<InputException>(setting.With(new RunSpec(), converted).Validate);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void ListSettingsCheckEveryElement()
    {
        var e = Assert.Throws<InputException>(new RunSpec { CheckpointSteps = [5, -1] }.Validate);
        Assert.Equal("--checkpoint-steps must be >= 0 (got -1)", e.Message);
    }

    [Fact]
    public void SchedulesFollowTheirClosedForms()
    {
        const double tol = 1e-15;
        var cosine = new TrainerOptions { LearningRate = 0.2, Schedule = ScheduleKind.Cosine };
        Assert.Equal(0.2, cosine.RateAt(0, 0, 100), tol);
        Assert.Equal(0.1, cosine.RateAt(50, 0, 100), tol);
        Assert.Equal(0.0, cosine.RateAt(100, 0, 100), tol);
        var step = new TrainerOptions { LearningRate = 1, Schedule = ScheduleKind.Step, StepEveryEpochs = 2, StepGamma = 0.5 };
        Assert.Equal(1.0, step.RateAt(0, 1, 10), tol);
        Assert.Equal(0.5, step.RateAt(0, 2, 10), tol);
        Assert.Equal(0.25, step.RateAt(0, 5, 10), tol);
        var warm = new TrainerOptions { LearningRate = 1, WarmupSteps = 4 };
        Assert.Equal(0.25, warm.RateAt(0, 0, 10), tol);
        Assert.Equal(1.0, warm.RateAt(3, 0, 10), tol);
        Assert.Equal(1.0, warm.RateAt(7, 0, 10), tol);
    }
}

/// <summary>The setting table works for any record declared with [RunSetting], as future specs will be.</summary>
public class RunSettingTableTests
{
    private sealed record ProbeSpec
    {
        [RunSetting("Probes to record", OneOf = "loss,sharpness")]
        public string[] Probes { get; init; } = [];
        [RunSetting("Probe every N steps", Min = 1)]
        public int ProbeEvery { get; init; } = 10;
        [RunSetting("Examples a probe uses")]
        public long? ProbeExamples { get; init; }
        public string NotASetting { get; init; } = "x";
    }

    [Fact]
    public void KeysOptionsDefaultsAndTypesComeFromTheProperties()
    {
        var table = RunSetting.Declared<ProbeSpec>();
        Assert.Equal(["probes", "probe_every", "probe_examples"], table.Select(s => s.Key));
        Assert.Equal(["--probes", "--probe-every", "--probe-examples"], table.Select(s => s.Option));
        Assert.Equal(10, table[1].Default);
        Assert.Equal(typeof(long?), table[2].Type);
    }

    [Fact]
    public void ValuesRoundTripThroughJsonAndAreChecked()
    {
        var table = RunSetting.Declared<ProbeSpec>();
        var spec = table[0].With(new ProbeSpec(), new[] { "loss", "sharpness" });
        spec = table[2].With(spec, 500L);
        Assert.Equal("[\"loss\",\"sharpness\"]", table[0].ToJson(spec)!.ToJsonString());
        Assert.Equal(new[] { "loss", "sharpness" }, (string[])table[0].FromJson(table[0].ToJson(spec)!)!);
        Assert.Equal(500L, table[2].FromJson(table[2].ToJson(spec)!));
        Assert.Null(table[0].Check(spec.Probes));
        Assert.Equal("--probes: 'noise' is not one of loss, sharpness", table[0].Check(new[] { "loss", "noise" }));
        Assert.Equal("--probe-every must be at least 1 (got 0)", table[1].Check(0));
        Assert.Throws<InputException>(() => table[1].FromJson(System.Text.Json.Nodes.JsonValue.Create("often")));
    }
}
