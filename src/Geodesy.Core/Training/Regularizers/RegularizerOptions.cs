using System.Globalization;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// The option text of a regularizer: <c>X[,key=value...][@every=K]</c>, the coefficient first, then
/// named options, then an optional schedule (the penalty is added every K-th step, K = 1 by default).
/// Unknown or repeated keys and bad numbers are InputExceptions naming the option.
/// </summary>
public sealed class RegularizerOptions
{
    private readonly string _option;
    private readonly Dictionary<string, string> _values;

    private RegularizerOptions(string option, double coefficient, int every, Dictionary<string, string> values)
    {
        _option = option;
        Coefficient = coefficient;
        Every = every;
        _values = values;
    }

    /// <summary>The coefficient X (finite, &gt;= 0).</summary>
    public double Coefficient { get; }
    /// <summary>Add the penalty at steps 0, K, 2K, ... (K = 1: every step).</summary>
    public int Every { get; }

    public static RegularizerOptions Parse(string option, string text, IReadOnlyList<string> keys, bool allowEvery = false)
    {
        string body = text.Trim();
        int every = 1;
        int at = body.IndexOf('@');
        if (at >= 0)
        {
            string schedule = body[(at + 1)..];
            if (!allowEvery) throw Error(option, text, "takes no @ schedule");
            if (!schedule.StartsWith("every=", StringComparison.Ordinal)
                || !int.TryParse(schedule["every=".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out every) || every < 1)
                throw Error(option, text, $"schedule '@{schedule}' must be @every=K with K a positive integer");
            body = body[..at];
        }
        var parts = body.Split(',');
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double coefficient)
            || !double.IsFinite(coefficient) || coefficient < 0)
            throw Error(option, text, $"the coefficient '{parts[0]}' must be a number >= 0");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in parts.Skip(1))
        {
            int eq = item.IndexOf('=');
            if (eq <= 0 || eq == item.Length - 1) throw Error(option, text, $"'{item}' is not of the form key=value");
            string key = item[..eq];
            if (!keys.Contains(key)) throw Error(option, text, $"unknown key '{key}' (known: {(keys.Count == 0 ? "none" : string.Join(", ", keys))})");
            if (!values.TryAdd(key, item[(eq + 1)..])) throw Error(option, text, $"key '{key}' is given twice");
        }
        return new RegularizerOptions(option, coefficient, every, values);
    }

    public double Number(string key, double defaultValue, double min = double.NegativeInfinity, double below = double.PositiveInfinity)
    {
        if (!_values.TryGetValue(key, out var text)) return defaultValue;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v >= min && v < below))
            throw new InputException($"{_option}: {key}={text} must be a number in [{min.ToString(CultureInfo.InvariantCulture)}, {below.ToString(CultureInfo.InvariantCulture)})");
        return v;
    }

    public int Int(string key, int defaultValue)
    {
        if (!_values.TryGetValue(key, out var text)) return defaultValue;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1)
            throw new InputException($"{_option}: {key}={text} must be a positive integer");
        return v;
    }

    public string Choice(string key, string defaultValue, params string[] choices)
    {
        if (!_values.TryGetValue(key, out var text)) return defaultValue;
        if (!choices.Contains(text)) throw new InputException($"{_option}: {key}={text} is not one of {string.Join(", ", choices)}");
        return text;
    }

    private static InputException Error(string option, string text, string problem) => new($"{option} '{text}': {problem}");
}
