using System.CommandLine;
using Geodesy.Cli.Commands;
using Geodesy.Core;

namespace Geodesy.Cli;

/// <summary>
/// The command tree and the one place that turns exceptions into exit codes: 2 for the user's
/// mistakes (InputException), 1 for runtime failures, one line on stderr, never a stack trace.
/// </summary>
public static class GeodesyCli
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "Geodesy: train small networks, measure their loss-landscape geometry, compute " +
            "generalization measures and rank them over populations of models.");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        return root;
    }

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = BuildRoot();
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                // System.CommandLine lists an enum's values one per line; errors stay on one line.
                string message = string.Join(" ", parse.Errors[0].Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(part => part.Trim()));
                stderr.WriteLine($"geodesy: {message} (see '{string.Join(' ', CommandPath(parse).Prepend("geodesy"))} --help')");
                return ExitUsage;
            }
            return parse.Invoke(config);
        }
        catch (Exception e) when (Unwrap(e) is InputException ie)
        {
            stderr.WriteLine($"geodesy: error: {ie.Message}");
            return ExitUsage;
        }
        catch (Exception e) when (Unwrap(e) is ComputationException ce)
        {
            stderr.WriteLine($"geodesy: failed: {ce.Message}");
            return ExitFailure;
        }
        catch (Exception e) when (Unwrap(e) is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"geodesy: error: {Unwrap(e).Message}");
            return ExitUsage;
        }
        catch (Exception e)
        {
            var inner = Unwrap(e);
            stderr.WriteLine($"geodesy: internal error ({inner.GetType().Name}): {inner.Message}");
            if (Environment.GetEnvironmentVariable("GEODESY_DEBUG") == "1") stderr.WriteLine(inner);
            return ExitFailure;
        }
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(0, r.Command.Name);
        return names;
    }

    private static Exception Unwrap(Exception e)
    {
        while ((e is System.Reflection.TargetInvocationException || e is AggregateException) && e.InnerException != null)
            e = e.InnerException;
        return e;
    }
}
