using System.Text.Json.Nodes;

namespace Geodesy.Experiments.Analyses;

/// <summary>Numbers as JSON the way every result writes them: NaN and infinities become null.</summary>
public static class JsonNumbers
{
    public static double? Finite(double? x) => x is double v && double.IsFinite(v) ? v : null;

    public static JsonArray Array(IEnumerable<double> values) => new(values.Select(v => (JsonNode?)Finite(v)).ToArray());
}
