using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Analyses;

/// <summary>A tiny trained run folder shared by the tests of <see cref="ModelSource"/>.</summary>
public sealed class TinyRunFixture : IDisposable
{
    public const string Data = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";
    public static readonly RunSpec Spec = new()
    {
        Data = Data, Arch = "mlp:6-8-3", Epochs = 1, Lr = 0.1, Batch = 32, Seed = 7, Subset = 120, LabelNoise = 0.1, Normalize = true,
    };

    public TinyRunFixture() => RunExecutor.Execute(Spec, Dir, overwrite: false);

    public TestSupport.TempDir Temp { get; } = new();
    public string Dir => Temp["run"];
    public string Final => Path.Combine(Dir, RunFiles.FinalWeights);
    public string Init => Path.Combine(Dir, RunFiles.InitWeights);

    public void Dispose() => Temp.Dispose();
}

public sealed class ModelSourceTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    [Fact]
    public void ARunFolderSuppliesEverythingNotGiven()
    {
        var r = new ModelSource { Run = run.Dir, WithInit = true }.Resolve();
        Assert.Equal("mlp:6-8-3", r.Arch);
        Assert.Equal(TinyRunFixture.Data, r.DataSpec);
        Assert.Equal(run.Final, r.Weights);
        Assert.Equal(run.Init, r.InitWeights);
        Assert.Equal(new Core.Data.DataOptions(120, 0.1, true, 7), r.DataOptions);
        Assert.Equal(32, r.TrainingBatch);
        Assert.Equal(2, r.TrainingRecord!.Count); // the evaluation before training and after epoch 1
    }

    [Fact]
    public void GivenValuesWinFieldByField()
    {
        var r = new ModelSource { Run = run.Dir, Subset = 60, Normalize = false, Seed = 99, Weights = run.Init }.Resolve();
        // Given: subset, normalize, weights. From the run: label noise, and its own seed for the data.
        Assert.Equal(new Core.Data.DataOptions(60, 0.1, false, 7), r.DataOptions);
        Assert.Equal(run.Init, r.Weights);
        Assert.Null(r.InitWeights); // not asked for
    }

    [Fact]
    public void WithoutARunTheDefaultsApply()
    {
        var r = new ModelSource { Arch = "mlp:6-8-3", Weights = run.Final, Subset = 50, Seed = 3 }.Resolve();
        Assert.Equal("mnist", r.DataSpec);
        Assert.Equal(new Core.Data.DataOptions(50, 0, false, 3), r.DataOptions);
        Assert.Null(r.TrainingBatch);
        Assert.Null(r.TrainingRecord);
    }

    [Theory]
    [InlineData(null, "give --arch SPEC (or --run DIR)")]
    [InlineData("mlp:6-8-3", "give --weights FILE (or --run DIR)")]
    public void MissingPiecesAreInputErrors(string? arch, string message)
    {
        var e = Assert.Throws<InputException>(() => new ModelSource { Arch = arch }.Resolve());
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void MissingOrWrongWeightsAreInputErrorsNamingTheOption()
    {
        var e = Assert.Throws<InputException>(() => new ModelSource { Arch = "mlp:6-8-3", Weights = "/no/such.safetensors" }.Resolve());
        Assert.Contains("--weights file '/no/such.safetensors' does not exist", e.Message);
        e = Assert.Throws<InputException>(() => new ModelSource { Run = run.Dir, InitWeights = run.Dir, WithInit = true }.Resolve());
        Assert.Contains("--init-weights", e.Message);
        e = Assert.Throws<InputException>(() => new ModelSource { Run = run.Dir, Arch = "mlp:6-9-3" }.Load());
        Assert.StartsWith("--weights does not fit --arch mlp:6-9-3", e.Message);
    }

    [Fact]
    public void LoadedWeightsAreTheFileValuesInTheRequestedDtype()
    {
        // Reference: the tensors read straight from the safetensors file.
        using var file = SafeTensors.Read(run.Final);
        using var loaded = new ModelSource { Run = run.Dir, DType = ScalarType.Float64 }.Load();
        Assert.False(loaded.Model.training);
        foreach (var (name, p) in loaded.Model.named_parameters())
        {
            Assert.Equal(ScalarType.Float64, p.dtype);
            using var expected = file[name].to_type(ScalarType.Float64);
            Assert.True(p.eq(expected).all().item<bool>(), name);
        }
    }

    [Fact]
    public void WithoutWeightsTheSeededInitIsTheSameModelInEitherDtype()
    {
        var source = new ModelSource { Arch = "mlp:6-8-3", Data = TinyRunFixture.Data, AllowSeededInit = true, InitSeed = 5 };
        using var f32 = source.Load();
        using var f64 = (source with { DType = ScalarType.Float64 }).Load();
        using var reference = ModelZoo.Create("mlp:6-8-3", [6], 3, seed: 5);
        var a = f32.Model.parameters().ToArray();
        var b = f64.Model.parameters().ToArray();
        var c = reference.parameters().ToArray();
        for (int i = 0; i < c.Length; i++)
        {
            Assert.True(a[i].eq(c[i]).all().item<bool>());
            using var widened = c[i].to_type(ScalarType.Float64);
            Assert.True(b[i].eq(widened).all().item<bool>());
        }
    }

    [Fact]
    public void FirstExamplesIsAPrefixAndNamesTheOptionWhenOutOfRange()
    {
        using var loaded = new ModelSource { Run = run.Dir }.Load();
        var first = loaded.FirstExamples(10, "--examples");
        Assert.Equal(10, first.Count);
        Assert.True(first.Labels.eq(loaded.Data.Train.Labels.narrow(0, 0, 10)).all().item<bool>());
        Assert.Same(loaded.Data.Train, loaded.FirstExamples(null, "--examples"));
        var e = Assert.Throws<InputException>(() => loaded.FirstExamples(121, "--subset"));
        Assert.StartsWith("--subset 121 is outside [1, 120]", e.Message);
    }
}
