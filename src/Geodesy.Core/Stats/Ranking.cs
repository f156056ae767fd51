using System.Text.Json.Nodes;

namespace Geodesy.Core.Stats;

/// <summary>One trained model of a population: its hyperparameters, accuracies and measures.</summary>
/// <param name="Id">Unique id (e.g. the run hash).</param>
/// <param name="Hparams">Hyperparameter values as strings; every model lists the same keys.</param>
/// <param name="TrainAccuracy">Training accuracy in [0, 1] (NaN: unknown, the model is left out).</param>
/// <param name="TestAccuracy">Test accuracy in [0, 1] (NaN: unknown).</param>
/// <param name="Measures">Measure values by name; a missing name or NaN means "not computed".</param>
public sealed record PopulationModel(
    string Id,
    IReadOnlyDictionary<string, string> Hparams,
    double TrainAccuracy,
    double TestAccuracy,
    IReadOnlyDictionary<string, double> Measures)
{
    /// <summary>Generalization gap = train accuracy − test accuracy (Fantastic Sec. 2).</summary>
    public double Gap => TrainAccuracy - TestAccuracy;
}

/// <summary>Order of the measure rows (baselines always follow them).</summary>
public enum RankingOrder
{
    /// <summary>Descending |τ|; undefined τ last.</summary>
    ByAbsoluteTau,
    /// <summary>The order of <see cref="RankingOptions.Measures"/> or of first appearance.</summary>
    AsGiven,
}

/// <summary>Whether a row is a measure under study or a reference row.</summary>
public enum RowKind { Measure, Baseline }

/// <summary>Settings of <see cref="Ranking.Rank"/>.</summary>
public sealed record RankingOptions
{
    /// <summary>Measures to rank; null: every name met, in order of first appearance.</summary>
    public IReadOnlyList<string>? Measures { get; init; }
    /// <summary>Bootstrap replicates per interval.</summary>
    public int Resamples { get; init; } = 1000;
    /// <summary>Coverage of the intervals.</summary>
    public double Level { get; init; } = 0.95;
    /// <summary>Seed of every random stream (bootstrap, oracle noise); each row derives its own from it and its name.</summary>
    public long Seed { get; init; }
    /// <summary>Largest conditioning set of the CMI score (2 in Fantastic and PGDL).</summary>
    public int MaxConditioningSetSize { get; init; } = 2;
    /// <summary>Count self pairs (θ, θ) in the CMI as the PGDL program does.</summary>
    public bool IncludeSelfPairs { get; init; } = true;
    /// <summary>Noise levels of the noisy-oracle rows.</summary>
    public IReadOnlyList<double> OracleSigmas { get; init; } = [0.02, 0.05];
    /// <summary>Noise draws averaged per oracle row (1: a single seeded draw).</summary>
    public int OracleDraws { get; init; } = 10;
    /// <summary>Overrides of <see cref="Baselines.DefaultCanonicalDirections"/>.</summary>
    public IReadOnlyDictionary<string, int>? CanonicalDirections { get; init; }
    /// <summary>Add the canonical-ordering and noisy-oracle rows.</summary>
    public bool IncludeBaselines { get; init; } = true;
    /// <summary>Row order.</summary>
    public RankingOrder Order { get; init; } = RankingOrder.ByAbsoluteTau;
    /// <summary>Kendall variant used for τ and inside Ψ.</summary>
    public TauVariant Variant { get; init; } = TauVariant.B;
}

/// <summary>One row of the ranking table. NaN marks an undefined statistic (see <see cref="Note"/>).</summary>
public sealed record RankingRow(
    string Measure,
    RowKind Kind,
    int N,
    double KendallTau,
    double KendallTauA,
    double TauPValue,
    BootstrapInterval TauCi,
    double Psi,
    BootstrapInterval PsiCi,
    IReadOnlyDictionary<string, double> PsiPerHparam,
    IReadOnlyDictionary<string, CellCounts> PsiCells,
    double Cmi,
    IReadOnlyList<string> CmiConditioningSet,
    IReadOnlyDictionary<string, double> CmiPerSet,
    string? Note);

