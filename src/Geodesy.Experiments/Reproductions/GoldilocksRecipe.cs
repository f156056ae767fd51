using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// The Goldilocks zone (Fort and Scherlis 2019): the initialization θ0 rescaled to radius r, the Hessian of
/// the training loss restricted to random d-dimensional hyperplanes through r θ0/‖θ0‖ has the largest
/// Tr(H)/‖H‖_F and the largest fraction of positive eigenvalues in a shell of radii, and for the common
/// initializations that shell contains ‖θ0‖. Each seed draws its own initialization and hyperplanes and
/// runs `geodesy landscape goldilocks` at the radii `radii` × ‖θ0‖.
/// </summary>
public sealed class GoldilocksRecipe : Recipe
{
    public override string Name => "goldilocks";
    public override string Claim => "On random hyperplanes through the rescaled initialization, Tr(H)/||H|| and the fraction of positive curvature peak in a shell of radii around the radius of the common initialization.";
    public override string Source => "Fort and Scherlis 2019, The Goldilocks zone: towards better understanding of neural network loss landscapes (AAAI), Fig. 1, 3 and 4";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-64-64-10", "mlp:784-32-10", "architecture spec (its default initialization)"),
        new("examples", RecipeOptionKind.Int, "1000", "300", "training examples of the Hessian"),
        new("radii", RecipeOptionKind.DoubleList, "0.0625,0.25,1,4,16", "0.0625,0.25,1,4,16", "radii as multiples of the initialization radius ||θ0|| (increasing)"),
        new("factor", RecipeOptionKind.Double, "4", "4", "the peak must lie within [init/F, init·F]"),
        new("dim", RecipeOptionKind.Int, "20", "10", "dimension d of each random hyperplane"),
        new("hyperplanes", RecipeOptionKind.Int, "4", "2", "random hyperplanes per radius and seed"),
    ];

    private static readonly (string Key, string Label)[] Quantities =
        [("trace_over_frobenius", "Tr(H)/||H||_F"), ("fraction_positive", "fraction of positive eigenvalues")];

    public override string Criterion(RecipeOptions o) =>
        $"for each of Tr(H)/||H||_F and the fraction of positive eigenvalues of the Hessian restricted to random {o.Int("dim")}-dim hyperplanes " +
        $"(mean over the hyperplanes of a seed, then over seeds), at the radii {o.Text("radii")} × ||θ0||: the peak is the radius with the largest mean " +
        $"(the smallest of tied radii); it must lie within a factor {o.Double("factor"):G3} of ||θ0|| and its value must exceed the values at the smallest " +
        $"and at the largest radius by more than {Verdicts.Z:G} standard errors of the difference (both quantities: supported; a peak outside the band that " +
        $"exceeds every radius inside it by more than {Verdicts.Z:G} s.e., or a peak below an end by more than {Verdicts.Z:G} s.e.: not-supported; otherwise inconclusive)";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        double[] multiples = o.Doubles("radii");
        var settings = new GoldilocksSettings { Radii = multiples, Dim = o.Int("dim"), Hyperplanes = o.Int("hyperplanes"), Examples = o.Int("examples") };
        var perSeed = Quantities.ToDictionary(q => q.Key, _ => multiples.Select(_ => new List<double>()).ToArray());
        var initRadii = new List<double>();
        var losses = multiples.Select(_ => new List<double>()).ToArray();
        foreach (long seed in o.Seeds)
        {
            c.Log($"initialization seed {seed}");
            var result = c.Goldilocks(o.Text("arch"), o.Text("data"), o.Int("examples"), seed, multiples, settings with { Seed = seed });
            initRadii.Add(result.InitRadius);
            for (int i = 0; i < multiples.Length; i++)
            {
                var p = result.Points[i];
                perSeed["trace_over_frobenius"][i].Add(p.TraceOverFrobenius.Mean);
                perSeed["fraction_positive"][i].Add(p.FractionPositive.Mean);
                losses[i].Add(p.TrainLoss);
            }
        }
        var evidence = new JsonObject
        {
            ["data"] = o.Text("data"), ["arch"] = o.Text("arch"),
            ["init_radius"] = Estimate.Of(initRadii).ToJson(),
            ["radii_over_init"] = JsonNumbers.Array(multiples),
            ["train_loss"] = new JsonArray(losses.Select(l => (JsonNode)Estimate.Of(l).ToJson()).ToArray()),
        };
        foreach (var (key, label) in Quantities)
        {
            var estimates = perSeed[key].Select(Estimate.Of).ToArray();
            evidence[key] = new JsonArray(estimates.Select(e => (JsonNode)e.ToJson()).ToArray());
            c.LinePlot($"{key.Replace('_', '-')}.png", $"{label} on random hyperplanes against the radius (mean over seeds)", "log10 (radius / ||θ0||)", label,
                [("mean over seeds", multiples.Select(Math.Log10).ToArray(), estimates.Select(e => e.Mean).ToArray())]);
        }
        return evidence;
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        double[] multiples = (evidence["radii_over_init"] as JsonArray ?? []).Select(n => n is JsonValue v && v.TryGetValue<double>(out double d) ? d : double.NaN).ToArray();
        if (multiples.Length < 3) return new(Verdict.Inconclusive, "fewer than three radii: no peak between two ends");
        double factor = options.Double("factor");
        return Judgement.All(Quantities.Select(q => Peak(evidence, q.Key, q.Label, multiples, factor)).ToArray());
    }

    /// <summary>One quantity's part of the claim: where its mean peaks, and whether the peak stands above both ends.</summary>
    private static Judgement Peak(JsonObject evidence, string key, string label, double[] multiples, double factor)
    {
        var estimates = (evidence[key] as JsonArray ?? []).Select(Estimate.FromJson).ToArray();
        if (estimates.Length != multiples.Length || estimates.Any(e => !double.IsFinite(e.Mean)))
            return new(Verdict.Inconclusive, $"{label}: a radius has no value");
        int peak = 0;
        for (int i = 1; i < estimates.Length; i++) if (estimates[i].Mean > estimates[peak].Mean) peak = i;
        bool InBand(int i) => multiples[i] >= 1 / factor * (1 - 1e-9) && multiples[i] <= factor * (1 + 1e-9);
        string at = string.Create(CultureInfo.InvariantCulture, $"{label} peaks at {multiples[peak]:G3} × ||θ0||");
        if (!InBand(peak))
        {
            var inside = Enumerable.Range(0, multiples.Length).Where(InBand).ToArray();
            if (inside.Length == 0) return new(Verdict.Inconclusive, $"{at}: no radius lies within a factor {factor:G3} of ||θ0||");
            var best = inside.MaxBy(i => estimates[i].Mean);
            var above = Verdicts.Greater(estimates[peak], estimates[best], $"{at}, outside the band; minus the best radius inside it");
            return new(above.Verdict == Verdict.Supported ? Verdict.NotSupported : Verdict.Inconclusive, above.Reason);
        }
        if (peak == 0 || peak == multiples.Length - 1) return new(Verdict.Inconclusive, $"{at}, an end of the scanned range");
        return Judgement.All(
            Verdicts.Greater(estimates[peak], estimates[0], $"{at}; minus the smallest radius"),
            Verdicts.Greater(estimates[peak], estimates[^1], $"{label} at the peak minus the largest radius"));
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        var multiples = (evidence["radii_over_init"] as JsonArray ?? []).Select(n => (double?)n ?? double.NaN).ToArray();
        var rows = new List<(string, string)> { ("init radius ||θ0||", Estimate.FromJson(evidence["init_radius"]).ToString()) };
        foreach (var (key, label) in Quantities)
        {
            var estimates = (evidence[key] as JsonArray ?? []).Select(Estimate.FromJson).ToArray();
            for (int i = 0; i < Math.Min(multiples.Length, estimates.Length); i++)
                rows.Add((string.Create(CultureInfo.InvariantCulture, $"{label} at {multiples[i]:G3} × ||θ0||"), estimates[i].ToString()));
        }
        return rows;
    }
}
