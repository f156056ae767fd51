using System.Text.Json.Nodes;

namespace Geodesy.Experiments.Reproductions;

/// <summary>
/// One published claim, tested end to end (README.md, "Adding a recipe"). A recipe declares its
/// claim, its source and its options; <see cref="Criterion"/> states the test and its threshold
/// from the options alone, before anything runs; <see cref="Run"/> trains, probes and measures
/// through the same code as the public commands and returns the evidence; <see cref="Judge"/>
/// computes the verdict from that evidence only, so it can be checked on hand-made evidence.
/// </summary>
public abstract class Recipe
{
    public abstract string Name { get; }
    /// <summary>The claim in one sentence.</summary>
    public abstract string Claim { get; }
    /// <summary>The paper, and the figure or table the claim comes from.</summary>
    public abstract string Source { get; }
    /// <summary>The recipe's own options; <see cref="RecipeOptions.SeedsKey"/> is added to every recipe.</summary>
    protected abstract IReadOnlyList<RecipeOption> OwnOptions { get; }
    /// <summary>Seeds by default and with --quick.</summary>
    protected virtual (int Default, int Quick) SeedCounts => (3, 2);

    public IReadOnlyList<RecipeOption> Options => _options ??= OwnOptions.Append(new RecipeOption(RecipeOptions.SeedsKey, RecipeOptionKind.Int,
        SeedCounts.Default.ToString(System.Globalization.CultureInfo.InvariantCulture),
        SeedCounts.Quick.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "number of seeds (0..N-1) per configuration")).ToArray();
    private IReadOnlyList<RecipeOption>? _options;

    /// <summary>The test and its threshold, in words, for these options.</summary>
    public abstract string Criterion(RecipeOptions options);

    /// <summary>Runs the experiment and returns the evidence (numbers with their standard errors).</summary>
    public abstract JsonObject Run(RecipeContext context);

    /// <summary>The verdict from the evidence alone, by <see cref="Criterion"/>.</summary>
    public abstract Judgement Judge(JsonObject evidence, RecipeOptions options);

    /// <summary>The rows of the short table printed with the verdict: (quantity, value).</summary>
    public abstract IReadOnlyList<(string Quantity, string Value)> Table(JsonObject evidence);
}
