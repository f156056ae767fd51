using Geodesy.Core.Training.Pruning;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Pruning;

namespace Geodesy.Experiments.Reproductions;

/// <summary>The landscape and pruning commands a recipe can run: `geodesy landscape instability` and `geodesy prune`.</summary>
public sealed partial class RecipeContext
{
    /// <summary>`geodesy landscape instability --run DIR --steps ...` (InstabilityAnalysis): two copies per step k and the barrier between them.</summary>
    public InstabilityResult Instability(InstabilitySettings settings)
    {
        Log($"instability of {Path.GetFileName(settings.Run)} at steps {string.Join(", ", settings.Steps)}");
        var result = InstabilityAnalysis.Run(settings, line => Log("  " + line));
        Runs += 2 * result.Points.Count;
        ExamplesSeen += result.TrainingExamples;
        return result;
    }

    /// <summary>`geodesy prune --run DIR --rounds R --rate P --mode rewind --rewind-step K` into OUT/prune/NAME (PruneExperiment).</summary>
    public PruneResult PruneRewind(string name, string runDir, int rounds, double rate, long rewindStep)
    {
        string dir = Path.Combine(OutDir, "prune", name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        Log($"prune {name}: {rounds} rounds at rate {rate:G3}, rewinding to step {rewindStep}");
        var result = PruneExperiment.Run(runDir, new PruneOptions(rounds, rate, RetrainMode.Rewind, rewindStep, PruningScope.Global), dir, line => Log("  " + line));
        Runs += rounds;
        Gradients += result.Gradients;
        return result;
    }
}
