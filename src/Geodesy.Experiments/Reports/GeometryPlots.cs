using Geodesy.Core.Interop;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>PNG plots of the landscape-geometry verbs: subspace, goldilocks, criticality, stiffness (written atomically).</summary>
public static class GeometryPlots
{
    private const int Width = 900, Height = 560;

    /// <summary>Train and test accuracy against the subspace dimension d (log axis), the baseline and its 90% line, d_int90 marked.</summary>
    public static void SubspacePng(string path, string title, double[] d, double[] trainAccuracy, double[] testAccuracy, double baseline, double? dInt90)
    {
        var plt = StudyReport.NewPlot();
        var colors = new ScottPlot.Palettes.Category10();
        var x = d.Select(Math.Log10).ToArray();
        Line(plt, x, trainAccuracy, "train accuracy", colors.GetColor(0), LinePattern.Dashed);
        Line(plt, x, testAccuracy, "test accuracy", colors.GetColor(1), LinePattern.Solid);
        var full = plt.Add.HorizontalLine(baseline);
        full.Color = Colors.Gray;
        full.LegendText = $"full model (test) {baseline:F3}";
        var ninety = plt.Add.HorizontalLine(0.9 * baseline);
        ninety.Color = Colors.Gray;
        ninety.LinePattern = LinePattern.Dotted;
        ninety.LegendText = "90% of the full model";
        if (dInt90 is double di)
        {
            var mark = plt.Add.VerticalLine(Math.Log10(di));
            mark.Color = Colors.Red;
            mark.LinePattern = LinePattern.Dashed;
            mark.LegendText = $"d_int90 = {di:F0}";
        }
        LogTicks(plt.Axes.Bottom, x);
        plt.Axes.SetLimitsY(0, 1.02);
        plt.Title(title);
        plt.XLabel("subspace dimension d (log scale)");
        plt.YLabel("accuracy");
        Save(plt, path);
    }

    /// <summary>Fraction of positive eigenvalues (left axis) and Tr/‖·‖_F (right axis) of the restricted Hessian against the radius, ±1 standard error, the init radius marked.</summary>
    public static void GoldilocksPng(string path, string title, double[] radii, double[] positive, double[] positiveErr, double[] ratio, double[] ratioErr,
        double[]? reachedAccuracy, double initRadius)
    {
        var plt = StudyReport.NewPlot();
        var colors = new ScottPlot.Palettes.Category10();
        var x = radii.Select(Math.Log10).ToArray();
        Band(plt, x, positive, positiveErr, "fraction of positive eigenvalues", colors.GetColor(0), plt.Axes.Left);
        if (reachedAccuracy is not null)
            Line(plt, x, reachedAccuracy, "train accuracy reached in the hyperplane", colors.GetColor(2), LinePattern.Dashed);
        Band(plt, x, ratio, ratioErr, "Tr(H_sub) / ||H_sub||_F (right axis)", colors.GetColor(1), plt.Axes.Right);
        var init = plt.Add.VerticalLine(Math.Log10(initRadius));
        init.Color = Colors.Red;
        init.LinePattern = LinePattern.Dashed;
        init.LegendText = $"init radius {initRadius:G3}";
        LogTicks(plt.Axes.Bottom, x);
        plt.Axes.SetLimitsY(-0.02, 1.02, plt.Axes.Left);
        plt.Title(title);
        plt.XLabel("radius ||θ|| of the rescaled initialization (log scale)");
        plt.Axes.Left.Label.Text = "fraction positive, accuracy";
        plt.Axes.Right.Label.Text = "Tr / Frobenius norm";
        Save(plt, path);
    }

