using System.CommandLine;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape stiffness`: <see cref="StiffnessAnalysis"/> ("geodesy.landscape-stiffness/1").</summary>
public static class StiffnessCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var source = new ModelSourceOptions("weights DIR/final.safetensors, arch and data (with its subset, label noise, normalization) from DIR/run.json");
        var split = new Option<string>("--split") { Description = "The examples: train or test", DefaultValueFactory = _ => "train" };
        split.AcceptOnlyFromAmong("train", "test");
        var bins = new Option<int>("--bins") { Description = "Bins of input-space distance", DefaultValueFactory = _ => 10 };
        var distancePlot = new Option<string?>("--distance-plot") { Description = "Write the stiffness against input distance (PNG) to FILE" };
        shared.Examples.Description = "The first N examples of the split (default 500; N x P gradients are held)";

        var cmd = new Command("stiffness", "Stiffness (Fort et al. 2019): cosine and sign of per-example gradient pairs, by class and by input distance.");
        Option[] options = [.. source.All, split, bins, distancePlot, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var settings = new StiffnessSettings
            {
                Examples = parse.GetValue(shared.Examples) ?? 500,
                Split = parse.GetValue(split)!,
                Bins = parse.GetValue(bins),
                StreamBatch = shared.StreamBatch.Read(parse).Value,
            };
            settings.Validate();
            shared.CheckOutputs(parse);
            CommonOptions.CheckOutputFolder(parse.GetValue(distancePlot), "--distance-plot");
            return GeometryCommands.Execute(shared, parse, "stiffness", source.Bind(parse, shared.ScalarType(parse)).Load,
                (loaded, log) => StiffnessAnalysis.Run(loaded, settings, log), "classes and distance bins", (result, log) =>
                {
                    if (parse.GetValue(distancePlot) is not { } path) return;
                    ((StiffnessAnalysisResult)result).WriteDistancePng(path);
                    log.WriteLine($"distance plot written to {path}");
                });
        });
        return cmd;
    }
}
