using Geodesy.Core;
using Geodesy.Core.Stats;

namespace Geodesy.Tests.Stats;

/// <summary>Small synthetic populations on full hyperparameter grids, generated in code.</summary>
internal static class PopulationFixtures
{
    /// <summary>Every combination of the given hyperparameter values, repeated for each seed (seed is not a hyperparameter).</summary>
    public static List<IReadOnlyDictionary<string, string>> Grid(int seeds, params (string Name, string[] Values)[] axes)
    {
        var rows = new List<IReadOnlyDictionary<string, string>> { new Dictionary<string, string>() };
        foreach (var (name, values) in axes)
            rows = rows.SelectMany(r => values.Select(v => (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(r) { [name] = v })).ToList();
        return rows.SelectMany(r => Enumerable.Repeat(r, seeds)).ToList();
    }

    /// <summary>A 3×3×3 grid (lr, batch, width) with 2 seeds: 54 models.</summary>
    public static List<IReadOnlyDictionary<string, string>> ThreeByThreeByThree(int seeds = 2) => Grid(seeds,
        ("lr", ["0.01", "0.03", "0.1"]),
        ("batch", ["32", "64", "128"]),
        ("width", ["16", "64", "256"]));

    /// <summary>A gap that depends on every hyperparameter plus seeded noise, all values distinct.</summary>
    public static double[] Gap(IReadOnlyList<IReadOnlyDictionary<string, string>> hparams, long seed, double noise = 0.004)
    {
        var rng = new SeededRandom(seed);
        return hparams.Select(h =>
            0.10
            - 0.02 * Math.Log10(Parse(h["lr"]) / 0.01)
            + 0.015 * Math.Log2(Parse(h["batch"]) / 32)
            - 0.005 * Math.Log2(Parse(h["width"]) / 16)
            + noise * rng.NextGaussian()).ToArray();
    }

    public static double Parse(string s) => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
}
