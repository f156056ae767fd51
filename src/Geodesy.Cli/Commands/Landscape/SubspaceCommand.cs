using System.CommandLine;
using Geodesy.Cli.Output;
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
        var run = CommonOptions.Run("arch, data and training settings from DIR/run.json, the initialization from DIR/init.safetensors");
        var arch = CommonOptions.Arch(required: false);
        var initWeights = new Option<string?>("--init-weights") { Description = "The initialization θ0 (safetensors); default: RUN/init.safetensors, else the seeded initialization of --arch" };
        var initSeed = new Option<long>("--init-seed") { Description = "Seed of the seeded initialization (without --init-weights or --run)", DefaultValueFactory = _ => 0 };
        var data = CommonOptions.Data();
        var normalize = CommonOptions.Normalize();
        var dims = new Option<string>("--dims") { Description = "Subspace dimensions d, comma-separated (1 <= d <= the number of parameters)", Required = true };
        var projection = new Option<string>("--projection") { Description = "auto (dense while D x d fits in --max-dense-mb, else Fastfood), dense or fastfood", DefaultValueFactory = _ => "auto" };
        projection.AcceptOnlyFromAmong("auto", "dense", "fastfood");
        var maxDense = new Option<int>("--max-dense-mb") { Description = "Largest dense projection matrix (MiB) --projection auto builds", DefaultValueFactory = _ => (int)(SubspaceProjections.DefaultMaxDenseBytes >> 20) };
        var seed = new Option<long>("--seed") { Description = "Seed of the random projections", DefaultValueFactory = _ => 0 };
        var training = new TrainingOptionSet("the full and the subspace trainings", "adam", 0.001, 5);

        var cmd = new Command("subspace", "Intrinsic dimension (Li et al. 2018): accuracy of training restricted to random subspaces θ0 + P z of dimension d, and d_int90.");
        Option[] options = [run, arch, initWeights, initSeed, data, normalize, dims, projection, maxDense, seed, .. training.All,
            shared.Examples, shared.DType, shared.Threads, shared.Json, shared.Csv, shared.Plot];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            var dimList = CommonOptions.ParseList<long>(parse.GetValue(dims), "--dims");
            LandscapeGeometry.NonEmpty(dimList, "--dims", d => d >= 1, "a positive dimension");
            shared.CheckOutputs(parse);
            var source = GeometryCommands.InitSource(parse, run, arch, initWeights, data, normalize, initSeed, shared.ScalarType(parse));
            var resolved = source.Resolve();
            var settings = new SubspaceSettings
            {
                Dims = dimList,
                Projection = SubspaceProjections.Parse(parse.GetValue(projection)!, "--projection"),
                MaxDenseBytes = (long)parse.GetValue(maxDense) << 20,
                Training = training.Read(parse, resolved.RunSpec),
                Seed = parse.GetValue(seed),
                Examples = parse.GetValue(shared.Examples),
            };
            var log = shared.Log(parse);
            var report = new JsonReport("landscape-subspace", parse.Tokens.Select(t => t.Value));
            using var loaded = resolved.Load();
            settings.Validate(loaded.Parameters);
            var result = SubspaceAnalysis.Run(loaded, settings, line => log.WriteLine(line));
            shared.Write(parse, log, report, "points", result.WriteCsv, result.WritePng, result.WriteTo);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
