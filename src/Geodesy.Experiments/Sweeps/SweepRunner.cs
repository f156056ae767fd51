using System.Diagnostics;
using Geodesy.Core;
using Geodesy.Experiments.Store;

namespace Geodesy.Experiments.Sweeps;

/// <summary>
/// Registers a sweep and its trials in the store (idempotent: a restarted sweep resumes), then
/// runs workers: in this process for one worker, as child `geodesy worker` processes for more,
/// each with cores/workers threads, so a crash of one costs only its current trial.
/// </summary>
public static class SweepRunner
{
    /// <summary>Stores the sweep and its trials; returns the sweep id and the trial count.</summary>
    public static (string SweepId, int Trials) Register(IExperimentStore store, SweepSpec spec)
    {
        string id = spec.Id();
        store.UpsertSweep(id, spec.ToJson().ToJsonString());
        var trials = spec.Expand();
        store.AddTrials(id, trials.Select(t => new TrialSpec(t.Id, t.Spec.ToJson().ToJsonString(),
            new System.Text.Json.Nodes.JsonObject(t.Hyperparameters.Select(kv => KeyValuePair.Create(kv.Key, (System.Text.Json.Nodes.JsonNode?)kv.Value))).ToJsonString())));
        return (id, trials.Count);
    }

    /// <summary>
    /// Runs <paramref name="workers"/> workers on the sweep until no trial is left. With more than
    /// one, starts child processes with <paramref name="childCommand"/> (the geodesy executable
    /// and leading arguments) and waits for them.
    /// </summary>
    public static void RunWorkers(IExperimentStore store, string storeUri, string sweepId, string runsDir, int workers,
        IReadOnlyList<string> childCommand, Action<string> log, CancellationToken cancel = default)
    {
        if (workers < 1) throw new InputException($"--workers must be at least 1 (got {workers})");
        if (workers == 1)
        {
            new SweepWorker(store, sweepId, runsDir, WorkerName(0), new WorkerOptions(), log).Run(cancel);
            return;
        }
        int threads = Math.Max(1, Environment.ProcessorCount / workers);
        var children = new List<Process>();
        try
        {
            for (int i = 0; i < workers; i++)
            {
                var psi = new ProcessStartInfo(childCommand[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in childCommand.Skip(1)) psi.ArgumentList.Add(a);
                foreach (var a in new[] { "worker", "--store", storeUri, "--sweep", sweepId, "--runs", runsDir, "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture), "--name", WorkerName(i) })
                    psi.ArgumentList.Add(a);
                var p = Process.Start(psi) ?? throw new ComputationException("could not start a worker process");
                p.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) log(line); };
                p.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) log(line); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                children.Add(p);
            }
            foreach (var p in children)
            {
                while (!p.WaitForExit(500))
                    if (cancel.IsCancellationRequested) { p.Kill(entireProcessTree: true); }
                p.WaitForExit();
            }
            var failed = children.Where(p => p.ExitCode != 0).ToList();
            if (failed.Count > 0) throw new ComputationException($"{failed.Count} of {workers} worker processes failed (exit codes {string.Join(", ", failed.Select(p => p.ExitCode))})");
        }
        finally
        {
            foreach (var p in children) { if (!p.HasExited) p.Kill(entireProcessTree: true); p.Dispose(); }
        }
    }

    /// <summary>How to start this same program again (apphost, or dotnet + the dll).</summary>
    public static IReadOnlyList<string> SelfCommand()
    {
        string exe = Environment.ProcessPath ?? "geodesy";
        string? entry = System.Reflection.Assembly.GetEntryAssembly()?.Location;
        bool viaDotnet = Path.GetFileNameWithoutExtension(exe) == "dotnet";
        // Under a test host the entry assembly is not geodesy: find geodesy.dll beside this assembly.
        if (entry is null || !entry.EndsWith("geodesy.dll", StringComparison.Ordinal))
        {
            string beside = Path.Combine(AppContext.BaseDirectory, "geodesy.dll");
            return File.Exists(beside) ? [DotnetHost(), beside] : [exe];
        }
        return viaDotnet ? [exe, entry] : [exe];
    }

    private static string DotnetHost()
    {
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (root != null && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        string exe = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(exe) == "dotnet" ? exe : "dotnet";
    }

    public static string WorkerName(int i) => $"{Environment.MachineName}-{Environment.ProcessId}-w{i}";
}
