using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>
/// The peak-memory pair of the peer benchmark: the same curvature job (top-k Hessian eigenvalues
/// and the trace, cnn, the first N training digits) run once by each side, each in a process of its
/// own, so the peak resident memory (ru_maxrss) belongs to that job alone. Both processes are
/// children of one `peer.py peak-memory` parent, which waits for them and reads their ru_maxrss:
/// Geodesy's is `geodesy curvature --top-k K --trace`, PyTorch's PyHessian's eigenvalues() and
/// trace() over batches of the same size as Geodesy's streaming batch.
/// </summary>
public static class PeerMemory
{
    /// <summary>Examples per batch on both sides (Geodesy's default --stream-batch).</summary>
    public const int Batch = 1000;

    /// <summary>The entry of the job file that peer.py's memory-job reads.</summary>
    public static JsonObject Job(PeerBenchOptions options, string weights, string inputs, string labels) => new()
    {
        ["arch"] = PeerBenchOptions.CnnArch, ["weights"] = weights, ["inputs"] = inputs, ["labels"] = labels,
        ["batch"] = Batch, ["k"] = options.K, ["tol"] = options.Tol, ["max_iter"] = new PowerOptions().MaxIter,
        ["trace_max_iter"] = new PowerOptions().MaxIter, ["seed"] = options.Seed, ["threads"] = options.Threads,
    };

    /// <summary>Runs both jobs, Geodesy's first, and returns the "memory" object of the report.</summary>
    public static JsonObject Measure(PeerBenchOptions options, string folder, string jobPath, string weights, Action<string> log)
    {
        var command = options.GeodesyCommand ?? throw new InvalidOperationException("bench peer: the memory pair needs GeodesyCommand");
        string geodesyJson = Path.Combine(folder, "memory-geodesy.json");
        string[] curvature =
        [
            .. command, "curvature", "--arch", PeerBenchOptions.CnnArch, "--weights", weights, "--data", DataSpecs.DefaultSpec,
            "--examples", options.MemoryExamples.ToString(CultureInfo.InvariantCulture), "--top-k", options.K.ToString(CultureInfo.InvariantCulture),
            "--tol", options.Tol.ToString("R", CultureInfo.InvariantCulture), "--trace", "--stream-batch", Batch.ToString(CultureInfo.InvariantCulture),
            "--seed", options.Seed.ToString(CultureInfo.InvariantCulture), "--threads", options.Threads.ToString(CultureInfo.InvariantCulture),
            "--json", geodesyJson,
        ];
        log($"peer: peak memory, geodesy curvature --top-k {options.K} --trace on {PeerBenchOptions.CnnArch}, {options.MemoryExamples} digits (own process)");
        string script = Path.Combine(folder, "peer.py");
        var g = PeakMemory(options.Python, script, curvature, options.ItemTimeout, removeOpenBlasVariables: false);
        var geodesy = Side(g, "geodesy " + string.Join(' ', curvature.Skip(command.Count).Select(a => a.Contains('/') ? Path.GetFileName(a) : a)));
        if (ReadJson(geodesyJson)?["matrices"]?["hessian"] is JsonObject hessian)
        {
            geodesy["top_eigenvalues"] = hessian["top_eigenvalues"]?.DeepClone();
            geodesy["trace"] = hessian["trace"]?["estimate"]?.DeepClone();
            geodesy["matvecs"] = hessian["matvecs"]?.DeepClone();
        }

        string pythonJson = Path.Combine(folder, "memory-pytorch.json");
        log($"peer: peak memory, PyHessian eigenvalues(top_n={options.K}) + trace() on {PeerBenchOptions.CnnArch}, {options.MemoryExamples} digits (own process)");
        var p = PeakMemory(options.Python, script, [options.Python, script, "memory-job", jobPath, pythonJson], options.ItemTimeout,
            removeOpenBlasVariables: !options.KeepOpenBlasEnvironment);
        var pytorch = Side(p, "peer.py memory-job (PyHessian eigenvalues() + trace(), full-dataset mode)");
        if (ReadJson(pythonJson) is JsonObject answers)
            foreach (var key in new[] { "top_eigenvalues", "trace", "trace_probes", "matvecs" }) pytorch[key] = answers[key]?.DeepClone();

        double gKb = g.PeakKb, pKb = p.PeakKb;
        log(string.Create(CultureInfo.InvariantCulture, $"peer: peak memory: geodesy {gKb / 1024:F0} MB, pytorch {pKb / 1024:F0} MB ({gKb / pKb:F2}x)"));
        return new JsonObject
        {
            ["work"] = $"top-{options.K} Hessian eigenvalues (tol {options.Tol:G}) and the Hessian trace, {PeerBenchOptions.CnnArch}, " +
                       $"the first {options.MemoryExamples} training digits in batches of {Batch}, each side in a process of its own",
            ["geodesy_method"] = "geodesy curvature --top-k --trace (Lanczos, Hutch++ with 100 products, kept forwards within their memory cap)",
            ["pytorch_method"] = "PyHessian eigenvalues(maxIter=100, tol, top_n) and trace(maxIter=100, tol) in its full-dataset mode (dataloader_hv_product)",
            ["measured_by"] = "ru_maxrss of the waited-for child (getrusage RUSAGE_CHILDREN in a parent that runs only that child)",
            ["examples"] = options.MemoryExamples,
            ["geodesy_peak_rss_mb"] = Math.Round(gKb / 1024, 1),
            ["pytorch_peak_rss_mb"] = Math.Round(pKb / 1024, 1),
            ["peak_rss_ratio"] = Math.Round(gKb / pKb, 4),
            ["agreement"] = new JsonObject
            {
                ["top_eigenvalues_relative_difference"] = Difference(geodesy, pytorch, "top_eigenvalues", AgreementKind.SortedDescending),
                ["trace_relative_difference"] = Difference(geodesy, pytorch, "trace", AgreementKind.Scalar),
            },
            ["geodesy"] = geodesy,
            ["pytorch"] = pytorch,
        };
    }

