using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Training;
using Geodesy.Experiments.Runs;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>A run folder as `geodesy plot` reads it: its legend label, training curves and probe rows.</summary>
public sealed record PlottedRun(string Dir, string Label, IReadOnlyList<MetricsRow> Metrics, IReadOnlyList<ProbeRecord> Probes)
{
    /// <summary>The learning rate of the step taken after <paramref name="step"/>: a probe row's own "lr" at that step, else the
    /// last metrics row at or before it (metrics rows log the rate of their last step).</summary>
    public double LearningRateAt(long step)
    {
        foreach (var p in Probes)
            if (p.Step == step && ProbeRecord.Number(p.Row["lr"]) is { } lr) return lr;
        var row = Metrics.LastOrDefault(m => m.Step <= step) ?? Metrics.FirstOrDefault();
        return row?.LearningRate ?? double.NaN;
    }
}

/// <summary>
/// `geodesy plot`: PNGs of the training curves and of every probe of one or more run folders, runs
/// overlaid in one colour each and labelled by the run settings in which they differ. Each probe
/// series gets its value against the step (log scale when every value is positive and they span more
/// than a decade), and each of its other numbers that changes during training a plot of its own
/// (arrays and maps one line per element). Special cases: the 2/lr line of the edge of stability on
/// hessian-top plots, the line ratio = 1 on sharpness-ratio, and the clean-vs-noisy learning curves
/// of the examples probe.
/// </summary>
public static class RunPlots
{
    private const int Width = 1000, Height = 560;
    /// <summary>At most this many elements of an array or map key are drawn (the first ones: top eigenvalues come first).</summary>
    public const int MaxElements = 10;

    /// <summary>Keys that describe how a value was measured rather than the training: not plotted (TensorBoard still has them).</summary>
    private static readonly HashSet<string> Bookkeeping = ["seconds", "matvecs", "gradients", "examples", "k", "tol", "lr", "stderr", "feature_dim", "residuals"];

    /// <summary>The four keys of the examples probe drawn together in the clean-vs-noisy plot.</summary>
    private static readonly string[] CleanNoisy = ["clean_accuracy", "noisy_accuracy", "clean_learned", "noisy_learned"];

    /// <summary>Settings left out of the legend labels: they change what is recorded, not the training.</summary>
    private static readonly HashSet<string> NotInLabels = ["probe", "probe_examples", "checkpoint_epochs", "checkpoint_steps", "log_every"];

