using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

public class KendallTauTests
{
    private const double Exact = 1e-12;

    [Fact]
    public void NoTies_TauAEqualsTauB_AndExactPValueMatchesScipy()
    {
        // y = [3,1,2,5,4]: discordant pairs (3,1), (3,2), (5,4) → D = 3, C = 10 − 3 = 7,
        // tau = (7 − 3)/10 = 0.4. scipy.stats.kendalltau gives (0.4, 0.48333): the exact null
        // law has 1+4+9+15 = 29 of 120 permutations with ≤ 3 inversions, p = 2·29/120.
        var r = KendallTau.Compute([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]);
        Assert.Equal(7, r.Concordant);
        Assert.Equal(3, r.Discordant);
        Assert.Equal(0.4, r.TauB, Exact);
        Assert.Equal(0.4, r.TauA, Exact);
        Assert.Equal("exact", r.PValueMethod);
        Assert.Equal(2.0 * 29 / 120, r.PValue, Exact);
        Assert.Null(r.UndefinedReason);
    }

    [Fact]
    public void Ties_TauBAndTauAAndAsymptoticPValueByHand()
    {
        // x=[1,2,2,3], y=[1,3,2,2]. Pairs: (0,1) C, (0,2) C, (0,3) C, (1,2) tied in x,
        // (1,3) D (x up, y down), (2,3) tied in y. C=3, D=1, n0=6, n1=1, n2=1.
        // tau-b = 2/sqrt(5·5) = 0.4 (scipy: 0.4); tau-a = 2/6.
        // Variance of S: (m(2n+5) − x1 − y1)/18 + 2·xt·yt/m with m=12, x1=y1=2·1·9=18, xt=yt=1
        // = (156 − 36)/18 + 2/12 = 6.8333…; p = erfc(2/sqrt(6.8333)/sqrt 2) = 0.444216730.
        var r = KendallTau.Compute([1, 2, 2, 3], [1, 3, 2, 2]);
        Assert.Equal(3, r.Concordant);
        Assert.Equal(1, r.Discordant);
        Assert.Equal(1, r.TiedX);
        Assert.Equal(1, r.TiedY);
        Assert.Equal(0, r.TiedBoth);
        Assert.Equal(0.4, r.TauB, Exact);
        Assert.Equal(1.0 / 3.0, r.TauA, Exact);
        Assert.Equal("asymptotic", r.PValueMethod);
        Assert.Equal(0.44421673013860663, r.PValue, 1e-9);
    }

    [Fact]
    public void TiesInBothCoordinates_AreCountedOnce()
    {
        // x=[1,1,2,2], y=[5,5,6,7]: (0,1) tied in both; (2,3) tied in x only; the four cross
        // pairs are concordant. n1 = 2, n2 = 1, n3 = 1, C = 4, D = 0.
        // tau-b = 4/sqrt((6−2)(6−1)) = 4/sqrt(20).
        var r = KendallTau.Compute([1, 1, 2, 2], [5, 5, 6, 7]);
        Assert.Equal(4, r.Concordant);
        Assert.Equal(0, r.Discordant);
        Assert.Equal(2, r.TiedX);
        Assert.Equal(1, r.TiedY);
        Assert.Equal(1, r.TiedBoth);
        Assert.Equal(4 / Math.Sqrt(20), r.TauB, Exact);
        Assert.Equal(4.0 / 6.0, r.TauA, Exact);
    }

