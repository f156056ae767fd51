using System.Text.Json.Nodes;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Stiffness (Fort et al. 2019): after training, a gradient step on one example helps another of the
/// same class more than one of a different class (cosine stiffness of per-example gradients), and the
/// stiffness falls with the distance of the two inputs. Each seed trains one model and runs
/// `geodesy landscape stiffness` on held-out examples; the distance comparison splits the same-class
/// pairs at the median of their distance (by the cumulative pair counts of the distance bins).
/// </summary>
public sealed class StiffnessRecipe : Recipe
{
    public override string Name => "stiffness";
    public override string Claim => "The cosine stiffness of per-example gradients is larger between examples of the same class than between examples of different classes, and it falls as the input distance grows.";
    public override string Source => "Fort, Nowak, Jastrzebski and Narayanan 2019, Stiffness: a new perspective on generalization in neural networks, Fig. 3 (class stiffness) and Fig. 6 (stiffness against input distance)";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-64-10", "mlp:784-32-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset)"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate (SGD with momentum 0.9)"),
        new("epochs", RecipeOptionKind.Int, "10", "5", "training epochs"),
        new("examples", RecipeOptionKind.Int, "1000", "200", "held-out (test) examples whose gradient pairs are compared"),
        new("bins", RecipeOptionKind.Int, "20", "10", "bins of input distance (equal width over [0, the largest distance])"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"each seed trains {o.Text("arch")} for {o.Int("epochs")} epochs and measures the cosine stiffness on {o.Int("examples")} test examples; " +
        $"(1) the mean over seeds of the same-class stiffness must exceed the different-class stiffness by more than {Verdicts.Z:G} standard errors of the difference; " +
        "(2) the same-class stiffness of the nearer half of the same-class pairs (distance bins up to the median pair) must exceed that of the farther half " +
        $"by more than {Verdicts.Z:G} s.e.; both: supported; either reversed by more than {Verdicts.Z:G} s.e.: not-supported; otherwise inconclusive";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        var settings = new StiffnessSettings { Examples = o.Int("examples"), Split = "test", Bins = o.Int("bins") };
        var same = new List<double>();
        var diff = new List<double>();
        var near = new List<double>();
        var far = new List<double>();
        var curves = new List<(string, double[], double[])>();
        foreach (long seed in o.Seeds)
        {
            var spec = new RunSpec
            {
                Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), Optimizer = "momentum",
                Lr = o.Double("lr"), Batch = 64, Epochs = o.Int("epochs"), Seed = seed,
            };
            var run = c.Train($"s{seed}", spec);
            var table = c.Stiffness(run.Directory, settings).Table;
            same.Add(table.SameClassCosine);
            diff.Add(table.DiffClassCosine);
            var (n, f) = NearFar(table.Bins.Select(b => (b.SamePairs, b.SameCosine)).ToArray());
            near.Add(n);
            far.Add(f);
            c.Log($"  seed {seed}: same class {Verdicts.Fmt(table.SameClassCosine)}, different classes {Verdicts.Fmt(table.DiffClassCosine)}, " +
                $"same class near {Verdicts.Fmt(n)}, far {Verdicts.Fmt(f)}");
            var bins = table.Bins.Where(b => b.SamePairs > 0).ToArray();
            curves.Add(($"same class, seed {seed}", bins.Select(b => (b.Lo + b.Hi) / 2).ToArray(), bins.Select(b => b.SameCosine).ToArray()));
            var diffBins = table.Bins.Where(b => b.DiffPairs > 0).ToArray();
            curves.Add(($"different classes, seed {seed}", diffBins.Select(b => (b.Lo + b.Hi) / 2).ToArray(), diffBins.Select(b => b.DiffCosine).ToArray()));
        }
        c.LinePlot("stiffness-distance.png", "Cosine stiffness against input distance (test pairs)", "input distance ||x_i - x_j||", "mean cos(g_i, g_j)", curves);
        return new JsonObject
        {
            ["data"] = o.Text("data"), ["arch"] = o.Text("arch"), ["split"] = "test", ["examples"] = o.Int("examples"),
            ["definition"] = StiffnessAnalysisResult.Definition,
            ["same_class_cosine"] = Estimate.Of(same).ToJson(),
            ["diff_class_cosine"] = Estimate.Of(diff).ToJson(),
            ["near_same_class_cosine"] = Estimate.Of(near).ToJson(),
            ["far_same_class_cosine"] = Estimate.Of(far).ToJson(),
        };
    }

    /// <summary>
    /// The pair-weighted mean cosine of the nearer and the farther half of the pairs, from distance bins
    /// in increasing order: a bin goes to the nearer half while the pairs before it are fewer than half of all.
    /// </summary>
    public static (double Near, double Far) NearFar(IReadOnlyList<(long Pairs, double Cosine)> bins)
    {
        long total = bins.Sum(b => b.Pairs), before = 0;
        double nearSum = 0, farSum = 0;
        long nearPairs = 0, farPairs = 0;
        foreach (var (pairs, cosine) in bins)
        {
            if (pairs == 0) continue;
            if (2 * before < total) { nearSum += pairs * cosine; nearPairs += pairs; }
            else { farSum += pairs * cosine; farPairs += pairs; }
            before += pairs;
        }
        return (nearPairs > 0 ? nearSum / nearPairs : double.NaN, farPairs > 0 ? farSum / farPairs : double.NaN);
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options) => Judgement.All(
        Verdicts.Greater(Estimate.FromJson(evidence["same_class_cosine"]), Estimate.FromJson(evidence["diff_class_cosine"]), "cosine stiffness, same minus different class"),
        Verdicts.Greater(Estimate.FromJson(evidence["near_same_class_cosine"]), Estimate.FromJson(evidence["far_same_class_cosine"]), "same-class stiffness, nearer minus farther half of the pairs"));

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence) =>
    [
        ("cosine stiffness, same class", Estimate.FromJson(evidence["same_class_cosine"]).ToString()),
        ("cosine stiffness, different classes", Estimate.FromJson(evidence["diff_class_cosine"]).ToString()),
        ("same class, nearer half of the pairs", Estimate.FromJson(evidence["near_same_class_cosine"]).ToString()),
        ("same class, farther half of the pairs", Estimate.FromJson(evidence["far_same_class_cosine"]).ToString()),
    ];
}
