using Geodesy.Experiments.Reports;

namespace Geodesy.Experiments.Reproductions;

public sealed partial class RecipeContext
{
    /// <summary>
    /// `geodesy plot`'s clean-vs-noisy figure of the examples probe (RunPlots) for these runs together, saved as
    /// OUT/FILE and listed for the report; nothing is saved when no run has examples-probe rows.
    /// </summary>
    public void CleanNoisyPlot(string file, string caption, IReadOnlyList<RecipeRun> runs)
    {
        var plotted = RunPlots.Load(runs.Select(r => r.Directory).ToList());
        if (RunPlots.SaveCleanNoisy(plotted, "examples", Path.Combine(OutDir, file))) _plots.Add((file, caption));
    }
}