    [Fact]
    public void KnightAlgorithm_AgreesWithBruteForce_OnRandomTiedData()
    {
        var rng = new SeededRandom(7);
        foreach (int n in new[] { 2, 3, 10, 57, 300 })
        {
            // Few distinct values: many ties in x, in y and in both.
            var x = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(6)).ToArray();
            var y = Enumerable.Range(0, n).Select(_ => (double)rng.NextInt(4)).ToArray();
            var (c, d, tx, ty) = BruteForce(x, y);
            var r = KendallTau.Compute(x, y);
            Assert.Equal(c, r.Concordant);
            Assert.Equal(d, r.Discordant);
            Assert.Equal(tx, r.TiedX);
            Assert.Equal(ty, r.TiedY);
            long n0 = n * (n - 1L) / 2;
            if (tx < n0 && ty < n0)
                Assert.Equal((c - d) / Math.Sqrt((double)(n0 - tx) * (n0 - ty)), r.TauB, 1e-12);
        }
    }

    [Fact]
    public void ExactPValue_AgreesWithFullPermutationEnumeration()
    {
        // Two-sided p = P(|tau| ≥ |observed|) over all 6! orderings of y.
        double[] x = [1, 2, 3, 4, 5, 6];
        double[] y = [2, 1, 4, 3, 6, 5]; // 3 discordant pairs, tau = 9/15
        double observed = KendallTau.Compute(x, y).TauB;
        int extreme = 0, total = 0;
        foreach (var perm in Permutations([1, 2, 3, 4, 5, 6]))
        {
            total++;
            var (c, d, _, _) = BruteForce(x, perm);
            if (Math.Abs((c - d) / 15.0) >= Math.Abs(observed) - 1e-12) extreme++;
        }
        Assert.Equal(0.6, observed, Exact);
        Assert.Equal((double)extreme / total, KendallTau.Compute(x, y).PValue, Exact);
    }

    [Fact]
    public void PerfectAgreementAndReversal()
    {
        double[] x = Enumerable.Range(0, 40).Select(i => i * 0.5).ToArray();
        Assert.Equal(1.0, KendallTau.TauB(x, x.Select(v => Math.Exp(v)).ToArray()), Exact);
        Assert.Equal(-1.0, KendallTau.TauB(x, x.Select(v => -v).ToArray()), Exact);
        // Perfect agreement: only the identity has 0 inversions, p = 2/40! (scipy also goes
        // exact here, since min(D, n0 − D) ≤ 1).
        var r = KendallTau.Compute(x, x);
        Assert.Equal("exact", r.PValueMethod);
        double factorial40 = Enumerable.Range(1, 40).Aggregate(1.0, (f, k) => f * k);
        Assert.Equal(1.0, r.PValue / (2.0 / factorial40), 1e-9);
    }

    [Fact]
    public void LargeUntiedSample_UsesNormalApproximation()
    {
        // n = 40 > 33 without ties: S = C − D over sqrt(n(n−1)(2n+5)/18), two-sided.
        var rng = new SeededRandom(3);
        var x = Enumerable.Range(0, 40).Select(_ => rng.NextDouble()).ToArray();
        var y = x.Select(v => v + 0.3 * rng.NextDouble()).ToArray();
        var r = KendallTau.Compute(x, y);
        Assert.Equal("asymptotic", r.PValueMethod);
        double z = (r.Concordant - r.Discordant) / Math.Sqrt(40.0 * 39 * 85 / 18);
        Assert.Equal(MathNet.Numerics.Distributions.Normal.CDF(0, 1, -Math.Abs(z)) * 2, r.PValue, 1e-12);
    }

    [Fact]
    public void ConstantInput_GivesNaNTauBWithReason_AndZeroTauA()
    {
        var r = KendallTau.Compute([1, 2, 3], [4, 4, 4]);
        Assert.True(double.IsNaN(r.TauB));
        Assert.True(double.IsNaN(r.PValue));
        Assert.Equal(0.0, r.TauA, Exact);
        Assert.Contains("y values are equal", r.UndefinedReason);
        Assert.Contains("x values are equal", KendallTau.Compute([2, 2], [1, 3]).UndefinedReason);
    }

    [Fact]
    public void BadInput_ThrowsInputException()
    {
        Assert.Throws<InputException>(() => KendallTau.Compute([1], [1]));
        Assert.Throws<InputException>(() => KendallTau.Compute([1, 2, 3], [1, 2]));
        Assert.Throws<InputException>(() => KendallTau.Compute([1, double.NaN], [1, 2]));
    }

    internal static (long C, long D, long TiedX, long TiedY) BruteForce(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        long c = 0, d = 0, tx = 0, ty = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                double s = Math.Sign(x[i] - x[j]) * Math.Sign(y[i] - y[j]);
                if (x[i] == x[j]) tx++;
                if (y[i] == y[j]) ty++;
                if (s > 0) c++;
                else if (s < 0) d++;
            }
        return (c, d, tx, ty);
    }

    private static IEnumerable<double[]> Permutations(double[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, k) => k != i).ToArray();
            foreach (var tail in Permutations(rest))
                yield return [items[i], .. tail];
        }
    }
}

/// <summary>τ-b, τ-a and p-values against scipy.stats.kendalltau (tools/golden/kendall_golden.py).</summary>
public class KendallTauScipyGoldenTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Load()) data.Add((string)c!["name"]!);
        return data;
    }

    private static System.Text.Json.Nodes.JsonArray Load() =>
        System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "kendall.json")))!["cases"]!.AsArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void AgreesWithScipy(string name)
    {
        var c = Load().Single(x => (string)x!["name"]! == name)!;
        var x = c["x"]!.AsArray().Select(v => (double)v!).ToArray();
        var y = c["y"]!.AsArray().Select(v => (double)v!).ToArray();
        var r = KendallTau.Compute(x, y);
        Assert.Equal((double)c["tau_b"]!, r.TauB, 1e-12);
        Assert.Equal((double)c["tau_a"]!, r.TauA, 1e-12);
        Assert.Equal((string)c["method"]!, r.PValueMethod);
        double p = (double)c["p_value"]!;
        Assert.True(Math.Abs(p - r.PValue) <= 1e-9 * Math.Max(1, p) + 1e-15, $"{name}: p {r.PValue:R}, scipy {p:R}");
    }
}