    /// <summary>Reads the run folders; a missing folder or one without metrics.jsonl is an InputException naming it.</summary>
    public static IReadOnlyList<PlottedRun> Load(IReadOnlyList<string> dirs)
    {
        if (dirs.Count == 0) throw new InputException("give at least one run folder");
        var specs = new List<JsonObject?>();
        var loaded = new List<(string Dir, IReadOnlyList<MetricsRow> Metrics, IReadOnlyList<ProbeRecord> Probes)>();
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir)) throw new InputException($"run folder '{dir}' does not exist");
            var metrics = RunFiles.ReadMetrics(dir);
            if (metrics.Count == 0) throw new InputException($"'{dir}' has no rows in {RunFiles.Metrics}");
            loaded.Add((dir, metrics, ProbeRecord.Read(dir)));
            specs.Add(File.Exists(Path.Combine(dir, RunFiles.RunJson)) ? RunFiles.ReadSpec(dir).ToJson() : null);
        }
        var labels = Labels(dirs, specs);
        return loaded.Select((r, i) => new PlottedRun(r.Dir, labels[i], r.Metrics, r.Probes)).ToList();
    }

    /// <summary>"lr=0.01, batch=32": the settings whose values differ between the runs; the folder name when none do.</summary>
    public static IReadOnlyList<string> Labels(IReadOnlyList<string> dirs, IReadOnlyList<JsonObject?> specs)
    {
        string Folder(int i) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dirs[i])));
        var keys = specs.Count > 1 && specs.All(s => s is not null)
            ? specs[0]!.Select(kv => kv.Key).Where(k => !NotInLabels.Contains(k)
                && specs.Any(s => !JsonNode.DeepEquals(s![k], specs[0]![k]))).ToList()
            : [];
        var labels = Enumerable.Range(0, dirs.Count).Select(i => keys.Count == 0 ? Folder(i)
            : string.Join(", ", keys.Select(k => $"{k}={Text(specs[i]![k])}"))).ToList();
        // Two runs with the same settings (e.g. one folder given twice): tell them apart by folder.
        for (int i = 0; i < labels.Count; i++)
            if (labels.Count(l => l == labels[i]) > 1 && keys.Count > 0) labels[i] += $" ({Folder(i)})";
        return labels;
    }

    /// <summary>A setting's value as a label shows it; an empty text (an option left off, e.g. no --elr) reads "none".</summary>
    private static string Text(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? (s.Length == 0 ? "none" : s) : n?.ToJsonString() ?? "null";

    /// <summary>Writes every PNG into <paramref name="outDir"/>; returns the file names.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<PlottedRun> runs, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        void Save(string file, Figure figure)
        {
            if (figure.Lines.Count == 0) return;
            figure.Save(Path.Combine(outDir, file));
            files.Add(file);
        }
        Save("training-loss.png", TrainingFigure(runs, "Training curves: cross-entropy loss", "cross-entropy loss", m => m.TrainLoss, m => m.TestLoss));
        Save("training-accuracy.png", TrainingFigure(runs, "Training curves: accuracy", "accuracy", m => m.TrainAccuracy, m => m.TestAccuracy));
        foreach (string series in runs.SelectMany(r => r.Probes.Select(p => p.Series)).Distinct().Order(StringComparer.Ordinal))
        {
            string slug = "probe-" + StudyReport.Slug(series);
            Save(slug + ".png", ValueFigure(runs, series));
            var keys = runs.SelectMany(r => r.Probes.Where(p => p.Series == series).SelectMany(p => p.Scalars().Select(s => s.Key))).Distinct().ToList();
            if (CleanNoisy.All(k => keys.Contains(k))) Save(slug + "-clean-vs-noisy.png", CleanNoisyFigure(runs, series));
            foreach (string group in keys.Select(Group).Distinct())
                if (!Bookkeeping.Contains(group) && !(CleanNoisy.Contains(group) && CleanNoisy.All(k => keys.Contains(k))))
                    Save($"{slug}-{StudyReport.Slug(group)}.png", KeyFigure(runs, series, group, keys.Where(k => Group(k) == group).Take(MaxElements).ToList()));
        }
        return files;
    }

    /// <summary>The clean-vs-noisy figure of one examples-probe series alone (as in <see cref="Write"/>), saved to
    /// <paramref name="path"/>; false (nothing written) when no run has those rows.</summary>
    public static bool SaveCleanNoisy(IReadOnlyList<PlottedRun> runs, string series, string path)
    {
        var figure = CleanNoisyFigure(runs, series);
        if (figure.Lines.Count == 0) return false;
        figure.Save(path);
        return true;
    }

    private static string Group(string key) => key.Split('/')[0];

    private static Figure TrainingFigure(IReadOnlyList<PlottedRun> runs, string title, string yLabel, Func<MetricsRow, double> train, Func<MetricsRow, double> test)
    {
        var f = new Figure(title, yLabel, runs.Count);
        for (int i = 0; i < runs.Count; i++)
        {
            var rows = runs[i].Metrics;
            var x = rows.Select(m => (double)m.Step).ToArray();
            f.Line(i, Name(runs, i, "train"), x, rows.Select(train).ToArray(), LinePattern.Solid);
            f.Line(i, Name(runs, i, "test"), x, rows.Select(test).ToArray(), LinePattern.Dashed);
        }
        return f;
    }

    private static Figure ValueFigure(IReadOnlyList<PlottedRun> runs, string series)
    {
        var f = new Figure($"probe {series}", series, runs.Count);
        for (int i = 0; i < runs.Count; i++)
        {
            var rows = runs[i].Probes.Where(p => p.Series == series).ToList();
            if (rows.Count == 0) continue;
            f.Line(i, Name(runs, i, series), rows.Select(p => (double)p.Step).ToArray(), rows.Select(p => p.Value).ToArray(), LinePattern.Solid);
            AddEdgeOfStability(f, runs, i, series, rows);
        }
        if (series == "sharpness-ratio") f.Horizontal(1, "ratio 1: λmax = 2/lr");
        return f;
    }

    /// <summary>hessian-top: the stability threshold 2/lr of gradient descent (Wu et al. 2018; Cohen et al. 2021) at each measured step.</summary>
    private static void AddEdgeOfStability(Figure f, IReadOnlyList<PlottedRun> runs, int i, string series, IReadOnlyList<ProbeRecord> rows)
    {
        if (!series.StartsWith("hessian-top", StringComparison.Ordinal)) return;
        f.Line(i, Name(runs, i, "2/lr (stability threshold)"), rows.Select(p => (double)p.Step).ToArray(), rows.Select(p => 2 / runs[i].LearningRateAt(p.Step)).ToArray(), LinePattern.Dotted);
    }

    private static Figure KeyFigure(IReadOnlyList<PlottedRun> runs, string series, string group, IReadOnlyList<string> keys)
    {
        var f = new Figure($"probe {series}: {group}", group, runs.Count * keys.Count);
        bool anyChange = false;
        for (int i = 0; i < runs.Count; i++)
        {
            var rows = runs[i].Probes.Where(p => p.Series == series).ToList();
            for (int j = 0; j < keys.Count; j++)
            {
                var values = rows.Select(p => p.Scalars().Where(s => s.Key == keys[j]).Select(s => s.Value).DefaultIfEmpty(double.NaN).First()).ToArray();
                var finite = values.Where(double.IsFinite).ToArray();
                if (finite.Length == 0) continue;
                anyChange |= finite.Max() > finite.Min();
                // Several runs with several elements: a colour per run and per element would be unreadable; the element is named in the legend.
                string label = keys.Count == 1 ? Name(runs, i, group) : Name(runs, i, keys[j]);
                f.Line(runs.Count == 1 ? j : i, label, rows.Select(p => (double)p.Step).ToArray(), values, runs.Count == 1 ? LinePattern.Solid : Patterns[j % Patterns.Length]);
            }
            if (group == "eigenvalues") AddEdgeOfStability(f, runs, i, series, rows);
        }
        return anyChange ? f : new Figure("", "", 0); // a constant (a setting echoed on every row) is not worth a plot
    }

    /// <summary>Line styles of the elements of one key (dotted is kept for the 2/lr line).</summary>
    private static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.DenselyDashed];

    private static Figure CleanNoisyFigure(IReadOnlyList<PlottedRun> runs, string series)
    {
        var f = new Figure($"probe {series}: clean vs noisy-label training examples", "fraction of examples", runs.Count * 2, logAllowed: false);
        for (int i = 0; i < runs.Count; i++)
        {
            var rows = runs[i].Probes.Where(p => p.Series == series).ToList();
            var x = rows.Select(p => (double)p.Step).ToArray();
            double[] Key(string k) => rows.Select(p => ProbeRecord.Number(p.Row[k]) ?? double.NaN).ToArray();
            int clean = runs.Count == 1 ? 0 : 2 * i, noisy = runs.Count == 1 ? 1 : 2 * i + 1;
            f.Line(clean, Name(runs, i, "clean: accuracy"), x, Key("clean_accuracy"), LinePattern.Solid);
            f.Line(clean, Name(runs, i, "clean: learned (stays correct)"), x, Key("clean_learned"), LinePattern.Dashed);
            f.Line(noisy, Name(runs, i, "noisy: accuracy on the given label"), x, Key("noisy_accuracy"), LinePattern.Solid);
            f.Line(noisy, Name(runs, i, "noisy: learned (stays correct)"), x, Key("noisy_learned"), LinePattern.Dashed);
        }
        return f;
    }

    private static string Name(IReadOnlyList<PlottedRun> runs, int i, string what) => runs.Count == 1 ? what : $"{runs[i].Label}: {what}";

    /// <summary>Lines collected first, so the y scale (linear or log) is chosen from all of them.</summary>
    private sealed class Figure(string title, string yLabel, int colours, bool logAllowed = true)
    {
        public readonly List<(int Colour, string Label, double[] X, double[] Y, LinePattern Pattern)> Lines = [];
        private readonly List<(double Y, string Label)> _horizontal = [];

        public void Line(int colour, string label, double[] x, double[] y, LinePattern pattern)
        {
            var keep = Enumerable.Range(0, x.Length).Where(k => double.IsFinite(y[k])).ToArray();
            if (keep.Length > 0) Lines.Add((colour, label, keep.Select(k => x[k]).ToArray(), keep.Select(k => y[k]).ToArray(), pattern));
        }

        public void Horizontal(double y, string label) => _horizontal.Add((y, label));

        public void Save(string path)
        {
            var all = Lines.SelectMany(l => l.Y).Concat(_horizontal.Select(h => h.Y)).ToArray();
            double min = all.Min(), max = all.Max();
            bool log = logAllowed && min > 0 && max / min > 10;
            double Shown(double y) => log ? Math.Log10(y) : y;
            var plt = StudyReport.NewPlot();
            IPalette palette = colours <= 10 ? new ScottPlot.Palettes.Category10() : new ScottPlot.Palettes.Category20();
            foreach (var l in Lines)
            {
                var line = plt.Add.ScatterLine(l.X, l.Y.Select(Shown).ToArray());
                line.Color = palette.GetColor(l.Colour);
                line.LineWidth = 2;
                line.LinePattern = l.Pattern;
                line.MarkerSize = l.X.Length <= 30 ? 5 : 0;
                line.LegendText = l.Label;
            }
            foreach (var (y, label) in _horizontal)
            {
                var h = plt.Add.HorizontalLine(Shown(y));
                h.Color = Colors.Black;
                h.LinePattern = LinePattern.Dashed;
                h.LegendText = label;
            }
            if (log)
                plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
                {
                    IntegerTicksOnly = true,
                    LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
                    MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                };
            plt.Title(title);
            plt.XLabel("step");
            plt.YLabel(log ? yLabel + " (log scale)" : yLabel);
            // Below the plot the legend shows at most five rows of two entries; more entries (the
            // clean-vs-noisy figure of three runs has twelve) go in one column on the right, all shown.
            bool many = Lines.Count + _horizontal.Count > MaxEntriesBelow;
            plt.ShowLegend(many ? Edge.Right : Edge.Bottom);
            plt.Legend.Orientation = many ? Orientation.Vertical : Orientation.Horizontal;
            AtomicFile.WriteAllBytes(path, plt.GetImageBytes(many ? WideWidth : Width, Height, ImageFormat.Png));
        }
    }

    private const int MaxEntriesBelow = 10, WideWidth = 1400;
}
