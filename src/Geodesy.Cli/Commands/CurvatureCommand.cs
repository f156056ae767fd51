using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Experiments.Reports;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Cli.Commands;

/// <summary>
/// `geodesy curvature`: eigenvalues, traces, spectral densities and per-layer results of the
/// Hessian, GGN, Fisher, empirical Fisher and gradient covariance of a trained model on (a prefix
/// of) its training set, as the "geodesy.curvature/1" JSON document (docs/curvature.md).
/// </summary>
public static class CurvatureCommand
{
    /// <summary>The --matrix names, in the order they are reported.</summary>
    public static readonly IReadOnlyList<string> MatrixNames = ["hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance"];

    /// <summary>PyHessian's power iteration settings, used by --method power and --compare-power.</summary>
    private static readonly PowerOptions PyHessianPower = new();

    /// <summary>Everything the computation needs, checked before any tensor is made.</summary>
    private sealed record Settings
    {
        public required string[] Matrices { get; init; }
        public required int TopK { get; init; }
        public required int BottomK { get; init; }
        public required bool Trace { get; init; }
        public required bool Density { get; init; }
        public required string? Plot { get; init; }
        public required bool PerLayer { get; init; }
        public required bool Power { get; init; }
        public required double Tol { get; init; }
        public required long? MaxMatvecs { get; init; }
        public required long TraceMatvecs { get; init; }
        public required int SlqSteps { get; init; }
        public required int SlqRuns { get; init; }
        public required int FisherSamples { get; init; }
        public required bool Overlap { get; init; }
        public required bool ComparePower { get; init; }
        public required long Seed { get; init; }
    }

