using System.Diagnostics;
using System.Text;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>
/// Debian's Chromium in headless mode, for checking HTML reports as a browser renders them. Each
/// call uses a fresh profile folder, no network services, and is killed (with its whole process
/// tree) after <see cref="Deadline"/> so a test never hangs. Missing Chromium is a test failure
/// that says how to install it.
/// </summary>
public static class HeadlessChromium
{
    public const string Executable = "/usr/bin/chromium";
    public const string InstallHint = "apt-get install -y chromium";
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private static readonly string[] QuietFlags =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ];

    /// <summary>Fails the test with the install command when Chromium is not installed.</summary>
    public static void Require()
    {
        if (!File.Exists(Executable))
            Assert.Fail($"headless Chromium is needed for the report test but {Executable} is missing: install it with `{InstallHint}` (tests/run.sh does)");
    }

    /// <summary>The DOM of the page after it loaded, serialized as HTML.</summary>
    public static string DumpDom(string htmlPath)
    {
        var (stdout, _) = Run("--dump-dom", FileUrl(htmlPath));
        return stdout;
    }

    /// <summary>Renders the page into a PNG screenshot of the given window size; returns its bytes.</summary>
    public static byte[] Screenshot(string htmlPath, string pngPath, int width, int height)
    {
        var (_, stderr) = Run($"--screenshot={pngPath}", $"--window-size={width},{height}", FileUrl(htmlPath));
        Assert.True(File.Exists(pngPath), $"Chromium wrote no screenshot {pngPath}; its stderr:\n{Tail(stderr)}");
        return File.ReadAllBytes(pngPath);
    }

    private static string FileUrl(string path) => new Uri(Path.GetFullPath(path)).AbsoluteUri;

    private static (string Stdout, string Stderr) Run(params string[] args)
    {
        Require();
        using var profile = new TempDir();
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in QuietFlags.Append($"--user-data-dir={profile.Path}").Concat(args)) psi.ArgumentList.Add(a);
        psi.Environment["HOME"] = profile.Path; // keeps caches and crash dumps out of the real home folder
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) if (stderr.Length < 64_000) stderr.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(Deadline))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Assert.Fail($"Chromium did not finish within {Deadline.TotalSeconds:F0} s ({string.Join(' ', args)}); killed it. stderr:\n{Tail(stderr.ToString())}");
        }
        p.WaitForExit(); // flush the asynchronous readers
        Assert.True(p.ExitCode == 0, $"Chromium exited with code {p.ExitCode} ({string.Join(' ', args)}); stderr:\n{Tail(stderr.ToString())}");
        lock (stdout) lock (stderr) return (stdout.ToString(), stderr.ToString());
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
