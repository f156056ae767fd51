using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;
using static TorchSharp.torch;

namespace Geodesy.Cli.Commands;

/// <summary>
/// `geodesy landscape slice|barrier`: the options of <see cref="SliceAnalysis"/> and
/// <see cref="BarrierAnalysis"/>, their summaries, CSV and PNG; the JSON documents are
/// "geodesy.landscape-slice/1" and "geodesy.landscape-barrier/1" (docs/landscape.md).
/// </summary>
public static class LandscapeCommand
{
    public static Command Create()
    {
        var cmd = new Command("landscape", "The loss landscape around and between trained models: 1D/2D slices, barriers on the linear path (docs/landscape.md).");
        cmd.Subcommands.Add(Slice());
        cmd.Subcommands.Add(Barrier());
        foreach (var verb in Landscape.GeometryCommands.Create()) cmd.Subcommands.Add(verb);
        cmd.Subcommands.Add(Landscape.InstabilityCommand.Create());
        cmd.Subcommands.Add(Landscape.ConnectCommand.Create());
        return cmd;
    }

    /// <summary>Options both verbs share: the evaluation set, dtype, outputs.</summary>
    internal sealed class Shared
    {
        public Option<int?> Examples { get; } = new("--examples") { Description = "Evaluate on the first N training and the first N test examples (default: all of them)" };
        public Option<string> DType { get; } = Dtype();
        public Renamed<int> StreamBatch { get; } = CommonOptions.StreamBatch(2000);
        public Option<int?> Threads { get; } = CommonOptions.Threads();
        public Option<string?> Json { get; } = CommonOptions.Json();
        public Option<string?> Csv { get; } = new("--csv") { Description = "Write the grid or path as CSV to FILE" };
        public Option<string?> Plot { get; } = new("--plot") { Description = "Write the plot (PNG) to FILE" };
        public IEnumerable<Option> All => [Examples, DType, .. StreamBatch.Both, Threads, Json, Csv, Plot];

        private static Option<string> Dtype()
        {
            var o = new Option<string>("--dtype") { Description = "float32 or float64", DefaultValueFactory = _ => "float32" };
            o.AcceptOnlyFromAmong("float32", "float64");
            return o;
        }

        public ScalarType ScalarType(ParseResult parse) => parse.GetValue(DType) == "float64" ? TorchSharp.torch.ScalarType.Float64 : TorchSharp.torch.ScalarType.Float32;

        /// <summary>Checks every output's folder before any work, so a mistake costs nothing.</summary>
        public void CheckOutputs(ParseResult parse)
        {
            string? json = parse.GetValue(Json);
            CommonOptions.CheckOutputFolder(json == "-" ? null : json, "--json");
            CommonOptions.CheckOutputFolder(parse.GetValue(Csv), "--csv");
            CommonOptions.CheckOutputFolder(parse.GetValue(Plot), "--plot");
        }

        /// <summary>Writes the CSV, the plot and the document that were asked for.</summary>
        public void Write(ParseResult parse, TextWriter log, JsonReport report, string what,
            Action<string> csv, Action<string> png, Action<System.Text.Json.Nodes.JsonObject, System.Text.Json.Nodes.JsonObject, System.Text.Json.Nodes.JsonObject> json)
        {
            if (parse.GetValue(Csv) is { } csvPath)
            {
                csv(csvPath);
                log.WriteLine($"{what} written to {csvPath}");
            }
            if (parse.GetValue(Plot) is { } pngPath)
            {
                png(pngPath);
                log.WriteLine($"plot written to {pngPath}");
            }
            if (parse.GetValue(Json) is { } dest)
            {
                json(report.Root, report.Cost, report.Provenance);
                report.Write(dest, parse.InvocationConfiguration.Output);
            }
        }

        /// <summary>The model from --run or --arch/--data/--normalize, with the weights given (null: the run's final weights); explicit values win.</summary>
        public ModelSource Source(ParseResult parse, Option<string?> run, Option<string> arch, Option<string> data, Option<bool> normalize, string? weights)
        {
            bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
            return new ModelSource
            {
                Run = parse.GetValue(run),
                Arch = parse.GetValue(arch),
                Weights = weights,
                Data = Given(data) ? parse.GetValue(data) : null,
                Normalize = Given(normalize) ? parse.GetValue(normalize) : null,
                DType = ScalarType(parse),
            };
        }

        /// <summary>The readable summary goes to stderr when the document goes to stdout.</summary>
        public TextWriter Log(ParseResult parse) =>
            parse.GetValue(Json) == "-" ? parse.InvocationConfiguration.Error : parse.InvocationConfiguration.Output;
    }

