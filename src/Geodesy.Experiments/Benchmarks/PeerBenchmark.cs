using System.Globalization;
using System.Text.Json.Nodes;
using Geodesy.Core;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>The work items both sides run, by the names of the JSON's "pairs".</summary>
public static class PeerItems
{
    public const string Train = "train", Grad = "grad", Hvp = "hvp", HvpRepeated = "hvp_repeated", Eigen = "eigen_top10",
        Trace = "trace_hutchinson", PerExample = "per_example_norms", EigenCnn = "eigen_top10_cnn";

    /// <summary>Every item, in the order they run within a round.</summary>
    public static IReadOnlyList<PeerItem> All { get; } =
    [
        new(Train, "train mlp:784-100-10 from the same initialization: 5 epochs, batch 64, momentum SGD (lr 0.05, momentum 0.9), " +
                   "8,000 digits in the same order, train and test evaluation before training and after every epoch",
            "Trainer.Train", "torch.optim.SGD loop", 1.15, [new("final_train_loss", AgreementKind.Scalar), new("test_accuracy", AgreementKind.Scalar)]),
        new(Grad, "one gradient of the mean cross-entropy, mlp:784-32-32-10, 1,000 digits, eval mode",
            "CurvatureProblem.LossAndGradient", "torch.autograd.grad", 1.15, [new("loss", AgreementKind.Scalar), new("gradient_norm", AgreementKind.Scalar)]),
        new(Hvp, "one Hessian-vector product from scratch, same model and digits, the same unit vector",
            "HessianOperator.Apply on a new operator", "double backprop (grad with create_graph, then grad of it)", 1.2,
            [new("vHv", AgreementKind.Scalar), new("hv_norm", AgreementKind.Scalar)]),
        new(HvpRepeated, "repeated Hessian-vector products on one fixed batch, same model, digits and vector",
            "HessianOperator.Apply, one operator reused", "PyHessian's kept gradient graph (retain_graph)", 1.2,
            [new("vHv", AgreementKind.Scalar), new("hv_norm", AgreementKind.Scalar)]),
        new(Eigen, "top-10 Hessian eigenvalues, mlp:784-32-32-10, 1,000 digits, tol 1e-3",
            "Lanczos.TopK (residual <= tol·|λ|)", "PyHessian eigenvalues(): power iteration with deflation, maxIter 100, relative change < tol",
            1.0 / 3, [new("eigenvalues", AgreementKind.SortedDescending)]),
        new(Trace, "Hutchinson trace of the Hessian, 100 Rademacher probes, same model and digits",
            "TraceEstimators.Hutchinson", "PyHessian trace() loop on the kept graph, fixed probe count", null,
            [new("estimate", AgreementKind.Scalar)]),
        new(PerExample, "per-example gradient norms of the 1,000 digits, same model",
            "PerExampleGradients.Norms", "a loop of single-example gradients", null, [new("norms", AgreementKind.Elementwise)], ["norms"]),
        new(EigenCnn, "top-10 Hessian eigenvalues, cnn (channels 16-32), 1,000 digits, tol 1e-3",
            "Lanczos.TopK (residual <= tol·|λ|)", "PyHessian eigenvalues(): power iteration with deflation, maxIter 100, relative change < tol",
            1.0 / 3, [new("eigenvalues", AgreementKind.SortedDescending)]),
    ];

    public static PeerItem Find(string name) => All.FirstOrDefault(i => i.Name == name)
        ?? throw new InputException($"--items: unknown work item '{name}' (known: {string.Join(", ", All.Select(i => i.Name))})");
}

/// <summary>
/// One work item: what it computes, how each side does it, the target (largest Geodesy / PyTorch
/// time ratio, null when there is none), the answers compared and the bulky keys not reported.
/// </summary>
public sealed record PeerItem(string Name, string Work, string GeodesyMethod, string PyTorchMethod, double? TargetMaxRatio,
    IReadOnlyList<AgreementKey> Agreement, IReadOnlyList<string>? DropFromReportOrNull = null)
{
    public IReadOnlyList<string> DropFromReport => DropFromReportOrNull ?? [];
}

public sealed record PeerBenchOptions
{
    public const string TrainArch = "mlp:784-100-10", CurvatureArch = "mlp:784-32-32-10", CnnArch = "cnn";
    public const int TrainBatch = 64;

