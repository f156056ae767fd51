using System.CommandLine;

namespace Geodesy.Cli.Commands;

/// <summary>Every verb of the CLI, in the order `geodesy --help` lists them. Add new verbs here.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return TrainCommand.Create();
        yield return StudyCommands.Study();
        yield return ModelsCommand.Create();
        yield return CurvatureCommand.Create();
        yield return MeasureCommand.Create();
        yield return LandscapeCommand.Create();
        yield return StudyCommands.Sweep();
        yield return StudyCommands.Worker();
        yield return StudyCommands.Rank();
        yield return StudyCommands.Report();
        yield return StudyCommands.Export();
        yield return BenchCommand.Create();
        yield return ReproduceCommand.Create();
        yield return PruneCommand.Create();
        yield return PlotCommand.Create();
        yield return CompareCommand.Create();
        yield return VersionCommand.Create();
    }
}