/// <summary>The ranking of a population's measures against its generalization gap.</summary>
/// <param name="Rows">Measure rows (ordered as asked) then baseline rows.</param>
/// <param name="Models">Models with a known gap (used).</param>
/// <param name="ModelsWithoutGap">Models left out because an accuracy is missing.</param>
public sealed record RankingTable(IReadOnlyList<RankingRow> Rows, int Models, int ModelsWithoutGap)
{
    /// <summary>The "ranking" array of the rank JSON document (docs/ranking.md), NaN written as null.</summary>
    public JsonArray ToJson()
    {
        var array = new JsonArray();
        foreach (var r in Rows)
        {
            var psiPer = new JsonObject();
            foreach (var (k, v) in r.PsiPerHparam) psiPer[k] = Num(v);
            var cells = new JsonObject();
            foreach (var (k, c) in r.PsiCells)
                cells[k] = new JsonObject { ["total"] = c.Total, ["used"] = c.Used, ["too_small"] = c.TooSmall, ["undefined"] = c.Undefined };
            var perSet = new JsonObject();
            foreach (var (k, v) in r.CmiPerSet) perSet[k] = Num(v);
            array.Add(new JsonObject
            {
                ["measure"] = r.Measure,
                ["kind"] = r.Kind == RowKind.Measure ? "measure" : "baseline",
                ["n"] = r.N,
                ["kendall_tau"] = Num(r.KendallTau),
                ["kendall_tau_a"] = Num(r.KendallTauA),
                ["tau_p_value"] = Num(r.TauPValue),
                ["tau_ci"] = new JsonArray(Num(r.TauCi.Lower), Num(r.TauCi.Upper)),
                ["psi"] = Num(r.Psi),
                ["psi_ci"] = new JsonArray(Num(r.PsiCi.Lower), Num(r.PsiCi.Upper)),
                ["psi_per_hparam"] = psiPer,
                ["psi_cells"] = cells,
                ["cmi"] = Num(r.Cmi),
                ["cmi_conditioning_set"] = new JsonArray(r.CmiConditioningSet.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
                ["cmi_per_set"] = perSet,
                ["ci_level"] = r.TauCi.Level,
                ["ci_resamples"] = r.TauCi.Resamples,
                ["note"] = r.Note,
            });
        }
        return array;
    }

    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}

/// <summary>
/// Ranks generalization measures over a population of trained models with the statistics of
/// Jiang et al. 2020 (Fantastic) and the PGDL competition: Kendall τ against the gap with a
/// bootstrap interval, granulated Ψ (and interval), the CMI score K(μ), plus the canonical-ordering
/// and noisy-oracle reference rows. See docs/ranking.md.
/// </summary>
public static class Ranking
{
    /// <summary>Name of the canonical-ordering row.</summary>
    public const string CanonicalRowName = "canonical-ordering";

    /// <summary>Name of the noisy-oracle row for σ, e.g. "oracle-0.02".</summary>
    public static string OracleRowName(double sigma) => "oracle-" + sigma.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Key of a conditioning set in <see cref="RankingRow.CmiPerSet"/>: names joined by ',', "none" for ∅.</summary>
    public static string SetKey(IReadOnlyList<string> set) => set.Count == 0 ? "none" : string.Join(",", set);

    /// <summary>Ranks every measure of the population. A measure missing for some models is ranked on the models that have it (N says how many).</summary>
    /// <exception cref="InputException">Duplicate or empty ids, differing hyperparameter keys, or bad options.</exception>
    public static RankingTable Rank(IReadOnlyList<PopulationModel> models, RankingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        options ??= new RankingOptions();
        if (options.OracleDraws < 1) throw new InputException($"ranking: oracle draws must be ≥ 1, got {options.OracleDraws}.");
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in models)
        {
            if (string.IsNullOrEmpty(m.Id)) throw new InputException("ranking: a model has an empty id.");
            if (!ids.Add(m.Id)) throw new InputException($"ranking: model id '{m.Id}' appears twice.");
        }

