using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Training;

namespace Geodesy.Experiments.Specs;

/// <summary>
/// Everything that defines one training run. Its id is the SHA-256 of the canonical JSON of the
/// settings that differ from the defaults (keys sorted), so adding a new setting with a default
/// keeps old ids valid, and a finished id never needs recomputing.
/// </summary>
public sealed record RunSpec
{
    public string Data { get; init; } = "mnist";
    public string Arch { get; init; } = "mlp:784-100-10";
    public string Optimizer { get; init; } = "momentum";
    public double Lr { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    public int Batch { get; init; } = 64;
    public double WeightDecay { get; init; }
    public string Schedule { get; init; } = "constant";
    public int Warmup { get; init; }
    public int StepEvery { get; init; } = 30;
    public double StepGamma { get; init; } = 0.1;
    public int Epochs { get; init; } = 10;
    public double? UntilLoss { get; init; }
    public int MaxEpochs { get; init; } = 100;
    public long Seed { get; init; }
    public double LabelNoise { get; init; }
    public int? Subset { get; init; }
    public bool Normalize { get; init; }
    /// <summary>Epochs after which to save a checkpoint (init and final are always saved).</summary>
    public int[] CheckpointEpochs { get; init; } = [];
    public long[] CheckpointSteps { get; init; } = [];
    public int LogEvery { get; init; }

    private static readonly RunSpec Defaults = new();

    public DataOptions DataOptions => new(Subset, LabelNoise, Normalize, Seed);

    public TrainerOptions TrainerOptions => new()
    {
        Optimizer = Optimizer switch
        {
            "sgd" => OptimizerKind.Sgd,
            "momentum" => OptimizerKind.Momentum,
            "adam" => OptimizerKind.Adam,
            _ => throw new InputException($"--optimizer must be sgd, momentum or adam (got '{Optimizer}')"),
        },
        LearningRate = Lr,
        Momentum = Momentum,
        WeightDecay = WeightDecay,
        BatchSize = Batch,
        Schedule = Schedule switch
        {
            "constant" => ScheduleKind.Constant,
            "step" => ScheduleKind.Step,
            "cosine" => ScheduleKind.Cosine,
            _ => throw new InputException($"--schedule must be constant, step or cosine (got '{Schedule}')"),
        },
        WarmupSteps = Warmup,
        StepEveryEpochs = StepEvery,
        StepGamma = StepGamma,
        Epochs = Epochs,
        UntilLoss = UntilLoss,
        MaxEpochs = MaxEpochs,
        LogEverySteps = LogEvery,
        Seed = Seed,
    };

    /// <summary>Checks every setting; throws InputException naming the first bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Arch)) throw new InputException("--arch is required (e.g. mlp:784-100-10; see 'geodesy models')");
        if (string.IsNullOrWhiteSpace(Data)) throw new InputException("--data must not be empty (e.g. mnist)");
        if (LabelNoise < 0 || LabelNoise >= 1 || double.IsNaN(LabelNoise)) throw new InputException($"--label-noise must be in [0, 1) (got {LabelNoise})");
        if (Subset is < 1) throw new InputException($"--subset must be at least 1 (got {Subset})");
        if (CheckpointEpochs.Any(e => e < 0)) throw new InputException("--checkpoint-epochs must be >= 0");
        if (CheckpointSteps.Any(s => s < 0)) throw new InputException("--checkpoint-steps must be >= 0");
        TrainerOptions.Validate();
    }

    /// <summary>The settings that differ from the defaults, keys in snake_case, sorted.</summary>
    public JsonObject NonDefaultSettings()
    {
        var all = ToJson();
        var defaults = Defaults.ToJson();
        var result = new JsonObject();
        foreach (var (key, value) in all.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (!JsonNode.DeepEquals(value, defaults[key]))
                result[key] = value?.DeepClone();
        return result;
    }

    /// <summary>Canonical JSON of the non-default settings (compact, sorted keys).</summary>
    public string CanonicalJson() => NonDefaultSettings().ToJsonString();

    /// <summary>SHA-256 (hex) of <see cref="CanonicalJson"/>: the run's id.</summary>
    public string Id() => Provenance.Sha256Hex(Encoding.UTF8.GetBytes(CanonicalJson()));

    /// <summary>All settings as snake_case JSON.</summary>
    public JsonObject ToJson() => new()
    {
        ["data"] = Data,
        ["arch"] = Arch,
        ["optimizer"] = Optimizer,
        ["lr"] = Lr,
        ["momentum"] = Momentum,
        ["batch"] = Batch,
        ["weight_decay"] = WeightDecay,
        ["schedule"] = Schedule,
        ["warmup"] = Warmup,
        ["step_every"] = StepEvery,
        ["step_gamma"] = StepGamma,
        ["epochs"] = Epochs,
        ["until_loss"] = UntilLoss,
        ["max_epochs"] = MaxEpochs,
        ["seed"] = Seed,
        ["label_noise"] = LabelNoise,
        ["subset"] = Subset,
        ["normalize"] = Normalize,
        ["checkpoint_epochs"] = new JsonArray(CheckpointEpochs.Select(e => (JsonNode)e).ToArray()),
        ["checkpoint_steps"] = new JsonArray(CheckpointSteps.Select(s => (JsonNode)s).ToArray()),
        ["log_every"] = LogEvery,
    };

    /// <summary>Reads a spec from JSON (all keys optional, snake_case), rejecting unknown keys.</summary>
    public static RunSpec FromJson(JsonObject o)
    {
        var known = Defaults.ToJson().Select(kv => kv.Key).ToHashSet();
        foreach (var (key, _) in o)
            if (!known.Contains(key)) throw new InputException($"unknown run setting '{key}'");
        T Get<T>(string key, T fallback)
        {
            if (!o.TryGetPropertyValue(key, out var node) || node is null) return fallback;
            try { return node.Deserialize<T>()!; }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            { throw new InputException($"run setting '{key}' has a bad value {node.ToJsonString()}"); }
        }
        var d = Defaults;
        return new RunSpec
        {
            Data = Get("data", d.Data), Arch = Get("arch", d.Arch), Optimizer = Get("optimizer", d.Optimizer),
            Lr = Get("lr", d.Lr), Momentum = Get("momentum", d.Momentum), Batch = Get("batch", d.Batch),
            WeightDecay = Get("weight_decay", d.WeightDecay), Schedule = Get("schedule", d.Schedule),
            Warmup = Get("warmup", d.Warmup), StepEvery = Get("step_every", d.StepEvery), StepGamma = Get("step_gamma", d.StepGamma),
            Epochs = Get("epochs", d.Epochs), UntilLoss = Get("until_loss", d.UntilLoss), MaxEpochs = Get("max_epochs", d.MaxEpochs),
            Seed = Get("seed", d.Seed), LabelNoise = Get("label_noise", d.LabelNoise), Subset = Get("subset", d.Subset),
            Normalize = Get("normalize", d.Normalize), CheckpointEpochs = Get("checkpoint_epochs", d.CheckpointEpochs),
            CheckpointSteps = Get("checkpoint_steps", d.CheckpointSteps), LogEvery = Get("log_every", d.LogEvery),
        };
    }

    public override string ToString() => CanonicalJson();
}
