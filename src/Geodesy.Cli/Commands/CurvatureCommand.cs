using System.CommandLine;
using System.Globalization;
using Geodesy.Cli.Output;
using Geodesy.Core.Curvature;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Reports;
using static TorchSharp.torch;

namespace Geodesy.Cli.Commands;

/// <summary>
/// `geodesy curvature`: the options of <see cref="CurvatureAnalysis"/> (eigenvalues, traces,
/// spectral densities and per-layer results of the Hessian, GGN, Fisher, empirical Fisher and
/// gradient covariance on a prefix of the training set) and its table; the JSON document is
/// "geodesy.curvature/1" (docs/curvature.md).
/// </summary>
public static class CurvatureCommand
{
    public static Command Create()
    {
        var source = new ModelSourceOptions("weights DIR/final.safetensors, arch and data (with its subset, label noise, normalization) from DIR/run.json");
        var examples = CommonOptions.Examples("Compute on the first N examples of the training set (its order interleaves the classes, so any prefix is stratified; default: all)", oldName: "--subset");
        var matrix = new Option<string>("--matrix") { Description = "Comma-separated matrices: " + string.Join(", ", CurvatureAnalysis.MatrixNames), DefaultValueFactory = _ => "hessian" };
        var topK = new Option<int>("--top-k") { Description = "Number of largest eigenvalues (0: none)", DefaultValueFactory = _ => 1 };
        var bottomK = new Option<int>("--bottom-k") { Description = "Number of smallest (most negative) eigenvalues, by Lanczos" };
        var trace = new Option<bool>("--trace") { Description = "Estimate the trace (Hutch++ with standard error)" };
        var traceMatvecs = new Option<long>("--trace-matvecs") { Description = "Products per trace estimate (Hutch++ budget; >= 3·params makes it exact)", DefaultValueFactory = _ => 100 };
        var density = new Option<bool>("--density") { Description = "Spectral density by stochastic Lanczos quadrature" };
        var slqSteps = new Option<int>("--slq-steps") { Description = "Lanczos steps per SLQ run", DefaultValueFactory = _ => 90 };
        var slqRuns = new Option<int>("--slq-runs") { Description = "Random probes (runs) of SLQ", DefaultValueFactory = _ => 10 };
        var plot = new Option<string?>("--plot") { Description = "Write the spectral density plot (log-scale density vs eigenvalue) to this PNG (implies --density)" };
        var perLayer = new Option<bool>("--per-layer") { Description = "Also the top eigenvalue (and trace with --trace) of each layer's diagonal block" };
        var method = new Option<string>("--method") { Description = "Eigen-solver: lanczos, or power (power iteration with deflation at PyHessian's defaults, for comparison)", DefaultValueFactory = _ => "lanczos" };
        method.AcceptOnlyFromAmong("lanczos", "power");
        var tol = new Option<double>("--tol") { Description = "Lanczos: relative accuracy asked for (residual <= tol·|eigenvalue|)", DefaultValueFactory = _ => 1e-3 };
        var maxMatvecs = new Option<long?>("--max-matvecs") { Description = "Product budget of each eigen-solve (default: lanczos 1000, power 100 per eigenvalue)" };
        var dtype = new Option<string>("--dtype") { Description = "float32 or float64 (recommended for accuracy)", DefaultValueFactory = _ => "float32" };
        dtype.AcceptOnlyFromAmong("float32", "float64");
        var mode = new Option<string>("--mode") { Description = "eval (BatchNorm running statistics, no dropout) or train (batch statistics, fixed dropout masks)", DefaultValueFactory = _ => "eval" };
        mode.AcceptOnlyFromAmong("eval", "train");
        var weightDecay = new Option<double>("--include-weight-decay") { Description = "Add X/2·||w||² to the loss (the Hessian and GGN gain X·I); default 0: excluded" };
        var streamBatch = CommonOptions.StreamBatch();
        var fisherSamples = new Option<int>("--fisher-samples") { Description = "Labels drawn from the model per example for --matrix fisher", DefaultValueFactory = _ => 1 };
        var overlap = new Option<bool>("--overlap") { Description = "Report ||P_k g||²/||g||², the fraction of the gradient in the span of the top-k eigenvectors" };
        var comparePower = new Option<bool>("--compare-power") { Description = "Run both Lanczos and power iteration for the top-k and report their products, times and ratios" };
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("curvature", "Curvature of a trained model on its training set: top/bottom eigenvalues, trace, spectral density, per layer, for the Hessian, GGN, Fisher, empirical Fisher and gradient covariance.");
        Option[] options =
        [
            .. source.All, .. examples.Both, matrix, topK, bottomK, trace, traceMatvecs, density, slqSteps, slqRuns, plot, perLayer, method, tol,
            maxMatvecs, dtype, mode, weightDecay, .. streamBatch.Both, fisherSamples, overlap, comparePower, seed, threads, json,
        ];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            // With --json - the document alone goes to stdout and the readable summary to stderr.
            var output = parse.GetValue(json) == "-" ? parse.InvocationConfiguration.Error : parse.InvocationConfiguration.Output;
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var (count, examplesOption) = examples.Read(parse);
            string? plotPath = parse.GetValue(plot);
            var settings = new CurvatureSettings
            {
                Matrices = CurvatureSettings.ParseMatrices(parse.GetValue(matrix)!),
                TopK = parse.GetValue(topK),
                BottomK = parse.GetValue(bottomK),
                Trace = parse.GetValue(trace),
                Density = parse.GetValue(density) || plotPath is not null,
                PerLayer = parse.GetValue(perLayer),
                Power = parse.GetValue(method) == "power",
                Tol = parse.GetValue(tol),
                MaxMatvecs = parse.GetValue(maxMatvecs),
                TraceMatvecs = parse.GetValue(traceMatvecs),
                SlqSteps = parse.GetValue(slqSteps),
                SlqRuns = parse.GetValue(slqRuns),
                FisherSamples = parse.GetValue(fisherSamples),
                Overlap = parse.GetValue(overlap),
                ComparePower = parse.GetValue(comparePower),
                Seed = parse.GetValue(seed),
                StreamBatch = streamBatch.Read(parse).Value,
                TrainMode = parse.GetValue(mode) == "train",
                WeightDecay = parse.GetValue(weightDecay),
                Examples = count,
                ExamplesOption = examplesOption,
            };
            settings.Validate();
            string? jsonDest = parse.GetValue(json);
            CommonOptions.CheckOutputFolder(jsonDest == "-" ? null : jsonDest, "--json");
            CommonOptions.CheckOutputFolder(plotPath, "--plot");

            var report = new JsonReport("curvature", parse.Tokens.Select(t => t.Value));
            using var loaded = source.Bind(parse, parse.GetValue(dtype) == "float64" ? ScalarType.Float64 : ScalarType.Float32).Load();
            var result = CurvatureAnalysis.Run(loaded, settings, line => output.WriteLine(line));
            PrintTable(output, result.Matrices, settings);
            if (plotPath is { } png)
            {
                var series = result.Matrices.Where(r => r.Density is not null).Select(r => new DensitySeries(r.Name, r.Density!.Grid, r.Density.Density)).ToList();
                CurvaturePlots.SpectralDensityPng(png, $"Spectral density (SLQ) of {loaded.Source.Arch} on {result.Examples:N0} examples", series);
                output.WriteLine($"density plot written to {png}");
            }
            if (jsonDest is not null)
            {
                result.WriteTo(report.Root, report.Cost, report.Provenance);
                report.Write(jsonDest, parse.InvocationConfiguration.Output);
            }
            if (result.Status == SolverStatus.Diverged)
            {
                parse.InvocationConfiguration.Error.WriteLine("geodesy: failed: an operator returned non-finite values (status diverged); try --dtype float64");
                return GeodesyCli.ExitFailure;
            }
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static void PrintTable(TextWriter output, IReadOnlyList<MatrixResult> results, CurvatureSettings s)
    {
        var rows = new List<string[]> { new[] { "matrix", s.TopK > 0 ? $"top-{s.TopK} eigenvalues" : "top eigenvalues", "trace ± s.e.", "status", "products", "seconds" } };
        foreach (var r in results)
        {
            rows.Add([r.Name, ShortList(r.Top), r.Trace is { } t ? $"{Fmt(t.Estimate)} ± {Fmt(t.StdErr)}" : "-",
                r.Status.ToSnakeCase(), r.Matvecs.ToString(CultureInfo.InvariantCulture), r.Seconds.ToString("F2", CultureInfo.InvariantCulture)]);
            foreach (var (layer, top) in r.Layers)
                rows.Add([$"  layer {layer}", Fmt(top), "", "", "", ""]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(row => row[c].Length)).ToArray();
        foreach (var row in rows)
            output.WriteLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        foreach (var r in results)
        {
            if (r.Density is { } d)
                output.WriteLine($"{r.Name} density: E[λ] = {Fmt(d.Moments[0].Value)}, E[λ²] = {Fmt(d.Moments[1].Value)} ({d.Runs.Count} runs, {d.Matvecs} products)");
            if (r.Comparison is { } c)
                output.WriteLine($"{r.Name} lanczos vs power: {c["lanczos_matvecs"]} vs {c["power_matvecs"]} products (ratio {Fmt((double?)c["matvec_ratio"])}), " +
                    $"{c["lanczos_seconds"]} vs {c["power_seconds"]} s (ratio {Fmt((double?)c["time_ratio"])}), max relative difference {Fmt((double?)c["max_relative_difference"])}");
            if (r.Json["gradient_overlap"] is { } o)
                output.WriteLine($"{r.Name}: fraction of the gradient in the top-{s.TopK} eigenspace {Fmt((double?)o)}");
        }
    }

    private static string ShortList(double[] values)
    {
        if (values.Length == 0) return "-";
        const int shown = 5;
        string text = string.Join(", ", values.Take(shown).Select(v => Fmt(v)));
        return values.Length > shown ? $"{text}, … ({values.Length})" : text;
    }

    private static string Fmt(double? x) => CurvatureAnalysis.Fmt(x);
}
