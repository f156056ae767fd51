using System.CommandLine;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape goldilocks`: <see cref="GoldilocksAnalysis"/> ("geodesy.landscape-goldilocks/1").</summary>
public static class GoldilocksCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var source = new InitSourceOptions("whose ray is scanned");
        var radii = new Option<string>("--radii") { Description = "Radii ||θ|| to rescale the initialization to, comma-separated (> 0)", Required = true };
        var dim = new Option<int>("--dim") { Description = "Dimension d of each random hyperplane (d Hessian-vector products each)", DefaultValueFactory = _ => 10 };
        var hyperplanes = new Option<int>("--hyperplanes") { Description = "Random hyperplanes per radius (mean and standard error over them)", DefaultValueFactory = _ => 3 };
        var optimize = new Option<bool>("--optimize") { Description = "Also train inside the first hyperplane (--epochs, --lr, ...) and report whether low loss is reachable there" };
        var target = new Option<double>("--target-accuracy") { Description = "Train accuracy that counts as low loss reached inside the hyperplane", DefaultValueFactory = _ => 0.5 };
        var seed = new Option<long>("--seed") { Description = "Seed of the hyperplanes", DefaultValueFactory = _ => 0 };
        var training = new TrainingOptionSet("the optimization inside the hyperplane", "adam", 0.01, 2);
        shared.Examples.Description = "The first N training (and test) examples for the Hessian and the optimization (default 1000)";

        var cmd = new Command("goldilocks", "The Goldilocks zone (Fort & Scherlis 2019): positive curvature of random hyperplanes through the initialization rescaled to each radius.");
        Option[] options = [.. source.All, radii, dim, hyperplanes, optimize, target, seed, .. training.All,
            shared.Examples, shared.DType, shared.Threads, shared.Json, shared.Csv, shared.Plot];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var radiusList = CommonOptions.ParseList<double>(parse.GetValue(radii), "--radii");
            LandscapeGeometry.NonEmpty(radiusList, "--radii", r => r > 0 && double.IsFinite(r), "a positive radius");
            shared.CheckOutputs(parse);
            var resolved = source.Resolve(parse, shared.ScalarType(parse));
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
            return GeometryCommands.Execute(shared, parse, "goldilocks", resolved.Load, (loaded, log) =>
            {
                settings.Validate(loaded.Parameters);
                return GoldilocksAnalysis.Run(loaded, settings, log);
            }, "radii");
        });
        return cmd;
    }
}
