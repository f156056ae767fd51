using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Probes;
using Geodesy.Core.Training.Regularizers;
using Geodesy.Core.Models;
using Geodesy.Core.Training.Techniques;

namespace Geodesy.Experiments.Specs;

/// <summary>
/// Everything that defines one training run. Each setting is declared once, as a property with a
/// <see cref="RunSettingAttribute"/> (help and validation) and its default as the initializer:
/// <see cref="Settings"/> reads them, and the JSON round trip, the canonical hash, the checks and
/// the options of `geodesy train` all come from that table (Specs/README.md, "Adding a run
/// setting"). The id is the SHA-256 of the canonical JSON of the settings that differ from the
/// defaults (keys sorted), so a new setting with a default keeps old ids valid, and a finished id
/// never needs recomputing.
/// </summary>
public sealed record RunSpec
{
    [RunSetting("Data spec: mnist (embedded default), idx:IMAGES:LABELS, cifar10:DIR, gaussian-mixture:..., hidden-manifold:..., modular:p=97,op=add",
        Example = "mnist")]
    public string Data { get; init; } = "mnist";

    [RunSetting("Architecture spec, e.g. mlp:784-100-10, cnn:channels=16-32, nin:depth=2,width=96, resnet20:width=16 (see 'geodesy models')",
        Example = "mlp:784-100-10; see 'geodesy models'", RequiredOption = true)]
    public string Arch { get; init; } = "mlp:784-100-10";

    [RunSetting("sgd | momentum (heavy ball, --momentum 0.9) | adam | adamw (decoupled weight decay)", OneOf = "sgd,momentum,adam,adamw")]
    public string Optimizer { get; init; } = "momentum";

    [RunSetting("Learning rate", Positive = true)]
    public double Lr { get; init; } = 0.05;

    [RunSetting("Momentum for --optimizer momentum", Min = 0, Below = 1)]
    public double Momentum { get; init; } = 0.9;

    [RunSetting("β₂ of --optimizer adam and adamw (the second-moment average; grokking studies use 0.98)", Min = 0, Below = 1)]
    public double AdamBeta2 { get; init; } = 0.999;

    [RunSetting("Mini-batch size", Min = 1)]
    public int Batch { get; init; } = 64;

    [RunSetting("Weight decay coefficient (L2 added to the gradient; decoupled with adamw)", Min = 0)]
    public double WeightDecay { get; init; }

    [RunSetting("constant | step | cosine", OneOf = "constant,step,cosine")]
    public string Schedule { get; init; } = "constant";

    [RunSetting("Linear learning-rate warm-up over N steps", Min = 0)]
    public int Warmup { get; init; }

    [RunSetting("Step schedule: decay every N epochs", Min = 1)]
    public int StepEvery { get; init; } = 30;

    [RunSetting("Step schedule: decay factor", Positive = true)]
    public double StepGamma { get; init; } = 0.1;

    [RunSetting("Train this many epochs (not with --until-loss)", Min = 0)]
    public int Epochs { get; init; } = 10;

    [RunSetting("Stop when the cross-entropy over the whole training set falls below X (Fantastic uses 0.01)", Positive = true)]
    public double? UntilLoss { get; init; }

    [RunSetting("With --until-loss: give up after N epochs (status max-epochs)", Min = 1)]
    public int MaxEpochs { get; init; } = 100;

    [RunSetting("Random seed (initialization, batch order, subset, label noise)")]
    public long Seed { get; init; }

    [RunSetting("Fraction P of training labels replaced by a random other class (seeded)", Min = 0, Below = 1)]
    public double LabelNoise { get; init; }

    [RunSetting("Train on a seeded stratified subset of N training examples", Min = 1)]
    public int? Subset { get; init; }

    [RunSetting("Standardize each input channel with training-set statistics")]
    public bool Normalize { get; init; }

    [RunSetting("Also save weights after these epochs, e.g. 1,2,5 (init and final are always saved)", Min = 0)]
    public int[] CheckpointEpochs { get; init; } = [];

