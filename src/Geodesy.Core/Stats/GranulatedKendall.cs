namespace Geodesy.Core.Stats;

/// <summary>Which definition of the granulated coefficient Ψ is computed.</summary>
public enum PsiDefinition
{
    /// <summary>
    /// Jiang et al. 2020, Sec. 5 (the default): inside a cell τ is the mean of
    /// sign(Δμ)·sign(Δg) over its pairs (so a measure constant in the cell scores 0 there);
    /// ψ_i averages the cells in which hyperparameter i varies and the gap is not constant;
    /// Ψ averages ψ_i over every hyperparameter that varies in the population.
    /// </summary>
    Fantastic,

    /// <summary>
    /// "tau-b-defined-cells", Geodesy's earlier variant: τ-b inside each cell, cells where τ-b is
    /// undefined (measure or gap constant there) skipped, and hyperparameters with no usable cell
    /// left out of Ψ. It inflates measures that only encode part of the architecture.
    /// </summary>
    TauBDefinedCells,
}

/// <summary>How the cells of one hyperparameter were used.</summary>
/// <param name="Total">Cells (groups of models sharing every other hyperparameter value).</param>
/// <param name="Used">Cells whose τ entered the mean.</param>
/// <param name="TooSmall">Cells skipped because this hyperparameter takes a single value there (one model included).</param>
/// <param name="Undefined">Cells skipped because τ is undefined there: the gap is constant in the cell
/// (and, with <see cref="PsiDefinition.TauBDefinedCells"/>, also when the measure is).</param>
public sealed record CellCounts(int Total, int Used, int TooSmall, int Undefined);

/// <summary>Granulated Kendall coefficient and its parts.</summary>
/// <param name="Psi">Ψ (NaN when undefined, see <paramref name="UndefinedReason"/>).</param>
/// <param name="PerHyperparameter">ψ_i per hyperparameter (NaN when no cell was usable, e.g. a hyperparameter with one value).</param>
/// <param name="Cells">Cell bookkeeping per hyperparameter.</param>
/// <param name="Varying">Hyperparameters taking at least two values among the models: the ones Ψ averages.</param>
/// <param name="UndefinedReason">Why Ψ is NaN, or null.</param>
public sealed record GranulatedKendallResult(
    double Psi,
    IReadOnlyDictionary<string, double> PerHyperparameter,
    IReadOnlyDictionary<string, CellCounts> Cells,
    IReadOnlyList<string> Varying,
    string? UndefinedReason = null);

/// <summary>
/// The granulated Kendall coefficient of Jiang et al. 2020 ("Fantastic Generalization Measures
/// and Where to Find Them", ICLR, Sec. 5, eqs. 3-4). A cell of hyperparameter i is the set of
/// models sharing all hyperparameter values except i (Θ_1 × … × Θ_{i−1} × Θ_{i+1} × … × Θ_n);
/// τ(cell) = mean over the cell's pairs of sign(μ_a − μ_b)·sign(g_a − g_b) (Kendall's τ-a);
/// ψ_i = the mean of τ over the cells; Ψ = (1/n) Σ_i ψ_i over the n hyperparameters that vary.
/// It asks whether the measure tracks the gap when only one hyperparameter changes, which
/// overall τ cannot tell. A cell is skipped (and counted) only when hyperparameter i does not
/// vary in it or the gap is constant in it, which on the paper's full grids never happens; a
/// varying hyperparameter without any usable cell leaves Ψ undefined rather than silently
/// averaging fewer terms. <see cref="PsiDefinition.TauBDefinedCells"/> keeps the older variant.
/// </summary>
public static class GranulatedKendall
{
    /// <summary>Ψ, ψ_i and cell counts of <paramref name="measure"/> against <paramref name="gap"/>.</summary>
    /// <exception cref="InputException">Lengths differ, a value is NaN, or the hyperparameter keys differ between models.</exception>
    public static GranulatedKendallResult Compute(
        IReadOnlyList<IReadOnlyDictionary<string, string>> hparams,
        double[] measure,
        double[] gap,
        PsiDefinition definition = PsiDefinition.Fantastic)
    {
        var table = new HyperparameterTable(hparams);
        CheckColumns(table.Count, measure, gap, "granulated Kendall");
        return Compute(table, measure, gap, Enumerable.Range(0, table.Count).ToArray(), definition);
    }

