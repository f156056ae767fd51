using Geodesy.Core.Models;
using TorchSharp;
using Geodesy.Experiments.Analyses;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Reproductions;

/// <summary>The landscape verbs the stiffness and Goldilocks recipes run through (the code of `geodesy landscape ...`).</summary>
public sealed partial class RecipeContext
{
    /// <summary>`geodesy landscape stiffness --run DIR` with these settings.</summary>
    public StiffnessAnalysisResult Stiffness(string runDir, StiffnessSettings settings, ScalarType dtype = ScalarType.Float32)
    {
        using var loaded = new ModelSource { Run = runDir, DType = dtype }.Load();
        var result = StiffnessAnalysis.Run(loaded, settings, line => Log("  " + line));
        Gradients += result.Gradients;
        return result;
    }

    /// <summary>
    /// `geodesy landscape goldilocks --arch ARCH --data DATA --init-seed SEED --radii ...` with the radii given as
    /// multiples of the initialization's own radius ||θ0|| (float64 unless told).
    /// </summary>
    public GoldilocksResult Goldilocks(string arch, string data, int? subset, long initSeed, double[] radiiOverInit, GoldilocksSettings settings,
        ScalarType dtype = ScalarType.Float64)
    {
        using var loaded = new ModelSource { Arch = arch, Data = data, Subset = subset, Seed = initSeed, InitSeed = initSeed, AllowSeededInit = true, DType = dtype }.Load();
        double initRadius;
        using (var theta0 = ParameterVector.Flatten(loaded.Model))
        using (var norm = theta0.norm()) initRadius = norm.ToDouble();
        var result = GoldilocksAnalysis.Run(loaded, settings with { Radii = radiiOverInit.Select(m => m * initRadius).ToArray() }, line => Log("  " + line));
        Matvecs += result.Matvecs;
        Gradients += result.Gradients;
        return result;
    }
}
