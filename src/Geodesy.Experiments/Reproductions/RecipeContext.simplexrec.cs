using Geodesy.Experiments.Analyses;

namespace Geodesy.Experiments.Reproductions;

/// <summary>`geodesy landscape connect` for the low-loss simplex recipe.</summary>
public sealed partial class RecipeContext
{
    /// <summary>
    /// `geodesy landscape connect --run DIR --simplex ...` (ConnectAnalysis): the model and its data come from
    /// <paramref name="runDir"/>; with <paramref name="plot"/> its --plot PNG is saved as OUT/FILE and listed.
    /// </summary>
    public ConnectResult Connect(string runDir, ConnectSettings settings, (string File, string Caption)? plot = null)
    {
        using var loaded = new ModelSource { Run = runDir }.Load();
        var result = ConnectAnalysis.Run(loaded, settings, line => Log("  " + line));
        Gradients += result.Training.Steps;
        ExamplesSeen += result.Training.ExamplesSeen;
        if (plot is var (file, caption))
        {
            result.WritePng(Path.Combine(OutDir, file));
            _plots.Add((file, caption));
        }
        return result;
    }
}