    private static double? Difference(JsonObject g, JsonObject p, string key, AgreementKind kind) =>
        PeerPair.Numbers(g[key]) is { } a && PeerPair.Numbers(p[key]) is { } b ? PeerPair.RelativeDifference(a, b, kind) : null;

    /// <summary>One line for the summary printed with the pairs.</summary>
    public static string SummaryLine(JsonObject memory) => string.Create(CultureInfo.InvariantCulture,
        $"peak_rss_curvature_cnn: geodesy {memory["geodesy_peak_rss_mb"]} MB, pytorch {memory["pytorch_peak_rss_mb"]} MB, ratio {memory["peak_rss_ratio"]} " +
        $"({memory["examples"]} digits; seconds: geodesy {memory["geodesy"]?["seconds"]}, pytorch {memory["pytorch"]?["seconds"]})");

    /// <summary>A job's peak resident memory (kB) and wall seconds.</summary>
    public readonly record struct Measured(double PeakKb, double Seconds);

    private static JsonObject Side(Measured m, string command) => new()
    {
        ["command"] = command,
        ["peak_rss_kb"] = m.PeakKb,
        ["seconds"] = Math.Round(m.Seconds, 2),
    };

    /// <summary>
    /// Runs <paramref name="command"/> as the only child of `python peer.py peak-memory` (standard
    /// library only) and returns the child's ru_maxrss; fails with the child's last stderr line.
    /// </summary>
    public static Measured PeakMemory(string python, string script, IReadOnlyList<string> command, TimeSpan timeout, bool removeOpenBlasVariables)
    {
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(script))!,
        };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("peak-memory");
        foreach (var a in command) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        if (removeOpenBlasVariables)
            foreach (var name in PythonPeer.RemovedVariables) psi.Environment.Remove(name);
        using var process = Process.Start(psi) ?? throw new ComputationException($"could not start '{python}'");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new ComputationException($"bench peer: the peak-memory job '{string.Join(' ', command)}' did not finish within {timeout.TotalMinutes:F0} min");
        }
        var line = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        JsonObject? reply = null;
        try
        {
            reply = line is null ? null : JsonNode.Parse(line) as JsonObject;
        }
        catch (JsonException)
        {
            // reported below
        }
        if (reply is null || process.ExitCode != 0)
            throw new ComputationException($"bench peer: the peak-memory wrapper failed (exit {process.ExitCode}): " +
                                           (stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? line ?? "no output"));
        int exit = reply["exit_code"]?.GetValue<int>() ?? -1;
        if (exit != 0)
            throw new ComputationException($"bench peer: the peak-memory job '{string.Join(' ', command)}' failed (exit {exit}): {reply["last_stderr"]}");
        return new Measured(reply["peak_rss_kb"]!.GetValue<double>(), reply["seconds"]!.GetValue<double>());
    }

    private static JsonNode? ReadJson(string path)
    {
        try
        {
            return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
