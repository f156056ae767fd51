namespace Geodesy.Tests.Stats;

/// <summary>
/// The paper's statistics written as plainly as possible, sharing no code with Geodesy.Core.Stats:
/// every pair visited, cells found by string keys. Tests recompute rankings with these.
/// </summary>
internal static class NaiveRankStatistics
{
    /// <summary>τ-a: mean over the n(n−1)/2 pairs of sign(Δx)·sign(Δy) (Jiang et al. 2020, eq. 3).</summary>
    public static double TauA(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double sum = 0;
        int pairs = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                sum += Math.Sign(x[i] - x[j]) * Math.Sign(y[i] - y[j]);
                pairs++;
            }
        return sum / pairs;
    }

    /// <summary>τ-b: Σ sign·sign / sqrt((pairs not tied in x)(pairs not tied in y)).</summary>
    public static double TauB(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double sum = 0, untiedX = 0, untiedY = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                sum += Math.Sign(x[i] - x[j]) * Math.Sign(y[i] - y[j]);
                if (x[i] != x[j]) untiedX++;
                if (y[i] != y[j]) untiedY++;
            }
        return sum / Math.Sqrt(untiedX * untiedY);
    }

    /// <summary>
    /// Ψ of Jiang et al. 2020, Sec. 5: for each hyperparameter that varies, group the models by
    /// the values of all other hyperparameters; in every group where it varies and the gap is not
    /// constant take τ-a; ψ_i is the mean over those groups; Ψ the mean of ψ_i.
    /// </summary>
    public static double Psi(IReadOnlyList<IReadOnlyDictionary<string, string>> hparams, IReadOnlyList<double> measure, IReadOnlyList<double> gap)
    {
        var names = hparams[0].Keys.ToList();
        var psis = new List<double>();
        foreach (string h in names)
        {
            if (hparams.Select(p => p[h]).Distinct().Count() < 2) continue;
            var groups = Enumerable.Range(0, hparams.Count)
                .GroupBy(m => string.Join("|", names.Where(o => o != h).OrderBy(o => o, StringComparer.Ordinal).Select(o => o + "=" + hparams[m][o])));
            var taus = new List<double>();
            foreach (var g in groups)
            {
                var members = g.ToList();
                if (members.Select(m => hparams[m][h]).Distinct().Count() < 2) continue;
                if (members.Select(m => gap[m]).Distinct().Count() < 2) continue;
                taus.Add(TauA(members.Select(m => measure[m]).ToList(), members.Select(m => gap[m]).ToList()));
            }
            psis.Add(taus.Count > 0 ? taus.Average() : double.NaN);
        }
        return psis.Average();
    }
}
