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

    public static Option<int?> Subset() => new("--subset") { Description = "The training subset: load a seeded stratified subset of N training examples (as in a run spec; see --examples for a prefix)" };
    public static Option<double> LabelNoise() => new("--label-noise") { Description = RunSpec.Setting("label_noise").Help };
    public static Option<bool> Normalize() => new("--normalize") { Description = RunSpec.Setting("normalize").Help };
    public static Option<long> Seed(long dflt = 0) => new("--seed") { Description = "Random seed", DefaultValueFactory = _ => dflt };
    public static Option<string?> Json() => new("--json") { Description = "Write the result as JSON to FILE ('-' for stdout)" };
    public static Option<int?> Threads() => new("--threads") { Description = "Number of CPU threads for libtorch (default: libtorch's choice)" };

    /// <summary>--examples N: how many training examples a computation uses (the first N of the loaded training set).</summary>
    public static Renamed<int?> Examples(string description, string? oldName = null) =>
        new(new Option<int?>("--examples") { Description = description }, oldName);

    /// <summary>--stream-batch N: examples per mini-batch while streaming over the data (memory, not results); old name --batch.</summary>
    public static Renamed<int> StreamBatch(int dflt = 1000) =>
        new(new Option<int>("--stream-batch") { Description = "Examples per mini-batch while streaming over the data (memory, not results)", DefaultValueFactory = _ => dflt }, "--batch");

    /// <summary>--run DIR: a run folder of 'geodesy train' (see ModelSource for what it supplies).</summary>
    public static Option<string?> Run(string supplies) => new("--run") { Description = "A run folder of 'geodesy train': " + supplies };

    /// <summary>Fails when the folder a file would be written into does not exist.</summary>
    public static void CheckOutputFolder(string? path, string option)
    {
        if (path is null) return;
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        if (!Directory.Exists(folder)) throw new InputException($"{option}: folder '{folder}' does not exist");
    }

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

/// <summary>
/// An option that was renamed: the old name still works as a hidden alias (scripts and documented
/// commands keep running) while --help shows only the new one.
/// </summary>
public sealed class Renamed<T>
{
    public Renamed(Option<T> current, string? oldName)
    {
        Current = current;
        Old = oldName is null ? null : new Option<T>(oldName) { Hidden = true, Description = $"old name of {current.Name}" };
    }

    public Option<T> Current { get; }
    public Option<T>? Old { get; }
    public IEnumerable<Option> Both => Old is null ? [Current] : [Current, Old];

    /// <summary>The value and the name it was given under (for messages).</summary>
    public (T Value, string Name) Read(ParseResult parse)
    {
        bool oldGiven = Old is not null && parse.GetResult(Old) is { Implicit: false };
        if (!oldGiven) return (parse.GetValue(Current)!, Current.Name);
        if (parse.GetResult(Current) is { Implicit: false }) throw new InputException($"give {Current.Name} or its old name {Old!.Name}, not both");
        return (parse.GetValue(Old!)!, Old!.Name);
    }
}
