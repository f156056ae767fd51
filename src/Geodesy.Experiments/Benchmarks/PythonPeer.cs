using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>
/// The PyTorch side of the peer benchmark: one long-lived `python3 peer.py JOB.json` child
/// (bench/peer/peer.py, embedded in this assembly and written next to the job), asked for one work
/// item at a time over stdin/stdout, one JSON object per line, so imports and data loading happen
/// once and the two sides can alternate item by item.
/// </summary>
public sealed class PythonPeer : IDisposable
{
    /// <summary>Variables removed from the child's environment: machine-specific OpenBLAS overrides, so PyTorch runs the kernel OpenBLAS picks itself (reported).</summary>
    public static readonly string[] RemovedVariables = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    public const string InstallHint = "install Debian's python3-torch, python3-numpy and libopenblas0-openmp (bench/peer/run.sh does it with apt-get)";

    private const string ScriptResource = "Geodesy.Experiments.Benchmarks.peer.py";

    private readonly Process _process;
    private readonly List<string> _stderr = [];
    private readonly TimeSpan _timeout;

    private PythonPeer(Process process, TimeSpan timeout, JsonObject libraries)
    {
        _process = process;
        _timeout = timeout;
        Libraries = libraries;
    }

    /// <summary>What the child reported about itself: torch version and config, thread pools, OpenBLAS kernel, loaded libraries.</summary>
    public JsonObject Libraries { get; private set; }

    /// <summary>
    /// Fails fast, before any Geodesy work, when <paramref name="python"/> cannot import torch and
    /// numpy; the message says what to install.
    /// </summary>
    public static void CheckImports(string python, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", "import numpy, torch" }) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi) ?? throw new ComputationException($"could not start '{python}'");
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new ComputationException($"'{python} -c \"import numpy, torch\"' did not finish within {timeout.TotalSeconds:F0} s");
            }
            if (p.ExitCode != 0)
            {
                string last = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() ?? $"exit code {p.ExitCode}";
                throw new ComputationException($"{python} cannot import the PyTorch side's modules ({last}); {InstallHint}");
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InputException($"--python: cannot run '{python}': {e.Message}");
        }
    }

    /// <summary>Writes peer.py into the job's folder and starts it; returns once it has loaded data and models.</summary>
    public static PythonPeer Start(string python, string jobPath, TimeSpan timeout, bool removeOpenBlasVariables = true)
    {
        if (!File.Exists(python)) throw new InputException($"--python: '{python}' does not exist; {InstallHint}");
        string script = WriteScript(Path.GetDirectoryName(Path.GetFullPath(jobPath))!);

        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(jobPath);
        // What the user's environment held, reported, whether removed or passed on.
        var openBlas = new JsonObject { ["removed"] = removeOpenBlasVariables };
        foreach (var name in RemovedVariables)
        {
            openBlas[name] = psi.Environment.TryGetValue(name, out var value) ? value : null;
            if (removeOpenBlasVariables) psi.Environment.Remove(name);
        }
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new ComputationException($"could not start '{python}'");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InputException($"--python: cannot run '{python}': {e.Message}");
        }
        var peer = new PythonPeer(process, timeout, new JsonObject());
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (peer._stderr) peer._stderr.Add(line); };
        process.BeginErrorReadLine();
        try
        {
            var ready = peer.ReadReply("start-up");
            peer.Libraries = ready["libraries"] as JsonObject ?? new JsonObject();
            peer.Libraries["openblas_environment"] = openBlas;
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>Writes peer.py (embedded in this assembly) into <paramref name="folder"/>; returns its path.</summary>
    public static string WriteScript(string folder)
    {
        string script = Path.Combine(folder, "peer.py");
        using var resource = typeof(PythonPeer).Assembly.GetManifestResourceStream(ScriptResource)
            ?? throw new InvalidOperationException($"resource {ScriptResource} is missing from the assembly");
        using var file = File.Create(script);
        resource.CopyTo(file);
        return script;
    }

    /// <summary>Runs one work item in the child and returns its milliseconds and answers.</summary>
    public PeerSample Run(string item, bool warmup)
    {
        var request = new JsonObject { ["item"] = item, ["warmup"] = warmup };
        try
        {
            _process.StandardInput.WriteLine(request.ToJsonString());
            _process.StandardInput.Flush();
        }
        catch (IOException)
        {
            throw Failure($"the PyTorch peer exited before work item '{item}'");
        }
        var reply = ReadReply(item);
        if (reply["ms"] is not JsonValue ms || !ms.TryGetValue(out double milliseconds))
            throw new ComputationException($"the PyTorch peer's reply to '{item}' has no \"ms\": {reply.ToJsonString()}");
        return new PeerSample(milliseconds, reply["detail"] as JsonObject ?? new JsonObject());
    }

    private JsonObject ReadReply(string what)
    {
        var read = _process.StandardOutput.ReadLineAsync();
        if (!read.Wait(_timeout))
        {
            KillChild();
            throw Failure($"the PyTorch peer did not answer '{what}' within {_timeout.TotalSeconds:F0} s");
        }
        string? line = read.Result;
        if (line is null)
        {
            _process.WaitForExit(5000);
            throw Failure($"the PyTorch peer exited during '{what}'");
        }
        JsonObject reply;
        try
        {
            reply = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException)
        {
            throw Failure($"the PyTorch peer wrote something that is not a JSON object during '{what}': {Truncate(line)}");
        }
        if (reply["error"] is JsonValue error)
        {
            string message = error.GetValue<string>();
            throw new ComputationException($"PyTorch peer, work item '{what}': {message}");
        }
        return reply;
    }

    /// <summary>An error naming the child's last stderr line (a Python traceback ends with the cause).</summary>
    private ComputationException Failure(string message)
    {
        string? last;
        lock (_stderr) last = _stderr.LastOrDefault(l => l.Trim().Length > 0);
        return new ComputationException(last is null ? message : $"{message}: {Truncate(last.Trim())}");
    }

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "...";

    private void KillChild()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("{\"quit\": true}");
                _process.StandardInput.Close();
                if (!_process.WaitForExit(10_000)) KillChild();
            }
        }
        catch (IOException)
        {
            KillChild();
        }
        _process.Dispose();
    }
}
