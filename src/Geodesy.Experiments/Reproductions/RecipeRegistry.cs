using Geodesy.Core;

namespace Geodesy.Experiments.Reproductions;

/// <summary>Every recipe `geodesy reproduce` knows, in the order --list and `all` show them (README.md, "Adding a recipe").</summary>
public static class RecipeRegistry
{
    public static IReadOnlyList<Recipe> All { get; } =
    [
        new BreakEvenRecipe(),
        new HessianOutliersRecipe(),
        new EdgeOfStabilityRecipe(),
        new RelativeFlatnessRecipe(),
        new FlatnessMarginRecipe(),
        new FantasticRankingRecipe(),
        new StiffnessRecipe(),
        new GoldilocksRecipe(),
        new BatchNormMimoRecipe(),
        new ModeConnectivityRecipe(),
        new FisherExplosionRecipe(),
        new GradientNoiseTailsRecipe(),
        new GrokkingCorruptedRecipe(),
        new LowLossSimplexRecipe(),
        new NoisyLabelsRecipe(),
    ];

    /// <summary>The recipe of that name; an InputException listing the names otherwise.</summary>
    public static Recipe Get(string name) => All.FirstOrDefault(r => r.Name == name)
        ?? throw new InputException($"unknown recipe '{name}' (known: {string.Join(", ", All.Select(r => r.Name))}; 'geodesy reproduce --list' shows their claims)");
}
