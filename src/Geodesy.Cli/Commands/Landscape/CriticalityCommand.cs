using System.CommandLine;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`geodesy landscape criticality`: <see cref="CriticalityAnalysis"/> ("geodesy.landscape-criticality/1").</summary>
public static class CriticalityCommand
{
    public static Command Create()
    {
        var shared = new LandscapeCommand.Shared();
        var source = new ModelSourceOptions("weights DIR/final.safetensors and DIR/init.safetensors, arch and data from DIR/run.json", initWeights: true);
        var dflt = new CriticalityOptions();
        var epsilon = new Option<double>("--epsilon") { Description = "ε: the train error (0-1) the valley must stay below", DefaultValueFactory = _ => dflt.Epsilon };
        var alphas = new Option<string?>("--alphas") { Description = "The α grid in [0, 1], comma-separated (default 0,0.1,...,1)" };
        var sigmas = new Option<string?>("--sigmas") { Description = "The σ grid in (0, 1], comma-separated (default 13 values from 0.001 to 1, log-spaced)" };
        var samples = new Option<int>("--noise-samples") { Description = "Noise draws averaged for the expected error at each (α, σ)", DefaultValueFactory = _ => dflt.NoiseSamples };
        var seed = CommonOptions.Seed();

        var cmd = new Command("criticality", "Module criticality (Chatterji et al. 2020): per layer, how far it can be rewound toward its initialization and how much noise it then tolerates.");
        Option[] options = [.. source.All, epsilon, alphas, sigmas, samples, seed, .. shared.All];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(shared.Threads));
            double[] Grid(Option<string?> o, double[] fallback) =>
                parse.GetValue(o) is { } text ? CommonOptions.ParseList<double>(text, o.Name) : fallback;
            var settings = new CriticalitySettings
            {
                Options = new CriticalityOptions
                {
                    Epsilon = parse.GetValue(epsilon),
                    Alphas = Grid(alphas, dflt.Alphas),
                    Sigmas = Grid(sigmas, dflt.Sigmas),
                    NoiseSamples = parse.GetValue(samples),
                    Seed = parse.GetValue(seed),
                    BatchSize = shared.StreamBatch.Read(parse).Value,
                },
                Examples = parse.GetValue(shared.Examples),
            };
            settings.Options.Validate();
            shared.CheckOutputs(parse);
            return GeometryCommands.Execute(shared, parse, "criticality", source.Bind(parse, shared.ScalarType(parse)).Load,
                (loaded, log) => CriticalityAnalysis.Run(loaded, settings, log), "grid");
        });
        return cmd;
    }
}
