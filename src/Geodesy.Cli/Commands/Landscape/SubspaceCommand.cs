using System.CommandLine;
using Geodesy.Core;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape subspace`: <see cref="SubspaceAnalysis"/> ("geodesy.landscape-subspace/1").</summary>
public static class SubspaceCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var source = new InitSourceOptions("θ0");
        var dims = new Option<string>("--dims") { Description = "Subspace dimensions d, comma-separated (1 <= d <= the number of parameters)", Required = true };
        var projection = new Option<string>("--projection") { Description = "auto (dense while D x d fits in --max-dense-mb, else Fastfood), dense or fastfood", DefaultValueFactory = _ => "auto" };
        projection.AcceptOnlyFromAmong("auto", "dense", "fastfood");
        var maxDense = new Option<int>("--max-dense-mb") { Description = "Largest dense projection matrix (MiB) --projection auto builds", DefaultValueFactory = _ => (int)(SubspaceProjections.DefaultMaxDenseBytes >> 20) };
        var seed = new Option<long>("--seed") { Description = "Seed of the random projections", DefaultValueFactory = _ => 0 };
        var training = new TrainingOptionSet("the full and the subspace trainings", "adam", 0.001, 5);

        var cmd = new Command("subspace", "Intrinsic dimension (Li et al. 2018): accuracy of training restricted to random subspaces θ0 + P z of dimension d, and d_int90.");
        Option[] options = [.. source.All, dims, projection, maxDense, seed, .. training.All,
            shared.Examples, shared.DType, shared.Threads, shared.Json, shared.Csv, shared.Plot];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var dimList = CommonOptions.ParseList<long>(parse.GetValue(dims), "--dims");
            LandscapeGeometry.NonEmpty(dimList, "--dims", d => d >= 1, "a positive dimension");
            shared.CheckOutputs(parse);
            var resolved = source.Resolve(parse, shared.ScalarType(parse));
            var settings = new SubspaceSettings
            {
                Dims = dimList,
                Projection = SubspaceProjections.Parse(parse.GetValue(projection)!, "--projection"),
                MaxDenseBytes = (long)parse.GetValue(maxDense) << 20,
                Training = training.Read(parse, resolved.RunSpec),
                Seed = parse.GetValue(seed),
                Examples = parse.GetValue(shared.Examples),
            };
            return GeometryCommands.Execute(shared, parse, "subspace", resolved.Load, (loaded, log) =>
            {
                settings.Validate(loaded.Parameters);
                return SubspaceAnalysis.Run(loaded, settings, log);
            }, "points");
        });
        return cmd;
    }
}
