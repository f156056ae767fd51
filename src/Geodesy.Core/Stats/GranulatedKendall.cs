namespace Geodesy.Core.Stats;

/// <summary>How the cells of one hyperparameter were used.</summary>
/// <param name="Total">Cells (groups of models sharing every other hyperparameter value).</param>
/// <param name="Used">Cells whose tau entered the mean.</param>
/// <param name="TooSmall">Cells skipped for holding fewer than 2 models or a single value of this hyperparameter.</param>
/// <param name="Undefined">Cells skipped because tau was undefined there (measure or gap constant in the cell).</param>
public sealed record CellCounts(int Total, int Used, int TooSmall, int Undefined);

/// <summary>Granulated Kendall coefficient and its parts.</summary>
/// <param name="Psi">Ψ = mean of ψ_i over the hyperparameters whose ψ_i is defined; NaN if none is.</param>
/// <param name="PerHyperparameter">ψ_i per hyperparameter (NaN when no cell was usable, e.g. a hyperparameter with one value).</param>
/// <param name="Cells">Cell bookkeeping per hyperparameter.</param>
public sealed record GranulatedKendallResult(
    double Psi,
    IReadOnlyDictionary<string, double> PerHyperparameter,
    IReadOnlyDictionary<string, CellCounts> Cells);

/// <summary>
/// The granulated Kendall coefficient of Jiang et al. 2020 ("Fantastic Generalization Measures
/// and Where to Find Them", ICLR, Sec. 5): for hyperparameter i,
/// ψ_i = (1/m_i) Σ over cells of τ(measure, gap) within the cell, a cell being the models that
/// share all hyperparameter values except i; Ψ = (1/n) Σ_i ψ_i. It asks whether the measure
/// tracks the gap when only one hyperparameter changes, which overall τ cannot tell.
/// Cells that cannot give a tau (fewer than 2 models, one value of i, or tau undefined) are
/// skipped and counted, so m_i here is the number of usable cells.
/// </summary>
public static class GranulatedKendall
{
    /// <summary>Ψ, ψ_i and cell counts of <paramref name="measure"/> against <paramref name="gap"/>.</summary>
    /// <exception cref="InputException">Lengths differ, a value is NaN, or the hyperparameter keys differ between models.</exception>
    public static GranulatedKendallResult Compute(
        IReadOnlyList<IReadOnlyDictionary<string, string>> hparams,
        double[] measure,
        double[] gap,
        TauVariant variant = TauVariant.B)
    {
        var table = new HyperparameterTable(hparams);
        CheckColumns(table.Count, measure, gap, "granulated Kendall");
        return Compute(table, measure, gap, Enumerable.Range(0, table.Count).ToArray(), variant);
    }

    /// <summary>
    /// Ψ over the models listed in <paramref name="models"/> (indices into the table, repeats
    /// allowed: a bootstrap resample). Repeated models are tied in both measure and gap.
    /// </summary>
    public static GranulatedKendallResult Compute(
        HyperparameterTable table, double[] measure, double[] gap, int[] models, TauVariant variant = TauVariant.B)
    {
        var perHparam = new Dictionary<string, double>(StringComparer.Ordinal);
        var counts = new Dictionary<string, CellCounts>(StringComparer.Ordinal);
        double psiSum = 0;
        int psiTerms = 0;
        // Bucket the models by cell with a counting sort: this runs once per bootstrap replicate,
        // so it avoids per-cell allocations.
        var bucketed = new int[models.Length];
        var xs = new double[models.Length];
        var ys = new double[models.Length];
        for (int h = 0; h < table.Names.Count; h++)
        {
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
                bool varies = false;
                for (int k = 0; k < size; k++)
                {
                    int m = bucketed[start[c] + k];
                    varies |= table.ValueIndex(h, m) != firstValue;
                    xs[k] = measure[m];
                    ys[k] = gap[m];
                }
                if (size < 2 || !varies) { tooSmall++; continue; }
                double tau = KendallTau.Coefficient(new ArraySegment<double>(xs, 0, size), new ArraySegment<double>(ys, 0, size), variant);
                if (double.IsNaN(tau)) { undefined++; continue; }
                tauSum += tau;
                used++;
            }
            double psiI = used > 0 ? tauSum / used : double.NaN;
            perHparam[table.Names[h]] = psiI;
            counts[table.Names[h]] = new CellCounts(total, used, tooSmall, undefined);
            if (!double.IsNaN(psiI)) { psiSum += psiI; psiTerms++; }
        }
        double psi = psiTerms > 0 ? psiSum / psiTerms : double.NaN;
        return new GranulatedKendallResult(psi, perHparam, counts);
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