    /// <summary>
    /// Ψ over the models listed in <paramref name="models"/> (indices into the table, repeats
    /// allowed: a bootstrap resample). Repeated models are tied in both measure and gap.
    /// </summary>
    public static GranulatedKendallResult Compute(
        HyperparameterTable table, double[] measure, double[] gap, int[] models, PsiDefinition definition = PsiDefinition.Fantastic)
    {
        var perHparam = new Dictionary<string, double>(StringComparer.Ordinal);
        var counts = new Dictionary<string, CellCounts>(StringComparer.Ordinal);
        var varying = new List<string>();
        var withoutCell = new List<string>();
        double psiSum = 0;
        int psiTerms = 0;
        // Bucket the models by cell with a counting sort: this runs once per bootstrap replicate,
        // so it avoids per-cell allocations.
        var bucketed = new int[models.Length];
        var xs = new double[models.Length];
        var ys = new double[models.Length];
        var seen = new bool[table.Names.Count == 0 ? 0 : table.Values.Max(v => v.Count)];
        for (int h = 0; h < table.Names.Count; h++)
        {
            Array.Clear(seen);
            int distinct = 0;
            foreach (int m in models)
                if (!seen[table.ValueIndex(h, m)]) { seen[table.ValueIndex(h, m)] = true; distinct++; }
            bool variesInPopulation = distinct >= 2;
            if (variesInPopulation) varying.Add(table.Names[h]);

            int cellCount = table.CellCount(h);
            var start = new int[cellCount + 1];
            foreach (int m in models) start[table.CellOf(h, m) + 1]++;
            for (int c = 0; c < cellCount; c++) start[c + 1] += start[c];
            var fill = (int[])start.Clone();
            foreach (int m in models) bucketed[fill[table.CellOf(h, m)]++] = m;

            int total = 0, used = 0, tooSmall = 0, undefined = 0;
            double tauSum = 0;
            for (int c = 0; c < cellCount; c++)
            {
                int size = start[c + 1] - start[c];
                if (size == 0) continue; // a cell no resampled model falls in
                total++;
                int firstValue = table.ValueIndex(h, bucketed[start[c]]);
                bool varies = false, gapVaries = false;
                for (int k = 0; k < size; k++)
                {
                    int m = bucketed[start[c] + k];
                    varies |= table.ValueIndex(h, m) != firstValue;
                    xs[k] = measure[m];
                    ys[k] = gap[m];
                    gapVaries |= ys[k] != ys[0];
                }
                if (!varies) { tooSmall++; continue; }
                if (!gapVaries) { undefined++; continue; }
                var cellX = new ArraySegment<double>(xs, 0, size);
                var cellY = new ArraySegment<double>(ys, 0, size);
                double tau = definition == PsiDefinition.Fantastic
                    ? KendallTau.Coefficient(cellX, cellY, TauVariant.A) // mean of sign products: 0 for a constant measure
                    : KendallTau.Coefficient(cellX, cellY, TauVariant.B);
                if (double.IsNaN(tau)) { undefined++; continue; }
                tauSum += tau;
                used++;
            }
            double psiI = used > 0 ? tauSum / used : double.NaN;
            perHparam[table.Names[h]] = psiI;
            counts[table.Names[h]] = new CellCounts(total, used, tooSmall, undefined);
            if (!double.IsNaN(psiI)) { psiSum += psiI; psiTerms++; }
            else if (variesInPopulation) withoutCell.Add(table.Names[h]);
        }

        if (definition == PsiDefinition.TauBDefinedCells)
            return new GranulatedKendallResult(psiTerms > 0 ? psiSum / psiTerms : double.NaN, perHparam, counts, varying,
                psiTerms > 0 ? null : "no hyperparameter has a cell where tau-b is defined");
        if (varying.Count == 0)
            return new GranulatedKendallResult(double.NaN, perHparam, counts, varying, "no hyperparameter varies among these models");
        if (withoutCell.Count > 0)
            return new GranulatedKendallResult(double.NaN, perHparam, counts, varying,
                $"no usable cell for {string.Join(", ", withoutCell)} (it never varies with the others fixed, or the gap is constant there)");
        return new GranulatedKendallResult(psiSum / varying.Count, perHparam, counts, varying);
    }

    internal static void CheckColumns(int models, double[] measure, double[] gap, string what)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ArgumentNullException.ThrowIfNull(gap);
        if (measure.Length != models || gap.Length != models)
            throw new InputException($"{what}: {models} models but {measure.Length} measure values and {gap.Length} gap values.");
        for (int i = 0; i < models; i++)
        {
            if (double.IsNaN(measure[i])) throw new InputException($"{what}: measure of model {i} is NaN; drop missing values first.");
            if (double.IsNaN(gap[i])) throw new InputException($"{what}: gap of model {i} is NaN; drop missing values first.");
        }
    }
}
