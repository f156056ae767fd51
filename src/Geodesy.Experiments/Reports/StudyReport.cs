using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core.Interop;
using Geodesy.Core.Stats;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>
/// Writes a self-contained HTML report (no CDN; PNGs beside it and embedded as data URIs): the
/// study's grid and stopping rule, the ranking table (one population), the partial ranking
/// (measures missing on some models, each on its own models), the excluded trials, horizontal bar
/// charts of τ / Ψ / CMI sorted by value, a heat map of ψ per hyperparameter, scatter plots of the
/// top measures against the gap coloured by a hyperparameter, training curves and the models table.
/// </summary>
public static class StudyReport
{
    public const string HtmlFile = "report.html";
    private const int Width = 900, ScatterHeight = 460;
    /// <summary>Vertical room per bar or heat-map row: enough for a 13 px label.</summary>
    private const int RowPixels = 26;
    /// <summary>τ and Ψ lie in [-1, 1]: a fixed axis lets readers compare charts and studies at a glance.</summary>
    private static readonly (double, double) CorrelationRange = (-1.05, 1.05);
    private static readonly Color MeasureColor = Colors.SteelBlue, BaselineColor = Colors.Gray;

    public static IReadOnlyList<string> Write(string outDir, string title, Population population, RankingTable table,
        IReadOnlyDictionary<string, string> summary)
    {
        Directory.CreateDirectory(outDir);
        var images = new List<(string File, string Caption)>();
        var rows = table.Rows;
        var withTau = rows.Where(r => double.IsFinite(r.KendallTau)).ToList();
        var note = $"{table.Models} models";

        if (rows.Count > 0)
        {
            images.Add((BarChart(outDir, "tau.png", $"Kendall τ-b with the generalization gap ({note}, 95% bootstrap interval)", rows,
                r => r.KendallTau, r => (r.TauCi.Lower, r.TauCi.Upper), "Kendall τ-b", CorrelationRange),
                "Kendall τ-b between each measure and the gap, sorted; bars in grey are baselines"));
            images.Add((BarChart(outDir, "psi.png", $"Granulated Kendall Ψ ({table.PsiName}, {note}, 95% bootstrap interval)", rows,
                r => r.Psi, r => (r.PsiCi.Lower, r.PsiCi.Upper), "Ψ", CorrelationRange),
                "Granulated Ψ: the mean over hyperparameters of ψ_i, sorted"));
            images.Add((BarChart(outDir, "cmi.png", $"Conditional mutual information score K ({note})", rows,
                r => r.Cmi, null, "K (normalized CMI, min over conditioning sets)", null),
                "CMI: min over conditioning sets of the normalized conditional mutual information, sorted"));
            if (rows.Any(r => r.PsiPerHparam.Count > 0))
                images.Add((PsiHeatMap(outDir, "psi-per-hparam.png", rows), "ψ_i per hyperparameter: does the measure track the gap when only that hyperparameter changes?"));
        }

        var top = withTau.Where(r => r.Kind != RowKind.Baseline).OrderByDescending(r => Math.Abs(r.KendallTau)).Take(4).ToList();
        string? colourBy = ColourHyperparameter(population.Models);
        foreach (var r in top)
        {
            string file = $"scatter-{Slug(r.Measure)}.png";
            Scatter(outDir, file, population.Models, r, colourBy);
            images.Add((file, $"{r.Measure} against the generalization gap" + (colourBy is null ? "" : $", coloured by {colourBy}")));
        }
        if (population.Curves.Count > 0)
        {
            var plt = NewPlot();
            foreach (var c in population.Curves)
            {
                var points = c.Rows.Where(x => double.IsFinite(x.TrainLoss) && x.TrainLoss > 0).ToList();
                if (points.Count == 0) continue;
                var line = plt.Add.ScatterLine(points.Select(x => (double)x.Step).ToArray(), points.Select(x => Math.Log10(x.TrainLoss)).ToArray());
                line.LineWidth = 1;
                line.MarkerSize = 0;
            }
            if (StoppingLoss(population.SweepSpec) is { } goal)
            {
                var h = plt.Add.HorizontalLine(Math.Log10(goal));
                h.LinePattern = LinePattern.Dashed;
                h.Color = Colors.Black;
                h.LegendText = $"stopping rule: train cross-entropy {goal.ToString(CultureInfo.InvariantCulture)}";
                plt.ShowLegend(Alignment.UpperRight);
            }
            plt.Title("Training curves of the ranked models: log10 train cross-entropy");
            plt.XLabel("step");
            plt.YLabel("log10 train loss");
            plt.SavePng(Path.Combine(outDir, "curves.png"), Width, ScatterHeight);
            images.Add(("curves.png", "Training curves of the ranked models"));
        }

        var html = Html(outDir, title, population, table, images, summary);
        AtomicFile.WriteAllText(Path.Combine(outDir, HtmlFile), html);
        return images.Select(i => i.File).Prepend(HtmlFile).ToList();
    }

