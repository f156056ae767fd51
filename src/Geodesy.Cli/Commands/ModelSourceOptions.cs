using System.CommandLine;
using Geodesy.Experiments.Analyses;
using static TorchSharp.torch;

namespace Geodesy.Cli.Commands;

/// <summary>
/// The options that say which model on which data (`--run`, `--arch`, `--weights`, `--data` and
/// the data options), shared by the verbs that analyse a trained model; <see cref="Bind"/> turns
/// them into a <see cref="ModelSource"/>, which resolves them by one rule (docs/cli.md).
/// </summary>
public sealed class ModelSourceOptions
{
    public ModelSourceOptions(string runSupplies, bool initWeights = false, bool dataOptions = false)
    {
        Run = CommonOptions.Run(runSupplies + "; an option given explicitly replaces just that value");
        Weights = new Option<string?>("--weights") { Description = "Trained weights (safetensors, PyTorch names); default: RUN/final.safetensors with --run" };
        InitWeights = initWeights
            ? new Option<string?>("--init-weights") { Description = "Initial weights (safetensors) for the *-init and distance measures; default: RUN/init.safetensors with --run" }
            : null;
        if (dataOptions)
        {
            Subset = CommonOptions.Subset();
            LabelNoise = CommonOptions.LabelNoise();
        }
    }

    public Option<string?> Run { get; }
    public Option<string> Arch { get; } = CommonOptions.Arch(required: false);
    public Option<string?> Weights { get; }
    public Option<string?>? InitWeights { get; }
    public Option<string> Data { get; } = CommonOptions.Data();
    public Option<int?>? Subset { get; }
    public Option<double>? LabelNoise { get; }
    public Option<bool> Normalize { get; } = CommonOptions.Normalize();

    public IEnumerable<Option> All =>
        new Option?[] { Run, Arch, Weights, InitWeights, Data, Subset, LabelNoise, Normalize }.OfType<Option>();

    /// <summary>The source as given: options not given stay null, so the run folder or the default applies.</summary>
    public ModelSource Bind(ParseResult parse, ScalarType dtype, long? seed = null)
    {
        bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
        return new ModelSource
        {
            Run = parse.GetValue(Run),
            Arch = parse.GetValue(Arch),
            Weights = parse.GetValue(Weights),
            InitWeights = InitWeights is null ? null : parse.GetValue(InitWeights),
            WithInit = InitWeights is not null,
            Data = Given(Data) ? parse.GetValue(Data) : null,
            Subset = Subset is null ? null : parse.GetValue(Subset),
            LabelNoise = LabelNoise is not null && Given(LabelNoise) ? parse.GetValue(LabelNoise) : null,
            Normalize = Given(Normalize) ? parse.GetValue(Normalize) : null,
            Seed = seed,
            DType = dtype,
        };
    }
}
