using Geodesy.Core.Curvature;
using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Hessian outliers and the tiny subspace (Gur-Ari, Roberts &amp; Dyer 2018; Fort &amp; Ganguli
/// 2019; Papyan 2019): after a short time the spectrum of a C-class classifier has about C
/// eigenvalues well above the bulk, and the gradient lies mostly in the span of the top-C
/// eigenvectors. The run records the hessian-top probe with k = C (its gradient-overlap rows),
/// and `geodesy curvature` computes the top 2C+1 eigenvalues of the trained model.
/// The number of outliers is read at the largest ratio λ_i/λ_{i+1} among the top 2C+1.
/// </summary>
public sealed class HessianOutliersRecipe : Recipe
{
    public override string Name => "hessian-outliers";
    public override string Claim => "About C eigenvalues (C = number of classes) stand above the bulk of the Hessian spectrum, and after a short time the gradient lies mostly in their top-C eigenspace.";
    public override string Source => "Gur-Ari, Roberts & Dyer 2018, Gradient descent happens in a tiny subspace (arXiv:1812.04754), Fig. 1 and Fig. 2; Fort & Ganguli 2019, Emergent properties of the local geometry of neural loss landscapes, Sec. 2";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-32-10", "mlp:784-16-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate (SGD with momentum 0.9)"),
        new("batch", RecipeOptionKind.Int, "64", "64", "batch size"),
        new("epochs", RecipeOptionKind.Int, "5", "6", "epochs (quick: more epochs of fewer examples, about the same number of steps)"),
        new("probe_every", RecipeOptionKind.Int, "20", "10", "probe the gradient overlap every K steps"),
        new("probe_examples", RecipeOptionKind.Int, "256", "128", "examples of the probe set"),
        new("curvature_examples", RecipeOptionKind.Int, "1000", "300", "training examples the final spectrum is computed on"),
        new("matrix", RecipeOptionKind.Text, "hessian", "hessian", "hessian or ggn"),
        new("settle", RecipeOptionKind.Double, "0.25", "0.25", "the overlap is averaged after this first fraction of the probe rows"),
        new("overlap", RecipeOptionKind.Double, "0.5", "0.5", "the share of the squared gradient norm in the top-C eigenspace that counts as 'mostly'"),
        new("tolerance", RecipeOptionKind.Int, "1", "1", "how far the outlier count may be from C"),
    ];

    public override string Criterion(RecipeOptions o) =>
        $"(a) the number of outliers k̂ (the i in 1..2C with the largest λ_i/λ_{{i+1}} among the top 2C+1 {o.Text("matrix")} eigenvalues of the trained model) " +
        $"is within {o.Int("tolerance")} of C for every seed (for most seeds further away: not-supported); " +
        $"(b) the mean over seeds of the gradient overlap ||P_C g||²/||g||² after the first {o.Double("settle"):P0} of training exceeds {o.Double("overlap"):G3} " +
        $"by more than {Verdicts.Z:G} s.e. (below it by more than {Verdicts.Z:G} s.e.: not-supported)";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        string matrix = o.Text("matrix");
        if (matrix is not ("hessian" or "ggn")) throw new Core.InputException($"--set matrix: must be hessian or ggn (got '{matrix}')");
        var template = new RunSpec { Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset") };
        int classes;
        using (var data = RunExecutor.LoadData(template)) classes = data.Train.NumClasses;
        var seeds = new JsonArray();
        var overlaps = new List<double>();
        var overlapCurves = new List<(string, double[], double[])>();
        double[] spectrum0 = [];
        foreach (long seed in o.Seeds)
        {
            var spec = template with
            {
                Lr = o.Double("lr"), Batch = o.Int("batch"), Epochs = o.Int("epochs"), Seed = seed, ProbeExamples = o.Int("probe_examples"),
                Probe = [$"hessian-top:k={classes}@every={o.Int("probe_every")}"],
            };
            var run = c.Train($"s{seed}", spec);
            var overlap = run.Series("gradient-overlap");
            int start = (int)Math.Floor(overlap.Values.Length * o.Double("settle"));
            double meanOverlap = overlap.Values.Skip(start).DefaultIfEmpty(double.NaN).Average();
            overlaps.Add(meanOverlap);
            overlapCurves.Add(($"seed {seed}", overlap.Steps, overlap.Values));
            var curvature = c.Curvature(run.Directory, Settings(matrix, 2 * classes + 1, o.Int("curvature_examples"), seed));
            var top = curvature.Matrices[0].Top;
            if (seed == 0) spectrum0 = top;
            seeds.Add(new JsonObject
            {
                ["seed"] = seed,
                ["top_eigenvalues"] = JsonNumbers.Array(top),
                ["status"] = curvature.Status.ToSnakeCase(),
                ["outliers"] = OutlierCount(top),
                ["late_gradient_overlap"] = JsonNumbers.Finite(meanOverlap),
            });
        }
        c.LinePlot("gradient-overlap.png", $"Share of the gradient in the top-{classes} Hessian eigenspace", "step", "||P g||² / ||g||²", overlapCurves);
        c.LinePlot("spectrum.png", $"Top {2 * classes + 1} {matrix} eigenvalues of the trained model (seed 0)", "index i", "λ_i",
            [("λ_i", Enumerable.Range(1, spectrum0.Length).Select(i => (double)i).ToArray(), spectrum0)], logY: true);
        return new JsonObject
        {
            ["classes"] = classes,
            ["matrix"] = matrix,
            ["seeds"] = seeds,
            ["gradient_overlap"] = Estimate.Of(overlaps).ToJson(),
            ["data"] = o.Text("data"),
            ["arch"] = o.Text("arch"),
        };
    }

    /// <summary>The i in 1..n-1 with the largest λ_i/λ_{i+1} (a non-positive λ_{i+1} is an infinite gap).</summary>
    public static int OutlierCount(IReadOnlyList<double> descending)
    {
        int best = 0;
        double bestRatio = double.NegativeInfinity;
        for (int i = 0; i + 1 < descending.Count; i++)
        {
            if (!(descending[i] > 0)) break;
            double ratio = descending[i + 1] > 0 ? descending[i] / descending[i + 1] : double.PositiveInfinity;
            if (ratio > bestRatio) { bestRatio = ratio; best = i + 1; }
            if (double.IsPositiveInfinity(ratio)) break;
        }
        return best;
    }

    private static CurvatureSettings Settings(string matrix, int topK, long examples, long seed) => new()
    {
        Matrices = [matrix], TopK = topK, BottomK = 0, Trace = false, Density = false, PerLayer = false, Power = false,
        Tol = 1e-3, MaxMatvecs = null, TraceMatvecs = 100, SlqSteps = 80, SlqRuns = 1, FisherSamples = 1,
        Overlap = false, ComparePower = false, Seed = seed, Examples = examples,
    };

    public override Judgement Judge(JsonObject evidence, RecipeOptions options)
    {
        int classes = (int)evidence["classes"]!, tolerance = options.Int("tolerance");
        var counts = (evidence["seeds"] as JsonArray ?? []).OfType<JsonObject>().Select(s => (int)s["outliers"]!).ToList();
        string list = string.Join(", ", counts);
        int near = counts.Count(k => Math.Abs(k - classes) <= tolerance);
        var outliers = counts.Count == 0 ? new Judgement(Verdict.Inconclusive, "no seed was run")
            : near == counts.Count ? new Judgement(Verdict.Supported, $"outlier counts {list} are within {tolerance} of C = {classes}")
            : near * 2 < counts.Count ? new Judgement(Verdict.NotSupported, $"outlier counts {list}: most are further than {tolerance} from C = {classes}")
            : new Judgement(Verdict.Inconclusive, $"outlier counts {list}: some but not all within {tolerance} of C = {classes}");
        var overlap = Verdicts.AtLeast(Estimate.FromJson(evidence["gradient_overlap"]), options.Double("overlap"), "gradient overlap with the top-C eigenspace");
        return Judgement.All(outliers, overlap);
    }

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        var rows = new List<(string, string)> { ("classes C", evidence["classes"]!.ToJsonString()) };
        foreach (var s in (evidence["seeds"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var top = (s["top_eigenvalues"] as JsonArray ?? []).Select(v => v is null ? "-" : ((double)v).ToString("G3", CultureInfo.InvariantCulture)).Take(12);
            rows.Add(($"seed {s["seed"]}: outliers k̂", s["outliers"]!.ToJsonString()));
            rows.Add(($"seed {s["seed"]}: top eigenvalues", string.Join(" ", top) + " ..."));
        }
        rows.Add(("gradient overlap (late)", Estimate.FromJson(evidence["gradient_overlap"]).ToString()));
        return rows;
    }
}
