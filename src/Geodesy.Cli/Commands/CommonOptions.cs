using System.CommandLine;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Experiments.Specs;

namespace Geodesy.Cli.Commands;

/// <summary>Options several verbs share, defined once so their names and help agree.</summary>
public static class CommonOptions
{
    public static Option<string> Data() => new("--data")
    {
        Description = RunSpec.Setting("data").Help,
        DefaultValueFactory = _ => "mnist",
    };

    public static Option<string> Arch(bool required = true) => new("--arch")
    {
        Description = RunSpec.Setting("arch").Help,
        Required = required,
    };

    public static Option<int?> Subset() => new("--subset") { Description = "Use only the first N training examples of a fixed stratified shuffle" };
    public static Option<double> LabelNoise() => new("--label-noise") { Description = RunSpec.Setting("label_noise").Help };
    public static Option<bool> Normalize() => new("--normalize") { Description = RunSpec.Setting("normalize").Help };
    public static Option<long> Seed(long dflt = 0) => new("--seed") { Description = "Random seed", DefaultValueFactory = _ => dflt };
    public static Option<string?> Json() => new("--json") { Description = "Write the result as JSON to FILE ('-' for stdout)" };
    public static Option<int?> Threads() => new("--threads") { Description = "Number of CPU threads for libtorch (default: libtorch's choice)" };

    /// <summary>Applies --threads before any tensor work.</summary>
    public static void ApplyThreads(int? threads)
    {
        if (threads is null) return;
        if (threads < 1) throw new InputException($"--threads must be at least 1 (got {threads})");
        TorchSharp.torch.set_num_threads(threads.Value);
    }

    /// <summary>Parses a comma-separated list of integers ("1,5,10"), naming the option on error.</summary>
    public static T[] ParseList<T>(string? text, string option) where T : IParsable<T>
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => T.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var v)
                ? v : throw new InputException($"{option}: '{s}' is not a number (expected a list like 1,5,10)"))
            .ToArray();
    }

    public static DataOptions DataOptions(int? subset, double labelNoise, bool normalize, long seed) =>
        new(subset, labelNoise, normalize, seed);
}