    /// <summary>One bar per module (criticality, log scale when it spans decades); infeasible modules are labelled, not drawn.</summary>
    public static void CriticalityPng(string path, string title, string[] modules, double?[] values)
    {
        var plt = StudyReport.NewPlot();
        var finite = values.Where(v => v is double x && double.IsFinite(x)).Select(v => v!.Value).ToArray();
        var bars = new List<Bar>();
        for (int i = 0; i < modules.Length; i++)
        {
            double v = values[i] is double x && double.IsFinite(x) ? x : 0;
            bars.Add(new Bar { Position = i, Value = v, Size = 0.6, FillColor = new ScottPlot.Palettes.Category10().GetColor(0) });
            var label = plt.Add.Text(values[i] is double y ? y.ToString("G4", System.Globalization.CultureInfo.InvariantCulture) : "infeasible", i, v);
            label.LabelAlignment = Alignment.LowerCenter;
            label.LabelFontSize = 13;
        }
        plt.Add.Bars(bars);
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, modules.Length).Select(i => (double)i).ToArray(), modules);
        double top = finite.DefaultIfEmpty(1).Max();
        plt.Axes.SetLimitsY(0, top > 0 ? top * 1.2 : 1);
        plt.Axes.SetLimitsX(-0.6, modules.Length - 0.4);
        plt.Title(title);
        plt.YLabel("module criticality μ_i");
        plt.Grid.XAxisStyle.IsVisible = false;
        Save(plt, path, legend: false);
    }

    /// <summary>A class-by-class heat map of a stiffness matrix (colour range [-1, 1]), each cell labelled with its value.</summary>
    public static void ClassMatrixPng(string path, string title, double[,] matrix, string valueLabel)
    {
        var plt = StudyReport.NewPlot();
        int k = matrix.GetLength(0);
        // The heat map draws row 0 at the top: class 0 of the rows then sits at the top, as in a confusion matrix.
        var heat = plt.Add.Heatmap(matrix);
        heat.Colormap = new ScottPlot.Colormaps.Balance();
        heat.ManualRange = new ScottPlot.Range(-1, 1);
        heat.Rectangle = new CoordinateRect(-0.5, k - 0.5, -0.5, k - 0.5); // the cell edges (Extent would be the cell centres)
        var bar = plt.Add.ColorBar(heat);
        bar.Label = valueLabel;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
            {
                double v = matrix[a, b];
                var text = plt.Add.Text(double.IsFinite(v) ? v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "–", b, k - 1 - a);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = k > 12 ? 8 : 11;
                text.LabelFontColor = Colors.Black;
            }
        var ticks = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, ticks.Select(t => t.ToString("F0")).ToArray());
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.Select(t => k - 1 - t).ToArray(), ticks.Select(t => t.ToString("F0")).ToArray());
        plt.Axes.SetLimits(-0.5, k - 0.5, -0.5, k - 0.5);
        plt.Title(title);
        plt.XLabel("class of example j");
        plt.YLabel("class of example i");
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Height + 140, Height, ImageFormat.Png));
    }

    /// <summary>Mean cosine stiffness against the input distance (bin centres): all pairs, same-class and different-class pairs.</summary>
    public static void DistancePng(string path, string title, double[] centres, double[] all, double[] same, double[] diff)
    {
        var plt = StudyReport.NewPlot();
        var colors = new ScottPlot.Palettes.Category10();
        Line(plt, centres, all, "all pairs", colors.GetColor(0), LinePattern.Solid);
        Line(plt, centres, same, "same class", colors.GetColor(2), LinePattern.Dashed);
        Line(plt, centres, diff, "different classes", colors.GetColor(3), LinePattern.Dashed);
        var zero = plt.Add.HorizontalLine(0);
        zero.Color = Colors.Black.WithAlpha(0.5);
        zero.LineWidth = 1;
        plt.Title(title);
        plt.XLabel("input-space distance ||x_i - x_j||");
        plt.YLabel("mean cosine stiffness");
        Save(plt, path);
    }

    private static void Line(Plot plt, double[] x, double[] y, string label, Color color, LinePattern pattern, IYAxis? axis = null)
    {
        var keep = Enumerable.Range(0, x.Length).Where(i => double.IsFinite(y[i])).ToArray();
        var line = plt.Add.ScatterLine(keep.Select(i => x[i]).ToArray(), keep.Select(i => y[i]).ToArray());
        line.Color = color;
        line.LineWidth = 2;
        line.MarkerSize = 7;
        line.LinePattern = pattern;
        line.LegendText = label;
        if (axis is not null) line.Axes.YAxis = axis;
    }

    private static void Band(Plot plt, double[] x, double[] y, double[] err, string label, Color color, IYAxis axis)
    {
        var keep = Enumerable.Range(0, x.Length).Where(i => double.IsFinite(y[i]) && double.IsFinite(err[i])).ToArray();
        if (keep.Length > 1)
        {
            var fill = plt.Add.FillY(keep.Select(i => x[i]).ToArray(), keep.Select(i => y[i] - err[i]).ToArray(), keep.Select(i => y[i] + err[i]).ToArray());
            fill.FillColor = color.WithAlpha(0.2);
            fill.LineWidth = 0;
            fill.Axes.YAxis = axis;
        }
        Line(plt, x, y, label, color, LinePattern.Solid, axis);
    }

    /// <summary>Ticks at the data's log10 positions labelled with the values themselves.</summary>
    private static void LogTicks(IAxis axis, double[] log10)
    {
        var positions = log10.Distinct().Order().ToArray();
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions,
            positions.Select(p => Math.Round(Math.Pow(10, p), 6).ToString("0.######", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }

    private static void Save(Plot plt, string path, bool legend = true)
    {
        if (legend)
        {
            plt.ShowLegend(Edge.Bottom);
            plt.Legend.Orientation = Orientation.Horizontal;
        }
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Width, Height, ImageFormat.Png));
    }
}
