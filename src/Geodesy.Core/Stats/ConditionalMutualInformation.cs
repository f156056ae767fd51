namespace Geodesy.Core.Stats;

/// <summary>The normalized conditional mutual information for one conditioning set S.</summary>
/// <param name="ConditioningSet">The hyperparameters in S (empty: no conditioning).</param>
/// <param name="MutualInformationBits">I(V_μ; V_g | U_S) in bits.</param>
/// <param name="ConditionalEntropyBits">H(V_g | U_S) in bits.</param>
/// <param name="Normalized">I / H, in [0, 1]; NaN when H = 0 (the gap's order is fixed by U_S).</param>
/// <param name="Cells">Number of distinct values of U_S met among the model pairs.</param>
public sealed record CmiTerm(
    IReadOnlyList<string> ConditioningSet,
    double MutualInformationBits,
    double ConditionalEntropyBits,
    double Normalized,
    int Cells);

/// <summary>The conditional-mutual-information score of a measure.</summary>
/// <param name="Score">K(μ) = min over conditioning sets of <see cref="CmiTerm.Normalized"/> (NaN ones skipped); NaN if none is defined.</param>
/// <param name="MinimizingSet">The conditioning set attaining the minimum (empty list for S = ∅ or when undefined).</param>
/// <param name="PerSet">Every conditioning set examined, in order of size then name.</param>
/// <param name="Pairs">Number of model pairs counted (n² with self pairs, n(n−1) without).</param>
public sealed record CmiResult(
    double Score,
    IReadOnlyList<string> MinimizingSet,
    IReadOnlyList<CmiTerm> PerSet,
    long Pairs)
{
    /// <summary>
    /// Minimum over the sets of exactly <paramref name="size"/> hyperparameters: with size 2 this
    /// is the number the PGDL scoring program reports (it loops over pairs h1 ≠ h2 only).
    /// </summary>
    public double MinOverSetsOfSize(int size)
    {
        var values = PerSet.Where(t => t.ConditioningSet.Count == size && !double.IsNaN(t.Normalized)).Select(t => t.Normalized).ToList();
        return values.Count > 0 ? values.Min() : double.NaN;
    }
}

/// <summary>
/// The conditional independence score of Jiang et al. 2020 ("Fantastic Generalization Measures
/// and Where to Find Them", ICLR, Sec. 6), as computed by the scoring program of the NeurIPS 2020
/// PGDL competition (Jiang et al. 2020, "NeurIPS 2020 Competition: Predicting Generalization in
/// Deep Learning", mutual_information.py):
/// <list type="bullet">
/// <item>For an ordered pair of models (θ, θ′) drawn independently and uniformly from the
/// population — all n² ordered pairs, self pairs included, exactly the double loop of the PGDL
/// program — V_g = + if g(θ) &gt; g(θ′) else −, V_μ = + if μ(θ) &gt; μ(θ′) else − (strict
/// comparisons: ties and self pairs fall in −, as in the PGDL program).</item>
/// <item>U_S = the values (θ_s, θ′_s) of both models for every hyperparameter s in S.</item>
/// <item>Î(S) = I(V_μ; V_g | U_S) / H(V_g | U_S), with I(·|U) = Σ_u p(u) I(·|U=u) and
/// H(V_g|U) = Σ_u p(u) H(V_g|U=u), plug-in estimates in bits.</item>
/// <item>K(μ) = min over S with |S| ≤ k (k = 2 in the paper) of Î(S).</item>
/// </list>
/// The PGDL program averages per-cell MI and entropy uniformly over all cells of the full grid;
/// on the complete, unique grids it requires every cell holds the same number of pairs, so that
/// equals the p(u)-weighted form used here, which stays correct when the grid has holes. The PGDL
/// program minimizes over |S| = 2 only; <see cref="CmiResult.MinOverSetsOfSize"/> gives that
/// number, while <see cref="CmiResult.Score"/> is the paper's min over |S| ≤ k.
/// </summary>
public static class ConditionalMutualInformation
{
    /// <summary>Below this, H(V_g | U_S) counts as zero (the normalized score is undefined).</summary>
    public const double EntropyFloorBits = 1e-12;

