using Geodesy.Core.Curvature;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Tests.Analyses;

public class EigenComparisonTests
{
    private static EigenResult Eig(string method, params double[] values) => new()
    {
        Method = method, Eigenvalues = values, Residuals = new double[values.Length], RelativeResiduals = new double[values.Length],
        Status = SolverStatus.Converged, Matvecs = 1, Seconds = 0,
    };

    [Fact]
    public void PairsDescendingValuesAndDividesByTheReference()
    {
        // Power iteration finds -4.5 before 2.2 (by magnitude); sorted descending the pairs are
        // (4, 2.2) and (2, -4.5): |4 - 2.2| / 4 = 0.45 and |2 + 4.5| / 2 = 3.25.
        Assert.Equal(3.25, EigenComparison.MaxRelativeDifference(Eig("lanczos", 4, 2), Eig("power", -4.5, 2.2)), 1e-15);
        // The same eigenvalues in another order agree exactly.
        Assert.Equal(0, EigenComparison.MaxRelativeDifference(Eig("lanczos", 3, 1), Eig("power", 1, 3)));
        // Only the pairs both found count: |5 - 5.5| / 5 = 0.1.
        Assert.Equal(0.1, EigenComparison.MaxRelativeDifference(Eig("lanczos", 5, 4, 3), Eig("power", 5.5)), 1e-15);
    }

    [Fact]
    public void AZeroReferenceGivesTheAbsoluteDifferenceAndNoPairsGiveNaN()
    {
        Assert.Equal(0.25, EigenComparison.MaxRelativeDifference(Eig("lanczos", 0), Eig("power", 0.25)), 1e-15);
        Assert.True(double.IsNaN(EigenComparison.MaxRelativeDifference(Eig("lanczos"), Eig("power", 1))));
    }
}
