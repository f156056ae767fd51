namespace Geodesy.Tests;

/// <summary>
/// xunit trait values for tests a developer may skip while iterating:
/// `bash tests/run.sh --fast` (or `dotnet test --filter "Category!=Slow&amp;Category!=Service"`)
/// leaves them out; the CI and plain `bash tests/run.sh` run everything.
/// </summary>
public static class TestCategory
{
    public const string Key = "Category";
    /// <summary>Takes seconds: child processes (CLI verbs, workers killed with SIGKILL), whole studies.</summary>
    public const string Slow = "Slow";
    /// <summary>Needs a local service: a throw-away PostgreSQL server or headless Chromium.</summary>
    public const string Service = "Service";
}
