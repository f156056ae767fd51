using System.Text.Json.Nodes;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>How the answers of the two sides are compared for a pair (same data, same weights: they should agree).</summary>
public enum AgreementKind
{
    /// <summary>A number on each side: |geodesy − pytorch| / |pytorch|.</summary>
    Scalar,
    /// <summary>Equal-length arrays, element by element: the largest difference relative to the largest magnitude (entries near zero would make element-wise ratios noise).</summary>
    Elementwise,
    /// <summary>Arrays compared after sorting each descending (eigenvalues found in different orders).</summary>
    SortedDescending,
}

/// <summary>One detail key compared between the sides, and how.</summary>
public sealed record AgreementKey(string Key, AgreementKind Kind);

/// <summary>What one side reports for one work item in one round: wall milliseconds and its answers.</summary>
public sealed record PeerSample(double Milliseconds, JsonObject Detail);

/// <summary>
/// One work item measured on both sides over the rounds: per-round milliseconds, the per-round
/// ratio Geodesy / PyTorch (below 1: Geodesy is faster), and the ratio reported, the median of
/// the per-round ratios (each round's two sides ran back to back, so they saw the same load).
/// </summary>
public sealed class PeerPair
{
    public PeerPair(PeerItem item)
    {
        Item = item;
    }

    public PeerItem Item { get; }
    public List<double> GeodesyMs { get; } = [];
    public List<double> PyTorchMs { get; } = [];
    /// <summary>The last round's answers of each side (what agreement is computed from).</summary>
    public JsonObject? GeodesyDetail { get; set; }
    public JsonObject? PyTorchDetail { get; set; }

    /// <summary>The Geodesy eigen-solver's loop time over its products' time, reported by eigen items each round.</summary>
    public const string LoopOverheadKey = "loop_overhead";
    /// <summary>Target of <see cref="LoopOverheadKey"/>: the loop adds at most 10% to its products.</summary>
    public const double LoopOverheadTarget = 0.10;

    /// <summary>Each round's <see cref="LoopOverheadKey"/> (empty for items without a solver loop).</summary>
    public List<double> LoopOverheads { get; } = [];

    public void Add(PeerSample geodesy, PeerSample pytorch)
    {
        if (geodesy.Detail[LoopOverheadKey] is JsonValue overhead && overhead.TryGetValue(out double o)) LoopOverheads.Add(o);
        GeodesyMs.Add(geodesy.Milliseconds);
        PyTorchMs.Add(pytorch.Milliseconds);
        GeodesyDetail = geodesy.Detail;
        PyTorchDetail = pytorch.Detail;
    }

    public IReadOnlyList<double> Ratios => GeodesyMs.Zip(PyTorchMs, (g, p) => g / p).ToArray();
    public double Ratio => BenchMath.Median(Ratios);
    public bool? MeetsTarget => Item.TargetMaxRatio is double t && GeodesyMs.Count > 0 ? Ratio <= t : null;

    /// <summary>"&lt;key&gt;_relative_difference" for every agreement key both sides reported.</summary>
    public JsonObject Agreement()
    {
        var o = new JsonObject();
        if (GeodesyDetail is null || PyTorchDetail is null) return o;
        foreach (var a in Item.Agreement)
        {
            var g = Numbers(GeodesyDetail[a.Key]);
            var p = Numbers(PyTorchDetail[a.Key]);
            if (g is null || p is null) continue;
            o[a.Key + "_relative_difference"] = RelativeDifference(g, p, a.Kind);
        }
        return o;
    }