    [RunSetting("Also save weights after these steps, e.g. 10,100", Min = 0)]
    public long[] CheckpointSteps { get; init; } = [];

    [RunSetting("Also evaluate and log every N steps", Min = 0)]
    public int LogEvery { get; init; }

    [RunSetting("Record a probe while training, to DIR/probes.jsonl: NAME[:key=value,...][@every=K|@steps=a,b,c|@epochs=a,b], e.g. hessian-top:k=2@every=100 (docs/probes.md)")]
    public string[] Probe { get; init; } = [];

    [RunSetting("The fixed probe set of --probe: the first N training examples", Min = 1)]
    public int ProbeExamples { get; init; } = ProbeRecorder.DefaultExamples;

    [RunSetting("Fisher penalty (Jastrzebski et al. 2021): X[,sub=B][,method=double-backward|finite-difference][,labels=sampled|true][@every=K], e.g. 0.01@every=10 (docs/regularizers.md)")]
    public string FisherPenalty { get; init; } = "";

    [RunSetting("Early-learning regularization (Liu et al. 2020): LAMBDA[,beta=B], e.g. 3,beta=0.7")]
    public string Elr { get; init; } = "";

    [RunSetting("Label smoothing: cross-entropy against (1-X) one-hot + X/K", Min = 0, Below = 1)]
    public double LabelSmoothing { get; init; }

    [RunSetting("Margin-distribution regularizer X*(V*Var(margin) - mean(margin)): X[,var=V]")]
    public string MarginReg { get; init; } = "";

    [RunSetting("Input-output Jacobian regularizer by random projections: X[,kind=orthogonal|frobenius][,projections=M]")]
    public string JacobianReg { get; init; } = "";

    [RunSetting("Dropout probability on the hidden features (train mode only; curvature and measures run in eval mode)", Min = 0, Below = 1)]
    public double Dropout { get; init; }

    [RunSetting("Initialization: default | identical-rows[:eps=E] (reduced feature diversity, Blumenfeld et al. 2020)", Example = "default")]
    public string Init { get; init; } = "default";
    [RunSetting("Train only these parameters, the others frozen at init: all | bn (BatchNorm affine parameters only; Frankle et al. 2021)", OneOf = "all,bn")]
    public string TrainOnly { get; init; } = "all";

    [RunSetting("Ghost batch normalization: BatchNorm statistics per virtual batch of N examples in training (Hoffer et al. 2017; cnn/nin with bn=1); 0 = off", Min = 0)]
    public int GhostBatch { get; init; }

    [RunSetting("\"Train longer\" regime of Hoffer et al. 2017 relative to a reference batch B0: lr x sqrt(batch/B0), epochs x batch/B0 (docs/training-techniques.md)", Min = 1)]
    public int? TrainLonger { get; init; }

    [RunSetting("MIMO (Havasi et al. 2021): M inputs and M heads in one network, each head trained on its own examples, evaluated as the ensemble of the M members; 1 = off", Min = 1)]
    public int Mimo { get; init; } = 1;

    [RunSetting("MIMO batch repetition r: each mini-batch tiled r times before the members' shuffles", Min = 1)]
    public int MimoBatchRepetition { get; init; } = 1;

    [RunSetting("MIMO input repetition: fraction of each batch that all members share (the rest is shuffled per member)", Min = 0, Below = 1)]
    public double MimoInputRepetition { get; init; }

    [RunSetting("Seed of the data alone (the subset and the label noise; default: --seed), so runs of different seeds can train on one subset")]
    public long? DataSeed { get; init; }

    /// <summary>Every setting in declaration order: the one table the rest of this class reads.</summary>
    public static IReadOnlyList<RunSetting> Settings { get; } = RunSetting.Declared<RunSpec>();

