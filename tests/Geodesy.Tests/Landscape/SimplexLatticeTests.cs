using Geodesy.Core.Landscape;

namespace Geodesy.Tests.Landscape;

/// <summary>The barycentric lattice `landscape connect --grid` evaluates, against hand-listed points and the count formula.</summary>
public class SimplexLatticeTests
{
    [Fact]
    public void TheTriangleWithTwoStepsPerEdgeIsItsVerticesAndEdgeMidpoints()
    {
        double[][] expected = [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]];
        var lattice = VertexFamily.Lattice(3, 2);
        Assert.Equal(expected.Length, lattice.Count);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], lattice[i]);
    }

    [Fact]
    public void ASegmentIsEvenlySpacedPoints()
    {
        var lattice = VertexFamily.Lattice(2, 4);
        Assert.Equal([1.0, 0.75, 0.5, 0.25, 0.0], lattice.Select(c => c[0]));
        Assert.All(lattice, c => Assert.Equal(1.0, c[0] + c[1], 15));
    }

    [Fact]
    public void EveryPointOfATetrahedronLatticeIsDistinctAndOnTheSimplex()
    {
        // (G + V - 1) choose (V - 1) = 8 choose 3 = 56 points for V = 4, G = 5.
        var lattice = VertexFamily.Lattice(4, 5);
        Assert.Equal(56, lattice.Count);
        Assert.All(lattice, c =>
        {
            Assert.Equal(1.0, c.Sum(), 12);
            Assert.All(c, x => Assert.Equal(0, Math.Round(x * 5) - x * 5, 12));
        });
        Assert.Equal(56, lattice.Select(c => string.Join(',', c.Select(x => Math.Round(x * 5)))).Distinct().Count());
    }
}