    /// <summary>Horizontal bars sorted by value (largest on top), measure names as labels on the left, whiskers for the interval.</summary>
    private static string BarChart(string dir, string file, string title, IReadOnlyList<RankingRow> rows,
        Func<RankingRow, double> value, Func<RankingRow, (double Low, double High)>? interval, string label, (double Low, double High)? range)
    {
        // Bottom to top: the smallest value first, so the largest sits at the top; undefined values at the very bottom.
        var sorted = rows.OrderBy(r => double.IsFinite(value(r)) ? 1 : 0).ThenBy(r => double.IsFinite(value(r)) ? value(r) : 0).ToList();
        var plt = NewPlot();
        var bars = new List<Bar>();
        for (int i = 0; i < sorted.Count; i++)
        {
            double v = value(sorted[i]);
            bool defined = double.IsFinite(v);
            bars.Add(new Bar
            {
                Position = i, Value = defined ? v : 0, Size = 0.7,
                FillColor = sorted[i].Kind == RowKind.Baseline ? BaselineColor : MeasureColor,
            });
            if (interval?.Invoke(sorted[i]) is var (lo, hi) && double.IsFinite(lo) && double.IsFinite(hi))
            {
                // The bootstrap interval need not be centred on (or even contain) the estimate: draw its ends as they are.
                var whisker = plt.Add.Line(lo, i, hi, i);
                whisker.Color = Colors.Black;
                whisker.LineWidth = 1.5f;
                foreach (double end in new[] { lo, hi })
                {
                    var cap = plt.Add.Line(end, i - 0.2, end, i + 0.2);
                    cap.Color = Colors.Black;
                    cap.LineWidth = 1.5f;
                }
            }
        }
        var plot = plt.Add.Bars(bars);
        plot.Horizontal = true;
        var zero = plt.Add.VerticalLine(0);
        zero.Color = Colors.Black.WithAlpha(0.6);
        zero.LineWidth = 1;
        var left = plt.Axes.Left;
        // The value goes into the label, where it never collides with a bar or a whisker.
        left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, sorted.Count).Select(i => (double)i).ToArray(),
            sorted.Select(r => $"{RowLabel(r)}  {F(value(r), "F2")}").ToArray());
        left.TickLabelStyle.FontSize = 13;
        left.MajorTickStyle.Length = 0;
        plt.Axes.SetLimitsY(-0.7, sorted.Count - 0.3);
        if (range is var (low, high)) plt.Axes.SetLimitsX(low, high);
        else plt.Axes.SetLimitsX(Math.Min(0, bars.Min(b => b.Value)), 1.15 * Math.Max(0.05, bars.Max(b => b.Value)));
        plt.XLabel(label);
        plt.Title(title);
        plt.Grid.YAxisStyle.IsVisible = false;
        plt.SavePng(Path.Combine(dir, file), Width, 110 + RowPixels * sorted.Count);
        return file;
    }

    /// <summary>Measures × hyperparameters, colour = ψ_i on a blue-white-red scale, the value written in each cell.</summary>
    private static string PsiHeatMap(string dir, string file, IReadOnlyList<RankingRow> rows)
    {
        var hparams = rows.SelectMany(r => r.PsiPerHparam.Keys).Distinct().OrderBy(h => h, StringComparer.Ordinal).ToList();
        var sorted = rows.OrderBy(r => double.IsFinite(r.Psi) ? r.Psi : double.NegativeInfinity).ToList(); // best Ψ on top
        var plt = NewPlot();
        for (int i = 0; i < sorted.Count; i++)
            for (int j = 0; j < hparams.Count; j++)
            {
                double v = sorted[i].PsiPerHparam.TryGetValue(hparams[j], out var p) ? p : double.NaN;
                var cell = plt.Add.Rectangle(j - 0.5, j + 0.5, i - 0.5, i + 0.5);
                cell.FillColor = Diverging(v);
                cell.LineColor = Colors.White;
                cell.LineWidth = 1;
                var text = plt.Add.Text(double.IsFinite(v) ? v.ToString("F2", CultureInfo.InvariantCulture) : "n/a", j, i);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 12;
                text.LabelFontColor = double.IsFinite(v) && Math.Abs(v) > 0.6 ? Colors.White : Colors.Black;
            }
        var left = plt.Axes.Left;
        left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, sorted.Count).Select(i => (double)i).ToArray(),
            sorted.Select(RowLabel).ToArray());
        left.TickLabelStyle.FontSize = 13;
        left.MajorTickStyle.Length = 0;
        var bottom = plt.Axes.Bottom;
        bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, hparams.Count).Select(j => (double)j).ToArray(), hparams.ToArray());
        bottom.TickLabelStyle.FontSize = 13;
        bottom.MajorTickStyle.Length = 0;
        plt.Axes.SetLimits(-0.5, hparams.Count - 0.5, -0.5, sorted.Count - 0.5);
        plt.Grid.IsVisible = false;
        plt.Title("ψ_i per hyperparameter, rows sorted by Ψ");
        plt.XLabel("hyperparameter changed, all others fixed (blue −1, white 0, red +1)");
        plt.SavePng(Path.Combine(dir, file), Math.Max(840, 340 + 130 * hparams.Count), 120 + RowPixels * sorted.Count);
        return file;
    }

    private static string RowLabel(RankingRow r) => r.Kind == RowKind.Baseline ? r.Measure + " (baseline)" : r.Measure;

    private static void Scatter(string dir, string file, IReadOnlyList<PopulationModel> models, RankingRow row, string? colourBy)
    {
        var pts = models.Where(m => m.Usable(row.Measure) is not null && double.IsFinite(m.Gap)).ToList();
        var plt = NewPlot();
        List<IGrouping<string, PopulationModel>> groups = colourBy is null
            ? pts.GroupBy(_ => "").ToList()
            : pts.GroupBy(m => m.Hparams[colourBy]).OrderBy(g => NumericOrText(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        foreach (var g in groups)
        {
            var sc = plt.Add.ScatterPoints(g.Select(m => m.Usable(row.Measure)!.Value).ToArray(), g.Select(m => m.Gap).ToArray());
            sc.MarkerSize = 9;
            sc.Color = palette.GetColor(k++);
            if (colourBy is not null) sc.LegendText = $"{colourBy} = {g.Key}";
        }
        if (colourBy is not null) plt.ShowLegend(Alignment.UpperLeft);
        plt.Title($"{row.Measure} vs gap (τ-b = {row.KendallTau.ToString("F3", CultureInfo.InvariantCulture)}, Ψ = {F(row.Psi)}, {pts.Count} models)");
        plt.XLabel(row.Measure);
        plt.YLabel("gap = train acc − test acc");
        plt.SavePng(Path.Combine(dir, file), Width, ScatterHeight);
    }

    /// <summary>The hyperparameter that moves the gap most (largest |τ-a| between its value rank and the gap), for colouring the scatters.</summary>
    private static string? ColourHyperparameter(IReadOnlyList<PopulationModel> models)
    {
        var usable = models.Where(m => double.IsFinite(m.Gap)).ToList();
        if (usable.Count < 2) return null;
        var gap = usable.Select(m => m.Gap).ToArray();
        string? best = null;
        double bestTau = -1;
        foreach (string h in usable[0].Hparams.Keys.OrderBy(h => h, StringComparer.Ordinal))
        {
            var values = usable.Select(m => m.Hparams[h]).Distinct().OrderBy(NumericOrText).ThenBy(v => v, StringComparer.Ordinal).ToList();
            if (values.Count < 2) continue;
            double tau = Math.Abs(KendallTau.TauA(usable.Select(m => (double)values.IndexOf(m.Hparams[h])).ToArray(), gap));
            if (tau > bestTau) { bestTau = tau; best = h; }
        }
        return best;
    }

    private static double NumericOrText(string v) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : double.PositiveInfinity;

    /// <summary>Blue (−1) to white (0) to red (+1); grey for undefined.</summary>
    private static Color Diverging(double v)
    {
        if (!double.IsFinite(v)) return Colors.LightGray;
        double t = Math.Clamp(v, -1, 1);
        var (r, g, b) = t < 0
            ? Lerp((255, 255, 255), (33, 102, 172), -t)
            : Lerp((255, 255, 255), (178, 24, 43), t);
        return new Color((byte)r, (byte)g, (byte)b);
    }

    private static (double, double, double) Lerp((double R, double G, double B) a, (double R, double G, double B) b, double t) =>
        (a.R + (b.R - a.R) * t, a.G + (b.G - a.G) * t, a.B + (b.B - a.B) * t);

    /// <summary>A plot in a sans-serif font that the system has.</summary>
    internal static Plot NewPlot()
    {
        var plt = new Plot();
        plt.Font.Set(SansFont.Value);
        return plt;
    }

    // ScottPlot's Fonts.Sans falls back to the system default typeface, which on Debian is DejaVu Serif:
    // ask for common sans families by name and keep the first that the system really has.
    private static readonly Lazy<string> SansFont = new(() =>
        new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica" }
            .FirstOrDefault(f => Fonts.GetTypeface(f, false, false).FamilyName == f) ?? Fonts.Sans);

    private static double? StoppingLoss(JsonObject sweep) =>
        sweep["base"]?["until_loss"] is JsonValue v && v.TryGetValue<double>(out double x) ? x : null;

    /// <summary>The design of the study in words: the grid, the seeds, the stopping rule, the measure settings.</summary>
    private static List<(string Key, string Value)> Design(JsonObject sweep)
    {
        var lines = new List<(string, string)>();
        if (sweep["grid"] is JsonObject grid && grid.Count > 0)
        {
            int product = grid.Select(kv => kv.Value is JsonArray a ? a.Count : 1).Aggregate(1, (x, y) => x * y);
            lines.Add(("grid", string.Join(" × ", grid.Select(kv => $"{kv.Key} ∈ {{{string.Join(", ", (kv.Value as JsonArray ?? []).Select(v => v?.ToJsonString().Trim('"')))}}}"))
                + $" ({product} combinations)"));
        }
        if (sweep["random"]?["count"] is JsonValue rc && rc.TryGetValue<int>(out int count) && count > 0)
            lines.Add(("random search", $"{count} draws of {string.Join(", ", (sweep["random"]?["params"] as JsonObject ?? []).Select(kv => kv.Key))}"));
        if (sweep["seeds"] is JsonArray seeds) lines.Add(("seeds", string.Join(", ", seeds.Select(s => s?.ToJsonString()))));
        var b = sweep["base"] as JsonObject ?? [];
        if (StoppingLoss(sweep) is { } goal)
            lines.Add(("stopping rule", $"train until the train cross-entropy is below {goal.ToString(CultureInfo.InvariantCulture)} " +
                $"(at most {b["max_epochs"]?.ToJsonString() ?? "100"} epochs; a trial that runs out is 'max-epochs' and is not ranked by default)"));
        else
            lines.Add(("stopping rule", $"a fixed {b["epochs"]?.ToJsonString() ?? "10"} epochs (no loss target)"));
        var fixedSettings = b.Where(kv => kv.Key is not ("until_loss" or "max_epochs" or "epochs")).Select(kv => $"{kv.Key} {kv.Value?.ToJsonString().Trim('"')}");
        lines.Add(("fixed settings", string.Join(", ", fixedSettings)));
        lines.Add(("measures", $"{(string?)sweep["measures"] ?? "all"} on " +
            ((int?)sweep["measure_examples"] is > 0 and var n ? $"{n} training examples" : "the whole training set")));
        return lines;
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
    private static string F(double x, string fmt = "F3") => double.IsFinite(x) ? x.ToString(fmt, CultureInfo.InvariantCulture) : "—";

    private static string Html(string dir, string title, Population population, RankingTable table,
        List<(string File, string Caption)> images, IReadOnlyDictionary<string, string> summary)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title><style>")
          .Append("body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}table{border-collapse:collapse;margin:1em 0}")
          .Append("th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}")
          .Append("tr.baseline td{color:#666;font-style:italic}figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}")
          .Append("p.note{color:#555;max-width:60em}")
          .Append("</style></head><body>");
        sb.Append("<h1>").Append(E(title)).Append("</h1>");
        sb.Append("<table id=\"design\">");
        foreach (var (k, v) in Design(population.SweepSpec)) sb.Append("<tr><th class=\"l\">").Append(E(k)).Append("</th><td class=\"l\">").Append(E(v)).Append("</td></tr>");
        foreach (var (k, v) in summary) sb.Append("<tr><th class=\"l\">").Append(E(k)).Append("</th><td class=\"l\">").Append(E(v)).Append("</td></tr>");
        sb.Append("</table>");

        var hparamNames = table.Rows.Concat(table.Partial).SelectMany(r => r.PsiPerHparam.Keys).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToList();
        sb.Append("<h2>Ranking</h2><p class=\"note\">Over the ").Append(table.Models)
          .Append(population.Options.IncludeUnconverged ? " trained models (unconverged trials and values included on request)" : " models that met the stopping rule")
          .Append(", every measure here has a usable value on every model. τ-b and τ-a: Kendall's coefficients between the measure and the generalization gap (train − test accuracy); ")
          .Append("its 95% bootstrap interval; Ψ (").Append(E(table.PsiName)).Append(") and its per-hyperparameter terms ψ_i; K: the conditional mutual information score (Jiang et al. 2020). ")
          .Append("Rows in grey are baselines.</p>");
        RankingTableHtml(sb, "ranking", table.Rows, hparamNames, partial: false);

        if (table.Partial.Count > 0)
        {
            sb.Append("<h2>Partial ranking</h2><p class=\"note\">Measures missing (skipped, not converged or not computed) on some of the models above. ")
              .Append("Each is ranked on the models that have it, a sub-population selected by the missing values, so these numbers are not comparable with the ranking above.</p>");
            RankingTableHtml(sb, "partial", table.Partial, hparamNames, partial: true);
        }

        sb.Append("<h2>Excluded trials</h2>");
        if (population.Excluded.Count == 0) sb.Append("<p class=\"note\">None: every trial of the sweep is ranked.</p>");
        else
        {
            sb.Append("<p class=\"note\">").Append(population.Excluded.Count).Append(" trial(s) of the sweep are not ranked: ")
              .Append(E(string.Join(", ", population.Excluded.GroupBy(e => e.Status).Select(g => $"{g.Count()} {g.Key}"))))
              .Append(population.Options.IncludeUnconverged ? "." : ". <code>--include-unconverged</code> ranks max-epochs trials too.").Append("</p>");
            sb.Append("<table id=\"excluded\"><tr><th class=\"l\">id</th><th class=\"l\">status</th><th class=\"l\">reason</th></tr>");
            foreach (var e in population.Excluded)
                sb.Append("<tr><td class=\"l\">").Append(E(e.Id[..Math.Min(12, e.Id.Length)])).Append("</td><td class=\"l\">").Append(E(e.Status))
                  .Append("</td><td class=\"l\">").Append(E(e.Reason)).Append("</td></tr>");
            sb.Append("</table>");
        }

        sb.Append("<h2>Plots</h2>");
        foreach (var (file, caption) in images)
        {
            string data = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, file)));
            sb.Append("<figure><img alt=\"").Append(E(caption)).Append("\" data-file=\"").Append(E(file)).Append("\" src=\"data:image/png;base64,")
              .Append(data).Append("\"><figcaption>").Append(E(caption)).Append(" (<a href=\"").Append(E(file)).Append("\">").Append(E(file)).Append("</a>)</figcaption></figure>");
        }

        var models = population.Models;
        var hp = models.SelectMany(m => m.Hparams.Keys).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToList();
        sb.Append("<h2>Models</h2><table id=\"models\"><tr><th class=\"l\">id</th><th class=\"l\">status</th>");
        foreach (var h in hp) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("<th>train acc</th><th>test acc</th><th>gap</th></tr>");
        foreach (var m in models)
        {
            sb.Append("<tr><td class=\"l\">").Append(E(m.Id[..Math.Min(12, m.Id.Length)])).Append("</td><td class=\"l\">")
              .Append(E(population.ModelStatus.GetValueOrDefault(m.Id) ?? "")).Append("</td>");
            foreach (var h in hp) sb.Append("<td>").Append(E(m.Hparams.TryGetValue(h, out var v) ? v : "")).Append("</td>");
            sb.Append("<td>").Append(F(m.TrainAccuracy, "P2")).Append("</td><td>").Append(F(m.TestAccuracy, "P2")).Append("</td><td>").Append(F(m.Gap, "F4")).Append("</td></tr>");
        }
        sb.Append("</table><p>Generated by Geodesy ").Append(E(Core.Provenance.Version)).Append(" (git ").Append(E(Core.Provenance.GitCommit)).Append(").</p></body></html>\n");
        return sb.ToString();
    }

    private static void RankingTableHtml(StringBuilder sb, string id, IReadOnlyList<RankingRow> rows, IReadOnlyList<string> hparamNames, bool partial)
    {
        sb.Append("<table id=\"").Append(id).Append("\"><tr><th class=\"l\">measure</th><th>τ-b</th><th>τ interval</th><th>τ-a</th><th>Ψ</th>");
        foreach (var h in hparamNames) sb.Append("<th>ψ ").Append(E(h)).Append("</th>");
        sb.Append("<th>K (CMI)</th><th>models</th>");
        if (partial) sb.Append("<th class=\"l\">missing on</th>");
        sb.Append("</tr>");
        foreach (var r in rows)
        {
            sb.Append(r.Kind == RowKind.Baseline ? "<tr class=\"baseline\">" : "<tr>")
              .Append("<td class=\"l\">").Append(E(r.Measure)).Append("</td><td>").Append(F(r.KendallTau)).Append("</td><td>[")
              .Append(F(r.TauCi.Lower)).Append(", ").Append(F(r.TauCi.Upper)).Append("]</td><td>").Append(F(r.KendallTauA)).Append("</td><td>").Append(F(r.Psi)).Append("</td>");
            foreach (var h in hparamNames) sb.Append("<td>").Append(F(r.PsiPerHparam.TryGetValue(h, out var p) ? p : double.NaN)).Append("</td>");
            sb.Append("<td>").Append(F(r.Cmi, "F4")).Append("</td><td>").Append(r.N).Append("</td>");
            if (partial)
                sb.Append("<td class=\"l\">").Append(E(string.Join("; ", (r.Missing ?? new Dictionary<string, int>()).Select(kv => $"{kv.Value} ({kv.Key})")))).Append("</td>");
            sb.Append("</tr>");
        }
        sb.Append("</table>");
    }

    internal static string Slug(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
