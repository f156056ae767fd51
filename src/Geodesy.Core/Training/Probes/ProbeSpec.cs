using System.Globalization;

namespace Geodesy.Core.Training.Probes;

/// <summary>When a probe measures: every K steps, at given steps, or after given epochs (default: after every epoch, and at the start).</summary>
public sealed record ProbeSchedule
{
    public enum Kind { EachEpoch, Every, Steps, Epochs }

    public Kind When { get; init; } = Kind.EachEpoch;
    /// <summary>Kind.Every: measure at steps 0, K, 2K, ...</summary>
    public long Every { get; init; }
    public IReadOnlyList<long> Steps { get; init; } = [];
    public IReadOnlyList<int> Epochs { get; init; } = [];

    /// <summary>
    /// Due at the weights after <paramref name="step"/> steps; <paramref name="epochEnded"/> is the
    /// epoch that has just ended at this step (0 = the start), null in the middle of an epoch.
    /// </summary>
    public bool IsDue(long step, int? epochEnded) => When switch
    {
        Kind.Every => step % Every == 0,
        Kind.Steps => Steps.Contains(step),
        Kind.Epochs => epochEnded is { } e && Epochs.Contains(e),
        _ => epochEnded is not null,
    };

    public override string ToString() => When switch
    {
        Kind.Every => $"@every={Every}",
        Kind.Steps => "@steps=" + string.Join(",", Steps),
        Kind.Epochs => "@epochs=" + string.Join(",", Epochs),
        _ => "",
    };
}

/// <summary>
/// One <c>--probe</c> value: <c>NAME[:key=value,...][@every=K|@steps=a,b,c|@epochs=a,b]</c>,
/// e.g. <c>hessian-top:k=3@every=100</c> or <c>fisher-trace@steps=0,10,100</c>.
/// </summary>
public sealed record ProbeSpec(string Name, IReadOnlyDictionary<string, string> Options, ProbeSchedule Schedule, string Text)
{
    /// <summary>Parses and checks one value against <see cref="ProbeRegistry"/>; a mistake is one line naming the value.</summary>
    public static ProbeSpec Parse(string text)
    {
        InputException Bad(string why) => new($"--probe '{text}': {why}");
        if (string.IsNullOrWhiteSpace(text)) throw Bad("empty; expected NAME[:key=value,...][@every=K|@steps=a,b|@epochs=a,b]");
        string head = text, schedulePart = "";
        int at = text.IndexOf('@');
        if (at >= 0) { head = text[..at]; schedulePart = text[(at + 1)..]; }
        string name = head, optionPart = "";
        int colon = head.IndexOf(':');
        if (colon >= 0) { name = head[..colon]; optionPart = head[(colon + 1)..]; }
        var entry = ProbeRegistry.Find(name)
            ?? throw Bad($"unknown probe '{name}' (known: {string.Join(", ", ProbeRegistry.All.Select(p => p.Name))})");

        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        if (colon >= 0)
            foreach (var pair in optionPart.Split(','))
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0) throw Bad($"option '{pair}' is not key=value");
                string key = pair[..eq], value = pair[(eq + 1)..];
                if (!entry.Options.ContainsKey(key))
                    throw Bad(entry.Options.Count == 0 ? $"probe '{name}' takes no options" : $"probe '{name}' has no option '{key}' (options: {string.Join(", ", entry.Options.Keys)})");
                if (!options.TryAdd(key, value)) throw Bad($"option '{key}' is given twice");
                if (entry.Options[key](value) is { } problem) throw Bad($"{key}={value}: {problem}");
            }
        return new ProbeSpec(name, options, ParseSchedule(schedulePart, at >= 0, Bad), text);
    }

    private static ProbeSchedule ParseSchedule(string part, bool given, Func<string, InputException> bad)
    {
        if (!given) return new ProbeSchedule();
        int eq = part.IndexOf('=');
        if (eq <= 0) throw bad($"schedule '@{part}' must be @every=K, @steps=a,b,c or @epochs=a,b");
        string key = part[..eq], value = part[(eq + 1)..];
        long[] Numbers(long min)
        {
            var items = value.Split(',');
            var result = new long[items.Length];
            for (int i = 0; i < items.Length; i++)
                if (!long.TryParse(items[i], NumberStyles.None, CultureInfo.InvariantCulture, out result[i]) || result[i] < min)
                    throw bad($"@{key}: '{items[i]}' is not an integer >= {min}");
            return result;
        }
        return key switch
        {
            "every" => new ProbeSchedule { When = ProbeSchedule.Kind.Every, Every = Numbers(1) is [var k] ? k : throw bad($"@every takes one integer, got '{value}'") },
            "steps" => new ProbeSchedule { When = ProbeSchedule.Kind.Steps, Steps = Numbers(0).Distinct().Order().ToArray() },
            "epochs" => new ProbeSchedule { When = ProbeSchedule.Kind.Epochs, Epochs = Numbers(0).Select(e => e <= int.MaxValue ? (int)e : throw bad($"epoch {e} is too large")).Distinct().Order().ToArray() },
            _ => throw bad($"unknown schedule '@{key}' (use @every=K, @steps=a,b,c or @epochs=a,b)"),
        };
    }

    /// <summary>An integer option, or its default.</summary>
    public int Int(string key, int fallback) => Options.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public double Double(string key, double fallback) => Options.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
    public string String(string key, string fallback) => Options.TryGetValue(key, out var v) ? v : fallback;
}
