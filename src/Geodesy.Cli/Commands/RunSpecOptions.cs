using System.CommandLine;
using Geodesy.Experiments.Specs;

namespace Geodesy.Cli.Commands;

/// <summary>
/// The command-line options of every run setting, made from the table <see cref="RunSpec.Settings"/>
/// (name, type, default and help): a new setting appears in `geodesy train` without touching this file.
/// </summary>
public sealed class RunSpecOptions
{
    private readonly List<(RunSetting Setting, Option Option, Func<ParseResult, object?> Read)> _options = [];

    public RunSpecOptions()
    {
        foreach (var setting in RunSpec.Settings) _options.Add(Create(setting));
    }

    public IEnumerable<Option> All => _options.Select(o => o.Option);

    /// <summary>The option of the setting with this snake_case key.</summary>
    public Option this[string key] => _options.Single(o => o.Setting.Key == key).Option;

    /// <summary>The spec: defaults, overridden by every option given on the command line.</summary>
    public RunSpec Bind(ParseResult parse)
    {
        var spec = new RunSpec();
        foreach (var (setting, option, read) in _options)
            if (Given(parse, option)) spec = setting.With(spec, read(parse));
        return spec;
    }

    public static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static (RunSetting, Option, Func<ParseResult, object?>) Create(RunSetting s)
    {
        var t = s.Type;
        if (t == typeof(string)) return Typed<string>(s);
        if (t == typeof(bool)) return Typed<bool>(s);
        if (t == typeof(int)) return Typed<int>(s);
        if (t == typeof(long)) return Typed<long>(s);
        if (t == typeof(double)) return Typed<double>(s);
        if (t == typeof(int?)) return Typed<int?>(s);
        if (t == typeof(long?)) return Typed<long?>(s);
        if (t == typeof(double?)) return Typed<double?>(s);
        if (t == typeof(int[])) return List<int>(s);
        if (t == typeof(long[])) return List<long>(s);
        if (t == typeof(string[])) return Repeated(s);
        throw new NotSupportedException($"run setting '{s.Key}' has a type ({t.Name}) with no command-line form");
    }

    private static (RunSetting, Option, Func<ParseResult, object?>) Typed<T>(RunSetting s)
    {
        var option = new Option<T>(s.Option) { Description = s.Help, Required = s.Rule.RequiredOption };
        // Shown in --help; only given options override the spec's defaults (see Bind).
        if (s.Default is T d && !s.Rule.RequiredOption && typeof(T) != typeof(bool)) option.DefaultValueFactory = _ => d;
        if (s.Rule.OneOf is { } oneOf) option.AcceptOnlyFromAmong(oneOf.Split(','));
        return (s, option, parse => parse.GetValue(option));
    }

    /// <summary>A list of strings is a repeatable option (--probe a --probe b).</summary>
    private static (RunSetting, Option, Func<ParseResult, object?>) Repeated(RunSetting s)
    {
        var option = new Option<string[]>(s.Option) { Description = s.Help + " (repeatable)" };
        if (s.Rule.OneOf is { } oneOf) option.AcceptOnlyFromAmong(oneOf.Split(','));
        return (s, option, parse => parse.GetValue(option) ?? []);
    }

    /// <summary>A list setting is a comma-separated option value ("1,5,10").</summary>
    private static (RunSetting, Option, Func<ParseResult, object?>) List<T>(RunSetting s) where T : IParsable<T>
    {
        var option = new Option<string?>(s.Option) { Description = s.Help };
        return (s, option, parse => CommonOptions.ParseList<T>(parse.GetValue(option), s.Option));
    }
}
