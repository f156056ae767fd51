using Geodesy.Core.Interop;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>PNG plots of landscape slices and paths (written atomically).</summary>
public static class LandscapePlots
{
    private const int Width = 900, Height = 560;

    /// <summary>Loss (left axis) and accuracy (right axis) of train and test against α or t.</summary>
    public static void LinePng(string path, string title, string xLabel, double[] x,
        double[] trainLoss, double[] testLoss, double[] trainSecond, double[] testSecond, string secondLabel, string lossLabel = "loss")
    {
        var plt = StudyReport.NewPlot();
        var colors = new ScottPlot.Palettes.Category10();
        AddLine(plt, x, trainLoss, "train " + lossLabel, colors.GetColor(0), LinePattern.Solid, plt.Axes.Left);
        AddLine(plt, x, testLoss, "test " + lossLabel, colors.GetColor(1), LinePattern.Solid, plt.Axes.Left);
        AddLine(plt, x, trainSecond, "train " + secondLabel, colors.GetColor(0), LinePattern.Dashed, plt.Axes.Right);
        AddLine(plt, x, testSecond, "test " + secondLabel, colors.GetColor(1), LinePattern.Dashed, plt.Axes.Right);
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.Axes.Left.Label.Text = "cross-entropy " + lossLabel + " (solid)";
        plt.Axes.Right.Label.Text = secondLabel + " (dashed)";
        // Below the plot, so it never hides a curve.
        plt.ShowLegend(Edge.Bottom);
        plt.Legend.Orientation = Orientation.Horizontal;
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>One curve of <see cref="SeriesPng"/>: its values, legend text, colour index, and whether it belongs to the right axis or is dashed.</summary>
    public sealed record Series(string Label, double[] Y, int Color, bool RightAxis = false, bool Dashed = false);

    /// <summary>
    /// Curves against x with markers at the points, left and right axes starting at 0 (for
    /// non-negative quantities such as barriers) and spanning at least <paramref name="minimumSpan"/>,
    /// so a curve of zeros reads as zero rather than as noise.
    /// </summary>
    public static void SeriesPng(string path, string title, string xLabel, double[] x, IReadOnlyList<Series> series,
        string leftLabel, string rightLabel, double minimumSpan = 0.01)
    {
        var plt = StudyReport.NewPlot();
        var colors = new ScottPlot.Palettes.Category10();
        foreach (var s in series)
        {
            AddLine(plt, x, s.Y, s.Label, colors.GetColor(s.Color), s.Dashed ? LinePattern.Dashed : LinePattern.Solid, s.RightAxis ? plt.Axes.Right : plt.Axes.Left);
            ((ScottPlot.Plottables.Scatter)plt.GetPlottables().Last()).MarkerSize = 6;
        }
        double Top(bool right) => Math.Max(minimumSpan, series.Where(s => s.RightAxis == right).SelectMany(s => s.Y).Where(double.IsFinite).DefaultIfEmpty(0).Max());
        double Bottom(bool right) => Math.Min(0, series.Where(s => s.RightAxis == right).SelectMany(s => s.Y).Where(double.IsFinite).DefaultIfEmpty(0).Min());
        plt.Axes.SetLimitsY(Bottom(false) - 0.05 * Top(false), 1.1 * Top(false), plt.Axes.Left);
        if (series.Any(s => s.RightAxis)) plt.Axes.SetLimitsY(Bottom(true) - 0.05 * Top(true), 1.1 * Top(true), plt.Axes.Right);
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.Axes.Left.Label.Text = leftLabel;
        plt.Axes.Right.Label.Text = rightLabel;
        plt.ShowLegend(Edge.Bottom);
        plt.Legend.Orientation = Orientation.Horizontal;
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    private static void AddLine(Plot plt, double[] x, double[] y, string label, Color color, LinePattern pattern, IYAxis axis)
    {
        var finite = Enumerable.Range(0, x.Length).Where(i => double.IsFinite(y[i])).ToArray();
        var line = plt.Add.ScatterLine(finite.Select(i => x[i]).ToArray(), finite.Select(i => y[i]).ToArray());
        line.Color = color;
        line.LineWidth = 2;
        line.LinePattern = pattern;
        line.LegendText = label;
        line.Axes.YAxis = axis;
    }

    /// <summary>
    /// A heat map of <paramref name="values"/> [β index, α index] over the α-β plane with contour
    /// lines at <paramref name="levels"/>, each labelled with its value, and a colour bar.
    /// </summary>
    public static void HeatmapPng(string path, string title, double[] alphas, double[] betas, double[,] values, string valueLabel, int levels = 8) =>
        AtomicFile.WriteAllBytes(path, Heatmap(title, alphas, betas, values, valueLabel, levels).GetImageBytes(Width, Height, ImageFormat.Png));

    /// <summary>The plot of <see cref="HeatmapPng"/>.</summary>
    public static Plot Heatmap(string title, double[] alphas, double[] betas, double[,] values, string valueLabel, int levels = 8)
    {
        var plt = StudyReport.NewPlot();
        int rows = betas.Length, cols = alphas.Length;
        var finite = values.Cast<double>().Where(double.IsFinite).ToArray();
        double min = finite.DefaultIfEmpty(0).Min(), max = finite.DefaultIfEmpty(1).Max();
        // Losses span decades away from the minimum: colour and contours on a log scale then, labelled in loss units.
        bool log = UseLogScale(min, max);
        double Shown(double v) => !double.IsFinite(v) ? (log ? Math.Log10(max) : max) : log ? Math.Log10(v) : v;
        // The heat map draws row 0 at the top: flip so β grows upwards.
        var flipped = new double[rows, cols];
        for (int j = 0; j < rows; j++)
            for (int i = 0; i < cols; i++)
                flipped[rows - 1 - j, i] = Shown(values[j, i]);
        var heat = plt.Add.Heatmap(flipped);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        double dx = (alphas[^1] - alphas[0]) / (cols - 1), dy = (betas[^1] - betas[0]) / (rows - 1);
        // Each cell centred on its grid point: the drawn rectangle runs half a cell beyond the first and last points.
        // (ScottPlot's Extent names the first and last cell centres, not the edges, so it is not used.)
        heat.Rectangle = new CoordinateRect(alphas[0] - dx / 2, alphas[^1] + dx / 2, betas[0] - dy / 2, betas[^1] + dy / 2);
        var bar = plt.Add.ColorBar(heat);
        bar.Label = log ? valueLabel + " (log scale)" : valueLabel;
        if (log)
            bar.Axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = y => FormatLevel(Math.Pow(10, y)) };

        if (max > min)
        {
            var levelValues = ContourLevels(min, max, levels);
            var contourColor = Colors.White.WithAlpha(0.8);
            double width = alphas[^1] - alphas[0], height = betas[^1] - betas[0];
            foreach (double level in levelValues)
            {
                var segments = ContourSegments(alphas, betas, (j, i) => Shown(values[j, i]), Shown(level)).ToList();
                foreach (var (p, q) in segments)
                {
                    var line = plt.Add.Line(p, q);
                    line.Color = contourColor;
                    line.LineWidth = 1.2f;
                }
                if (segments.Count == 0) continue;
                // The label sits on the line, at the segment farthest inside the plot (so it is never cut off).
                double Inside(Coordinates c) => Math.Min(Math.Min(c.X - alphas[0], alphas[^1] - c.X) / width, Math.Min(c.Y - betas[0], betas[^1] - c.Y) / height);
                var at = segments.Select(s => new Coordinates((s.A.X + s.B.X) / 2, (s.A.Y + s.B.Y) / 2)).MaxBy(Inside);
                var text = plt.Add.Text(FormatLevel(level), at.X, at.Y);
                text.LabelFontColor = Colors.White;
                text.LabelFontSize = 11;
                text.LabelBold = true;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelBackgroundColor = Colors.Black.WithAlpha(0.5);
            }
        }
        plt.Add.Marker(0, 0, MarkerShape.Cross, 14, Colors.Red);
        plt.Title(title);
        plt.XLabel("α (direction 1)");
        plt.YLabel("β (direction 2)");
        plt.Axes.SetLimits(alphas[0] - dx / 2, alphas[^1] + dx / 2, betas[0] - dy / 2, betas[^1] + dy / 2);
        return plt;
    }

    /// <summary>
    /// A heat map of <paramref name="values"/> over a triangle (a 2-simplex) drawn equilateral: vertex 0 at
    /// (0, 0), vertex 1 at (1, 0), vertex 2 at (½, √3/2). <paramref name="coordinates"/> are the barycentric
    /// lattice points with <paramref name="divisions"/> steps per edge; each lattice row is drawn at half-step
    /// resolution, the cells between two lattice points holding their mean, the cells outside the triangle empty.
    /// </summary>
    public static void TrianglePng(string path, string title, IReadOnlyList<double[]> coordinates, IReadOnlyList<double> values, int divisions,
        IReadOnlyList<string> vertexLabels, string valueLabel)
    {
        int g = divisions, cols = 2 * g + 1, rows = g + 1;
        var grid = new double[rows, cols];
        for (int j = 0; j < rows; j++)
            for (int i = 0; i < cols; i++) grid[j, i] = double.NaN;
        // Lattice point (k0, k1, k2)/g sits in row k2 (height) and column 2·k1 + k2 (half steps along the base).
        for (int p = 0; p < coordinates.Count; p++)
        {
            int k1 = (int)Math.Round(coordinates[p][1] * g), k2 = (int)Math.Round(coordinates[p][2] * g);
            grid[k2, 2 * k1 + k2] = values[p];
        }
        for (int j = 0; j < rows; j++)
            for (int i = j + 1; i < cols - j - 1; i += 2)
                grid[j, i] = (grid[j, i - 1] + grid[j, i + 1]) / 2;
        var finite = grid.Cast<double>().Where(double.IsFinite).ToArray();
        double min = finite.DefaultIfEmpty(0).Min(), max = finite.DefaultIfEmpty(1).Max();
        bool log = UseLogScale(min, max);
        var flipped = new double[rows, cols]; // the heat map draws row 0 at the top
        for (int j = 0; j < rows; j++)
            for (int i = 0; i < cols; i++)
                flipped[rows - 1 - j, i] = double.IsFinite(grid[j, i]) && log ? Math.Log10(grid[j, i]) : grid[j, i];
        var plt = StudyReport.NewPlot();
        var heat = plt.Add.Heatmap(flipped);
        heat.Colormap = new ScottPlot.Colormaps.Viridis();
        heat.NaNCellColor = Colors.Transparent;
        double dx = 0.5 / g, dy = Math.Sqrt(3) / 2 / g;
        heat.Extent = new CoordinateRect(-dx / 2, 1 + dx / 2, -dy / 2, Math.Sqrt(3) / 2 + dy / 2);
        var bar = plt.Add.ColorBar(heat);
        bar.Label = log ? valueLabel + " (log scale)" : valueLabel;
        if (log)
            bar.Axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = y => FormatLevel(Math.Pow(10, y)) };
        plt.Title(title);
        plt.HideGrid();
        // The corners are named below the plot: text placed next to the triangle would cover cells.
        plt.XLabel($"corners: {vertexLabels[0]} (left), {vertexLabels[1]} (right), {vertexLabels[2]} (top)");
        plt.Axes.SetLimits(-0.15, 1.15, -0.2, Math.Sqrt(3) / 2 + 0.2);
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    private static bool UseLogScale(double min, double max) => min > 0 && max / min > 10;

    /// <summary>
    /// The segments of the contour z = <paramref name="level"/> of a grid z(j, i) at (alphas[i], betas[j]),
    /// by marching squares with linear interpolation along the cell edges (a saddle cell is split by its mean).
    /// </summary>
    public static IEnumerable<(Coordinates A, Coordinates B)> ContourSegments(double[] alphas, double[] betas, Func<int, int, double> z, double level)
    {
        for (int j = 0; j + 1 < betas.Length; j++)
            for (int i = 0; i + 1 < alphas.Length; i++)
            {
                // Corners counter-clockwise from the lower left, and the edges between them.
                var corners = new (double X, double Y, double Z)[]
                {
                    (alphas[i], betas[j], z(j, i)), (alphas[i + 1], betas[j], z(j, i + 1)),
                    (alphas[i + 1], betas[j + 1], z(j + 1, i + 1)), (alphas[i], betas[j + 1], z(j + 1, i)),
                };
                if (corners.Any(c => !double.IsFinite(c.Z))) continue;
                var crossings = new List<(int Edge, Coordinates At)>();
                for (int e = 0; e < 4; e++)
                {
                    var (p, q) = (corners[e], corners[(e + 1) % 4]);
                    if ((p.Z < level) == (q.Z < level)) continue;
                    double f = (level - p.Z) / (q.Z - p.Z);
                    crossings.Add((e, new Coordinates(p.X + f * (q.X - p.X), p.Y + f * (q.Y - p.Y))));
                }
                if (crossings.Count == 2) yield return (crossings[0].At, crossings[1].At);
                else if (crossings.Count == 4)
                {
                    // A saddle: pair the crossings around the corners on the side of the cell mean.
                    bool centreAbove = corners.Average(c => c.Z) >= level;
                    bool firstAbove = corners[0].Z >= level;
                    if (centreAbove == firstAbove)
                    {
                        yield return (crossings[0].At, crossings[1].At);
                        yield return (crossings[2].At, crossings[3].At);
                    }
                    else
                    {
                        yield return (crossings[3].At, crossings[0].At);
                        yield return (crossings[1].At, crossings[2].At);
                    }
                }
            }
    }

    /// <summary>Contour levels evenly spaced on a log scale between the minimum and the maximum (losses span decades).</summary>
    public static double[] ContourLevels(double min, double max, int count)
    {
        bool log = UseLogScale(min, max);
        return Enumerable.Range(1, count).Select(k =>
        {
            double f = k / (double)(count + 1);
            return log ? Math.Exp(Math.Log(min) + f * (Math.Log(max) - Math.Log(min))) : min + f * (max - min);
        }).ToArray();
    }

    private static string FormatLevel(double x) => x.ToString(Math.Abs(x) >= 100 ? "F0" : Math.Abs(x) >= 1 ? "0.##" : "0.###", System.Globalization.CultureInfo.InvariantCulture);
}