    /// <summary>The setting with this snake_case key.</summary>
    public static RunSetting Setting(string key) => Settings.FirstOrDefault(s => s.Key == key)
        ?? throw new ArgumentException($"RunSpec has no setting '{key}'", nameof(key));

    private static readonly RunSpec Defaults = new();

    public DataOptions DataOptions => new(Subset, LabelNoise, Normalize, DataSeed ?? Seed);

    public TrainerOptions TrainerOptions => new()
    {
        Optimizer = Optimizer switch
        {
            "sgd" => OptimizerKind.Sgd,
            "momentum" => OptimizerKind.Momentum,
            "adam" => OptimizerKind.Adam,
            "adamw" => OptimizerKind.AdamW,
            _ => throw new InputException($"--optimizer must be sgd, momentum, adam or adamw (got '{Optimizer}')"),
        },
        LearningRate = TrainingRegimes.TrainLongerRate(Lr, Batch, TrainLonger),
        Momentum = Momentum,
        AdamBeta2 = AdamBeta2,
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
        Epochs = TrainingRegimes.TrainLongerEpochs(Epochs, Batch, TrainLonger),
        UntilLoss = UntilLoss,
        MaxEpochs = TrainingRegimes.TrainLongerEpochs(MaxEpochs, Batch, TrainLonger),
        LogEverySteps = LogEvery,
        Seed = Seed,
        Regularizers = Regularizers(),
        Constraints = TrainOnly == "bn" ? [new BatchNormOnly()] : [],
        BatchTransform = Mimo > 1 ? new MimoBatches(Mimo, MimoBatchRepetition, MimoInputRepetition, Seed) : null,
    };

    /// <summary>The regularizers of the objective, from the settings that are not off.</summary>
    private IReadOnlyList<IRegularizer> Regularizers()
    {
        var list = new List<IRegularizer>();
        void Add(string name, string text)
        {
            if (!string.IsNullOrWhiteSpace(text)) list.Add(RegularizerRegistry.Create(name, text));
        }
        Add(Core.Training.Regularizers.FisherPenalty.RegistryName, FisherPenalty);
        Add(EarlyLearningRegularization.RegistryName, Elr);
        if (LabelSmoothing > 0) list.Add(new Core.Training.Regularizers.LabelSmoothing(LabelSmoothing));
        Add(MarginRegularizer.RegistryName, MarginReg);
        Add(JacobianRegularizer.RegistryName, JacobianReg);
        return list;
    }

    /// <summary>Checks every setting against its declared rule; throws InputException naming the first bad one.</summary>
    public void Validate()
    {
        foreach (var setting in Settings)
            if (setting.Check(setting.Get(this)) is { } problem) throw new InputException(problem);
        foreach (var probe in Probe) ProbeSpec.Parse(probe); // one line naming the bad --probe value
        Initialization.ParseScheme(Init);
        // The regularizers read one logit row and one label per example; MIMO's member batches have M of each.
        if (Mimo > 1 && Regularizers().Count > 0)
            throw new InputException("--mimo does not combine with --fisher-penalty, --elr, --label-smoothing, --margin-reg or --jacobian-reg");
        TrainerOptions.Validate(); // the trainer's own guard (the same rules; it also protects direct API use)
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

    /// <summary>All settings as snake_case JSON, in declaration order.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject();
        foreach (var setting in Settings) o[setting.Key] = setting.ToJson(this);
        return o;
    }

    /// <summary>Reads a spec from JSON (all keys optional, snake_case), rejecting unknown keys.</summary>
    public static RunSpec FromJson(JsonObject o)
    {
        foreach (var (key, _) in o)
            if (!Settings.Any(s => s.Key == key)) throw new InputException($"unknown run setting '{key}'");
        var spec = new RunSpec();
        foreach (var setting in Settings)
            if (o.TryGetPropertyValue(setting.Key, out var node) && node is not null)
                spec = setting.With(spec, setting.FromJson(node));
        return spec;
    }

    public override string ToString() => CanonicalJson();
}
