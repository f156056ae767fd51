using ScottPlot;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>The test PNG decoder agrees with an image whose pixels are known.</summary>
public sealed class PngImageTests
{
    [Fact]
    public void DecodesAScottPlotImageOfKnownColors()
    {
        using var tmp = new TempDir();
        var plt = new Plot();
        plt.FigureBackground.Color = Colors.Orange;   // (255, 165, 0)
        plt.DataBackground.Color = Colors.Orange;
        var box = plt.Add.Rectangle(0, 1, 0, 1);
        box.FillColor = Colors.Navy;                  // (0, 0, 128)
        plt.Axes.SetLimits(-1, 2, -1, 2);
        plt.SavePng(tmp["known.png"], 320, 200);

        var image = PngImage.Decode(File.ReadAllBytes(tmp["known.png"]));
        Assert.Equal((320, 200), (image.Width, image.Height));
        Assert.Equal(new byte[] { 255, 165, 0 }, image.Rgb[..3]); // top-left corner is figure background
        Assert.True(image.CountNear(0, 0, 128, 0) > 1000, "the navy rectangle is missing");
        Assert.True(image.ForegroundFraction() > 0.05);
    }

    [Fact]
    public void RejectsBytesThatAreNotAPng()
    {
        Assert.False(PngImage.HasMagic("<html>"u8));
        Assert.Throws<InvalidDataException>(() => PngImage.Decode("GIF89a-not-a-png"u8.ToArray()));
    }
}