        var usable = models.Where(m => double.IsFinite(m.Gap)).ToList();
        var gap = usable.Select(m => m.Gap).ToArray();
        var hparams = usable.Select(m => m.Hparams).ToList();
        _ = new HyperparameterTable(hparams); // one clear error up front when keys differ

        var names = options.Measures ?? models.SelectMany(m => m.Measures?.Keys ?? Enumerable.Empty<string>()).Distinct(StringComparer.Ordinal).ToList();
        var rows = new List<RankingRow>();
        foreach (string name in names)
        {
            var subset = new List<int>();
            var values = new List<double>();
            for (int i = 0; i < usable.Count; i++)
                if (usable[i].Measures != null && usable[i].Measures.TryGetValue(name, out double v) && double.IsFinite(v))
                {
                    subset.Add(i);
                    values.Add(v);
                }
            rows.Add(Row(name, RowKind.Measure,
                subset.Select(i => hparams[i]).ToList(), [values.ToArray()], subset.Select(i => gap[i]).ToArray(), options, null));
        }
        if (options.Order == RankingOrder.ByAbsoluteTau)
            rows = rows.OrderBy(r => double.IsNaN(r.KendallTau) ? 1 : 0).ThenByDescending(r => Math.Abs(r.KendallTau)).ToList();

        if (options.IncludeBaselines && usable.Count > 0)
        {
            var canonical = Baselines.CanonicalOrdering(hparams, options.CanonicalDirections);
            string canonicalNote = "directions: " +
                (canonical.Used.Count == 0 ? "none usable" : string.Join(", ", canonical.Used.Select(kv => $"{kv.Key} {(kv.Value > 0 ? "+" : "-")}"))) +
                (canonical.Ignored.Count == 0 ? "" : "; ignored: " + string.Join(", ", canonical.Ignored.Select(kv => $"{kv.Key} ({kv.Value})")));
            rows.Add(Row(CanonicalRowName, RowKind.Baseline, hparams, [canonical.Values], gap, options, canonicalNote));

            foreach (double sigma in options.OracleSigmas)
            {
                string rowName = OracleRowName(sigma);
                long baseSeed = options.Seed ^ StableHash(rowName);
                var draws = Enumerable.Range(0, options.OracleDraws)
                    .Select(d => Baselines.NoisyOracle(gap, sigma, baseSeed + d)).ToArray();
                string note = options.OracleDraws == 1
                    ? $"gap + N(0, {sigma}²), one seeded draw"
                    : $"gap + N(0, {sigma}²), every statistic averaged over {options.OracleDraws} seeded draws";
                rows.Add(Row(rowName, RowKind.Baseline, hparams, draws, gap, options, note));
            }
        }
        return new RankingTable(rows, usable.Count, models.Count - usable.Count);
    }

    /// <summary>The "models" array of the rank JSON document, so anyone can recompute the statistics.</summary>
    public static JsonArray ModelsToJson(IReadOnlyList<PopulationModel> models)
    {
        var array = new JsonArray();
        foreach (var m in models)
        {
            var hp = new JsonObject();
            foreach (var (k, v) in m.Hparams) hp[k] = v;
            var measures = new JsonObject();
            if (m.Measures != null)
                foreach (var (k, v) in m.Measures) measures[k] = double.IsFinite(v) ? JsonValue.Create(v) : null;
            array.Add(new JsonObject
            {
                ["id"] = m.Id,
                ["hparams"] = hp,
                ["train_accuracy"] = double.IsFinite(m.TrainAccuracy) ? JsonValue.Create(m.TrainAccuracy) : null,
                ["test_accuracy"] = double.IsFinite(m.TestAccuracy) ? JsonValue.Create(m.TestAccuracy) : null,
                ["gap"] = double.IsFinite(m.Gap) ? JsonValue.Create(m.Gap) : null,
                ["measures"] = measures,
            });
        }
        return array;
    }