    public static Command Create()
    {
        var arch = CommonOptions.Arch(required: false);
        var weights = new Option<string?>("--weights") { Description = "Weights of the model (safetensors, PyTorch names); default with --run: DIR/final.safetensors" };
        var data = CommonOptions.Data();
        var subset = CommonOptions.Subset();
        subset.Description = "Compute on the first N examples of the training set (its order interleaves the classes, so any prefix is stratified)";
        var normalize = CommonOptions.Normalize();
        var run = new Option<string?>("--run") { Description = "A run folder of 'geodesy train': weights DIR/final.safetensors, arch and data (with its subset, label noise, normalization) from DIR/run.json" };
        var matrix = new Option<string>("--matrix") { Description = "Comma-separated matrices: " + string.Join(", ", MatrixNames), DefaultValueFactory = _ => "hessian" };
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
        var batch = new Option<int>("--batch") { Description = "Examples per mini-batch while streaming over the data (memory, not results)", DefaultValueFactory = _ => 1000 };
        var fisherSamples = new Option<int>("--fisher-samples") { Description = "Labels drawn from the model per example for --matrix fisher", DefaultValueFactory = _ => 1 };
        var overlap = new Option<bool>("--overlap") { Description = "Report ||P_k g||²/||g||², the fraction of the gradient in the span of the top-k eigenvectors" };
        var comparePower = new Option<bool>("--compare-power") { Description = "Run both Lanczos and power iteration for the top-k and report their products, times and ratios" };
        var seed = CommonOptions.Seed();
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("curvature", "Curvature of a trained model on its training set: top/bottom eigenvalues, trace, spectral density, per layer, for the Hessian, GGN, Fisher, empirical Fisher and gradient covariance.")
        {
            arch, weights, data, subset, normalize, run, matrix, topK, bottomK, trace, traceMatvecs, density, slqSteps, slqRuns, plot,
            perLayer, method, tol, maxMatvecs, dtype, mode, weightDecay, batch, fisherSamples, overlap, comparePower, seed, threads, json,
        };
        cmd.SetAction(parse =>
        {
            // With --json - the document alone goes to stdout and the readable summary to stderr.
            var output = parse.GetValue(json) == "-" ? parse.InvocationConfiguration.Error : parse.InvocationConfiguration.Output;
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var settings = new Settings
            {
                Matrices = ParseMatrices(parse.GetValue(matrix)!),
                TopK = parse.GetValue(topK),
                BottomK = parse.GetValue(bottomK),
                Trace = parse.GetValue(trace),
                Density = parse.GetValue(density) || parse.GetValue(plot) is not null,
                Plot = parse.GetValue(plot),
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
            };
            Validate(settings);
            double wd = parse.GetValue(weightDecay);
            if (!double.IsFinite(wd) || wd < 0) throw new InputException($"--include-weight-decay must be finite and >= 0 (got {wd})");
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new InputException($"--batch must be at least 1 (got {batchSize})");
            string? jsonDest = parse.GetValue(json);
            CheckOutputFolder(jsonDest == "-" ? null : jsonDest, "--json");
            CheckOutputFolder(settings.Plot, "--plot");

            // Where the model and data come from: explicit options win over the run folder.
            string? runDir = parse.GetValue(run);
            RunSpec? runSpec = runDir is null ? null : RunFiles.ReadSpec(runDir);
            string archSpec = parse.GetValue(arch) ?? runSpec?.Arch ?? throw new InputException("give --arch SPEC (or --run DIR)");
            string weightsPath = parse.GetValue(weights)
                ?? (runDir is null ? throw new InputException("give --weights FILE (or --run DIR)") : Path.Combine(runDir, RunFiles.FinalWeights));
            if (!File.Exists(weightsPath)) throw new InputException($"--weights: file '{weightsPath}' does not exist");
            bool dataGiven = parse.GetResult(data) is { Implicit: false };
            string dataSpec = dataGiven || runSpec is null ? parse.GetValue(data)! : runSpec.Data;
            var dataOptions = runSpec is not null && !dataGiven
                ? runSpec.DataOptions
                : new DataOptions(Normalize: parse.GetValue(normalize));
            if (parse.GetValue(normalize)) dataOptions = dataOptions with { Normalize = true };

            var report = new JsonReport("curvature", parse.Tokens.Select(t => t.Value));
            using var split = DataSpecs.Load(dataSpec, dataOptions);
            var train = split.Train;
            ModelZoo.Validate(archSpec, train.InputShape, train.NumClasses);
            int? prefix = parse.GetValue(subset);
            if (prefix is int n && (n < 1 || n > train.Count))
                throw new InputException($"--subset {n} is outside [1, {train.Count}] (the number of training examples of '{dataSpec}')");
            long examples = prefix ?? train.Count;
            long dimension = ModelZoo.CountParameters(archSpec, train.InputShape, train.NumClasses);
            CheckAgainstDimension(settings, dimension);

            var scalar = parse.GetValue(dtype) == "float64" ? ScalarType.Float64 : ScalarType.Float32;
            using var model = ModelZoo.Create(archSpec, train.InputShape, train.NumClasses, seed: 0, scalar);
            SafeTensors.LoadInto(model, weightsPath);
            var problem = CurvatureProblem.FromData(model, train.Inputs.narrow(0, 0, examples), train.Labels.narrow(0, 0, examples),
                new CurvatureOptions
                {
                    BatchSize = batchSize,
                    Mode = parse.GetValue(mode) == "train" ? CurvatureMode.Train : CurvatureMode.Eval,
                    WeightDecay = wd,
                    IncludeWeightDecay = wd > 0,
                });

            var (loss, gradient, accuracy) = problem.LossAndGradient();
            using var _gradient = gradient;
            double gradientNorm = gradient.norm().ToDouble();
            output.WriteLine($"curvature of {archSpec} ({dimension:N0} parameters) on the first {examples:N0} training examples of {dataSpec}, {parse.GetValue(dtype)}, {parse.GetValue(mode)} mode");
            output.WriteLine($"loss {Fmt(loss)}  accuracy {accuracy:F4}  gradient norm {Fmt(gradientNorm)}");

            var results = new List<MatrixResult>();
            foreach (string name in settings.Matrices)
                results.Add(ComputeMatrix(name, problem, model, gradient, settings, line => output.WriteLine(line)));
            PrintTable(output, results, settings);

            if (settings.Plot is { } png)
            {
                var series = results.Where(r => r.Density is not null).Select(r => new DensitySeries(r.Name, r.Density!.Grid, r.Density.Density)).ToList();
                CurvaturePlots.SpectralDensityPng(png, $"Spectral density (SLQ) of {archSpec} on {examples:N0} examples", series);
                output.WriteLine($"density plot written to {png}");
            }

            var status = results.Select(r => r.Status).DefaultIfEmpty(SolverStatus.Converged).Max();
            if (jsonDest is not null)
            {
                var root = report.Root;
                root["arch"] = archSpec;
                root["weights"] = weightsPath;
                root["run"] = runDir;
                root["data"] = new JsonObject
                {
                    ["spec"] = dataSpec,
                    ["split"] = "train",
                    ["subset"] = prefix,
                    ["training_examples"] = train.Count,
                    ["normalize"] = dataOptions.Normalize,
                    ["label_noise"] = dataOptions.LabelNoise,
                };
                root["params"] = dimension;
                root["examples"] = examples;
                root["dtype"] = parse.GetValue(dtype);
                root["mode"] = parse.GetValue(mode);
                root["include_weight_decay"] = wd;
                root["method"] = settings.Power ? "power" : "lanczos";
                root["tol"] = settings.Tol;
                root["loss"] = Finite(loss);
                root["accuracy"] = accuracy;
                root["gradient_norm"] = Finite(gradientNorm);
                root["status"] = status.ToSnakeCase();
                var matrices = new JsonObject();
                foreach (var r in results) matrices[r.Name] = r.Json;
                root["matrices"] = matrices;
                if (results.FirstOrDefault(r => r.Json["comparison"] is not null) is { } compared)
                {
                    var comparison = compared.Json["comparison"]!.DeepClone().AsObject();
                    comparison.Insert(0, "matrix", compared.Name);
                    root["comparison"] = comparison;
                }
                report.Cost["matvecs"] = problem.Cost.Products;
                report.Cost["gradients"] = problem.Cost.GradientPasses;
                report.Provenance["seed"] = settings.Seed;
                report.Provenance["data_sha256"] = prefix is int p
                    ? Provenance.Sha256Hex(Encoding.UTF8.GetBytes($"geodesy-curvature-data/1\n{split.Sha256}\nfirst={p}\n"))
                    : split.Sha256;
                report.Provenance["weights_sha256"] = Provenance.Sha256OfFile(weightsPath);
                report.Write(jsonDest, parse.InvocationConfiguration.Output);
            }
            if (status == SolverStatus.Diverged)
            {
                parse.InvocationConfiguration.Error.WriteLine("geodesy: failed: an operator returned non-finite values (status diverged); try --dtype float64");
                return GeodesyCli.ExitFailure;
            }
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static string[] ParseMatrices(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new InputException("--matrix: give at least one of " + string.Join(", ", MatrixNames));
        foreach (var name in names)
            if (!MatrixNames.Contains(name))
                throw new InputException($"--matrix: unknown matrix '{name}' (known: {string.Join(", ", MatrixNames)})");
        return MatrixNames.Where(names.Contains).ToArray();
    }

    private static void Validate(Settings s)
    {
        if (s.TopK < 0) throw new InputException($"--top-k must be >= 0 (got {s.TopK})");
        if (s.BottomK < 0) throw new InputException($"--bottom-k must be >= 0 (got {s.BottomK})");
        if (!(s.Tol > 0 && s.Tol < 1)) throw new InputException($"--tol must be in (0, 1) (got {s.Tol})");
        if (s.MaxMatvecs is < 1) throw new InputException($"--max-matvecs must be at least 1 (got {s.MaxMatvecs})");
        if (s.Trace && s.TraceMatvecs < 4) throw new InputException($"--trace-matvecs must be at least 4 for Hutch++ (got {s.TraceMatvecs})");
        if (s.Density && s.SlqSteps < 1) throw new InputException($"--slq-steps must be at least 1 (got {s.SlqSteps})");
        if (s.Density && s.SlqRuns < 1) throw new InputException($"--slq-runs must be at least 1 (got {s.SlqRuns})");
        if (s.FisherSamples < 1) throw new InputException($"--fisher-samples must be at least 1 (got {s.FisherSamples})");
        if (s.Overlap && s.TopK == 0) throw new InputException("--overlap needs the top-k eigenvectors: give --top-k K with K >= 1");
        if (s.ComparePower && s.TopK == 0) throw new InputException("--compare-power compares top-k solvers: give --top-k K with K >= 1");
    }

    private static void CheckAgainstDimension(Settings s, long dimension)
    {
        if (s.TopK > dimension) throw new InputException($"--top-k {s.TopK} is larger than the number of parameters {dimension}");
        if (s.BottomK > dimension) throw new InputException($"--bottom-k {s.BottomK} is larger than the number of parameters {dimension}");
    }

    private static void CheckOutputFolder(string? path, string option)
    {
        if (path is null) return;
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        if (!Directory.Exists(folder)) throw new InputException($"{option}: folder '{folder}' does not exist");
    }

    /// <summary>The results of one matrix: its JSON entry plus what the table and the plot need.</summary>
    private sealed record MatrixResult(string Name, JsonObject Json, SolverStatus Status, long Matvecs, double Seconds,
        double[] Top, TraceResult? Trace, SlqResult? Density, IReadOnlyList<(string Layer, double Top)> Layers, JsonObject? Comparison);

    private static ILinearOperator CreateOperator(string name, CurvatureProblem problem, Settings s) => name switch
    {
        "hessian" => new HessianOperator(problem),
        "ggn" => new GgnOperator(problem),
        "fisher" => new MonteCarloFisherOperator(problem, s.FisherSamples, s.Seed),
        "empirical-fisher" => new EmpiricalFisherOperator(problem),
        "gradient-covariance" => new GradientCovarianceOperator(problem),
        _ => throw new InputException($"--matrix: unknown matrix '{name}'"),
    };

    private static MatrixResult ComputeMatrix(string name, CurvatureProblem problem, nn.Module model, Tensor gradient, Settings s, Action<string> log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var op = CreateOperator(name, problem, s);
        var json = new JsonObject();
        var statuses = new List<SolverStatus>();
        double[] top = [];
        TraceResult? trace = null;
        SlqResult? density = null;
        JsonObject? comparison = null;
        var layers = new List<(string, double)>();
        try
        {
            if (s.TopK > 0)
            {
                // One product before timed solves, so neither method of a comparison pays the first call's set-up.
                if (s.ComparePower) WarmUp(op, s.Seed);
                var (eig, eigCpu) = CpuTimed(() => TopEigen(op, s.TopK, s.Power, s, returnVectors: s.Overlap));
                using var vectors = eig.Eigenvectors;
                top = eig.Eigenvalues;
                json["top_eigenvalues"] = Numbers(eig.Eigenvalues);
                json["residuals"] = Numbers(eig.Residuals);
                json["relative_residuals"] = Numbers(eig.RelativeResiduals);
                json["eigen_method"] = eig.Method;
                json["eigen_status"] = eig.Status.ToSnakeCase();
                json["eigen_matvecs"] = eig.Matvecs;
                json["eigen_seconds"] = Math.Round(eig.Seconds, 4);
                statuses.Add(eig.Status);
                if (s.Overlap)
                {
                    json["gradient_overlap"] = vectors is null || gradient.norm().ToDouble() == 0
                        ? null : Finite(SubspaceOverlap.Fraction(vectors, gradient));
                }
                if (s.ComparePower)
                {
                    var (other, otherCpu) = CpuTimed(() => TopEigen(op, s.TopK, !s.Power, s, returnVectors: false));
                    comparison = s.Power ? Compare(other, otherCpu, eig, eigCpu) : Compare(eig, eigCpu, other, otherCpu);
                    json["comparison"] = comparison;
                    // The main status is the chosen method's; a budget-limited comparison run is reported inside "comparison".
                }
            }
            if (s.BottomK > 0)
            {
                var bottom = Lanczos.BottomK(op, new EigenOptions { K = s.BottomK, Tol = s.Tol, MaxMatvecs = s.MaxMatvecs ?? 1000, Seed = s.Seed });
                json["bottom_eigenvalues"] = Numbers(bottom.Eigenvalues);
                json["bottom_residuals"] = Numbers(bottom.Residuals);
                json["bottom_status"] = bottom.Status.ToSnakeCase();
                json["bottom_matvecs"] = bottom.Matvecs;
                statuses.Add(bottom.Status);
            }
            if (s.Trace)
            {
                trace = TraceEstimators.HutchPlusPlus(op, new TraceOptions { MaxMatvecs = s.TraceMatvecs, Seed = s.Seed });
                json["trace"] = TraceJson(trace);
                statuses.Add(trace.Status);
            }
            if (s.Density)
            {
                density = SpectralDensity.Slq(op, new SlqOptions { Steps = s.SlqSteps, Runs = s.SlqRuns, Seed = s.Seed });
                json["density"] = new JsonObject
                {
                    ["grid"] = Numbers(density.Grid),
                    ["density"] = Numbers(density.Density),
                    ["moments"] = Numbers(density.Moments.Select(m => m.Value).ToArray()),
                    ["moments_stderr"] = new JsonArray(density.Moments.Select(m => (JsonNode?)Finite(m.StdErr)).ToArray()),
                    ["sigma"] = Finite(density.Sigma),
                    ["steps"] = Math.Min(s.SlqSteps, op.Dimension),
                    ["runs"] = density.Runs.Count,
                    ["method"] = "slq",
                    ["status"] = density.Status.ToSnakeCase(),
                    ["matvecs"] = density.Matvecs,
                };
                statuses.Add(density.Status);
            }
            if (s.PerLayer)
            {
                var perLayer = new JsonArray();
                foreach (var block in BlockOperator.PerLayer(op, model))
                {
                    var entry = new JsonObject { ["layer"] = block.Block, ["params"] = block.Dimension };
                    var eig = TopEigen(block, 1, s.Power, s, returnVectors: false);
                    double? value = eig.Eigenvalues.Length > 0 ? eig.Eigenvalues[0] : null;
                    entry["top_eigenvalue"] = Finite(value);
                    entry["residual"] = eig.Residuals.Length > 0 ? Finite(eig.Residuals[0]) : null;
                    statuses.Add(eig.Status);
                    var layerStatus = eig.Status;
                    if (s.Trace)
                    {
                        var t = TraceEstimators.HutchPlusPlus(block, new TraceOptions { MaxMatvecs = s.TraceMatvecs, Seed = s.Seed });
                        entry["trace"] = TraceJson(t);
                        statuses.Add(t.Status);
                        layerStatus = (SolverStatus)Math.Max((int)layerStatus, (int)t.Status);
                    }
                    entry["status"] = layerStatus.ToSnakeCase();
                    entry["matvecs"] = block.Applications;
                    perLayer.Add(entry);
                    if (value is double v) layers.Add((block.Block, v));
                }
                json["per_layer"] = perLayer;
            }
        }
        finally
        {
            (op as IDisposable)?.Dispose();
        }
        var status = statuses.DefaultIfEmpty(SolverStatus.Converged).Max();
        double seconds = clock.Elapsed.TotalSeconds;
        json["status"] = status.ToSnakeCase();
        json["matvecs"] = op.Applications;
        json["product_method"] = op switch { HessianOperator h => h.Method, OutputCurvatureOperator o => o.Method, _ => null };
        json["seconds"] = Math.Round(seconds, 4);
        if (name == "fisher") json["fisher_samples"] = s.FisherSamples;
        log($"{name}: {status.ToSnakeCase()}, {op.Applications} products, {seconds:F2} s");
        return new MatrixResult(name, json, status, op.Applications, seconds, top, trace, density, layers, comparison);
    }

    /// <summary>Top-k eigenpairs by Lanczos (--tol, --max-matvecs) or by power iteration at PyHessian's defaults.</summary>
    private static EigenResult TopEigen(ILinearOperator op, int k, bool power, Settings s, bool returnVectors) => power
        ? PowerIteration.TopK(op, PyHessianPower with { K = k, MaxMatvecs = s.MaxMatvecs, Seed = s.Seed, ReturnVectors = returnVectors })
        : Lanczos.TopK(op, new EigenOptions { K = k, Tol = s.Tol, MaxMatvecs = s.MaxMatvecs ?? 1000, Seed = s.Seed, ReturnVectors = returnVectors });

    /// <summary>The result and the process CPU time it took (robust to other processes on a shared machine).</summary>
    private static (EigenResult Result, double CpuSeconds) CpuTimed(Func<EigenResult> solve)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        var before = process.TotalProcessorTime;
        var result = solve();
        process.Refresh();
        return (result, (process.TotalProcessorTime - before).TotalSeconds);
    }

    private static void WarmUp(ILinearOperator op, long seed)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(unchecked((ulong)seed));
        op.Apply(randn([op.Dimension], dtype: op.DType, generator: generator));
    }

    /// <summary>
    /// Products, wall time and agreement of the two solvers. Power iteration finds eigenvalues by
    /// decreasing magnitude, so its values are sorted descending before they are paired.
    /// </summary>
    private static JsonObject Compare(EigenResult lanczos, double lanczosCpu, EigenResult power, double powerCpu)
    {
        var sortedPower = power.Eigenvalues.OrderByDescending(x => x).ToArray();
        int pairs = Math.Min(lanczos.Eigenvalues.Length, sortedPower.Length);
        double maxDiff = 0;
        for (int i = 0; i < pairs; i++)
        {
            double reference = Math.Abs(lanczos.Eigenvalues[i]);
            double diff = Math.Abs(lanczos.Eigenvalues[i] - sortedPower[i]);
            maxDiff = Math.Max(maxDiff, reference > 0 ? diff / reference : diff);
        }
        return new JsonObject
        {
            ["lanczos_matvecs"] = lanczos.Matvecs,
            ["power_matvecs"] = power.Matvecs,
            ["matvec_ratio"] = lanczos.Matvecs > 0 ? Finite((double)power.Matvecs / lanczos.Matvecs) : null,
            ["lanczos_seconds"] = Math.Round(lanczos.Seconds, 4),
            ["power_seconds"] = Math.Round(power.Seconds, 4),
            ["time_ratio"] = lanczos.Seconds > 0 ? Finite(power.Seconds / lanczos.Seconds) : null,
            ["lanczos_cpu_seconds"] = Math.Round(lanczosCpu, 4),
            ["power_cpu_seconds"] = Math.Round(powerCpu, 4),
            ["cpu_time_ratio"] = lanczosCpu > 0 ? Finite(powerCpu / lanczosCpu) : null,
            ["max_relative_difference"] = pairs > 0 ? Finite(maxDiff) : null,
            ["lanczos_status"] = lanczos.Status.ToSnakeCase(),
            ["power_status"] = power.Status.ToSnakeCase(),
            ["lanczos_eigenvalues"] = Numbers(lanczos.Eigenvalues),
            ["power_eigenvalues"] = Numbers(power.Eigenvalues),
            ["power_max_iter"] = PyHessianPower.MaxIter,
            ["power_tol"] = PyHessianPower.Tol,
        };
    }

    private static JsonObject TraceJson(TraceResult t) => new()
    {
        ["estimate"] = Finite(t.Estimate),
        ["stderr"] = Finite(t.StdErr),
        ["method"] = t.Method,
        ["matvecs"] = t.Matvecs,
        ["sketch_size"] = t.SketchSize,
        ["probes"] = t.Probes,
        ["status"] = t.Status.ToSnakeCase(),
    };

    private static void PrintTable(TextWriter output, IReadOnlyList<MatrixResult> results, Settings s)
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

    private static string Fmt(double? x) => x is double v ? v.ToString("G5", CultureInfo.InvariantCulture) : "-";

    private static double? Finite(double? x) => x is double v && double.IsFinite(v) ? v : null;

    private static JsonArray Numbers(double[] values) => new(values.Select(v => (JsonNode?)Finite(v)).ToArray());
}