    /// <summary>K(μ) of <paramref name="measure"/> against <paramref name="gap"/>.</summary>
    /// <param name="hparams">Each model's hyperparameters (same keys for every model).</param>
    /// <param name="measure">μ per model.</param>
    /// <param name="gap">Generalization gap per model (train accuracy − test accuracy).</param>
    /// <param name="maxConditioningSetSize">Largest |S| considered (all sets of size 0..k).</param>
    /// <param name="includeSelfPairs">Count the n pairs (θ, θ) as the PGDL program does.</param>
    /// <exception cref="InputException">Lengths differ, NaN values, fewer than 2 models, k &lt; 0, or hyperparameter keys differ.</exception>
    public static CmiResult Score(
        IReadOnlyList<IReadOnlyDictionary<string, string>> hparams,
        double[] measure,
        double[] gap,
        int maxConditioningSetSize = 2,
        bool includeSelfPairs = true)
    {
        var table = new HyperparameterTable(hparams);
        GranulatedKendall.CheckColumns(table.Count, measure, gap, "conditional mutual information");
        if (table.Count < 2) throw new InputException($"conditional mutual information: needs at least 2 models, got {table.Count}.");
        if (maxConditioningSetSize < 0) throw new InputException($"conditional mutual information: the conditioning set size must be ≥ 0, got {maxConditioningSetSize}.");
        int n = table.Count;

        // The pairs, once: signs packed as class = 2·[V_g = −] + [V_μ = −].
        var first = new List<int>();
        var second = new List<int>();
        var joint = new List<byte>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j && !includeSelfPairs) continue;
                int gMinus = gap[i] > gap[j] ? 0 : 1;
                int mMinus = measure[i] > measure[j] ? 0 : 1;
                first.Add(i);
                second.Add(j);
                joint.Add((byte)(2 * gMinus + mMinus));
            }

        var terms = new List<CmiTerm>();
        foreach (var set in Subsets(table.Names.Count, Math.Min(maxConditioningSetSize, table.Names.Count)))
            terms.Add(Term(table, set, first, second, joint));

        double score = double.NaN;
        IReadOnlyList<string> argmin = Array.Empty<string>();
        foreach (var t in terms)
        {
            if (double.IsNaN(t.Normalized)) continue;
            if (double.IsNaN(score) || t.Normalized < score) { score = t.Normalized; argmin = t.ConditioningSet; }
        }
        return new CmiResult(score, argmin, terms, joint.Count);
    }

    private static CmiTerm Term(HyperparameterTable table, int[] set, List<int> first, List<int> second, List<byte> joint)
    {
        int pairs = joint.Count;
        // Compact cell id of U_S per pair, built one hyperparameter at a time.
        var cell = new int[pairs];
        int cells = 1;
        foreach (int h in set)
        {
            long k = table.Values[h].Count;
            var ids = new Dictionary<long, int>();
            for (int p = 0; p < pairs; p++)
            {
                long key = (cell[p] * k + table.ValueIndex(h, first[p])) * k + table.ValueIndex(h, second[p]);
                if (!ids.TryGetValue(key, out int id)) { id = ids.Count; ids[key] = id; }
                cell[p] = id;
            }
            cells = ids.Count;
        }

        var counts = new long[cells, 4];
        for (int p = 0; p < pairs; p++) counts[cell[p], joint[p]]++;

        double mi = 0, hg = 0;
        for (int c = 0; c < cells; c++)
        {
            long nc = counts[c, 0] + counts[c, 1] + counts[c, 2] + counts[c, 3];
            if (nc == 0) continue;
            double weight = (double)nc / pairs;
            var (cellMi, cellHg) = CellInformation(counts[c, 0], counts[c, 1], counts[c, 2], counts[c, 3]);
            mi += weight * cellMi;
            hg += weight * cellHg;
        }
        double normalized = hg > EntropyFloorBits ? Math.Clamp(mi / hg, 0.0, 1.0) : double.NaN;
        return new CmiTerm(set.Select(h => table.Names[h]).ToArray(), mi, hg, normalized, cells);
    }

    /// <summary>
    /// Plug-in I(V_μ; V_g) and H(V_g) in bits from a 2×2 table of counts
    /// (g+μ+, g+μ−, g−μ+, g−μ−).
    /// </summary>
    internal static (double MutualInformation, double GapEntropy) CellInformation(long gpmp, long gpmm, long gmmp, long gmmm)
    {
        double total = gpmp + gpmm + gmmp + gmmm;
        double[,] pj = { { gpmp / total, gpmm / total }, { gmmp / total, gmmm / total } };
        double[] pg = { pj[0, 0] + pj[0, 1], pj[1, 0] + pj[1, 1] };
        double[] pm = { pj[0, 0] + pj[1, 0], pj[0, 1] + pj[1, 1] };
        double mi = 0;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                if (pj[a, b] > 0) mi += pj[a, b] * Math.Log2(pj[a, b] / (pg[a] * pm[b]));
        double hg = 0;
        foreach (double p in pg)
            if (p > 0) hg -= p * Math.Log2(p);
        return (Math.Max(0.0, mi), hg);
    }

    /// <summary>All index subsets of {0..n−1} of size 0..k, by size then lexicographically.</summary>
    private static IEnumerable<int[]> Subsets(int n, int k)
    {
        for (int size = 0; size <= k; size++)
            foreach (var s in Combinations(n, size, 0)) yield return s;
    }

    private static IEnumerable<int[]> Combinations(int n, int size, int start)
    {
        if (size == 0) { yield return Array.Empty<int>(); yield break; }
        for (int i = start; i <= n - size; i++)
            foreach (var rest in Combinations(n, size - 1, i + 1))
                yield return [i, .. rest];
    }
}
