using System.Globalization;
using System.Net;
using System.Text;
using Geodesy.Core.Interop;
using Geodesy.Core.Stats;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>
/// Writes a self-contained HTML report (no CDN; PNGs beside it and embedded as data URIs) with
/// the ranking table, bar charts of tau / Psi / CMI with intervals, scatter plots of the top
/// measures against the generalization gap, training curves and the models table.
/// </summary>
public static class StudyReport
{
    public const string HtmlFile = "report.html";
    private const int Width = 900, Height = 420;
    /// <summary>τ and Ψ lie in [-1, 1]: a fixed axis lets readers compare charts and studies at a glance.</summary>
    private static readonly (double, double) CorrelationRange = (-1.1, 1.1);

    public static IReadOnlyList<string> Write(string outDir, string title, IReadOnlyList<PopulationModel> models,
        IReadOnlyList<RankingRow> ranking, IReadOnlyList<TrainingCurve> curves, IReadOnlyDictionary<string, string> summary)
    {
        Directory.CreateDirectory(outDir);
        var images = new List<(string File, string Caption)>();
        var ranked = ranking.Where(r => double.IsFinite(r.KendallTau)).ToList();

        if (ranked.Count > 0)
        {
            images.Add((BarChart(outDir, "tau.png", "Kendall τ with the generalization gap (95% bootstrap interval)", ranked,
                r => r.KendallTau, r => (r.TauCi.Lower, r.TauCi.Upper), "Kendall τ", CorrelationRange), "Kendall τ between each measure and the gap"));
            images.Add((BarChart(outDir, "psi.png", "Granulated Kendall Ψ", ranked, r => r.Psi, null, "Ψ", CorrelationRange), "Granulated Ψ (mean over hyperparameters)"));
            images.Add((BarChart(outDir, "cmi.png", "Conditional mutual information score", ranked, r => r.Cmi, null, "CMI", null), "CMI: min over conditioning sets, normalized"));
        }
        var top = ranked.Where(r => r.Kind != RowKind.Baseline).OrderByDescending(r => Math.Abs(r.KendallTau)).Take(4).ToList();
        foreach (var r in top)
        {
            var pts = models.Where(m => m.Measures.TryGetValue(r.Measure, out var v) && double.IsFinite(v)).ToList();
            if (pts.Count < 2) continue;
            string file = $"scatter-{Slug(r.Measure)}.png";
            var plt = NewPlot();
            var sc = plt.Add.ScatterPoints(pts.Select(m => m.Measures[r.Measure]).ToArray(), pts.Select(m => m.Gap).ToArray());
            sc.MarkerSize = 8;
            plt.Title($"{r.Measure} vs gap (τ = {r.KendallTau:F3})");
            plt.XLabel(r.Measure);
            plt.YLabel("train acc − test acc");
            plt.SavePng(Path.Combine(outDir, file), Width, Height);
            images.Add((file, $"{r.Measure} against the generalization gap"));
        }
        if (curves.Count > 0)
        {
            var plt = NewPlot();
            foreach (var c in curves)
            {
                var rows = c.Rows.Where(x => double.IsFinite(x.TrainLoss)).ToList();
                if (rows.Count == 0) continue;
                var line = plt.Add.ScatterLine(rows.Select(x => (double)x.Step).ToArray(), rows.Select(x => Math.Log10(Math.Max(1e-6, x.TrainLoss))).ToArray());
                line.LineWidth = 1;
            }
            plt.Title("Training curves: log10 train cross-entropy");
            plt.XLabel("step");
            plt.YLabel("log10 train loss");
            plt.SavePng(Path.Combine(outDir, "curves.png"), Width, Height);
            images.Add(("curves.png", "Training curves of every model"));
        }

        var html = Html(outDir, title, models, ranking, images, summary);
        AtomicFile.WriteAllText(Path.Combine(outDir, HtmlFile), html);
        return images.Select(i => i.File).Prepend(HtmlFile).ToList();
    }

