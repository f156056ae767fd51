using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Runs;

/// <summary>
/// The files of one run: run.json, metrics.jsonl, init.safetensors, final.safetensors and
/// checkpoints/{epoch,step}-N.safetensors. Names other commands rely on live here.
/// </summary>
public static class RunFiles
{
    public const string RunJson = "run.json";
    public const string Metrics = "metrics.jsonl";
    public const string Probes = "probes.jsonl";
    public const string InitWeights = "init.safetensors";
    public const string FinalWeights = "final.safetensors";
    public const string CheckpointFolder = "checkpoints";

    public static string EpochCheckpoint(int epoch) => Path.Combine(CheckpointFolder, $"epoch-{epoch:D4}.safetensors");
    public static string StepCheckpoint(long step) => Path.Combine(CheckpointFolder, $"step-{step:D7}.safetensors");

    /// <summary>One metrics row as the JSON line written to metrics.jsonl.</summary>
    public static JsonObject ToJson(MetricsRow r)
    {
        var o = new JsonObject
        {
            ["epoch"] = r.Epoch,
            ["step"] = r.Step,
            ["lr"] = r.LearningRate,
            ["train_loss"] = Finite(r.TrainLoss),
            ["train_accuracy"] = Finite(r.TrainAccuracy),
            ["test_loss"] = Finite(r.TestLoss),
            ["test_accuracy"] = Finite(r.TestAccuracy),
            ["seconds"] = Math.Round(r.Seconds, 3),
        };
        foreach (var (key, value) in r.Extra ?? new Dictionary<string, double>()) o[key] = Finite(value); // e.g. MIMO accuracies
        return o;
    }

    /// <summary>The key that marks a running-loss line of metrics.jsonl (those lines have no train_loss).</summary>
    public const string RunningLossKey = "running_train_loss";

    /// <summary>One running-loss row as its JSON line: {"running_train_loss", "epoch", "step", "batches"}.</summary>
    public static JsonObject ToJson(RunningLossRow r) => new()
    {
        [RunningLossKey] = Finite(r.Loss),
        ["epoch"] = r.Epoch,
        ["step"] = r.Step,
        ["batches"] = r.Batches,
    };

    public static MetricsRow FromJson(JsonNode n) => new(
        (int)n["epoch"]!, (long)n["step"]!, (double)n["lr"]!,
        (double?)n["train_loss"] ?? double.NaN, (double?)n["train_accuracy"] ?? double.NaN,
        (double?)n["test_loss"] ?? double.NaN, (double?)n["test_accuracy"] ?? double.NaN,
        (double?)n["seconds"] ?? 0);

    /// <summary>Reads the run spec from a run folder's run.json (for --run options); errors name the file.</summary>
    public static Specs.RunSpec ReadSpec(string runDir)
    {
        if (!Directory.Exists(runDir)) throw new InputException($"--run folder '{runDir}' does not exist");
        string path = Path.Combine(runDir, RunJson);
        if (!File.Exists(path)) throw new InputException($"--run '{runDir}' has no {RunJson}: not a Geodesy run folder?");
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException e) { throw new InputException($"{path} is not valid JSON ({e.Message.Split('\n')[0]})"); }
        if (node?["spec"] is not JsonObject spec) throw new InputException($"{path} has no \"spec\" object");
        return Specs.RunSpec.FromJson(spec);
    }

    /// <summary>Reads the evaluation rows of metrics.jsonl of a run folder (running-loss lines are skipped).</summary>
    public static IReadOnlyList<MetricsRow> ReadMetrics(string runDir) => ReadRecord(runDir).Rows;

    /// <summary>Reads the running-loss rows of metrics.jsonl (empty for runs recorded without them); null without the file.</summary>
    public static IReadOnlyList<RunningLossRow>? ReadRunningLoss(string runDir) =>
        File.Exists(Path.Combine(runDir, Metrics)) ? ReadRecord(runDir).Running : null;

    /// <summary>Both kinds of line of metrics.jsonl: evaluations and running means of the mini-batch loss.</summary>
    public static (IReadOnlyList<MetricsRow> Rows, IReadOnlyList<RunningLossRow> Running) ReadRecord(string runDir)
    {
        string path = Path.Combine(runDir, Metrics);
        if (!File.Exists(path)) throw new InputException($"'{runDir}' has no {Metrics}: not a Geodesy run folder?");
        var rows = new List<MetricsRow>();
        var running = new List<RunningLossRow>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                var node = JsonNode.Parse(text)!;
                if (node.AsObject().ContainsKey(RunningLossKey))
                    running.Add(new RunningLossRow((int)node["epoch"]!, (long)node["step"]!,
                        (double?)node[RunningLossKey] ?? double.NaN, (int)node["batches"]!));
                else rows.Add(FromJson(node));
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException or FormatException)
            { throw new InputException($"{path}:{line}: not a metrics row"); }
        }
        return (rows, running);
    }

    private static double? Finite(double x) => double.IsFinite(x) ? x : null;
}

/// <summary>
/// Writes a run folder while training: metrics rows as they come, checkpoints at init, chosen
/// epochs/steps and the end, and run.json when training stops.
/// </summary>
public sealed class RunWriter : ITrainingObserver
{
    private readonly string _dir;
    private readonly HashSet<int> _epochs;
    private readonly HashSet<long> _steps;
    private readonly IReadOnlyDictionary<string, string> _metadata;
    private readonly StreamWriter _metrics;

    public RunWriter(string dir, IEnumerable<int> checkpointEpochs, IEnumerable<long> checkpointSteps, IReadOnlyDictionary<string, string> weightsMetadata)
    {
        _dir = dir;
        _epochs = checkpointEpochs.ToHashSet();
        _steps = checkpointSteps.ToHashSet();
        _metadata = weightsMetadata;
        Directory.CreateDirectory(Path.Combine(dir, RunFiles.CheckpointFolder));
        _metrics = new StreamWriter(Path.Combine(dir, RunFiles.Metrics), append: false) { AutoFlush = true };
    }

    public List<MetricsRow> Rows { get; } = [];

    public void OnStart(nn.Module model)
    {
        Save(model, RunFiles.InitWeights);
        if (_steps.Contains(0)) Save(model, RunFiles.StepCheckpoint(0));
    }

    public void OnStep(nn.Module model, int epoch, long step, double batchLoss)
    {
        if (_steps.Contains(step)) Save(model, RunFiles.StepCheckpoint(step));
    }

    public void OnRunningLoss(nn.Module model, RunningLossRow row) =>
        _metrics.WriteLine(RunFiles.ToJson(row).ToJsonString());

    public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
    {
        Rows.Add(row);
        _metrics.WriteLine(RunFiles.ToJson(row).ToJsonString());
        if (endOfEpoch && _epochs.Contains(row.Epoch)) Save(model, RunFiles.EpochCheckpoint(row.Epoch));
    }

    public void OnFinish(nn.Module model, TrainingResult result)
    {
        _metrics.Flush();
        Save(model, RunFiles.FinalWeights);
    }

    public void Close() => _metrics.Dispose();

    private void Save(nn.Module model, string relative) =>
        SafeTensors.SaveModel(model, Path.Combine(_dir, relative), _metadata);

    internal static string Stamp(DateTime t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
