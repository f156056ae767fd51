using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Pruning;
using Geodesy.Core.Training.Techniques;
using Geodesy.Experiments.Pruning;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static Geodesy.Tests.TestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>Pruning masks and rewinding, BN-only training, ghost BatchNorm, the train-longer regime and their run ids.</summary>
public class TechniqueTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    private static (nn.Module<Tensor, Tensor> Model, DataSplit Data) Mlp(long seed = 0)
    {
        var data = DataSpecs.Load(Mixture);
        return (ModelZoo.Create("mlp:6-16-3", data.Train.InputShape, data.Train.NumClasses, seed), data);
    }

    private static DataSplit Digits(int n) => DataSpecs.Load("mnist", new DataOptions(Subset: n));

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    /// <summary>Same shape and every entry equal (bit for bit for finite values).</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void GlobalPruningRemovesExactlyTheCeilOfRateTimesRemaining()
    {
        var (model, _) = Mlp();
        // Hand count: 6·16 + 16·3 = 144 prunable weights (biases excluded); 144 − ⌈0.2·144⌉ = 115, 115 − 23 = 92, 92 − ⌈18.4⌉ = 73.
        var mask = PruningMask.Dense(model);
        Assert.Equal(["0.weight", "2.weight"], mask.Names);
        Assert.Equal(144, mask.Total);
        foreach (long expected in new long[] { 115, 92, 73 })
        {
            mask = MagnitudePruning.Prune(model, mask, 0.2, PruningScope.Global);
            Assert.Equal(expected, mask.Remaining);
            Assert.Equal(1 - expected / 144.0, mask.Sparsity, 15);
        }
        // Brute force: every pruned magnitude is <= every kept magnitude, over both layers together.
        var kept = new List<float>();
        var pruned = new List<float>();
        foreach (var name in mask.Names)
        {
            var w = model.named_parameters().Single(p => p.name == name).parameter.detach().abs().flatten().data<float>().ToArray();
            var m = mask[name].flatten().data<float>().ToArray();
            for (int i = 0; i < w.Length; i++) (m[i] == 1 ? kept : pruned).Add(w[i]);
        }
        Assert.True(pruned.Max() <= kept.Min(), $"pruned up to {pruned.Max()} but kept {kept.Min()}");
    }

    [Fact]
    public void PerLayerPruningTakesTheRateInEachLayer()
    {
        var (model, _) = Mlp();
        var mask = MagnitudePruning.Prune(model, PruningMask.Dense(model), 0.2, PruningScope.PerLayer);
        Assert.Equal(96 - 20, mask["0.weight"].count_nonzero().item<long>()); // ⌈19.2⌉
        Assert.Equal(48 - 10, mask["2.weight"].count_nonzero().item<long>()); // ⌈9.6⌉
        var w = model.named_parameters().Single(p => p.name == "2.weight").parameter.detach().abs().flatten();
        var m = mask["2.weight"].flatten();
        Assert.True(w.masked_select(m.eq(0)).max().item<float>() <= w.masked_select(m.eq(1)).min().item<float>());
    }

    [Fact]
    public void MaskedWeightsStayExactlyZeroWithMomentumAndWeightDecay()
    {
        var (model, data) = Mlp();
        using var mask = MagnitudePruning.Prune(model, PruningMask.Dense(model), 0.6, PruningScope.Global);
        var before = Snapshot(model);
        Trainer.Train(model, data, new TrainerOptions { Epochs = 3, Optimizer = OptimizerKind.Momentum, WeightDecay = 0.05, LearningRate = 0.1, Constraints = [mask] });
        var after = Snapshot(model);
        foreach (var name in mask.Names)
        {
            var zero = mask[name].eq(0);
            Assert.True(after[name].masked_select(zero).eq(0).all().item<bool>(), $"{name}: a pruned weight moved");
            Assert.False(Same(after[name].masked_select(zero.logical_not()), before[name].masked_select(zero.logical_not())), $"{name}: kept weights did not train");
        }
        Assert.Equal(mask.Remaining, mask.Names.Sum(n => after[n].count_nonzero().item<long>()));
    }

    [Fact]
    public void RewindingRestoresTheStepKWeightsBitForBit()
    {
        using var dir = new TempDir();
        var r = RunCli("train", "--data", Mixture, "--arch", "mlp:6-16-3", "--epochs", "2", "--checkpoint-steps", "3", "--threads", "1", "--out", dir["run"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var (model, _) = Mlp();
        SafeTensors.LoadInto(model, dir["run/final.safetensors"]);
        using var mask = MagnitudePruning.Prune(model, PruningMask.Dense(model), 0.5, PruningScope.Global);
        string checkpoint = PruneExperiment.RewindWeights(dir["run"], 3);
        PruneExperiment.Rewind(model, checkpoint, mask);
        using var file = SafeTensors.Read(dir["run/checkpoints/step-0000003.safetensors"]);
        foreach (var (name, saved) in file.Tensors)
        {
            var now = model.state_dict()[name];
            if (!mask.Names.Contains(name)) { Assert.True(Same(now, saved), $"{name} differs from step 3"); continue; }
            var keep = mask[name].eq(1);
            Assert.True(Same(now.masked_select(keep), saved.masked_select(keep)), $"{name}: kept entries differ from step 3");
            Assert.True(now.masked_select(keep.logical_not()).eq(0).all().item<bool>());
        }
    }

    [Fact]
    [Trait(TestCategory.Key, TestCategory.Slow)]
    public void PruneCommandWritesMasksAndTableAndRefusesBadInput()
    {
        using var dir = new TempDir();
        Assert.Equal(0, RunCli("train", "--data", Mixture, "--arch", "mlp:6-16-3", "--epochs", "2", "--checkpoint-steps", "3", "--threads", "1", "--out", dir["run"]).ExitCode);
        var ok = RunCli("prune", "--run", dir["run"], "--rounds", "2", "--rate", "0.5", "--rewind-step", "3", "--out", dir["pruned"], "--threads", "1");
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        var doc = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir["pruned/prune.json"]))!;
        Assert.Equal("geodesy.prune/1", (string?)doc["schema"]);
        var table = doc["table"]!.AsArray();
        Assert.Equal([144L, 72L, 36L], table.Select(row => (long)row!["remaining"]!).ToArray());
        foreach (var row in table) Assert.Equal((double)row!["train_accuracy"]! - (double)row["test_accuracy"]!, (double)row["gap"]!, 12);
        using (var m2 = PruningMask.Load(dir["pruned/round-02/mask.safetensors"])) Assert.Equal(36, m2.Remaining);
        Assert.NotNull(doc["cost"]!["gradients"]);
        Assert.NotNull(doc["provenance"]!["weights_sha256"]);

        AssertUsageError(RunCli("prune", "--run", dir["run"], "--rounds", "1", "--rate", "0.5", "--rewind-step", "7", "--out", dir["bad1"]), "no checkpoint at step 7");
        AssertUsageError(RunCli("prune", "--run", dir["run"], "--rounds", "1", "--rate", "1.5", "--out", dir["bad2"]), "--rate must be in (0, 1)");
        AssertUsageError(RunCli("prune", "--run", dir["run"], "--rounds", "1", "--rate", "0", "--out", dir["bad3"]), "--rate must be in (0, 1)");
        foreach (var bad in new[] { "bad1", "bad2", "bad3" }) Assert.False(Directory.Exists(dir[bad]) || File.Exists(dir[bad]));
        Assert.Empty(Directory.GetDirectories(dir.Path, "*.partial-*"));
    }

    [Fact]
    public void FineTuningHoldsTheFinalRateAndRewindingKeepsTheSchedule()
    {
        var cosine = new TrainerOptions { Schedule = ScheduleKind.Cosine, LearningRate = 0.1, Epochs = 2, BatchSize = 10, WarmupSteps = 3 };
        // 100 examples, batch 10: 20 steps; the last step (19) of cosine to 0 has rate 0.1 · (1 + cos(π · 19/20)) / 2.
        var ft = PruneExperiment.RetrainOptions(cosine, RetrainMode.FineTune, 100);
        Assert.Equal(ScheduleKind.Constant, ft.Schedule);
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 19 / 20.0)), ft.LearningRate, 15);
        Assert.Equal(0, ft.WarmupSteps);
        Assert.Same(cosine, PruneExperiment.RetrainOptions(cosine, RetrainMode.LrRewind, 100));
        Assert.Same(cosine, PruneExperiment.RetrainOptions(cosine, RetrainMode.Rewind, 100));
    }

    [Fact]
    public void BatchNormOnlyChangesOnlyBatchNormParameters()
    {
        var data = Digits(64);
        using var model = ModelZoo.Create("cnn:channels=4-8,bn=1", data.Train.InputShape, data.Train.NumClasses, 1);
        var bnNames = model.named_modules().Where(m => m.module is TorchSharp.Modules.BatchNorm)
            .SelectMany(m => new[] { m.name + ".weight", m.name + ".bias" }).ToHashSet();
        Assert.Equal(4, bnNames.Count);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        Trainer.Train(model, data, new TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.1, WeightDecay = 0.01, Constraints = [new BatchNormOnly()] });
        foreach (var (name, p) in model.named_parameters())
        {
            bool same = Same(p.detach(), before[name]);
            Assert.True(bnNames.Contains(name) ? !same : same, bnNames.Contains(name) ? $"BN parameter {name} did not train" : $"frozen parameter {name} changed");
        }
        var (mlp, mixture) = Mlp();
        var e = Assert.Throws<InputException>(() => Trainer.Train(mlp, mixture, new TrainerOptions { Epochs = 1, Constraints = [new BatchNormOnly()] }));
        Assert.Contains("no BatchNorm", e.Message);
    }

    [Fact]
    public void GhostBatchNormUsesTheStatisticsOfEachVirtualBatch()
    {
        var data = Digits(64);
        var shape = data.Train.InputShape;
        using var plain = ModelZoo.Create("cnn:channels=3,bn=1", shape, 10, 5, ScalarType.Float64);
        using var copy = ModelZoo.Create("cnn:channels=3,bn=1", shape, 10, 5, ScalarType.Float64);
        using var ghost = GhostBatchNorm.Install(copy, 4);
        Assert.Equal(plain.state_dict().Keys.ToArray(), ghost.state_dict().Keys.ToArray()); // same names: files move between them
        var x = data.Train.Inputs.narrow(0, 0, 10).to_type(ScalarType.Float64);
        // Reference: the plain model on each virtual batch by hand (4, 4, 2 examples); other layers act per example.
        var byHand = torch.cat([plain.call(x.narrow(0, 0, 4)), plain.call(x.narrow(0, 4, 4)), plain.call(x.narrow(0, 8, 2))], 0);
        var ghostOut = ghost.call(x);
        Assert.True(ghostOut.allclose(byHand, rtol: 0, atol: 1e-12), $"max diff {(ghostOut - byHand).abs().max().item<double>()}");
        foreach (var (name, buffer) in plain.named_buffers())
            Assert.True(buffer.allclose(ghost.named_buffers().Single(b => b.name == name).buffer, rtol: 0, atol: 1e-12), $"{name} differs");
        using var full = ModelZoo.Create("cnn:channels=3,bn=1", shape, 10, 5, ScalarType.Float64);
        Assert.False(full.call(x).allclose(byHand, rtol: 0, atol: 1e-6)); // whole-batch statistics differ: the test can fail
        ghost.eval(); plain.eval();
        Assert.True(ghost.call(x).allclose(plain.call(x), rtol: 0, atol: 1e-12)); // eval: running statistics, the plain layer
    }

    [Fact]
    public void TrainLongerScalesTheRateBySqrtOfTheBatchRatioAndStretchesEpochs()
    {
        var o = new RunSpec { Lr = 0.05, Batch = 256, Epochs = 10, TrainLonger = 64 }.TrainerOptions;
        Assert.Equal(0.05 * 2, o.LearningRate, 15); // sqrt(256/64) = 2
        Assert.Equal(40, o.Epochs);
        var same = new RunSpec { Lr = 0.05, Batch = 256, Epochs = 10 }.TrainerOptions;
        Assert.Equal(0.05, same.LearningRate);
        Assert.Equal(10, same.Epochs);
    }

    [Theory]
    [InlineData("train_only", "\"bn\"")]
    [InlineData("ghost_batch", "8")]
    [InlineData("train_longer", "32")]
    [InlineData("mimo", "2")]
    [InlineData("mimo_batch_repetition", "4")]
    [InlineData("mimo_input_repetition", "0.5")]
    public void EachTechniqueEntersTheRunId(string key, string json)
    {
        var plain = new RunSpec();
        var setting = RunSpec.Setting(key);
        var changed = setting.With(plain, setting.FromJson(System.Text.Json.Nodes.JsonNode.Parse(json)!));
        Assert.NotEqual(plain.Id(), changed.Id());
        Assert.Contains($"\"{key}\":{json}", changed.CanonicalJson());
        Assert.DoesNotContain(key, plain.CanonicalJson()); // the default is omitted: old ids stay valid
    }
}
