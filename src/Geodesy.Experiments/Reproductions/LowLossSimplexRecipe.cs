using System.Text.Json.Nodes;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// Low-loss simplexes (Fort and Jastrzebski 2019): n independently trained solutions and one extra vertex,
/// trained so that the loss is low at points sampled from the simplex they span, are connected at low
/// loss through that vertex, while the direct face of the solutions (for n = 2 the linear path) has a
/// barrier. Each seed trains n solutions on one training subset (different initializations and data orders),
/// then runs `geodesy landscape connect --simplex ... --grid G` and reads the train loss on the lattice
/// fixed in advance: on the face of the solutions alone, on the faces through the trained vertex
/// (each solution with the trained vertex), and on the whole simplex.
/// </summary>
public sealed class LowLossSimplexRecipe : Recipe
{
    public override string Name => "low-loss-simplex";
    public override string Claim => "Independently trained solutions are joined at low loss through an extra vertex trained on the simplex they span, while the direct path between them has a loss barrier.";
    public override string Source => "Fort & Jastrzebski 2019, Large Scale Structure of Neural Network Loss Landscapes (NeurIPS), Sec. 4.4 and its figures of low-loss simplexes between optima";

    protected override IReadOnlyList<RecipeOption> OwnOptions { get; } =
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-100-10", "mlp:784-32-10", "architecture spec"),
        new("subset", RecipeOptionKind.Int, "2000", "1000", "training examples (seeded stratified subset; the solutions of one seed share it)"),
        new("lr", RecipeOptionKind.Double, "0.05", "0.05", "learning rate of the solutions (momentum SGD)"),
        new("epochs", RecipeOptionKind.Int, "30", "15", "epochs of each solution"),
        new("simplex_solutions", RecipeOptionKind.Int, "2", "2", "n: the independently trained solutions spanning the simplex with the trained vertex (2: a triangle whose base is the linear path)"),
        new("simplex_epochs", RecipeOptionKind.Int, "100", "40", "epochs of training the extra vertex (landscape connect --epochs)"),
        new("simplex_lr", RecipeOptionKind.Double, "0.05", "0.05", "base learning rate of the extra vertex (landscape connect --lr)"),
        new("simplex_grid", RecipeOptionKind.Int, "10", "6", "steps per edge of the evaluation lattice (landscape connect --grid)"),
        new("simplex_fraction", RecipeOptionKind.Double, "0.25", "0.25", "the connection through the trained vertex may rise at most this fraction of the direct barrier"),
    ];

    protected override (int Default, int Quick) SeedCounts => (4, 3);

    public override string Criterion(RecipeOptions o) =>
        $"on the lattice with {o.Int("simplex_grid")} steps per edge, the height of a set of points = max train loss over its points minus the mean train loss of the " +
        $"{o.Int("simplex_solutions")} solutions; per seed: (a) the direct barrier, the height of the face of the solutions alone (the untrained simplex; for 2 solutions the linear path): " +
        $"mean − {Verdicts.Z:G} s.e. above 0 (mean + {Verdicts.Z:G} s.e. below 0: not-supported); (b) {o.Double("simplex_fraction"):G3} × direct barrier minus the height of the faces " +
        $"through the trained vertex (each solution with the trained vertex; for 2 solutions the path solution 1 → vertex → solution 2): mean − {Verdicts.Z:G} s.e. above 0 " +
        $"(mean + {Verdicts.Z:G} s.e. below 0: not-supported); both parts by Judgement.All";

    public override JsonObject Run(RecipeContext c)
    {
        var o = c.Options;
        int n = o.Int("simplex_solutions"), grid = o.Int("simplex_grid");
        if (n < 2) throw new Core.InputException($"--set simplex_solutions must be at least 2 (got {n})");
        if (grid < 2) throw new Core.InputException($"--set simplex_grid must be at least 2 (got {grid})");
        var perSeed = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        void Add(string key, double value) => (perSeed.TryGetValue(key, out var list) ? list : perSeed[key] = []).Add(value);
        foreach (long seed in o.Seeds)
        {
            var runs = Enumerable.Range(0, n).Select(i => c.Train($"solution-s{seed}-{i}", new RunSpec
            {
                // Different initializations and data orders, one training set: the data seed is the recipe's seed.
                Data = o.Text("data"), Arch = o.Text("arch"), Subset = o.Int("subset"), DataSeed = seed, Lr = o.Double("lr"), Epochs = o.Int("epochs"), Seed = n * seed + i,
            })).ToArray();
            var settings = new ConnectSettings
            {
                Simplex = runs.Select(r => Path.Combine(r.Directory, RunFiles.FinalWeights)).ToArray(),
                Training = new CombinationTrainingOptions { Epochs = o.Int("simplex_epochs"), LearningRate = o.Double("simplex_lr"), Seed = seed },
                Grid = grid,
            };
            var plot = seed == 0 && n == 2 ? ("simplex.png", "Train loss on the triangle of two solutions and the trained vertex (seed 0); its base is the linear path") : ((string, string)?)null;
            var r = c.Connect(runs[0].Directory, settings, plot);
            var given = r.Vertices!.Take(n).ToArray();
            double solutionLoss = given.Average(v => v.TrainLoss), solutionError = given.Average(v => 1 - v.TestAccuracy);
            // Faces through the trained vertex hold at most one solution with a non-zero coordinate.
            var through = r.Inside!.Where(p => p.Coordinates.Take(n).Count(x => x > 0) <= 1).ToArray();
            Add("solution_train_loss", solutionLoss);
            Add("solution_test_error", solutionError);
            Add("trained_vertex_train_loss", r.Vertices![n].TrainLoss);
            Add("direct_height", r.GivenInside!.Max(p => p.Value.TrainLoss) - solutionLoss);
            Add("through_vertex_height", through.Max(p => p.Value.TrainLoss) - solutionLoss);
            Add("simplex_height", r.Inside!.Max(p => p.Value.TrainLoss) - solutionLoss);
            Add("direct_mean_train_loss", r.GivenInside!.Average(p => p.Value.TrainLoss));
            Add("simplex_mean_train_loss", r.Inside!.Average(p => p.Value.TrainLoss));
            Add("direct_error_height", r.GivenInside!.Max(p => 1 - p.Value.TestAccuracy) - solutionError);
            Add("through_vertex_error_height", through.Max(p => 1 - p.Value.TestAccuracy) - solutionError);
            Add("connect_last_epoch_train_loss", r.Training.LastEpochLoss);
            if (seed == 0 && n == 2) PathPlot(c, r);
        }
        double fraction = o.Double("simplex_fraction");
        var evidence = new JsonObject
        {
            ["solutions"] = n,
            ["grid"] = grid,
            ["fraction"] = fraction,
            ["height_definition"] = "max train loss over the lattice points of a set minus the mean train loss of the solutions",
        };
        foreach (var (key, values) in perSeed) evidence[key] = Estimate.Of(values).ToJson();
        evidence["margin"] = Estimate.Of(perSeed["direct_height"].Zip(perSeed["through_vertex_height"], (d, t) => fraction * d - t)).ToJson();
        evidence["data"] = o.Text("data");
        evidence["arch"] = o.Text("arch");
        return evidence;
    }

    /// <summary>Seed 0 with two solutions: train loss along the linear path and along the path solution 1 → trained vertex → solution 2.</summary>
    private static void PathPlot(RecipeContext c, ConnectResult r)
    {
        // Lattice points (c0, c1, c2): the base c2 = 0 ordered by c1; the path through the vertex c1 = 0 (by c2), then c0 = 0 (by c1).
        var direct = r.Inside!.Where(p => p.Coordinates[2] == 0).OrderBy(p => p.Coordinates[1]).ToArray();
        var first = r.Inside!.Where(p => p.Coordinates[1] == 0).OrderBy(p => p.Coordinates[2]).ToArray();
        var second = r.Inside!.Where(p => p.Coordinates[0] == 0 && p.Coordinates[2] < 1).OrderByDescending(p => p.Coordinates[2]).ToArray();
        var via = first.Select(p => (X: p.Coordinates[2] / 2, p.Value.TrainLoss)).Concat(second.Select(p => (X: 0.5 + p.Coordinates[1] / 2, p.Value.TrainLoss))).ToArray();
        c.LinePlot("paths.png", "Train loss from solution 1 to solution 2: linear path and through the trained vertex (seed 0)", "position along the path", "train loss",
        [
            ("linear path", direct.Select(p => p.Coordinates[1]).ToArray(), direct.Select(p => p.Value.TrainLoss).ToArray()),
            ("through the trained vertex", via.Select(v => v.X).ToArray(), via.Select(v => v.TrainLoss).ToArray()),
        ]);
    }

    public override Judgement Judge(JsonObject evidence, RecipeOptions options) => Judgement.All(
        Verdicts.AtLeast(Estimate.FromJson(evidence["direct_height"]), 0, "direct barrier (train loss height of the solutions' own face)"),
        Verdicts.AtLeast(Estimate.FromJson(evidence["margin"]), 0,
            $"{Verdicts.Fmt(evidence["fraction"] is JsonValue f ? (double)f : options.Double("simplex_fraction"))} × direct barrier minus the height through the trained vertex"));

    public override IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence)
    {
        string E(string key) => Estimate.FromJson(evidence[key]).ToString();
        return
        [
            ("train loss of the solutions", E("solution_train_loss")),
            ("train loss of the trained vertex", E("trained_vertex_train_loss")),
            ("direct barrier (height of the solutions' face)", E("direct_height")),
            ("height through the trained vertex", E("through_vertex_height")),
            ("height of the whole simplex (contains the direct face)", E("simplex_height")),
            ("mean train loss: direct face / whole simplex", $"{E("direct_mean_train_loss")} / {E("simplex_mean_train_loss")}"),
            ("test error height: direct / through the vertex", $"{E("direct_error_height")} / {E("through_vertex_error_height")}"),
            ("margin: fraction × direct − through the vertex", E("margin")),
        ];
    }
}
