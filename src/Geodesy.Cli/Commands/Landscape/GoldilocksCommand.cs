using System.CommandLine;
using Geodesy.Cli.Output;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape goldilocks`: <see cref="GoldilocksAnalysis"/> ("geodesy.landscape-goldilocks/1").</summary>
public static class GoldilocksCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var run = CommonOptions.Run("arch, data and training settings from DIR/run.json, the initialization from DIR/init.safetensors");
        var arch = CommonOptions.Arch(required: false);
        var initWeights = new Option<string?>("--init-weights") { Description = "The initialization whose ray is scanned (safetensors); default: RUN/init.safetensors, else the seeded initialization of --arch" };
        var initSeed = new Option<long>("--init-seed") { Description = "Seed of the seeded initialization (without --init-weights or --run)", DefaultValueFactory = _ => 0 };
        var data = CommonOptions.Data();
        var normalize = CommonOptions.Normalize();
        var radii = new Option<string>("--radii") { Description = "Radii ||θ|| to rescale the initialization to, comma-separated (> 0)", Required = true };
        var dim = new Option<int>("--dim") { Description = "Dimension d of each random hyperplane (d Hessian-vector products each)", DefaultValueFactory = _ => 10 };
        var hyperplanes = new Option<int>("--hyperplanes") { Description = "Random hyperplanes per radius (mean and standard error over them)", DefaultValueFactory = _ => 3 };
        var optimize = new Option<bool>("--optimize") { Description = "Also train inside the first hyperplane (--epochs, --lr, ...) and report whether low loss is reachable there" };
        var target = new Option<double>("--target-accuracy") { Description = "Train accuracy that counts as low loss reached inside the hyperplane", DefaultValueFactory = _ => 0.5 };
        var seed = new Option<long>("--seed") { Description = "Seed of the hyperplanes", DefaultValueFactory = _ => 0 };
        var training = new TrainingOptionSet("the optimization inside the hyperplane", "adam", 0.01, 2);
        shared.Examples.Description = "The first N training (and test) examples for the Hessian and the optimization (default 1000)";

        var cmd = new Command("goldilocks", "The Goldilocks zone (Fort & Scherlis 2019): positive curvature of random hyperplanes through the initialization rescaled to each radius.");
        Option[] options = [run, arch, initWeights, initSeed, data, normalize, radii, dim, hyperplanes, optimize, target, seed, .. training.All,
            shared.Examples, shared.DType, shared.Threads, shared.Json, shared.Csv, shared.Plot];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var radiusList = CommonOptions.ParseList<double>(parse.GetValue(radii), "--radii");
            LandscapeGeometry.NonEmpty(radiusList, "--radii", r => r > 0 && double.IsFinite(r), "a positive radius");
            shared.CheckOutputs(parse);
            var resolved = GeometryCommands.InitSource(parse, run, arch, initWeights, data, normalize, initSeed, shared.ScalarType(parse)).Resolve();
            var settings = new GoldilocksSettings
            {
                Radii = radiusList,
                Dim = parse.GetValue(dim),
                Hyperplanes = parse.GetValue(hyperplanes),
                Examples = parse.GetValue(shared.Examples) ?? 1000,
                Training = parse.GetValue(optimize) ? training.Read(parse, resolved.RunSpec) : null,
                TargetAccuracy = parse.GetValue(target),
                Seed = parse.GetValue(seed),
            };
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-goldilocks", parse.Tokens.Select(t => t.Value));
            using var loaded = resolved.Load();
            settings.Validate(loaded.Parameters);
            var result = GoldilocksAnalysis.Run(loaded, settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, "radii", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
