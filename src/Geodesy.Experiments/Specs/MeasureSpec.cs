using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Measures;

namespace Geodesy.Experiments.Specs;

/// <summary>
/// What decides the measures of a trained model: the measure list, the measure options, how many
/// training examples they are computed on, and the dtype of the measured model. Its hash keys
/// the stored measures together with the trial id, so a trial shared by two sweeps that ask for
/// different measure settings keeps both sets. Like <see cref="RunSpec"/>, the canonical JSON
/// holds only the options that differ from their defaults (keys sorted), so adding an option
/// with a default keeps old hashes valid.
/// </summary>
/// <param name="Measures">Measure selection as <see cref="MeasureRegistry.Select"/> takes it ("all", "none" or a comma list).</param>
/// <param name="Examples">Training examples the measures use (0: the whole training set).</param>
/// <param name="DType">Dtype of the measured model ("float32": as trained).</param>
/// <param name="Options">Measure options (null: the defaults).</param>
public sealed record MeasureSpec(string Measures = "all", int Examples = 0, string DType = "float32", MeasureOptions? Options = null)
{
    private static readonly MeasureOptions DefaultOptions = new();

    /// <summary>The measure settings of a sweep's stored JSON ("measures", "measure_examples"); defaults when absent.</summary>
    public static MeasureSpec FromSweepJson(JsonNode? sweepJson) =>
        new(((string?)sweepJson?["measures"] ?? "all").Trim(), (int?)sweepJson?["measure_examples"] ?? 0);

    /// <summary>The canonical JSON: measures, examples, dtype, and the non-default options, keys sorted.</summary>
    public string CanonicalJson()
    {
        var options = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal);
        var given = Options ?? DefaultOptions;
        foreach (var p in typeof(MeasureOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            string value = Format(p.GetValue(given)), standard = Format(p.GetValue(DefaultOptions));
            if (value != standard) options[RunSetting.SnakeCase(p.Name)] = value;
        }
        var root = new JsonObject
        {
            ["dtype"] = DType,
            ["examples"] = Examples,
            ["measures"] = Measures,
            ["options"] = new JsonObject(options),
        };
        return root.ToJsonString();
    }

    /// <summary>SHA-256 (hex) of <see cref="CanonicalJson"/>.</summary>
    public string Hash() => Provenance.Sha256Hex(Encoding.UTF8.GetBytes(CanonicalJson()));

    private static string Format(object? v) => v switch
    {
        null => "null",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };
}