    /// <summary>
    /// Statistics of one row. <paramref name="draws"/> holds one measure column, or several
    /// (noisy-oracle draws) whose statistics are averaged.
    /// </summary>
    private static RankingRow Row(
        string name, RowKind kind, IReadOnlyList<IReadOnlyDictionary<string, string>> hparams,
        double[][] draws, double[] gap, RankingOptions options, string? note)
    {
        int n = gap.Length;
        var emptyCi = new BootstrapInterval(double.NaN, double.NaN, options.Level, options.Resamples, 0);
        if (n < 2)
            return new RankingRow(name, kind, n, double.NaN, double.NaN, double.NaN, emptyCi, double.NaN, emptyCi,
                new Dictionary<string, double>(), new Dictionary<string, CellCounts>(), double.NaN, [], new Dictionary<string, double>(),
                Join(note, $"only {n} model(s) have this measure and a gap; at least 2 are needed"));

        var table = new HyperparameterTable(hparams);
        var all = Enumerable.Range(0, n).ToArray();
        var variant = options.Variant;

        var taus = draws.Select(d => KendallTau.Compute(d, gap)).ToArray();
        var psis = draws.Select(d => GranulatedKendall.Compute(table, d, gap, all, variant)).ToArray();
        var cmis = draws.Select(d => ConditionalMutualInformation.Score(hparams, d, gap, options.MaxConditioningSetSize, options.IncludeSelfPairs)).ToArray();

        long seed = options.Seed ^ StableHash(name);
        var tauCi = Bootstrap.Interval(idx => draws.Average(d => KendallTau.Coefficient(Gather(d, idx), Gather(gap, idx), variant)),
            n, options.Resamples, options.Level, seed);
        var psiCi = Bootstrap.Interval(idx => draws.Average(d => GranulatedKendall.Compute(table, d, gap, idx, variant).Psi),
            n, options.Resamples, options.Level, seed + 1);

        var psiPer = table.Names.ToDictionary(h => h, h => MeanFinite(psis.Select(p => p.PerHyperparameter[h])), StringComparer.Ordinal);
        var perSet = cmis[0].PerSet.Select((t, k) => (Key: SetKey(t.ConditioningSet), Set: t.ConditioningSet, Value: MeanFinite(cmis.Select(c => c.PerSet[k].Normalized))))
            .ToList();
        IReadOnlyList<string> argmin = draws.Length == 1
            ? cmis[0].MinimizingSet
            : perSet.Where(s => !double.IsNaN(s.Value)).OrderBy(s => s.Value).Select(s => s.Set).FirstOrDefault() ?? [];

        string? reason = taus[0].UndefinedReason;
        return new RankingRow(
            name, kind, n,
            MeanFinite(taus.Select(t => t.Tau(variant))),
            MeanFinite(taus.Select(t => t.TauA)),
            draws.Length == 1 ? taus[0].PValue : double.NaN,
            tauCi,
            MeanFinite(psis.Select(p => p.Psi)),
            psiCi,
            psiPer,
            psis[0].Cells,
            MeanFinite(cmis.Select(c => c.Score)),
            argmin,
            perSet.ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal),
            Join(note, reason == null ? null : "tau undefined: " + reason));
    }

    private static double[] Gather(double[] values, int[] idx)
    {
        var result = new double[idx.Length];
        for (int k = 0; k < idx.Length; k++) result[k] = values[idx[k]];
        return result;
    }

    private static double MeanFinite(IEnumerable<double> values)
    {
        double sum = 0;
        int count = 0;
        foreach (double v in values)
            if (double.IsFinite(v)) { sum += v; count++; }
        return count > 0 ? sum / count : double.NaN;
    }

    private static string? Join(string? a, string? b) => a == null ? b : b == null ? a : a + "; " + b;

    /// <summary>FNV-1a of the name: a per-row seed offset that does not depend on row order or on string.GetHashCode's per-process salt.</summary>
    private static long StableHash(string text)
    {
        unchecked
        {
            ulong h = 14695981039346656037UL;
            foreach (char c in text) { h ^= c; h *= 1099511628211UL; }
            return (long)h;
        }
    }
}
