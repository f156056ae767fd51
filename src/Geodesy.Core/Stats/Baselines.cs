using System.Globalization;

namespace Geodesy.Core.Stats;

/// <summary>The canonical-ordering measure and what went into it.</summary>
/// <param name="Values">Measure per model: Σ_h direction_h · rank_h, rank_h in [0, 1].</param>
/// <param name="Used">Hyperparameters used, with their direction (+1: larger value, larger predicted gap).</param>
/// <param name="Ignored">Hyperparameters left out, with the reason.</param>
public sealed record CanonicalOrderingResult(
    double[] Values,
    IReadOnlyDictionary<string, int> Used,
    IReadOnlyDictionary<string, string> Ignored);

/// <summary>
/// Reference rows for a ranking table (Jiang et al. 2020, "Fantastic Generalization Measures and
/// Where to Find Them", ICLR, Table 1): a noisy oracle, which says how a measure that knows the gap
/// up to noise would score, and the canonical ordering, which says how much one gets from the
/// hyperparameter values alone with no measurement at all.
/// </summary>
public static class Baselines
{
    /// <summary>
    /// Folklore directions for the canonical ordering: +1 when a larger value is expected to give
    /// a larger generalization gap, −1 a smaller one. Keys are normalized (lower case, '-' → '_').
    /// Large batches generalize worse (Keskar et al. 2017); larger learning rates, more dropout,
    /// more weight decay, more training data and wider / deeper networks generalize better
    /// (Neyshabur et al. 2019 for width; depth follows the same overparameterization folklore,
    /// a choice); label noise widens the gap (Zhang et al. 2017). Categorical hyperparameters
    /// (optimizer, activation) have no order and are not used.
    /// </summary>
    public static IReadOnlyDictionary<string, int> DefaultCanonicalDirections { get; } = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["batch"] = +1, ["batch_size"] = +1, ["batchsize"] = +1,
        ["lr"] = -1, ["learning_rate"] = -1,
        ["dropout"] = -1,
        ["weight_decay"] = -1, ["wd"] = -1,
        ["width"] = -1,
        ["depth"] = -1,
        ["label_noise"] = +1,
        ["train_size"] = -1, ["data_size"] = -1, ["subset"] = -1, ["num_train"] = -1,
    };

    /// <summary>Normalized hyperparameter key: lower case, '-' written '_'.</summary>
    public static string NormalizeName(string name) => name.Trim().ToLowerInvariant().Replace('-', '_');

    /// <summary>
    /// Noisy oracle: gap + ε, ε ~ N(0, σ²) i.i.d. per model, from a seeded stream. σ = 0 returns
    /// the gap itself (tau 1 against it).
    /// </summary>
    /// <exception cref="InputException">σ negative or not finite.</exception>
    public static double[] NoisyOracle(IReadOnlyList<double> gap, double sigma, long seed)
    {
        ArgumentNullException.ThrowIfNull(gap);
        if (!(sigma >= 0) || double.IsInfinity(sigma))
            throw new InputException($"noisy oracle: sigma must be a finite number ≥ 0, got {sigma}.");
        var rng = new SeededRandom(seed);
        var values = new double[gap.Count];
        for (int i = 0; i < gap.Count; i++) values[i] = gap[i] + sigma * rng.NextGaussian();
        return values;
    }

    /// <summary>
    /// Canonical ordering: each model's score is the sum over ordered hyperparameters of the rank
    /// of its value among that hyperparameter's distinct values, scaled to [0, 1] (so each
    /// hyperparameter weighs the same whatever its number of values) and signed by the direction.
    /// Hyperparameters without a direction, with non-numeric values or a single value are ignored
    /// and listed. <paramref name="directions"/> overrides or extends
    /// <see cref="DefaultCanonicalDirections"/> (0 disables a hyperparameter).
    /// </summary>
    public static CanonicalOrderingResult CanonicalOrdering(
        IReadOnlyList<IReadOnlyDictionary<string, string>> hparams,
        IReadOnlyDictionary<string, int>? directions = null)
    {
        var table = new HyperparameterTable(hparams);
        var direction = new Dictionary<string, int>(DefaultCanonicalDirections, StringComparer.Ordinal);
        if (directions != null)
            foreach (var (key, dir) in directions)
            {
                if (dir is < -1 or > 1) throw new InputException($"canonical ordering: direction of '{key}' must be -1, 0 or +1, got {dir}.");
                direction[NormalizeName(key)] = dir;
            }

        var values = new double[table.Count];
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        var ignored = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int h = 0; h < table.Names.Count; h++)
        {
            string name = table.Names[h];
            if (!direction.TryGetValue(NormalizeName(name), out int dir) || dir == 0)
            {
                ignored[name] = "no canonical direction";
                continue;
            }
            var numeric = new double[table.Values[h].Count];
            bool allNumeric = true;
            for (int v = 0; v < numeric.Length; v++)
                allNumeric &= double.TryParse(table.Values[h][v], NumberStyles.Float, CultureInfo.InvariantCulture, out numeric[v]) && double.IsFinite(numeric[v]);
            if (!allNumeric) { ignored[name] = "values are not all numbers"; continue; }
            var distinct = numeric.Distinct().OrderBy(v => v).ToList();
            if (distinct.Count < 2) { ignored[name] = "a single value"; continue; }
            for (int m = 0; m < table.Count; m++)
            {
                int rank = distinct.IndexOf(numeric[table.ValueIndex(h, m)]);
                values[m] += dir * (double)rank / (distinct.Count - 1);
            }
            used[name] = dir;
        }
        return new CanonicalOrderingResult(values, used, ignored);
    }
}
