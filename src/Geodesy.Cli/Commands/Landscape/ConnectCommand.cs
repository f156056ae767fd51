using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape connect`: the options of <see cref="ConnectAnalysis"/>; document "geodesy.landscape-connect/1".</summary>
internal static class ConnectCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var a = new Option<string>("--a") { Description = "The curve's start, t = 0 (safetensors); default: RUN/final.safetensors with --run" };
        var b = new Option<string?>("--b") { Description = "The curve's end, t = 1 (safetensors, same architecture)" };
        var simplex = new Option<string?>("--simplex") { Description = "FILE,FILE,...: the given vertices of a low-loss simplex (at least two; one extra vertex is trained), instead of --a/--b" };
        var curve = new Option<string>("--curve") { Description = "bezier (quadratic Bezier through one bend) or polychain (two segments through the bend)", DefaultValueFactory = _ => "bezier" };
        curve.AcceptOnlyFromAmong(ConnectSettings.Curves);
        var run = CommonOptions.Run("arch and data (with its subset, label noise, normalization) from DIR/run.json, and --a's default DIR/final.safetensors");
        var arch = CommonOptions.Arch(required: false);
        var data = CommonOptions.Data();
        var normalize = CommonOptions.Normalize();
        var defaults = new CombinationTrainingOptions();
        var epochs = new Option<int>("--epochs") { Description = "Epochs of training the bend or extra vertex over all training examples", DefaultValueFactory = _ => defaults.Epochs };
        var lr = new Option<double>("--lr") { Description = "Base learning rate (constant to 50% of the epochs, linear to 1% at 90%)", DefaultValueFactory = _ => defaults.LearningRate };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size; one point of the curve or simplex is drawn per batch", DefaultValueFactory = _ => defaults.BatchSize };
        var momentum = new Option<double>("--momentum") { Description = "Heavy-ball momentum of the SGD on the free vertex", DefaultValueFactory = _ => defaults.Momentum };
        var weightDecay = new Option<double>("--weight-decay") { Description = "L2 penalty on the sampled point's weights during training", DefaultValueFactory = _ => defaults.WeightDecay };
        var seed = new Option<long>("--seed") { Description = "Seed of the data order, of the points drawn in training and of the simplex's evaluation points", DefaultValueFactory = _ => 0 };
        var points = new Option<int>("--points") { Description = "Points on the curve and the linear path, t = 0, 1/(N-1), ..., 1 (N >= 2)", DefaultValueFactory = _ => 21 };
        var samples = new Option<int>("--samples") { Description = "Uniform points evaluated inside the simplex (and inside the simplex of the given vertices alone)", DefaultValueFactory = _ => 64 };
        var grid = new Option<int?>("--grid") { Description = "Instead of --samples random points: the regular lattice of the simplex with N steps per edge (vertices and edges included)" };
        var resetExamples = new Option<long?>("--reset-bn-examples") { Description = "With BatchNorm (statistics are always re-estimated at every point): the first N evaluation training examples (default: all)" };

        var cmd = new Command("connect", "Train a low-loss curve between two solutions (Garipov et al. 2018) or a low-loss simplex spanned by several (Fort & Jastrzebski 2019), and evaluate loss and error along or inside it.");
        Option[] options = [a, b, simplex, curve, run, arch, data, normalize, epochs, lr, batch, momentum, weightDecay, seed, points, samples, grid, resetExamples, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            string? list = parse.GetValue(simplex);
            var vertices = list?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var settings = new ConnectSettings
            {
                B = parse.GetValue(b),
                Curve = parse.GetValue(curve)!,
                Simplex = vertices,
                Training = new CombinationTrainingOptions
                {
                    Epochs = parse.GetValue(epochs),
                    LearningRate = parse.GetValue(lr),
                    BatchSize = parse.GetValue(batch),
                    Momentum = parse.GetValue(momentum),
                    WeightDecay = parse.GetValue(weightDecay),
                    Seed = parse.GetValue(seed),
                },
                Points = parse.GetValue(points),
                Samples = parse.GetValue(samples),
                Grid = parse.GetValue(grid),
                Examples = parse.GetValue(shared.Examples),
                StreamBatch = shared.StreamBatch.Read(parse).Value,
                ResetExamples = parse.GetValue(resetExamples),
            };
            settings.Validate();
            string? weightsA = parse.GetValue(a);
            if (vertices is not null && weightsA is not null) throw new InputException("--simplex lists every given vertex: leave out --a");
            if (vertices is null && weightsA is null && parse.GetValue(run) is null) throw new InputException("give --a FILE (or --run DIR for its final weights)");
            shared.CheckOutputs(parse);
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-connect", parse.Tokens.Select(t => t.Value));
            using var loaded = shared.Source(parse, run, arch, data, normalize, vertices?[0] ?? weightsA).Load();
            var result = ConnectAnalysis.Run(loaded, settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, settings.IsSimplex ? "samples" : "path", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
