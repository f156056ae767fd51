using Geodesy.Core.Interop;
using ScottPlot;

namespace Geodesy.Experiments.Reports;

/// <summary>One spectral density curve: a matrix name and its density on a grid of eigenvalues.</summary>
public sealed record DensitySeries(string Name, double[] Grid, double[] Density);

/// <summary>PNG plots of curvature results (written atomically).</summary>
public static class CurvaturePlots
{
    private const int Width = 900, Height = 500;

    /// <summary>
    /// Densities below this fraction of a curve's peak are drawn at the floor: the Gaussian
    /// broadening makes the tails arbitrarily small, and a log axis would stretch them without end.
    /// </summary>
    public const double RelativeFloor = 1e-8;

    /// <summary>
    /// The spectral densities (e.g. from stochastic Lanczos quadrature) against the eigenvalue,
    /// density on a log10 axis, one line per series, as a PNG at <paramref name="path"/>.
    /// </summary>
    public static void SpectralDensityPng(string path, string title, IReadOnlyList<DensitySeries> series)
    {
        if (series.Count == 0) throw new ArgumentException("no density to plot", nameof(series));
        var plt = new Plot();
        foreach (var s in series)
        {
            if (s.Grid.Length != s.Density.Length || s.Grid.Length == 0)
                throw new ArgumentException($"density '{s.Name}': grid and density lengths differ or are empty");
            double peak = s.Density.Where(double.IsFinite).DefaultIfEmpty(0).Max();
            double floor = peak > 0 ? peak * RelativeFloor : double.Epsilon;
            var logDensity = s.Density.Select(d => Math.Log10(double.IsFinite(d) ? Math.Max(d, floor) : floor)).ToArray();
            var line = plt.Add.ScatterLine(s.Grid, logDensity);
            line.LineWidth = 1.5f;
            line.LegendText = s.Name;
        }
        // A log scale drawn as log10 values with ticks labelled as powers of ten.
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            IntegerTicksOnly = true,
            LabelFormatter = y => $"1e{y:0}",
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        };
        plt.Title(title);
        plt.XLabel("eigenvalue");
        plt.YLabel("density (log scale)");
        if (series.Count > 1) plt.ShowLegend(Alignment.UpperRight);
        byte[] png = plt.GetImageBytes(Width, Height, ImageFormat.Png);
        AtomicFile.WriteAllBytes(path, png);
    }
}