    private static string BarChart(string dir, string file, string title, IReadOnlyList<RankingRow> rows,
        Func<RankingRow, double> value, Func<RankingRow, (double Low, double High)>? interval, string yLabel, (double Low, double High)? yRange)
    {
        var plt = NewPlot();
        var bars = new List<Bar>();
        var (errX, errY, errLow, errHigh) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (int i = 0; i < rows.Count; i++)
        {
            double v = value(rows[i]);
            if (!double.IsFinite(v)) v = 0;
            bars.Add(new Bar { Position = i, Value = v, FillColor = rows[i].Kind == RowKind.Baseline ? Colors.Gray : Colors.SteelBlue });
            if (interval?.Invoke(rows[i]) is var (lo, hi) && double.IsFinite(lo) && double.IsFinite(hi))
            {
                // The bootstrap interval need not be centred on (or even contain) the estimate: draw its ends as they are.
                errX.Add(i);
                errY.Add(v);
                errLow.Add(Math.Max(0, v - lo));
                errHigh.Add(Math.Max(0, hi - v));
            }
        }
        plt.Add.Bars(bars);
        if (errX.Count > 0)
        {
            var err = plt.Add.ErrorBar(errX, errY, errHigh);
            err.YErrorNegative = errLow;
            err.YErrorPositive = errHigh;
            err.Color = Colors.Black;
            err.LineWidth = 1.5f;
        }
        var bottom = plt.Axes.Bottom;
        bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(r => r.Measure).ToArray());
        bottom.TickLabelStyle.Rotation = 45;
        bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        bottom.MajorTickStyle.Length = 0; // a tick mark would run into the rotated label
        // Room for the longest rotated label (about 7 px per character at 45 degrees) so none is cut off.
        int labelRoom = 30 + (int)(7 * rows.Max(r => r.Measure.Length) * Math.Sin(Math.PI / 4));
        bottom.MinimumSize = labelRoom;
        plt.Axes.Right.MinimumSize = labelRoom / 2; // the last label runs to the right of its bar
        plt.Axes.Margins(horizontal: 0.02, vertical: 0);
        if (yRange is var (yLow, yHigh)) plt.Axes.SetLimitsY(yLow, yHigh);
        else plt.Axes.SetLimitsY(Math.Min(0, bars.Min(b => b.Value)), 1.1 * Math.Max(1e-9, bars.Max(b => b.Value)));
        plt.YLabel(yLabel);
        plt.Title(title);
        plt.SavePng(Path.Combine(dir, file), Math.Max(Width, 48 * rows.Count + 160), Height + labelRoom);
        return file;
    }

    /// <summary>A plot in a sans-serif font that is installed.</summary>
    private static Plot NewPlot()
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

    private static string Html(string dir, string title, IReadOnlyList<PopulationModel> models, IReadOnlyList<RankingRow> ranking,
        List<(string File, string Caption)> images, IReadOnlyDictionary<string, string> summary)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        static string F(double x, string fmt = "F3") => double.IsFinite(x) ? x.ToString(fmt, CultureInfo.InvariantCulture) : "—";
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title><style>")
          .Append("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}")
          .Append("th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}")
          .Append("tr.baseline td{color:#666;font-style:italic}figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}")
          .Append("</style></head><body>");
        sb.Append("<h1>").Append(E(title)).Append("</h1>");
        sb.Append("<table id=\"summary\">");
        foreach (var (k, v) in summary) sb.Append("<tr><th class=\"l\">").Append(E(k)).Append("</th><td class=\"l\">").Append(E(v)).Append("</td></tr>");
        sb.Append("</table>");

        var hparamNames = ranking.SelectMany(r => r.PsiPerHparam.Keys).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToList();
        sb.Append("<h2>Ranking</h2><p>Kendall τ between each measure and the generalization gap (train − test accuracy) over all models, ")
          .Append("its 95% bootstrap interval, the granulated Ψ and its per-hyperparameter terms, and the conditional mutual information score (Jiang et al. 2020). ")
          .Append("Rows in grey are baselines.</p>");
        sb.Append("<table id=\"ranking\"><tr><th class=\"l\">measure</th><th>τ</th><th>τ interval</th><th>Ψ</th>");
        foreach (var h in hparamNames) sb.Append("<th>ψ ").Append(E(h)).Append("</th>");
        sb.Append("<th>CMI</th><th>models</th></tr>");
        foreach (var r in ranking)
        {
            sb.Append(r.Kind == RowKind.Baseline ? "<tr class=\"baseline\">" : "<tr>")
              .Append("<td class=\"l\">").Append(E(r.Measure)).Append("</td><td>").Append(F(r.KendallTau)).Append("</td><td>[")
              .Append(F(r.TauCi.Lower)).Append(", ").Append(F(r.TauCi.Upper)).Append("]</td><td>").Append(F(r.Psi)).Append("</td>");
            foreach (var h in hparamNames) sb.Append("<td>").Append(F(r.PsiPerHparam.TryGetValue(h, out var p) ? p : double.NaN)).Append("</td>");
            sb.Append("<td>").Append(F(r.Cmi, "F4")).Append("</td><td>").Append(r.N).Append("</td></tr>");
        }
        sb.Append("</table>");

        sb.Append("<h2>Plots</h2>");
        foreach (var (file, caption) in images)
        {
            string data = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, file)));
            sb.Append("<figure><img alt=\"").Append(E(caption)).Append("\" data-file=\"").Append(E(file)).Append("\" src=\"data:image/png;base64,")
              .Append(data).Append("\"><figcaption>").Append(E(caption)).Append(" (<a href=\"").Append(E(file)).Append("\">").Append(E(file)).Append("</a>)</figcaption></figure>");
        }

        var hp = models.SelectMany(m => m.Hparams.Keys).Distinct().OrderBy(x => x, StringComparer.Ordinal).ToList();
        sb.Append("<h2>Models</h2><table id=\"models\"><tr><th class=\"l\">id</th>");
        foreach (var h in hp) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("<th>train acc</th><th>test acc</th><th>gap</th></tr>");
        foreach (var m in models)
        {
            sb.Append("<tr><td class=\"l\">").Append(E(m.Id[..Math.Min(12, m.Id.Length)])).Append("</td>");
            foreach (var h in hp) sb.Append("<td>").Append(E(m.Hparams.TryGetValue(h, out var v) ? v : "")).Append("</td>");
            sb.Append("<td>").Append(F(m.TrainAccuracy, "P2")).Append("</td><td>").Append(F(m.TestAccuracy, "P2")).Append("</td><td>").Append(F(m.Gap, "F4")).Append("</td></tr>");
        }
        sb.Append("</table><p>Generated by Geodesy ").Append(E(Core.Provenance.Version)).Append(" (git ").Append(E(Core.Provenance.GitCommit)).Append(").</p></body></html>\n");
        return sb.ToString();
    }

    private static string Slug(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
