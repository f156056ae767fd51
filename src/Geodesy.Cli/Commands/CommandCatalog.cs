using System.CommandLine;

namespace Geodesy.Cli.Commands;

/// <summary>Every verb of the CLI, in the order `geodesy --help` lists them. Add new verbs here.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Create();
        yield return ModelsCommand.Create();
    }
}