    /// <summary>
    /// The largest |g_i − p_i| / |p_i| (Scalar, SortedDescending after sorting both) or
    /// max |g_i − p_i| / max |p_i| (Elementwise); null when the arrays do not match in length.
    /// </summary>
    public static double? RelativeDifference(double[] geodesy, double[] pytorch, AgreementKind kind)
    {
        if (geodesy.Length != pytorch.Length || geodesy.Length == 0) return null;
        if (kind == AgreementKind.SortedDescending)
        {
            geodesy = geodesy.OrderByDescending(x => x).ToArray();
            pytorch = pytorch.OrderByDescending(x => x).ToArray();
        }
        double scale = pytorch.Max(Math.Abs);
        double worst = 0;
        for (int i = 0; i < geodesy.Length; i++)
        {
            double denominator = kind == AgreementKind.Elementwise ? scale : Math.Abs(pytorch[i]);
            worst = Math.Max(worst, Math.Abs(geodesy[i] - pytorch[i]) / Math.Max(denominator, 1e-30));
        }
        return worst;
    }

    /// <summary>A number or an array of numbers as doubles (null otherwise).</summary>
    internal static double[]? Numbers(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out double d) => [d],
        JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue(out double _)) => a.Select(x => x!.GetValue<double>()).ToArray(),
        _ => null,
    };

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["work"] = Item.Work,
            ["geodesy_method"] = Item.GeodesyMethod,
            ["pytorch_method"] = Item.PyTorchMethod,
            ["geodesy_ms"] = Array(GeodesyMs),
            ["pytorch_ms"] = Array(PyTorchMs),
            ["ratios"] = Array(Ratios),
            ["ratio"] = Round(Ratio),
            ["geodesy_median_ms"] = Round(BenchMath.Median(GeodesyMs)),
            ["pytorch_median_ms"] = Round(BenchMath.Median(PyTorchMs)),
            ["target_max_ratio"] = Item.TargetMaxRatio is double t ? Round(t) : null,
            ["meets_target"] = MeetsTarget,
            ["agreement"] = Agreement(),
            ["geodesy_loop_overheads"] = LoopOverheads.Count > 0 ? Array(LoopOverheads) : null,
            ["geodesy_loop_overhead"] = LoopOverheads.Count > 0 ? Round(BenchMath.Median(LoopOverheads)) : null,
            ["geodesy"] = Strip(GeodesyDetail),
            ["pytorch"] = Strip(PyTorchDetail),
        };
        return o;
    }

    /// <summary>A copy of a detail without the bulky per-example arrays (compared, not kept).</summary>
    private JsonObject? Strip(JsonObject? detail)
    {
        if (detail is null) return null;
        var copy = (JsonObject)detail.DeepClone();
        foreach (var key in Item.DropFromReport) copy.Remove(key);
        return copy;
    }

    private static JsonNode? Round(double x) => double.IsFinite(x) ? JsonValue.Create(Math.Round(x, 4)) : null;
    private static JsonArray Array(IEnumerable<double> xs) => new(xs.Select(x => Round(x)).ToArray());
}

/// <summary>Assembles the "pairs" object and the one-line-per-pair summary.</summary>
public static class PeerReport
{
    public static JsonObject Pairs(IEnumerable<PeerPair> pairs)
    {
        var o = new JsonObject();
        foreach (var p in pairs) o[p.Item.Name] = p.ToJson();
        return o;
    }

    public static IEnumerable<string> SummaryLines(IEnumerable<PeerPair> pairs) => pairs.Select(p =>
        $"{p.Item.Name}: geodesy {BenchMath.Median(p.GeodesyMs):F2} ms, pytorch {BenchMath.Median(p.PyTorchMs):F2} ms, ratio {p.Ratio:F2}" +
        (p.Item.TargetMaxRatio is double t ? $" (target <= {t:0.###}: {(p.MeetsTarget == true ? "met" : "missed")})" : "") +
        (p.LoopOverheads.Count > 0 && BenchMath.Median(p.LoopOverheads) is var o
            ? $"; solver loop {100 * o:F1} % of product time (target <= {100 * PeerPair.LoopOverheadTarget:F0} %: {(o <= PeerPair.LoopOverheadTarget ? "met" : "missed")})"
            : ""));
}
