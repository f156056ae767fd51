using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Training;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>
/// The landscape-geometry verbs `geodesy landscape subspace|goldilocks|criticality|stiffness`
/// (docs/landscape.md), one file each, registered here.
/// </summary>
public static class GeometryCommands
{
    public static IEnumerable<Command> Create() =>
        [SubspaceCommand.Create(), GoldilocksCommand.Create(), CriticalityCommand.Create(), StiffnessCommand.Create()];

    /// <summary>
    /// The tail every geometry verb shares: load the model, run, log, then write the CSV, the plot and
    /// the document "geodesy.landscape-VERB/1" that were asked for.
    /// </summary>
    internal static int Execute(LandscapeCommand.Shared shared, ParseResult parse, string verb, Func<LoadedModel> load,
        Func<LoadedModel, Action<string>, ILandscapeDocument> run, string what, Action<ILandscapeDocument, TextWriter>? extra = null)
    {
        var log = shared.Log(parse);
        var report = new JsonReport("landscape-" + verb, parse.Tokens.Select(t => t.Value));
        using var loaded = load();
        var result = run(loaded, line => log.WriteLine(line));
        extra?.Invoke(result, log);
        shared.Write(parse, log, report, what, result.WriteCsv, result.WritePng, result.WriteTo);
        return GeodesyCli.ExitOk;
    }
}

/// <summary>
/// The model at its initialization (subspace, goldilocks): --init-weights FILE, else RUN/init.safetensors
/// with --run, else the seeded initialization of --arch (seed --init-seed) for a model made from scratch.
/// </summary>
internal sealed class InitSourceOptions(string what)
{
    public Option<string?> Run { get; } = CommonOptions.Run("arch, data and training settings from DIR/run.json, the initialization from DIR/init.safetensors");
    public Option<string> Arch { get; } = CommonOptions.Arch(required: false);
    public Option<string?> InitWeights { get; } = new("--init-weights") { Description = $"The initialization {what} (safetensors); default: RUN/init.safetensors, else the seeded initialization of --arch" };
    public Option<long> InitSeed { get; } = new("--init-seed") { Description = "Seed of the seeded initialization (without --init-weights or --run)", DefaultValueFactory = _ => 0 };
    public Option<string> Data { get; } = CommonOptions.Data();
    public Option<bool> Normalize { get; } = CommonOptions.Normalize();
    public IEnumerable<Option> All => [Run, Arch, InitWeights, InitSeed, Data, Normalize];

    public ResolvedSource Resolve(ParseResult parse, TorchSharp.torch.ScalarType dtype)
    {
        bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
        string? runDir = parse.GetValue(Run);
        string? init = parse.GetValue(InitWeights);
        if (init is null && runDir is not null)
        {
            init = Path.Combine(runDir, RunFiles.InitWeights);
            if (!File.Exists(init)) throw new InputException($"run folder '{runDir}' has no {RunFiles.InitWeights}; give --init-weights FILE");
        }
        if (init is null && parse.GetValue(Arch) is null) throw new InputException("give --arch SPEC (or --run DIR, or --init-weights FILE with --arch)");
        return new ModelSource
        {
            Run = runDir,
            Arch = parse.GetValue(Arch),
            Weights = init,
            Data = Given(Data) ? parse.GetValue(Data) : null,
            Normalize = Given(Normalize) ? parse.GetValue(Normalize) : null,
            AllowSeededInit = true,
            InitSeed = parse.GetValue(InitSeed),
            DType = dtype,
        }.Resolve();
    }
}

/// <summary>
/// --optimizer, --lr, --batch, --epochs of a training a verb does itself; what is not given comes from
/// the run's run.json with --run, else from the verb's defaults.
/// </summary>
internal sealed class TrainingOptionSet(string what, string optimizer, double lr, int epochs)
{
    public Option<string?> Optimizer { get; } = OneOf(new Option<string?>("--optimizer") { Description = $"Optimizer of {what}: sgd, momentum or adam (default: the run's, else {optimizer})" });
    public Option<double?> Lr { get; } = new("--lr") { Description = $"Learning rate of {what} (default: the run's, else {lr})" };
    public Option<int?> Batch { get; } = new("--batch") { Description = $"Mini-batch size of {what} (default: the run's, else 64)" };
    public Option<int?> Epochs { get; } = new("--epochs") { Description = $"Epochs of {what} (default: the run's, else {epochs})" };
    public Option<long?> TrainSeed { get; } = new("--train-seed") { Description = "Seed of the mini-batch order (default: the run's seed, else 0)" };
    public IEnumerable<Option> All => [Optimizer, Lr, Batch, Epochs, TrainSeed];

    private static Option<string?> OneOf(Option<string?> o)
    {
        o.AcceptOnlyFromAmong("sgd", "momentum", "adam");
        return o;
    }

    /// <summary>The run's settings (or defaults) with every option given replacing its value; constant schedule unless the run says otherwise.</summary>
    public TrainerOptions Read(ParseResult parse, RunSpec? run)
    {
        var spec = run ?? new RunSpec { Optimizer = optimizer, Lr = lr, Epochs = epochs };
        spec = spec with
        {
            Optimizer = parse.GetValue(Optimizer) ?? spec.Optimizer,
            Lr = parse.GetValue(Lr) ?? spec.Lr,
            Batch = parse.GetValue(Batch) ?? spec.Batch,
            Epochs = parse.GetValue(Epochs) ?? spec.Epochs,
            Seed = parse.GetValue(TrainSeed) ?? spec.Seed,
            UntilLoss = parse.GetValue(Epochs) is null ? spec.UntilLoss : null,
        };
        return spec.TrainerOptions with { WeightDecay = 0, LogEverySteps = 0 };
    }
}
