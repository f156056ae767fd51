using Geodesy.Cli;

namespace Geodesy.Tests;

/// <summary>Shared helpers: temporary folders and running the CLI in-process.</summary>
public static class TestSupport
{
    public sealed class TempDir : IDisposable
    {
        public TempDir() => Directory.CreateDirectory(Path);
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "geodesy-tests-" + Guid.NewGuid().ToString("N")[..12]);
        public string this[string relative] => System.IO.Path.Combine(Path, relative);
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public sealed record CliResult(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs the CLI in-process (same entry point as the geodesy executable).</summary>
    public static CliResult RunCli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GeodesyCli.Run(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Asserts a clean user error: exit 2, exactly one line on stderr containing the text, no stack trace.</summary>
    public static void AssertUsageError(CliResult r, string expectedFragment)
    {
        Assert.Equal(GeodesyCli.ExitUsage, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expectedFragment, lines[0], StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
