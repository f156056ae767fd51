using System.Globalization;

namespace Geodesy.Core.Data;

/// <summary>
/// Parses the "key=value,key=value" part of a data spec, checks every key is known and every
/// value is in range, and records the resolved values (defaults included) in a canonical string
/// that identifies the generated data.
/// </summary>
internal sealed class SpecArgs
{
    private readonly string _spec;
    private readonly string _name;
    private readonly Dictionary<string, string> _given = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _resolved = new(StringComparer.Ordinal);

    public SpecArgs(string spec, string name, string body, IReadOnlyCollection<string> knownKeys)
    {
        _spec = spec;
        _name = name;
        if (body.Length == 0) return;
        foreach (var part in body.Split(','))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw Error($"'{part}' is not key=value");
            string key = part[..eq].Trim(), value = part[(eq + 1)..].Trim();
            if (!knownKeys.Contains(key))
                throw Error($"unknown key '{key}' (known: {string.Join(", ", knownKeys)})");
            if (!_given.TryAdd(key, value))
                throw Error($"key '{key}' given twice");
        }
    }

    public InputException Error(string problem) => new($"data spec '{_spec}': {problem}");

    public int Int(string key, int fallback, int min, int max)
    {
        int value = fallback;
        if (_given.TryGetValue(key, out var text) &&
            !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value))
            throw Error($"{key}={text} is not an integer");
        if (value < min || value > max)
            throw Error($"{key}={value} is outside [{min}, {max}]");
        _resolved[key] = value.ToString(CultureInfo.InvariantCulture);
        return value;
    }

    public long Long(string key, long fallback)
    {
        long value = fallback;
        if (_given.TryGetValue(key, out var text) &&
            !long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value))
            throw Error($"{key}={text} is not an integer");
        _resolved[key] = value.ToString(CultureInfo.InvariantCulture);
        return value;
    }

    /// <summary>A finite number in [min, max) when <paramref name="maxExclusive"/>, else in [min, max].</summary>
    public double Double(string key, double fallback, double min, double max, bool maxExclusive = false)
    {
        double value = fallback;
        if (_given.TryGetValue(key, out var text) &&
            !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            throw Error($"{key}={text} is not a number");
        if (!double.IsFinite(value) || value < min || (maxExclusive ? value >= max : value > max))
            throw Error($"{key}={text ?? value.ToString(CultureInfo.InvariantCulture)} is outside [{min}, {max}{(maxExclusive ? ")" : "]")}");
        _resolved[key] = value.ToString("R", CultureInfo.InvariantCulture);
        return value;
    }

    public string Choice(string key, string fallback, params string[] options)
    {
        string value = _given.TryGetValue(key, out var text) ? text : fallback;
        if (!options.Contains(value))
            throw Error($"{key}={value} is not one of {string.Join("|", options)}");
        _resolved[key] = value;
        return value;
    }

    /// <summary>The generator name and every resolved value, e.g. "modular:corrupt=0,op=add,p=97,seed=0,train=0.5".</summary>
    public string Canonical => _name + ":" + string.Join(",", _resolved.Select(kv => $"{kv.Key}={kv.Value}"));
}
