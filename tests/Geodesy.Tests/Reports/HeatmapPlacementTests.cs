using Geodesy.Experiments.Reports;
using ScottPlot;

namespace Geodesy.Tests.Reports;

/// <summary>The slice heat map puts every cell centred on its grid point (α_i, β_j), read back from the rendered pixels.</summary>
public sealed class HeatmapPlacementTests
{
    [Fact]
    public void EveryCellIsCentredOnItsGridPoint()
    {
        // A checkerboard of two values on an uneven grid far from the origin (the centre's red cross is off the plot), no contours.
        double[] alphas = [1, 2, 3, 4], betas = [10, 20, 30];
        var values = new double[betas.Length, alphas.Length];
        for (int j = 0; j < betas.Length; j++)
            for (int i = 0; i < alphas.Length; i++)
                values[j, i] = (i + j) % 2 == 0 ? 1 : 2;
        var plot = LandscapePlots.Heatmap("checkerboard", alphas, betas, values, "value", levels: 0);
        var image = PngImage.Decode(plot.GetImageBytes(900, 560, ImageFormat.Png));
        (byte R, byte G, byte B) At(double x, double y)
        {
            var p = plot.GetPixel(new Coordinates(x, y));
            int k = ((int)Math.Round(p.Y) * image.Width + (int)Math.Round(p.X)) * 3;
            return (image.Rgb[k], image.Rgb[k + 1], image.Rgb[k + 2]);
        }
        var low = At(alphas[0], betas[0]);
        var high = At(alphas[1], betas[0]);
        Assert.NotEqual(low, high);
        const double dx = 1, dy = 10;
        for (int j = 0; j < betas.Length; j++)
            for (int i = 0; i < alphas.Length; i++)
            {
                var expected = values[j, i] == 1 ? low : high;
                var other = values[j, i] == 1 ? high : low;
                // 0.4 of a cell around the grid point is inside its cell; 0.6 towards an inner neighbour is in the neighbour's.
                foreach (var (fx, fy) in new[] { (0.0, 0.0), (-0.4, 0.0), (0.4, 0.0), (0.0, -0.4), (0.0, 0.4) })
                    Assert.Equal(expected, At(alphas[i] + fx * dx, betas[j] + fy * dy));
                double towardX = i == 0 ? 0.6 : -0.6, towardY = j == 0 ? 0.6 : -0.6;
                Assert.Equal(other, At(alphas[i] + towardX * dx, betas[j]));
                Assert.Equal(other, At(alphas[i], betas[j] + towardY * dy));
            }
    }
}
