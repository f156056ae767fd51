using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core;

namespace Geodesy.Experiments.Reproductions;

/// <summary>What an option's value is: parsed (and so checked) before the recipe runs.</summary>
public enum RecipeOptionKind { Int, Double, IntList, DoubleList, Text }

/// <summary>One option of a recipe: its key, default, the value <c>--quick</c> uses, and what it means.</summary>
public sealed record RecipeOption(string Key, RecipeOptionKind Kind, string Default, string Quick, string Help)
{
    /// <summary>The problem with <paramref name="value"/> as one line, or null when it parses.</summary>
    public string? Check(string value)
    {
        bool IsInt(string s) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out _);
        bool IsDouble(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d);
        var items = value.Split(',', StringSplitOptions.TrimEntries);
        bool ok = Kind switch
        {
            RecipeOptionKind.Int => IsInt(value),
            RecipeOptionKind.Double => IsDouble(value),
            RecipeOptionKind.IntList => items.All(IsInt),
            RecipeOptionKind.DoubleList => items.All(IsDouble),
            _ => value.Length > 0,
        };
        if (ok) return null;
        string expected = Kind switch
        {
            RecipeOptionKind.Int => "an integer",
            RecipeOptionKind.Double => "a number",
            RecipeOptionKind.IntList => "a comma-separated list of integers",
            RecipeOptionKind.DoubleList => "a comma-separated list of numbers",
            _ => "a non-empty value",
        };
        return $"{Key}={value}: expected {expected}";
    }
}

/// <summary>
/// The option values one reproduction runs with: the recipe's defaults (or its quick values), then
/// <c>--seeds N</c>, then every <c>--set key=value</c> in order. Every value is checked here, so a
/// bad key or value stops the command before any training.
/// </summary>
public sealed class RecipeOptions
{
    /// <summary>The option every recipe has: how many seeds (0, 1, ..., N-1) each configuration is trained with.</summary>
    public const string SeedsKey = "seeds";

    private readonly Dictionary<string, string> _values;

    private RecipeOptions(string recipe, Dictionary<string, string> values, bool quick)
    {
        Recipe = recipe;
        _values = values;
        Quick = quick;
    }

    public string Recipe { get; }
    public bool Quick { get; }

    /// <summary>Resolves the values for <paramref name="recipe"/>; an InputException names the first bad key or value.</summary>
    public static RecipeOptions Resolve(Recipe recipe, bool quick, int? seeds = null, IEnumerable<string>? sets = null)
    {
        var values = recipe.Options.ToDictionary(o => o.Key, o => quick ? o.Quick : o.Default, StringComparer.Ordinal);
        if (seeds is int n)
        {
            if (n < 1) throw new InputException($"--seeds must be at least 1 (got {n})");
            values[SeedsKey] = n.ToString(CultureInfo.InvariantCulture);
        }
        foreach (string set in sets ?? [])
        {
            int eq = set.IndexOf('=');
            if (eq <= 0) throw new InputException($"--set '{set}': expected key=value");
            string key = set[..eq].Trim(), value = set[(eq + 1)..].Trim();
            var option = recipe.Options.FirstOrDefault(o => o.Key == key)
                ?? throw new InputException($"--set: recipe '{recipe.Name}' has no option '{key}' (options: {string.Join(", ", recipe.Options.Select(o => o.Key))})");
            if (option.Check(value) is { } problem) throw new InputException($"--set {problem}");
            values[key] = value;
        }
        if (int.Parse(values[SeedsKey], CultureInfo.InvariantCulture) < 1) throw new InputException("--set seeds must be at least 1");
        return new RecipeOptions(recipe.Name, values, quick);
    }

    public string Text(string key) => _values.TryGetValue(key, out var v) ? v : throw new ArgumentException($"recipe '{Recipe}' has no option '{key}'", nameof(key));
    public int Int(string key) => int.Parse(Text(key), CultureInfo.InvariantCulture);
    public double Double(string key) => double.Parse(Text(key), CultureInfo.InvariantCulture);
    public int[] Ints(string key) => Text(key).Split(',', StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
    public double[] Doubles(string key) => Text(key).Split(',', StringSplitOptions.TrimEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The seeds 0..N-1.</summary>
    public long[] Seeds => Enumerable.Range(0, Int(SeedsKey)).Select(i => (long)i).ToArray();

    /// <summary>Every value as given (text), in the recipe's order.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject();
        foreach (var (key, value) in _values) o[key] = value;
        return o;
    }
}
