using Geodesy.Core.Training;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Geodesy.Core.Measures;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Reproductions;

/// <summary>A trained run of a recipe: its outcome and the probe rows it recorded (probes.jsonl).</summary>
public sealed record RecipeRun(RunOutcome Outcome, IReadOnlyList<JsonObject> Probes)
{
    public string Directory => Outcome.Directory;

    /// <summary>The rows of one probe, in step order.</summary>
    public IReadOnlyList<JsonObject> Rows(string probe) => Probes.Where(r => (string?)r["probe"] == probe).ToList();

    /// <summary>(step, value) of one probe; rows without a value are left out.</summary>
    public (double[] Steps, double[] Values) Series(string probe, string key = "value")
    {
        var rows = Rows(probe).Where(r => r[key] is JsonValue).ToList();
        return (rows.Select(r => (double)r["step"]!).ToArray(), rows.Select(r => (double)r[key]!).ToArray());
    }
}

/// <summary>
/// What a recipe works with: its options, its folder, a log for progress, and the public commands'
/// code paths: <see cref="Train"/> is `geodesy train` (RunExecutor, probes included),
/// <see cref="Curvature"/> is `geodesy curvature` (CurvatureAnalysis), <see cref="Measure"/> is
/// `geodesy measure` (MeasureSession) and <see cref="Study"/> is `geodesy study` (the sweep
/// pipeline with its store, workers and ranking). The context adds up their cost.
/// </summary>
public sealed partial class RecipeContext
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<(string File, string Caption)> _plots = [];

    /// <param name="studyFolder">Where <see cref="Study"/> keeps its store and runs (default OUT/study); recipes
    /// given the same folder share one store, so a model they all need is trained once.</param>
    public RecipeContext(RecipeOptions options, string outDir, Action<string> log, string? studyFolder = null)
    {
        Options = options;
        OutDir = Path.GetFullPath(outDir);
        StudyFolder = Path.GetFullPath(studyFolder ?? Path.Combine(OutDir, "study"));
        _log = log;
        Directory.CreateDirectory(OutDir);
    }

    private readonly Action<string> _log;
    public RecipeOptions Options { get; }
    public string OutDir { get; }
    public string StudyFolder { get; }
    public IReadOnlyList<(string File, string Caption)> Plots => _plots;
    public long Matvecs { get; private set; }
    public long Gradients { get; private set; }
    public long ExamplesSeen { get; private set; }
    public int Runs { get; private set; }

    /// <summary>One progress line, stamped with the seconds since the recipe started.</summary>
    public void Log(string line) => _log($"  [{_clock.Elapsed.TotalSeconds,6:F0} s] {line}");

    /// <summary>Trains <paramref name="spec"/> into OUT/runs/NAME as `geodesy train` does and reads its probes back.</summary>
    public RecipeRun Train(string name, RunSpec spec)
    {
        string dir = Path.Combine(OutDir, "runs", name);
        Log($"train {name}: {spec.Arch}, {spec.Optimizer} lr {spec.Lr:G4}, batch {spec.Batch}, seed {spec.Seed}");
        var outcome = RunExecutor.Execute(spec, dir, overwrite: true);
        Runs++;
        ExamplesSeen += outcome.Training.ExamplesSeen;
        var probes = new List<JsonObject>();
        string file = Path.Combine(dir, RunFiles.Probes);
        if (File.Exists(file))
            foreach (string line in File.ReadLines(file))
                if (JsonNode.Parse(line) is JsonObject row) probes.Add(row);
        // The probes' own work (the products and gradient passes each row records).
        Matvecs += probes.Sum(r => r["matvecs"] is JsonValue v && v.TryGetValue<long>(out long n) ? n : 0);
        Gradients += probes.Sum(r => r["gradients"] is JsonValue v && v.TryGetValue<long>(out long n) ? n : 0);
        var final = outcome.Training.Final;
        Log($"  {outcome.Training.Status.Name()}: {outcome.Training.Steps} steps, train acc {final?.TrainAccuracy:F3}, test acc {final?.TestAccuracy:F3}");
        return new RecipeRun(outcome, probes);
    }

    /// <summary>`geodesy curvature --run DIR` with these settings (float64 unless told).</summary>
    public CurvatureResult Curvature(string runDir, CurvatureSettings settings, ScalarType dtype = ScalarType.Float64)
    {
        using var loaded = new ModelSource { Run = runDir, DType = dtype }.Load();
        var result = CurvatureAnalysis.Run(loaded, settings, line => Log("  " + line));
        Matvecs += result.Cost.Matvecs;
        Gradients += result.Cost.Gradients;
        return result;
    }

    /// <summary>
    /// `geodesy measure` on a loaded model: the named measures on its first <paramref name="examples"/>
    /// training examples; a skipped measure is NaN.
    /// </summary>
    public Dictionary<string, (double Value, double? StdErr)> Measure(LoadedModel loaded, IReadOnlyList<string> measures, long? examples, long seed)
    {
        var data = loaded.FirstExamples(examples, "examples");
        var s = loaded.Source;
        using var session = new MeasureSession(MeasureSession.CreateContext(loaded.Model, loaded.Init, data, s.Arch,
            s.TrainingRecord, s.TrainingBatch, seed, runningLoss: s.RunningLoss));
        var values = new Dictionary<string, (double, double?)>(StringComparer.Ordinal);
        foreach (string name in measures)
        {
            var o = session.Compute(MeasureRegistry.Get(name)).Outcome;
            values[name] = o.Value is { } v ? (v.Value, v.StdErr) : (double.NaN, null);
        }
        Matvecs += session.Context.Matvecs;
        Gradients += session.Context.Gradients;
        return values;
    }

    /// <summary>
    /// `geodesy study --spec` in <see cref="StudyFolder"/>: registers the sweep in a SQLite store, trains and
    /// measures every trial with one in-process worker (re-running resumes; a trial another sweep of the
    /// store trained is only measured), ranks the measures and writes OUT/ranking.json.
    /// </summary>
    public (Population Population, RankingTable Table) Study(SweepSpec sweep)
    {
        Directory.CreateDirectory(StudyFolder);
        string uri = "sqlite:" + Path.Combine(StudyFolder, StudyPipeline.DatabaseFile);
        using var store = StoreFactory.Open(uri);
        var (id, count) = SweepRunner.Register(store, sweep);
        Log($"study '{sweep.Name}': {count} trials, measures {sweep.Measures}");
        SweepRunner.RunWorkers(store, uri, id, StudyRuns, 1, SweepRunner.SelfCommand(), line => Log("  " + line));
        var (doc, table, population) = StudyPipeline.Rank(store, id);
        StudyPipeline.WriteJson(Path.Combine(OutDir, StudyPipeline.RankingFile), doc);
        Runs += population.Models.Count + population.Excluded.Count;
        return (population, table);
    }

    /// <summary>The run folders of <see cref="Study"/>: STUDY/runs/ID.</summary>
    public string StudyRuns => Path.Combine(StudyFolder, StudyPipeline.RunsFolder);

    /// <summary>Saves a line plot OUT/FILE (one line per series, optional dashed reference lines) and lists it for the report.</summary>
    public void LinePlot(string file, string title, string x, string y, IEnumerable<(string Label, double[] X, double[] Y)> series,
        IEnumerable<(string Label, double Y)>? references = null, bool logY = false)
    {
        var plt = StudyReport.NewPlot();
        foreach (var (label, xs, ys) in series)
        {
            var points = xs.Zip(ys).Where(p => double.IsFinite(p.Second) && (!logY || p.Second > 0)).ToArray();
            if (points.Length == 0) continue;
            var line = plt.Add.ScatterLine(points.Select(p => p.First).ToArray(), points.Select(p => logY ? Math.Log10(p.Second) : p.Second).ToArray());
            line.LegendText = label;
            line.MarkerSize = 3;
        }
        foreach (var (label, value) in references ?? [])
        {
            var h = plt.Add.HorizontalLine(logY ? Math.Log10(value) : value);
            h.LinePattern = ScottPlot.LinePattern.Dashed;
            h.LegendText = label;
        }
        plt.Title(title);
        plt.XLabel(x);
        plt.YLabel(logY ? $"log10 {y}" : y);
        // Beside the plot, not on it: curves often end in the upper right (accuracies near 1).
        plt.ShowLegend(ScottPlot.Edge.Right);
        plt.Legend.Orientation = ScottPlot.Orientation.Vertical;
        plt.SavePng(Path.Combine(OutDir, file), 1000, 420);
        _plots.Add((file, title));
    }

    /// <summary>Saves a scatter plot OUT/FILE of y against x, one colour per group.</summary>
    public void ScatterPlot(string file, string title, string x, string y, IEnumerable<(string Label, double[] X, double[] Y)> groups)
    {
        var plt = StudyReport.NewPlot();
        foreach (var (label, xs, ys) in groups)
        {
            var points = xs.Zip(ys).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second)).ToArray();
            if (points.Length == 0) continue;
            var s = plt.Add.ScatterPoints(points.Select(p => p.First).ToArray(), points.Select(p => p.Second).ToArray());
            s.LegendText = label;
            s.MarkerSize = 7;
        }
        plt.Title(title);
        plt.XLabel(x);
        plt.YLabel(y);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        plt.SavePng(Path.Combine(OutDir, file), 800, 420);
        _plots.Add((file, title));
    }

    /// <summary>
    /// The work of the recipe as the "cost" object: matvecs and gradients (of the curvature and measure
    /// computations and those the probes record), seconds, threads, training runs and examples seen in training.
    /// </summary>
    public JsonObject CostJson()
    {
        var cost = Cost.Of(Matvecs, Gradients, _clock.Elapsed.TotalSeconds).ToJson();
        cost["runs"] = Runs;
        cost["examples_seen"] = ExamplesSeen;
        return cost;
    }
}
