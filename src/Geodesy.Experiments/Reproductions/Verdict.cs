using System.Text.Json.Nodes;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Reproductions;

/// <summary>What the evidence says about a claim, by the recipe's criterion.</summary>
public enum Verdict { Supported, NotSupported, Inconclusive }

/// <summary>A verdict and the sentence that explains it (which part of the criterion decided).</summary>
public sealed record Judgement(Verdict Verdict, string Reason)
{
    /// <summary>Several parts of one claim: any part not supported makes the claim not supported; all supported make it supported.</summary>
    public static Judgement All(params Judgement[] parts)
    {
        string reason = string.Join("; ", parts.Select(p => p.Reason));
        if (parts.Any(p => p.Verdict == Verdict.NotSupported)) return new(Verdict.NotSupported, reason);
        return new(parts.All(p => p.Verdict == Verdict.Supported) ? Verdict.Supported : Verdict.Inconclusive, reason);
    }
}

public static class Verdicts
{
    /// <summary>How many standard errors a difference must exceed to count (about a 95% two-sided test).</summary>
    public const double Z = 2;

    public static string Name(this Verdict v) => v switch
    {
        Verdict.Supported => "supported",
        Verdict.NotSupported => "not-supported",
        _ => "inconclusive",
    };

    public static Verdict Parse(string text) => text switch
    {
        "supported" => Verdict.Supported,
        "not-supported" => Verdict.NotSupported,
        "inconclusive" => Verdict.Inconclusive,
        _ => throw new FormatException($"unknown verdict '{text}'"),
    };

    /// <summary>
    /// The claim "<paramref name="a"/> is larger than <paramref name="b"/>": supported when the
    /// difference of the means exceeds <see cref="Z"/> standard errors of the difference,
    /// not-supported when it is below minus that, inconclusive otherwise (also when a standard
    /// error is unknown, e.g. a single seed).
    /// </summary>
    public static Judgement Greater(Estimate a, Estimate b, string what)
    {
        double d = a.Mean - b.Mean, se = Math.Sqrt(a.StdErr * a.StdErr + b.StdErr * b.StdErr);
        string text = $"{what}: difference {Fmt(d)} ± {Fmt(se)} (s.e.)";
        if (!double.IsFinite(d) || !double.IsFinite(se)) return new(Verdict.Inconclusive, text + ", no standard error (need 2 or more seeds)");
        if (d > Z * se) return new(Verdict.Supported, text + $" > {Z:G} s.e.");
        if (d < -Z * se) return new(Verdict.NotSupported, text + $" < -{Z:G} s.e.");
        return new(Verdict.Inconclusive, text + $", within {Z:G} s.e.");
    }

    /// <summary>The claim "<paramref name="x"/> lies in [lo, hi]": supported when mean ± Z s.e. lies inside, not-supported when it lies outside, inconclusive otherwise.</summary>
    public static Judgement Within(Estimate x, double lo, double hi, string what)
    {
        double low = x.Mean - Z * x.StdErr, high = x.Mean + Z * x.StdErr;
        string text = $"{what}: {Fmt(x.Mean)} ± {Fmt(x.StdErr)} (s.e.), wanted in [{Fmt(lo)}, {Fmt(hi)}]";
        if (!double.IsFinite(low) || !double.IsFinite(high)) return new(Verdict.Inconclusive, text + ", no standard error (need 2 or more seeds)");
        if (low >= lo && high <= hi) return new(Verdict.Supported, text);
        if (high < lo || low > hi) return new(Verdict.NotSupported, text + ", outside by more than 2 s.e.");
        return new(Verdict.Inconclusive, text + ", the interval straddles a bound");
    }

    /// <summary>The claim "<paramref name="x"/> exceeds <paramref name="threshold"/>": supported when mean − Z s.e. does, not-supported when mean + Z s.e. is below it.</summary>
    public static Judgement AtLeast(Estimate x, double threshold, string what) =>
        Above(x.Mean - Z * x.StdErr, x.Mean + Z * x.StdErr, threshold, what + $" (mean {Fmt(x.Mean)}, mean ± {Z:G} s.e.)");

    /// <summary>The claim "the interval lies above <paramref name="threshold"/>": supported when it does entirely, not-supported when it lies entirely below.</summary>
    public static Judgement Above(double lower, double upper, double threshold, string what)
    {
        string text = $"{what}: interval [{Fmt(lower)}, {Fmt(upper)}] against {Fmt(threshold)}";
        if (!double.IsFinite(lower) || !double.IsFinite(upper)) return new(Verdict.Inconclusive, text + ", undefined");
        if (lower > threshold) return new(Verdict.Supported, text);
        if (upper < threshold) return new(Verdict.NotSupported, text);
        return new(Verdict.Inconclusive, text + ", contains the threshold");
    }

    public static string Fmt(double x) => double.IsFinite(x) ? x.ToString("G4", System.Globalization.CultureInfo.InvariantCulture) : "n/a";
}

/// <summary>The mean of one quantity over seeds with its standard error (sample s.d. / √n; NaN for one value).</summary>
public sealed record Estimate(double Mean, double StdErr, IReadOnlyList<double> Values)
{
    public static Estimate Of(IEnumerable<double> values)
    {
        var v = values.ToArray();
        if (v.Length == 0) return new(double.NaN, double.NaN, v);
        double mean = v.Average();
        double se = v.Length < 2 ? double.NaN : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1) / v.Length);
        return new(mean, se, v);
    }

    public JsonObject ToJson() => new()
    {
        ["mean"] = JsonNumbers.Finite(Mean),
        ["stderr"] = JsonNumbers.Finite(StdErr),
        ["n"] = Values.Count,
        ["values"] = JsonNumbers.Array(Values.ToArray()),
    };

    /// <summary>Reads {mean, stderr, values} back (a null number is NaN), as a verdict function does.</summary>
    public static Estimate FromJson(JsonNode? node)
    {
        static double Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out double d) ? d : double.NaN;
        var values = (node?["values"] as JsonArray)?.Select(Num).ToArray() ?? [];
        return new(Num(node?["mean"]), Num(node?["stderr"]), values);
    }

    public override string ToString() => $"{Verdicts.Fmt(Mean)} ± {Verdicts.Fmt(StdErr)}";
}
