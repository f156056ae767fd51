using Geodesy.Core;
using Geodesy.Core.Landscape;

namespace Geodesy.Tests.Landscape;

/// <summary>The barrier definitions on hand-computed paths.</summary>
public sealed class LinearPathTests
{
    [Fact]
    public void BarriersOnHandComputedPaths()
    {
        double[] t = [0, 0.25, 0.5, 0.75, 1];
        // Rises to 3 at t = 0.5 between endpoints 1 and 2: line at 0.5 is 1.5, mean is 1.5.
        double[] bump = [1, 2, 3, 2.5, 2];
        Assert.Equal(1.5, LinearPath.Barrier(t, bump), 12);
        Assert.Equal(1.5, LinearPath.BarrierOverEndpointMean(t, bump), 12);
        // A straight line has no barrier by interpolation, but its larger end is above the mean.
        double[] line = [0, 1, 2, 3, 4];
        Assert.Equal(0, LinearPath.Barrier(t, line), 12);
        Assert.Equal(2, LinearPath.BarrierOverEndpointMean(t, line), 12);
        // The largest excess need not be at the largest value: line at 0.25 is 0.75, excess 1.25.
        double[] early = [0, 2, 2.5, 3, 3];
        Assert.Equal(1.25, LinearPath.Barrier(t, early), 12);
    }

    [Fact]
    public void PathPointsRunFromZeroToOne()
    {
        Assert.Equal([0, 0.25, 0.5, 0.75, 1], LinearPath.Points(5));
        Assert.Throws<InputException>(() => LinearPath.Points(1));
    }
}