    /// <summary>Measured rounds (after one untimed warm-up round); each round runs every item once on each side.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>Threads of both sides (libtorch intra-op threads; torch.set_num_threads in Python).</summary>
    public required int Threads { get; init; }
    public long Seed { get; init; }
    public string Python { get; init; } = "/usr/bin/python3";
    public IReadOnlyList<string> Items { get; init; } = PeerItems.All.Select(i => i.Name).ToArray();
    /// <summary>Timed repetitions of the fast items (gradient, products) per round; their median is the round's time.</summary>
    public int Reps { get; init; } = 20;
    public int WarmupReps { get; init; } = 3;
    public int TrainEpochs { get; init; } = 5;
    public int CurvatureExamples { get; init; } = 1000;
    /// <summary>Epochs of the default trainer that give the curvature items their weights.</summary>
    public int CurvatureTrainEpochs { get; init; } = 3;
    public int CnnTrainEpochs { get; init; } = 1;
    public int K { get; init; } = 10;
    public double Tol { get; init; } = 1e-3;
    public long LanczosMaxMatvecs { get; init; } = 1000;
    public int HutchinsonProbes { get; init; } = 100;
    /// <summary>Digits of the peak-memory pair (cnn curvature job, each side in its own process); 0 skips it.</summary>
    public int MemoryExamples { get; init; } = 2000;
    /// <summary>How to start this geodesy (executable, and the assembly when run by `dotnet`): the memory pair's Geodesy process.</summary>
    public IReadOnlyList<string>? GeodesyCommand { get; init; }
    /// <summary>Pass OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE on to Python (by default they are removed, so OpenBLAS picks its own kernel).</summary>
    public bool KeepOpenBlasEnvironment { get; init; }
    /// <summary>Keep the exchanged files here (null: a temporary folder, deleted afterwards).</summary>
    public string? WorkDir { get; init; }
    /// <summary>Longest wait for one reply of the PyTorch side.</summary>
    public TimeSpan ItemTimeout { get; init; } = TimeSpan.FromMinutes(20);
    /// <summary>Idle time between the two sides' runs, so the other side's OpenMP threads have gone to sleep.</summary>
    public TimeSpan Pause { get; init; } = TimeSpan.FromMilliseconds(50);

    public void Validate()
    {
        if (Rounds < 1) throw new InputException($"--rounds must be at least 1 (got {Rounds})");
        if (Threads < 1) throw new InputException($"--threads must be at least 1 (got {Threads})");
        if (Reps < 1) throw new InputException($"--reps must be at least 1 (got {Reps})");
        if (WarmupReps < 0) throw new InputException($"--warmup must be at least 0 (got {WarmupReps})");
        if (!File.Exists(Python)) throw new InputException($"--python: '{Python}' does not exist; {PythonPeer.InstallHint}");
        if (Items.Count == 0) throw new InputException("--items: name at least one work item");
        foreach (var name in Items) PeerItems.Find(name);
        if (Items.Distinct().Count() != Items.Count) throw new InputException("--items: an item is named twice");
        if (MemoryExamples < 0) throw new InputException($"--memory-examples must be at least 0 (got {MemoryExamples})");
        if (MemoryExamples > 0 && GeodesyCommand is not { Count: > 0 })
            throw new InvalidOperationException("bench peer: the peak-memory pair needs the command that starts geodesy");
    }
}

/// <summary>Everything `geodesy bench peer` reports.</summary>
public sealed record PeerBenchResult(IReadOnlyList<PeerPair> Pairs, JsonObject Libraries, JsonObject Setup, int Rounds, int Threads)
{
    /// <summary>The peak-memory pair (<see cref="PeerMemory"/>), null when skipped.</summary>
    public JsonObject? Memory { get; init; }
    /// <summary>Hessian-vector products and gradient passes of the Geodesy side (warm-up included).</summary>
    public long Matvecs { get; init; }
    public long Gradients { get; init; }

    public void AddTo(JsonObject root)
    {
        root["rounds"] = Rounds;
        root["threads"] = Threads;
        root["ratio_definition"] = "geodesy_ms / pytorch_ms per round; ratio = median over rounds (below 1: Geodesy faster)";
        root["pairs"] = PeerReport.Pairs(Pairs);
        root["libraries"] = Libraries.DeepClone();
        root["setup"] = Setup.DeepClone();
        if (Memory is not null) root["memory"] = Memory.DeepClone();
    }

    /// <summary>One line per pair, then the peak-memory pair.</summary>
    public IEnumerable<string> SummaryLines() =>
        PeerReport.SummaryLines(Pairs).Concat(Memory is null ? [] : [PeerMemory.SummaryLine(Memory)]);
}

