using System.Globalization;

namespace Geodesy.Core.Models;

/// <summary>
/// The strict parser shared by every arch spec: a family name, then after ':' either a family-specific
/// body (mlp) or a "key=value,key=value" list. Every problem becomes an InputException that quotes
/// the spec and says what is wrong, so a typo never silently falls back to a default.
/// </summary>
internal sealed class SpecOptions
{
    /// <summary>Guards against sizes whose parameter counts would overflow or exhaust memory.</summary>
    public const int MaxSize = 1 << 20;

    private readonly string _spec;
    private readonly Dictionary<string, string> _values;

    private SpecOptions(string spec, Dictionary<string, string> values)
    {
        _spec = spec;
        _values = values;
    }

    public static InputException Error(string spec, string problem) => new($"arch '{spec}': {problem}");

    /// <summary>Parses "k=v,k=v" (null body = no options: all defaults). Unknown or repeated keys are errors.</summary>
    public static SpecOptions Parse(string spec, string? body, IReadOnlyList<string> allowedKeys)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (body != null)
        {
            if (body.Length == 0)
                throw Error(spec, $"nothing after ':'; give options ({string.Join(", ", allowedKeys.Select(k => k + "=..."))}) or drop the ':'");
            foreach (var item in body.Split(','))
            {
                int eq = item.IndexOf('=');
                if (eq <= 0 || eq == item.Length - 1)
                    throw Error(spec, $"option '{item}' is not of the form key=value");
                string key = item[..eq], value = item[(eq + 1)..];
                if (!allowedKeys.Contains(key))
                    throw Error(spec, $"unknown option '{key}' (known: {string.Join(", ", allowedKeys)})");
                if (!values.TryAdd(key, value))
                    throw Error(spec, $"option '{key}' is given twice");
            }
        }
        return new SpecOptions(spec, values);
    }

    /// <summary>A strictly positive integer in [1, max]: digits only, no sign, no spaces.</summary>
    public static int ParsePositive(string spec, string what, string text, int max = MaxSize)
    {
        if (text.Length == 0 || !text.All(char.IsAsciiDigit))
            throw Error(spec, $"{what} '{text}' is not a positive integer");
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value > max)
            throw Error(spec, $"{what} {text} is too large (at most {max})");
        if (value == 0)
            throw Error(spec, $"{what} must be positive, got 0");
        return value;
    }

    /// <summary>A '-' separated list of positive integers, e.g. "784-100-10".</summary>
    public static int[] ParseSizes(string spec, string what, string text) =>
        text.Split('-').Select((part, i) => ParsePositive(spec, $"{what} #{i + 1}", part)).ToArray();

    public int Int(string key, int defaultValue, int max = MaxSize) =>
        _values.TryGetValue(key, out var text) ? ParsePositive(_spec, key, text, max) : defaultValue;

    public int[] Sizes(string key, int[] defaultValue) =>
        _values.TryGetValue(key, out var text) ? ParseSizes(_spec, key, text) : defaultValue;

    public string Choice(string key, string defaultValue, IReadOnlyList<string> choices)
    {
        if (!_values.TryGetValue(key, out var text)) return defaultValue;
        if (!choices.Contains(text))
            throw Error(_spec, $"{key}={text} is not one of {string.Join("|", choices)}");
        return text;
    }

    public bool Flag(string key, bool defaultValue) =>
        _values.TryGetValue(key, out var text)
            ? text switch { "0" => false, "1" => true, _ => throw Error(_spec, $"{key}={text} must be 0 or 1") }
            : defaultValue;
}
