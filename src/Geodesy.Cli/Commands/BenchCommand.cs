using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Training.Probes;
using Geodesy.Experiments.Benchmarks;

namespace Geodesy.Cli.Commands;

/// <summary>
/// `geodesy bench grad-hvp|per-example|train|eigen|trace|peer`: costs measured as ratios within one run
/// (docs/bench.md). The measuring code lives in Geodesy.Experiments.Benchmarks.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "Measure costs as ratios within one run: curvature products vs a gradient, per-example norms, training loop overhead, Lanczos vs power iteration, Hutch++ vs Hutchinson.");
        cmd.Subcommands.Add(GradHvp());
        cmd.Subcommands.Add(PerExample());
        cmd.Subcommands.Add(Train());
        cmd.Subcommands.Add(Eigen());
        cmd.Subcommands.Add(Trace());
        cmd.Subcommands.Add(Peer());
        cmd.Subcommands.Add(Probes());
        cmd.Subcommands.Add(Slice());
        return cmd;
    }

    /// <summary>The options every benchmark takes, created per subcommand.</summary>
    private sealed class Shared
    {
        public Option<string> Data { get; } = CommonOptions.Data();
        public Option<string> Arch { get; } = CommonOptions.Arch();
        public Option<string?> Weights { get; } = new("--weights") { Description = "Safetensors weights to load (default: the seeded initialization)" };
        public Option<long> Seed { get; } = CommonOptions.Seed();
        public Option<string> DType { get; } = new("--dtype") { Description = "float32 | float64", DefaultValueFactory = _ => "float32" };
        public Option<int?> Threads { get; } = CommonOptions.Threads();
        public Option<string?> Json { get; } = CommonOptions.Json();

        public Shared(Command cmd)
        {
            foreach (var o in new Option[] { Data, Arch, Weights, Seed, DType, Threads, Json }) cmd.Options.Add(o);
        }

        /// <summary>Applies --threads, starts the report's clock, then loads model and data.</summary>
        public BenchSetup Load(ParseResult parse, DataOptions? dataOptions = null)
        {
            CommonOptions.ApplyThreads(parse.GetValue(Threads));
            _report = new JsonReport("bench", parse.Tokens.Select(t => t.Value));
            return BenchSetup.Load(new BenchModelSpec
            {
                Arch = parse.GetValue(Arch)!,
                Data = parse.GetValue(Data)!,
                Weights = parse.GetValue(Weights),
                Seed = parse.GetValue(Seed),
                DType = BenchModelSpec.ParseDType(parse.GetValue(DType)!),
                DataOptions = dataOptions ?? new DataOptions(Seed: parse.GetValue(Seed)),
            });
        }

        private JsonReport? _report;

        /// <summary>Prints the summary and writes the JSON document (schema geodesy.bench/1) when --json is given.</summary>
        public int Finish(ParseResult parse, BenchSetup setup, string benchmark, string summary,
            Action<JsonObject> fill, long matvecs, long gradients)
        {
            var output = parse.InvocationConfiguration.Output;
            var load = LoadAverage();
            output.WriteLine($"bench {benchmark} {setup.Spec.Arch} on {setup.Spec.Data}: {summary}" +
                (load is null ? "" : $" [load average {load.ToJsonString()}, {TorchSharp.torch.get_num_threads()} threads]"));
            if (parse.GetValue(Json) is not { } destination) return GeodesyCli.ExitOk;
            var report = _report ?? throw new InvalidOperationException("Load must run before Finish");
            report.Root["benchmark"] = benchmark;
            report.Root["arch"] = setup.Spec.Arch;
            report.Root["data"] = setup.Spec.Data;
            report.Root["dtype"] = parse.GetValue(DType);
            report.Root["weights"] = setup.Spec.Weights ?? "seeded-init";
            fill(report.Root);
            if (load is not null) report.Root["load_average"] = load;
            report.Cost["matvecs"] = matvecs;
            report.Cost["gradients"] = gradients;
            report.Provenance["seed"] = setup.Spec.Seed;
            report.Provenance["data_sha256"] = setup.Data.Sha256;
            report.Provenance["weights_sha256"] = setup.WeightsSha256;
            report.Write(destination, output);
            return GeodesyCli.ExitOk;
        }

        /// <summary>Says so when no weights were given, since curvature at initialization differs from a trained model's.</summary>
        public void NoteSeededInit(ParseResult parse, BenchSetup setup)
        {
            if (setup.SeededInit)
                parse.InvocationConfiguration.Output.WriteLine($"note: no --weights given; using the seeded initialization (seed {setup.Spec.Seed})");
        }
    }

    private static Command GradHvp()
    {
        var cmd = new Command("grad-hvp", "Median time of one gradient, one Hessian-vector product (R-operator, and double backprop for comparison) and one GGN-vector product over the same batch, interleaved; their ratios.");
        var s = new Shared(cmd);
        var (batch, reps, warmup) = TimingOptionsOf(cmd);
        cmd.SetAction(parse =>
        {
            var options = Timing(parse, batch, reps, warmup, s);
            using var setup = s.Load(parse);
            var r = GradHvpBenchmark.Run(setup, options);
            return s.Finish(parse, setup, "grad-hvp", r.Summary(), r.AddTo, r.Matvecs, r.Gradients);
        });
        return cmd;
    }

    private static Command PerExample()
    {
        var cmd = new Command("per-example", "Median time of the per-example gradient norms of a batch against one gradient of the same batch.");
        var s = new Shared(cmd);
        var (batch, reps, warmup) = TimingOptionsOf(cmd);
        cmd.SetAction(parse =>
        {
            var options = Timing(parse, batch, reps, warmup, s);
            using var setup = s.Load(parse);
            var r = GradHvpBenchmark.RunPerExample(setup, options);
            return s.Finish(parse, setup, "per-example", r.Summary() + $" [{r.PerExampleMethod}]", r.AddTo, r.Matvecs, r.Gradients);
        });
        return cmd;
    }

    private static Command Train()
    {
        var cmd = new Command("train", "Training throughput (examples/s) and the time of an epoch relative to forward+backward alone over the same batches.");
        var s = new Shared(cmd);
        var epochs = new Option<int>("--epochs") { Description = "Epochs to train", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size", DefaultValueFactory = _ => 64 };
        var subset = CommonOptions.Subset();
        cmd.Options.Add(epochs);
        cmd.Options.Add(batch);
        cmd.Options.Add(subset);
        cmd.SetAction(parse =>
        {
            var options = new TrainBenchOptions { Epochs = parse.GetValue(epochs), Batch = parse.GetValue(batch), Seed = parse.GetValue(s.Seed) };
            if (options.Epochs < 1) throw new InputException($"--epochs must be at least 1 (got {options.Epochs})");
            if (options.Batch < 1) throw new InputException($"--batch must be at least 1 (got {options.Batch})");
            using var setup = s.Load(parse, new DataOptions(parse.GetValue(subset), Seed: parse.GetValue(s.Seed)));
            var r = TrainBenchmark.Run(setup, options);
            return s.Finish(parse, setup, "train", r.Summary(), r.AddTo, 0, r.Gradients);
        });
        return cmd;
    }

    private static Command Eigen()
    {
        var cmd = new Command("eigen", "Top-k Hessian eigenvalues by Lanczos and by power iteration (PyHessian defaults): matvecs, time and their ratios.");
        var s = new Shared(cmd);
        var subset = new Option<int>("--subset") { Description = "Examples of the Hessian (first N of the fixed stratified shuffle)", DefaultValueFactory = _ => 1000 };
        var k = new Option<int>("--k") { Description = "Number of top eigenvalues", DefaultValueFactory = _ => 10 };
        var tol = new Option<double>("--tol") { Description = "Relative accuracy of both solvers", DefaultValueFactory = _ => 1e-3 };
        var maxMatvecs = new Option<long>("--max-matvecs") { Description = "Lanczos budget of products", DefaultValueFactory = _ => 1000 };
        foreach (var o in new Option[] { subset, k, tol, maxMatvecs }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(subset);
            if (n < 1) throw new InputException($"--subset must be at least 1 (got {n})");
            if (parse.GetValue(k) < 1) throw new InputException($"--k must be at least 1 (got {parse.GetValue(k)})");
            double t = parse.GetValue(tol);
            if (!(t > 0 && t < 1)) throw new InputException($"--tol must be in (0, 1) (got {t.ToString(CultureInfo.InvariantCulture)})");
            using var setup = s.Load(parse, new DataOptions(n, Seed: parse.GetValue(s.Seed)));
            s.NoteSeededInit(parse, setup);
            var r = EigenBenchmark.Run(setup, new EigenBenchOptions
            {
                BatchSize = n, K = parse.GetValue(k), Tol = t, Seed = parse.GetValue(s.Seed), LanczosMaxMatvecs = parse.GetValue(maxMatvecs),
            });
            return s.Finish(parse, setup, "eigen", r.Summary(), r.AddTo, r.Lanczos.Matvecs + r.Power.Matvecs, 0);
        });
        return cmd;
    }

    private static Command Trace()
    {
        var cmd = new Command("trace", "Hessian-vector products Hutch++ and Hutchinson need for a relative error target, against an exact or long reference trace.");
        var s = new Shared(cmd);
        var subset = new Option<int>("--subset") { Description = "Examples of the Hessian (first N of the fixed stratified shuffle)", DefaultValueFactory = _ => 1000 };
        var target = new Option<double>("--target") { Description = "Relative error to reach (root mean square over seeds)", DefaultValueFactory = _ => 0.01 };
        var seeds = new Option<int>("--seeds") { Description = "Independent runs per budget", DefaultValueFactory = _ => 5 };
        var maxBudget = new Option<long>("--max-budget") { Description = "Largest budget tried (budgets double from 8)", DefaultValueFactory = _ => 512 };
        var reference = new Option<long>("--reference-matvecs") { Description = "Exact trace when the model has at most this many parameters, else a Hutch++ reference run with this many products", DefaultValueFactory = _ => 4000 };
        foreach (var o in new Option[] { subset, target, seeds, maxBudget, reference }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(subset);
            if (n < 1) throw new InputException($"--subset must be at least 1 (got {n})");
            var options = new TraceBenchOptions
            {
                BatchSize = n, TargetRelativeError = parse.GetValue(target), Seeds = parse.GetValue(seeds),
                MaxBudget = parse.GetValue(maxBudget), ReferenceMatvecs = parse.GetValue(reference), Seed = parse.GetValue(s.Seed),
            };
            options.Validate();
            using var setup = s.Load(parse, new DataOptions(n, Seed: parse.GetValue(s.Seed)));
            s.NoteSeededInit(parse, setup);
            var r = TraceBenchmark.Run(setup, options);
            return s.Finish(parse, setup, "trace", r.Summary(), r.AddTo, r.TotalMatvecs, 0);
        });
        return cmd;
    }

    private static Command Peer()
    {
        var cmd = new Command("peer", "Geodesy against PyTorch (Debian's python3-torch) on the same digits and weights, in interleaved rounds: " +
            "training, gradient, Hessian-vector products, top-10 eigenvalues, Hutchinson trace, per-example norms; each pair's time ratio.");
        var rounds = new Option<int>("--rounds") { Description = "Measured rounds after one warm-up round; ratios are medians over rounds", DefaultValueFactory = _ => 3 };
        var items = new Option<string?>("--items") { Description = $"Comma-separated work items (default all: {string.Join(",", PeerItems.All.Select(i => i.Name))})" };
        var python = new Option<string>("--python") { Description = "Python interpreter with Debian's python3-torch", DefaultValueFactory = _ => "/usr/bin/python3" };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions per round of the gradient and product items", DefaultValueFactory = _ => 20 };
        var workDir = new Option<string?>("--work-dir") { Description = "Keep the files handed to Python (digits, weights, job) in DIR (default: a temporary folder)" };
        var memoryExamples = new Option<int>("--memory-examples")
        {
            Description = "Digits of the peak-memory pair (top-10 eigenvalues and trace of the cnn, each side in its own process); 0 skips it",
            DefaultValueFactory = _ => 2000,
        };
        var keepOpenBlas = new Option<bool>("--keep-openblas-env") { Description = "Pass OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE on to Python (default: removed, so OpenBLAS picks its own kernel)" };
        var threads = CommonOptions.Threads();
        var seed = CommonOptions.Seed();
        var json = CommonOptions.Json();
        foreach (var o in new Option[] { rounds, items, python, reps, workDir, keepOpenBlas, threads, seed, json, memoryExamples }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var report = new JsonReport("bench", parse.Tokens.Select(t => t.Value));
            var options = new PeerBenchOptions
            {
                Rounds = parse.GetValue(rounds), Threads = TorchSharp.torch.get_num_threads(), Seed = parse.GetValue(seed),
                Python = parse.GetValue(python)!, Reps = parse.GetValue(reps), WorkDir = parse.GetValue(workDir),
                KeepOpenBlasEnvironment = parse.GetValue(keepOpenBlas),
                MemoryExamples = parse.GetValue(memoryExamples), GeodesyCommand = ThisGeodesy(),
                Items = parse.GetValue(items) is { } list
                    ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    : PeerItems.All.Select(i => i.Name).ToArray(),
            };
            options.Validate();
            var output = parse.InvocationConfiguration.Output;
            var loadBefore = LoadAverage();
            var r = PeerBenchmark.Run(options, line => parse.InvocationConfiguration.Error.WriteLine(line));
            // With --json - the document alone goes to stdout.
            var summary = parse.GetValue(json) == "-" ? parse.InvocationConfiguration.Error : output;
            foreach (var line in r.SummaryLines()) summary.WriteLine("bench peer " + line);
            if (parse.GetValue(json) is not { } destination) return GeodesyCli.ExitOk;
            report.Root["benchmark"] = "peer";
            r.AddTo(report.Root);
            if (loadBefore is not null) report.Root["load_average_start"] = loadBefore;
            if (LoadAverage() is { } loadAfter) report.Root["load_average"] = loadAfter;
            report.Cost["matvecs"] = r.Matvecs;
            report.Cost["gradients"] = r.Gradients;
            report.Provenance["seed"] = options.Seed;
            report.Provenance["data_sha256"] = r.Setup["data_sha256"]?.GetValue<string>();
            report.Write(destination, output);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    /// <summary>The command that starts this program again: the apphost, or `dotnet geodesy.dll`.</summary>
    private static string[] ThisGeodesy()
    {
        string process = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, typeof(BenchCommand).Assembly.Location]
            : [process];
    }

    private static (Renamed<int> Examples, Option<int> Reps, Option<int> Warmup) TimingOptionsOf(Command cmd)
    {
        var examples = new Renamed<int>(new Option<int>("--examples") { Description = "Examples in the batch every operation runs on (the first N training examples)", DefaultValueFactory = _ => 1000 }, "--batch");
        var reps = new Option<int>("--reps") { Description = "Timed repetitions of each operation", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed repetitions first", DefaultValueFactory = _ => 3 };
        foreach (var option in examples.Both.Append(reps).Append(warmup)) cmd.Options.Add(option);
        return (examples, reps, warmup);
    }

    private static TimingOptions Timing(ParseResult parse, Renamed<int> examples, Option<int> reps, Option<int> warmup, Shared s)
    {
        var (count, name) = examples.Read(parse);
        var options = new TimingOptions { Batch = count, Reps = parse.GetValue(reps), Warmup = parse.GetValue(warmup), Seed = parse.GetValue(s.Seed) };
        if (options.Batch < 1) throw new InputException($"{name} must be at least 1 (got {options.Batch})");
        if (options.Reps < 1) throw new InputException($"--reps must be at least 1 (got {options.Reps})");
        if (options.Warmup < 0) throw new InputException($"--warmup must be at least 0 (got {options.Warmup})");
        return options;
    }

    /// <summary>The 1, 5 and 15 minute load averages (Linux /proc/loadavg), to judge how noisy the machine was.</summary>
    private static JsonArray? LoadAverage()
    {
        try
        {
            if (!File.Exists("/proc/loadavg")) return null;
            var parts = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new JsonArray(parts.Take(3).Select(p => (JsonNode)double.Parse(p, CultureInfo.InvariantCulture)).ToArray());
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Command Probes()
    {
        var cmd = new Command("probes", "What --probe adds to training time: the same run with and without the probes, back to back, repeated; the median paired overhead and each probe's seconds.");
        var s = new Shared(cmd);
        var probe = new Option<string[]>("--probe") { Description = "A probe as for geodesy train (repeatable; default: hessian-top@every=100 and fisher-trace:on=batch@every=10)", AllowMultipleArgumentsPerToken = false };
        var defaults = new ProbeBenchOptions();
        var examples = new Option<int>("--probe-examples") { Description = "The probe set: the first N training examples", DefaultValueFactory = _ => defaults.ProbeExamples };
        var epochs = new Option<int>("--epochs") { Description = "Epochs of each run (5 = 625 steps of batch 64 on the 8,000 digits)", DefaultValueFactory = _ => defaults.Epochs };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size", DefaultValueFactory = _ => defaults.Batch };
        var reps = new Option<int>("--reps") { Description = "Pairs of runs (plain, probed), in alternating order", DefaultValueFactory = _ => defaults.Reps };
        foreach (var o in new Option[] { probe, examples, epochs, batch, reps }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var given = parse.GetValue(probe) ?? [];
            var options = new ProbeBenchOptions
            {
                Probes = given.Length > 0 ? given : ProbeBenchOptions.DefaultProbes,
                ProbeExamples = parse.GetValue(examples), Epochs = parse.GetValue(epochs), Batch = parse.GetValue(batch),
                Reps = parse.GetValue(reps), Seed = parse.GetValue(s.Seed),
            };
            using var setup = s.Load(parse);
            var r = ProbeBenchmark.Run(setup, options);
            return s.Finish(parse, setup, "probes", r.Summary(), r.AddTo, r.Matvecs, 0);
        });
        return cmd;
    }

    private static Command Slice()
    {
        var cmd = new Command("slice", "Time of a 2D N x N landscape slice (train and test loss and accuracy at every point) against N² bare forward passes over the same digits.");
        var s = new Shared(cmd);
        var defaults = new SliceBenchOptions();
        var examples = new Option<int>("--examples") { Description = "Digits per point: the first half of them from the training set, the rest from the test set", DefaultValueFactory = _ => defaults.Examples };
        var grid = new Option<int>("--grid") { Description = "Points per direction (N x N)", DefaultValueFactory = _ => defaults.Grid };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions of each (medians)", DefaultValueFactory = _ => defaults.Reps };
        var warmup = new Option<int>("--warmup") { Description = "Untimed repetitions first", DefaultValueFactory = _ => defaults.Warmup };
        foreach (var o in new Option[] { examples, grid, reps, warmup }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var options = new SliceBenchOptions
            {
                Examples = parse.GetValue(examples), Grid = parse.GetValue(grid), Reps = parse.GetValue(reps), Warmup = parse.GetValue(warmup), Seed = parse.GetValue(s.Seed),
            };
            options.Validate();
            using var setup = s.Load(parse);
            s.NoteSeededInit(parse, setup);
            var r = SliceBenchmark.Run(setup, options);
            return s.Finish(parse, setup, "slice", r.Summary(), r.AddTo, 0, 0);
        });
        return cmd;
    }
}
