using System.Text.Json.Nodes;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

public class TrainCommandTests
{
    private const string Data = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    [Fact]
    public void TrainWritesACompleteRunFolder()
    {
        using var tmp = new TempDir();
        string dir = tmp["run"];
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "3", "--lr", "0.1",
            "--checkpoint-epochs", "1,2", "--checkpoint-steps", "5", "--out", dir, "--json", tmp["train.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        foreach (var f in new[] { "run.json", "metrics.jsonl", "init.safetensors", "final.safetensors",
                     "checkpoints/epoch-0001.safetensors", "checkpoints/epoch-0002.safetensors", "checkpoints/step-0000005.safetensors" })
            Assert.True(File.Exists(Path.Combine(dir, f)), $"missing {f}");
        Assert.Empty(Directory.GetDirectories(tmp.Path, "*.partial-*"));

        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "run.json")))!;
        Assert.Equal("completed", (string?)run["status"]);
        Assert.Equal(64, ((string?)run["id"])!.Length);
        Assert.Equal("mlp:6-8-3", (string?)run["spec"]!["arch"]);
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
        Assert.Equal(4, lines.Count(l => !l.Contains("\"running_train_loss\"")));   // epoch 0 + 3 epochs
        Assert.Contains(lines, l => l.Contains("\"running_train_loss\""));         // every 10 steps

        var json = JsonNode.Parse(File.ReadAllText(tmp["train.json"]))!;
        Assert.Equal("geodesy.train/1", (string?)json["schema"]);
        Assert.NotNull(json["cost"]!["seconds"]);
        Assert.Equal(64, ((string?)json["provenance"]!["weights_sha256"])!.Length);

        // The final weights reproduce the logged final test accuracy.
        var data = DataSpecs.Load(Data);
        using var model = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 99);
        SafeTensors.LoadInto(model, Path.Combine(dir, "final.safetensors"));
        double logged = (double)run["final"]!["test_accuracy"]!;
        Assert.Equal(logged, Evaluation.Evaluate(model, data.Test).Accuracy, 1e-12);
    }

    [Fact]
    public void ExistingOutputFolderIsRefusedUnlessOverwrite()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["run"]);
        File.WriteAllText(tmp["run/keep.txt"], "x");
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["run"]);
        AssertUsageError(r, "already exists");
        Assert.True(File.Exists(tmp["run/keep.txt"]));
        r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["run"], "--overwrite");
        Assert.Equal(0, r.ExitCode);
        Assert.False(File.Exists(tmp["run/keep.txt"]));
        Assert.True(File.Exists(tmp["run/run.json"]));
    }

    [Theory]
    [InlineData("--lr", "0", "--lr")]
    [InlineData("--lr", "-0.5", "--lr")]
    [InlineData("--batch", "0", "--batch")]
    [InlineData("--epochs", "-1", "--epochs")]
    [InlineData("--arch", "mlp:6-x-3", "mlp:6-x-3")]
    [InlineData("--data", "nosuchdata:1", "nosuchdata")]
    [InlineData("--arch", "mlp:784-8-10", "784")]
    [InlineData("--optimizer", "adamx", "adamw")]
    public void BadArgumentsGiveOneLineAndExitCode2WithoutOutput(string option, string value, string mentioned)
    {
        using var tmp = new TempDir();
        var args = new List<string> { "train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["run"] };
        int at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value; else { args.Add(option); args.Add(value); }
        var r = RunCli(args.ToArray());
        AssertUsageError(r, mentioned);
        Assert.False(Directory.Exists(tmp["run"]));
        Assert.Empty(Directory.GetDirectories(tmp.Path));
    }

    [Fact]
    public void UnwritableOutputIsAUsageError()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["file"], "not a folder");
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["file/run"]);
        AssertUsageError(r, "cannot write");
    }

    [Fact]
    public void DivergedRunIsRecordedWithExitCode1()
    {
        using var tmp = new TempDir();
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "20", "--lr", "1e12", "--out", tmp["run"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("diverged", r.Stderr);
        var run = JsonNode.Parse(File.ReadAllText(tmp["run/run.json"]))!;
        Assert.Equal("diverged", (string?)run["status"]);
    }

    [Fact]
    public void MnistMlpReaches93PercentInFiveEpochs()
    {
        // The README's first-run promise: mlp:784-100-10, 5 epochs, seed 0, on the embedded digits.
        using var tmp = new TempDir();
        var r = RunCli("train", "--data", "mnist", "--arch", "mlp:784-100-10", "--epochs", "5", "--seed", "0", "--out", tmp["a"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var run = JsonNode.Parse(File.ReadAllText(tmp["a/run.json"]))!;
        double acc = (double)run["final"]!["test_accuracy"]!;
        Assert.True(acc >= 0.93, $"test accuracy {acc:P2} < 93%");
        Assert.Equal(2000, (long)run["examples_test"]!);
    }
}
