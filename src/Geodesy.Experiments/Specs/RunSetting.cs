using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core;

namespace Geodesy.Experiments.Specs;

/// <summary>
/// Declares a property of a spec record as a setting: its help text and its validation rule.
/// The key (snake_case of the property name), the command-line option (--kebab-case), the type
/// and the default (the property's initializer) come from the property itself.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RunSettingAttribute(string help) : Attribute
{
    public string Help { get; } = help;
    /// <summary>Smallest allowed value of a number (or of every element of a list); NaN: no bound.</summary>
    public double Min { get; set; } = double.NaN;
    /// <summary>Exclusive upper bound of a number; NaN: no bound.</summary>
    public double Below { get; set; } = double.NaN;
    /// <summary>The number must be finite and &gt; 0.</summary>
    public bool Positive { get; set; }
    /// <summary>Comma-separated allowed values of a string.</summary>
    public string? OneOf { get; set; }
    /// <summary>A string that must not be empty, with this example for the error message.</summary>
    public string? Example { get; set; }
    /// <summary>The command-line option must be given (e.g. --arch of `geodesy train`).</summary>
    public bool RequiredOption { get; set; }
}

/// <summary>
/// One row of a spec's setting table: key, option, type, default, help, rule, and how to read,
/// write and check the value. Supported types: string, bool, int, long, double, int?, long?, double?,
/// int[], long[] (comma-separated on the command line) and string[] (a repeatable option, e.g.
/// `--probe a --probe b`).
/// </summary>
public sealed class RunSetting
{
    private readonly PropertyInfo _property;

    private RunSetting(PropertyInfo property, RunSettingAttribute rule, object? defaultValue)
    {
        _property = property;
        Rule = rule;
        Default = defaultValue;
        Key = SnakeCase(property.Name);
        Option = "--" + Key.Replace('_', '-');
    }

    /// <summary>snake_case JSON key, e.g. "weight_decay".</summary>
    public string Key { get; }
    /// <summary>Command-line option, e.g. "--weight-decay".</summary>
    public string Option { get; }
    public Type Type => _property.PropertyType;
    public object? Default { get; }
    public string Help => Rule.Help;
    public RunSettingAttribute Rule { get; }

    /// <summary>The settings of record type <typeparamref name="T"/>, in declaration order.</summary>
    public static IReadOnlyList<RunSetting> Declared<T>() where T : new()
    {
        var defaults = new T();
        return typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<RunSettingAttribute>() is not null)
            .OrderBy(p => p.MetadataToken)
            .Select(p => new RunSetting(p, p.GetCustomAttribute<RunSettingAttribute>()!, p.GetValue(defaults)))
            .ToArray();
    }

    public object? Get(object spec) => _property.GetValue(spec);

    /// <summary>A copy of <paramref name="spec"/> (a record) with this setting set to <paramref name="value"/>.</summary>
    public T With<T>(T spec, object? value) where T : class
    {
        var clone = (T)typeof(T).GetMethod("<Clone>$")!.Invoke(spec, null)!;
        _property.SetValue(clone, value);
        return clone;
    }

    /// <summary>The value as JSON (numbers as numbers, lists as arrays, null for an unset nullable).</summary>
    public JsonNode? ToJson(object spec) => Get(spec) switch
    {
        null => null,
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        double d => JsonValue.Create(d),
        int[] a => new JsonArray(a.Select(e => (JsonNode)e).ToArray()),
        long[] a => new JsonArray(a.Select(e => (JsonNode)e).ToArray()),
        string[] a => new JsonArray(a.Select(e => (JsonNode)e).ToArray()),
        var v => throw new NotSupportedException($"run setting '{Key}' has unsupported type {v.GetType().Name}"),
    };

    /// <summary>Reads the value from JSON; a value of the wrong type is an InputException naming the key.</summary>
    public object? FromJson(JsonNode node)
    {
        // A sweep's YAML turns 0.01 into a number; a string setting (e.g. fisher_penalty) takes its text.
        if (Type == typeof(string) && node is JsonValue v && v.GetValueKind() == JsonValueKind.Number) return v.ToJsonString();
        try { return node.Deserialize(Type); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        { throw new InputException($"run setting '{Key}' has a bad value {node.ToJsonString()}"); }
    }

    /// <summary>The problem with <paramref name="value"/> as one line naming the option, or null when it is fine.</summary>
    public string? Check(object? value)
    {
        var r = Rule;
        switch (value)
        {
            case string s when r.Example is { } example && string.IsNullOrWhiteSpace(s):
                return $"{Option} must not be empty (e.g. {example})";
            case string s when r.OneOf is { } oneOf && !oneOf.Split(',').Contains(s):
                var choices = oneOf.Split(',');
                return $"{Option} must be {string.Join(", ", choices[..^1])} or {choices[^1]} (got '{s}')";
            case int or long or double:
                return CheckNumber(Convert.ToDouble(value, CultureInfo.InvariantCulture));
            case int[] a:
                return a.Select(e => CheckNumber(e)).FirstOrDefault(p => p is not null);
            case long[] a:
                return a.Select(e => CheckNumber(e)).FirstOrDefault(p => p is not null);
            case string[] a when r.OneOf is { } allowed && a.FirstOrDefault(e => !allowed.Split(',').Contains(e)) is { } bad:
                return $"{Option}: '{bad}' is not one of {allowed.Replace(",", ", ")}";
            default:
                return null;
        }
    }

    private string? CheckNumber(double x)
    {
        var r = Rule;
        string got = x.ToString(CultureInfo.InvariantCulture);
        if (r.Positive && !(x > 0 && double.IsFinite(x))) return $"{Option} must be > 0 (got {got})";
        if (!double.IsNaN(r.Below) && !(x >= r.Min && x < r.Below)) return $"{Option} must be in [{r.Min}, {r.Below}) (got {got})";
        if (!double.IsNaN(r.Min) && !(x >= r.Min))
            return r.Min == 1 ? $"{Option} must be at least 1 (got {got})" : $"{Option} must be >= {r.Min} (got {got})";
        return null;
    }

    /// <summary>"WeightDecay" -> "weight_decay".</summary>
    public static string SnakeCase(string name)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
