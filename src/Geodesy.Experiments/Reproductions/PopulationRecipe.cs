using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Sweeps;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// A recipe that measures a population of converged models: a grid of learning rates, batch sizes
/// and widths trained until the train cross-entropy falls below a target (Fantastic's stopping
/// rule), run by the study pipeline (`geodesy study`) with the recipe's measures.
/// </summary>
public abstract class PopulationRecipe : Recipe
{
    /// <summary>The measures the sweep computes on every model.</summary>
    protected abstract IReadOnlyList<string> Measures { get; }

    /// <summary>The grid options, then the recipe's own (<see cref="MoreOptions"/>).</summary>
    protected sealed override IReadOnlyList<RecipeOption> OwnOptions =>
    [
        new("data", RecipeOptionKind.Text, "mnist", "mnist", "data spec"),
        new("arch", RecipeOptionKind.Text, "mlp:784-{width}-10", "mlp:784-{width}-10", "architecture spec with the {width} field"),
        new("subset", RecipeOptionKind.Int, "2000", "500", "training examples of every model"),
        new("lrs", RecipeOptionKind.DoubleList, "0.02,0.05,0.1", "0.02,0.05,0.1", "learning rates of the grid (SGD with momentum 0.9)"),
        new("batches", RecipeOptionKind.IntList, "32,64,128", "32,128", "batch sizes of the grid"),
        new("widths", RecipeOptionKind.IntList, "16,32,64", "16,32", "hidden widths of the grid"),
        new("label_noise", RecipeOptionKind.DoubleList, "0", "0", "label-noise levels of the grid"),
        new("until_loss", RecipeOptionKind.Double, "0.01", "0.05", "train every model until its train cross-entropy is below this"),
        new("max_epochs", RecipeOptionKind.Int, "60", "40", "give up (not ranked) after this many epochs"),
        new("measure_examples", RecipeOptionKind.Int, "1000", "300", "training examples the measures are computed on"),
        .. MoreOptions,
    ];

    protected virtual IReadOnlyList<RecipeOption> MoreOptions => [];

    /// <summary>One seed by default: the intervals come from bootstrapping the models.</summary>
    protected override (int Default, int Quick) SeedCounts => (1, 1);

    /// <summary>The sweep of these options.</summary>
    public SweepSpec Sweep(RecipeOptions o) => new()
    {
        Name = Name,
        Base = new JsonObject
        {
            ["data"] = o.Text("data"), ["arch"] = o.Text("arch"), ["subset"] = o.Int("subset"), ["optimizer"] = "momentum",
            ["until_loss"] = o.Double("until_loss"), ["max_epochs"] = o.Int("max_epochs"),
        },
        Grid =
        [
            ("lr", o.Doubles("lrs").Select(v => (JsonNode)v).ToList()),
            ("batch", o.Ints("batches").Select(v => (JsonNode)v).ToList()),
            ("width", o.Ints("widths").Select(v => (JsonNode)v).ToList()),
            ("label_noise", o.Doubles("label_noise").Select(v => (JsonNode)v).ToList()),
        ],
        Seeds = o.Seeds,
        Measures = string.Join(",", Measures),
        MeasureExamples = o.Int("measure_examples"),
    };

    /// <summary>Trains and measures the population; its models and ranking for the recipe to read.</summary>
    protected (Population Population, RankingTable Table) Study(RecipeContext c) => c.Study(Sweep(c.Options));

    /// <summary>The population's size and status counts, for the evidence.</summary>
    protected static JsonObject PopulationJson(Population population) => new()
    {
        ["models"] = population.Models.Count,
        ["excluded"] = population.Excluded.Count,
        ["statuses"] = new JsonObject(population.Statuses.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
    };

    /// <summary>Pearson correlation of two equally long series (NaN when either is constant).</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : double.NaN;
    }

    /// <summary>The models with a finite value of every named measure and a finite gap.</summary>
    protected static List<PopulationModel> Complete(Population population, params string[] measures) =>
        population.Models.Where(m => double.IsFinite(m.Gap) && measures.All(n => m.Measures.TryGetValue(n, out double v) && double.IsFinite(v))).ToList();

    protected static string F(double x) => Verdicts.Fmt(x);

    protected static string Interval(JsonNode? node) => node is JsonObject o
        ? $"{F(Num(o["estimate"]))} [{F(Num(o["lower"]))}, {F(Num(o["upper"]))}]" : "-";

    protected static double Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out double d) ? d : double.NaN;

    /// <summary>{estimate, lower, upper} of a statistic with its bootstrap interval over models.</summary>
    protected static JsonObject IntervalJson(double estimate, BootstrapInterval ci) => new()
    {
        ["estimate"] = Analyses.JsonNumbers.Finite(estimate),
        ["lower"] = Analyses.JsonNumbers.Finite(ci.Lower),
        ["upper"] = Analyses.JsonNumbers.Finite(ci.Upper),
        ["level"] = ci.Level,
    };

    protected static string Text(double x) => x.ToString("G4", CultureInfo.InvariantCulture);
}