    private static Command Slice()
    {
        var shared = new Shared();
        var source = new ModelSourceOptions("weights DIR/final.safetensors, arch and data (with its subset, label noise, normalization) from DIR/run.json");
        var grid = new Option<string>("--grid") { Description = "The α grid LO:HI:N (N >= 2 points, HI > LO), e.g. --grid=-1:1:51", DefaultValueFactory = _ => "-1:1:51" };
        var grid2 = new Option<string?>("--grid2") { Description = "The β grid LO:HI:N of a 2D slice (default: the α grid)" };
        var direction = new Option<string>("--direction") { Description = "random (seeded Gaussian, normalized), toward:FILE (FILE's weights minus the centre's, α = 1 is FILE) or eigen:K (the unit K-th top Hessian eigenvector on the training examples, by Lanczos)", DefaultValueFactory = _ => "random" };
        var direction2 = new Option<string?>("--direction2") { Description = "A second direction for a 2D slice (random: made orthogonal to the first)" };
        var normalization = new Option<string>("--normalization") { Description = "Random directions: filter (per filter, Li et al. 2018; biases and BatchNorm zeroed), layer (per tensor; same zeroing) or none", DefaultValueFactory = _ => "filter" };
        normalization.AcceptOnlyFromAmong("filter", "layer", "none");
        var seed = CommonOptions.Seed();
        var batchNorm = new Landscape.BatchNormResetOptions();

        var cmd = new Command("slice", "Train/test loss and accuracy on a 1D or 2D slice θ + α·d (+ β·d2) around a trained model.");
        Option[] options = [.. source.All, grid, grid2, direction, direction2, normalization, seed, .. batchNorm.All, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            string? d2 = parse.GetValue(direction2), g2 = parse.GetValue(grid2);
            var settings = new SliceSettings
            {
                Grid = Grid.Parse(parse.GetValue(grid)!, "--grid"),
                Grid2 = g2 is null ? null : Grid.Parse(g2, "--grid2"),
                Direction = DirectionSpec.Parse(parse.GetValue(direction)!, "--direction"),
                Direction2 = d2 is null ? null : DirectionSpec.Parse(d2, "--direction2"),
                Normalization = Directions.ParseNormalization(parse.GetValue(normalization)!, "--normalization"),
                Examples = parse.GetValue(shared.Examples),
                Seed = parse.GetValue(seed),
                StreamBatch = shared.StreamBatch.Read(parse).Value,
                BatchNorm = batchNorm.Read(parse),
            };
            settings.Validate();
            shared.CheckOutputs(parse);
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-slice", parse.Tokens.Select(t => t.Value));
            using var loaded = source.Bind(parse, shared.ScalarType(parse)).Load();
            var result = SliceAnalysis.Run(loaded, settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, "grid", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static Command Barrier()
    {
        var shared = new Shared();
        var a = new Option<string>("--a") { Description = "The weights at t = 0 (safetensors); default: RUN/final.safetensors with --run" };
        var b = new Option<string>("--b") { Description = "The weights at t = 1 (safetensors, same architecture)", Required = true };
        var run = CommonOptions.Run("arch and data (with its subset, label noise, normalization) from DIR/run.json, and --a's default DIR/final.safetensors");
        var arch = CommonOptions.Arch(required: false);
        var data = CommonOptions.Data();
        var normalize = CommonOptions.Normalize();
        var align = new Option<string>("--align") { Description = "none, or weights: permute B's hidden units and channels to match A first (weight matching of Ainsworth et al. 2023; MLPs and CNNs)", DefaultValueFactory = _ => "none" };
        align.AcceptOnlyFromAmong("none", "weights");
        var seed = new Option<long>("--seed") { Description = "Seed of the layer order of --align weights", DefaultValueFactory = _ => 0 };
        var points = new Option<int>("--points") { Description = "Points on the path, t = 0, 1/(N-1), ..., 1 (N >= 2)", DefaultValueFactory = _ => 21 };
        var batchNorm = new Landscape.BatchNormResetOptions();

        var cmd = new Command("barrier", "Loss and error on the linear path between two models, and the loss and error barriers (linear mode connectivity).");
        Option[] options = [a, b, run, arch, data, normalize, points, align, seed, .. batchNorm.All, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var settings = new BarrierSettings
            {
                B = parse.GetValue(b)!,
                Points = parse.GetValue(points),
                Examples = parse.GetValue(shared.Examples),
                StreamBatch = shared.StreamBatch.Read(parse).Value,
                AlignWeights = parse.GetValue(align) == "weights",
                Seed = parse.GetValue(seed),
                BatchNorm = batchNorm.Read(parse),
            };
            settings.Validate();
            string? weightsA = parse.GetValue(a);
            if (weightsA is null && parse.GetValue(run) is null) throw new InputException("give --a FILE (or --run DIR for its final weights)");
            shared.CheckOutputs(parse);
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-barrier", parse.Tokens.Select(t => t.Value));
            using var loaded = shared.Source(parse, run, arch, data, normalize, weightsA).Load();
            var result = BarrierAnalysis.Run(loaded, settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, "path", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
