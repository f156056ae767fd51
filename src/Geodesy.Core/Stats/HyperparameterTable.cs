namespace Geodesy.Core.Stats;

/// <summary>
/// The hyperparameters of a population of models, indexed once: for each hyperparameter its
/// distinct values (in order of first appearance), each model's value index, and each model's
/// "cell" for that hyperparameter, i.e. the class of models that share every other
/// hyperparameter value (Fantastic's Θ_1 × … × Θ_{i−1} × Θ_{i+1} × … × Θ_n).
/// </summary>
public sealed class HyperparameterTable
{
    /// <summary>Hyperparameter names in ordinal order (so results do not depend on input order).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Distinct values of each hyperparameter, in order of first appearance.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Values { get; }

    /// <summary>Number of models.</summary>
    public int Count { get; }

    private readonly int[][] _valueIndex; // [hparam][model]
    private readonly int[][] _cellOf;     // [hparam][model]
    private readonly int[] _cellCount;    // [hparam]

    /// <exception cref="InputException">A model lacks a hyperparameter another model has, or a value is null.</exception>
    public HyperparameterTable(IReadOnlyList<IReadOnlyDictionary<string, string>> hparams)
    {
        ArgumentNullException.ThrowIfNull(hparams);
        Count = hparams.Count;
        var names = Count == 0 ? new List<string>() : hparams[0].Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        for (int m = 0; m < Count; m++)
        {
            var h = hparams[m] ?? throw new InputException($"hyperparameters of model {m} are missing (null).");
            if (h.Count != names.Count || names.Any(n => !h.ContainsKey(n)))
                throw new InputException(
                    $"model {m} has hyperparameters [{string.Join(", ", h.Keys.OrderBy(k => k, StringComparer.Ordinal))}] " +
                    $"but model 0 has [{string.Join(", ", names)}]; every model must list the same hyperparameters.");
        }
        Names = names;

        var values = new List<IReadOnlyList<string>>();
        _valueIndex = new int[names.Count][];
        for (int i = 0; i < names.Count; i++)
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            var list = new List<string>();
            _valueIndex[i] = new int[Count];
            for (int m = 0; m < Count; m++)
            {
                string v = hparams[m][names[i]] ?? throw new InputException($"model {m}: hyperparameter '{names[i]}' has a null value.");
                if (!seen.TryGetValue(v, out int idx)) { idx = list.Count; seen[v] = idx; list.Add(v); }
                _valueIndex[i][m] = idx;
            }
            values.Add(list);
        }
        Values = values;

        _cellOf = new int[names.Count][];
        _cellCount = new int[names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            var cells = new Dictionary<string, int>(StringComparer.Ordinal);
            _cellOf[i] = new int[Count];
            for (int m = 0; m < Count; m++)
            {
                // Key = value indices of all other hyperparameters.
                var key = string.Join(",", Enumerable.Range(0, names.Count).Where(j => j != i).Select(j => _valueIndex[j][m]));
                if (!cells.TryGetValue(key, out int c)) { c = cells.Count; cells[key] = c; }
                _cellOf[i][m] = c;
            }
            _cellCount[i] = cells.Count;
        }
    }

    /// <summary>Index (into <see cref="Values"/>[h]) of model m's value of hyperparameter h.</summary>
    public int ValueIndex(int h, int model) => _valueIndex[h][model];

    /// <summary>The cell of model m for hyperparameter h (models sharing all other values).</summary>
    public int CellOf(int h, int model) => _cellOf[h][model];

    /// <summary>Number of distinct cells for hyperparameter h.</summary>
    public int CellCount(int h) => _cellCount[h];
}
