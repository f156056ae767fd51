using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape instability`: the options of <see cref="InstabilityAnalysis"/>; document "geodesy.landscape-instability/1".</summary>
internal static class InstabilityCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var run = new Option<string>("--run") { Description = "A run folder of 'geodesy train' with checkpoints at the steps (train with --checkpoint-steps; step 0 is init.safetensors)", Required = true };
        var steps = new Option<string>("--steps") { Description = "The steps k to branch from, e.g. 0,50,100 (each needs a checkpoint)", Required = true };
        var points = new Option<int>("--points") { Description = "Points on the path between the two copies, t = 0, 1/(N-1), ..., 1 (N >= 2)", DefaultValueFactory = _ => 21 };
        var seed = new Option<long>("--seed") { Description = "Seed the two copies' data-order seeds are drawn from", DefaultValueFactory = _ => 0 };
        var batchNorm = new BatchNormResetOptions();

        var cmd = new Command("instability", "Instability analysis (Frankle et al. 2020): from the run's checkpoint at each step k, train two copies with different data orders to the run's end and measure the error barrier between them.");
        Option[] options = [run, steps, points, seed, .. batchNorm.All, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var settings = new InstabilitySettings
            {
                Run = parse.GetValue(run)!,
                Steps = InstabilitySettings.ParseSteps(parse.GetValue(steps)!),
                Points = parse.GetValue(points),
                Examples = parse.GetValue(shared.Examples),
                StreamBatch = shared.StreamBatch.Read(parse).Value,
                Seed = parse.GetValue(seed),
                BatchNorm = batchNorm.Read(parse),
            };
            settings.Validate();
            if (parse.GetValue(shared.DType) != "float32") throw new InputException("--dtype: instability trains like the run, in float32");
            shared.CheckOutputs(parse);
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-instability", parse.Tokens.Select(t => t.Value));
            var result = InstabilityAnalysis.Run(settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, "curve", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