/// <summary>
/// Geodesy against PyTorch on the same CPU, the same digits and the same weights: a warm-up round,
/// then rounds in which every work item runs once on each side, back to back, the side that goes
/// first alternating from item to item and round to round, so drifting load falls on both.
/// </summary>
public static class PeerBenchmark
{
    public static PeerBenchResult Run(PeerBenchOptions options, Action<string> log)
    {
        options.Validate();
        var items = options.Items.Select(PeerItems.Find).ToArray();
        PythonPeer.CheckImports(options.Python, TimeSpan.FromMinutes(2));
        bool ownFolder = options.WorkDir is null;
        string folder = options.WorkDir ?? Path.Combine(Path.GetTempPath(), "geodesy-peer-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        try
        {
            using var geodesy = new GeodesyPeer(options, log);
            string job = geodesy.WriteFiles(folder);
            log($"peer: starting {options.Python} (PyTorch side) in {folder}");
            using var python = PythonPeer.Start(options.Python, job, options.ItemTimeout, removeOpenBlasVariables: !options.KeepOpenBlasEnvironment);

            log("peer: warm-up round");
            foreach (var item in items)
            {
                geodesy.Run(item.Name, warmup: true);
                python.Run(item.Name, warmup: true);
            }
            var pairs = items.Select(i => new PeerPair(i)).ToArray();
            for (int round = 0; round < options.Rounds; round++)
            {
                for (int i = 0; i < items.Length; i++)
                {
                    bool geodesyFirst = (round + i) % 2 == 0;
                    PeerSample g, p;
                    if (geodesyFirst) { g = geodesy.Run(items[i].Name, false); Thread.Sleep(options.Pause); p = python.Run(items[i].Name, false); }
                    else { p = python.Run(items[i].Name, false); Thread.Sleep(options.Pause); g = geodesy.Run(items[i].Name, false); }
                    Thread.Sleep(options.Pause);
                    pairs[i].Add(g, p);
                    log(string.Create(CultureInfo.InvariantCulture,
                        $"peer: round {round + 1}/{options.Rounds} {items[i].Name}: geodesy {g.Milliseconds:F2} ms, pytorch {p.Milliseconds:F2} ms ({g.Milliseconds / p.Milliseconds:F2}x)"));
                }
            }
            var memory = options.MemoryExamples > 0 ? PeerMemory.Measure(options, folder, job, geodesy.CnnWeightsPath!, log) : null;
            var libraries = new JsonObject
            {
                ["geodesy"] = GeodesyLibraries(options.Threads),
                ["pytorch"] = python.Libraries.DeepClone(),
            };
            var setup = new JsonObject
            {
                ["train_arch"] = PeerBenchOptions.TrainArch,
                ["curvature_arch"] = PeerBenchOptions.CurvatureArch,
                ["cnn_arch"] = PeerBenchOptions.CnnArch,
                ["train_examples"] = geodesy.TrainExamples,
                ["test_examples"] = geodesy.TestExamples,
                ["curvature_examples"] = geodesy.CurvatureExamples,
                ["curvature_params"] = geodesy.CurvatureParameters,
                ["cnn_params"] = geodesy.CnnParameters,
                ["curvature_weights"] = $"{PeerBenchOptions.CurvatureArch} after {options.CurvatureTrainEpochs} epochs of the default trainer (seed {options.Seed})",
                ["cnn_weights"] = $"{PeerBenchOptions.CnnArch} after {options.CnnTrainEpochs} epoch(s) of the default trainer (seed {options.Seed})",
                ["reps"] = options.Reps,
                ["warmup_reps"] = options.WarmupReps,
                ["pause_ms"] = options.Pause.TotalMilliseconds,
                ["data_sha256"] = geodesy.DataSha256,
            };
            return new PeerBenchResult(pairs, libraries, setup, options.Rounds, options.Threads)
            {
                Matvecs = geodesy.Matvecs, Gradients = geodesy.Gradients, Memory = memory,
            };
        }
        finally
        {
            if (ownFolder)
            {
                try { Directory.Delete(folder, recursive: true); }
                catch (IOException) { /* a temp folder left behind is harmless */ }
            }
        }
    }

    /// <summary>The libraries this process runs on and the native settings NativeRuntime made.</summary>
    public static JsonObject GeodesyLibraries(int threads)
    {
        var libraries = LoadedLibraries.OfThisProcess();
        var mkl = LoadedLibraries.Mkl(libraries.Where(p => Path.GetFileName(p).StartsWith("libtorch_cpu", StringComparison.Ordinal)));
        return new JsonObject
        {
            ["torchsharp"] = Provenance.TorchSharpVersion,
            ["num_threads"] = threads,
            ["blas"] = mkl is var (lib, version, mklThreads, intelPath)
                ? new JsonObject
                {
                    ["library"] = lib, ["mkl_version"] = version, ["mkl_max_threads"] = mklThreads, ["linked"] = "statically into libtorch_cpu.so",
                    ["mkl_intel_code_path"] = intelPath,
                }
                : null,
            ["native_settings"] = new JsonObject(NativeRuntime.Settings().Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["loaded_libraries"] = new JsonArray(libraries.Select(p => (JsonNode)p).ToArray()),
        };
    }
}
