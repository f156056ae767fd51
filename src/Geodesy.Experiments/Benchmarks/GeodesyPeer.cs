using Stopwatch = System.Diagnostics.Stopwatch;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>
/// The Geodesy side of the peer benchmark: the models, data and product vector of every work item,
/// prepared once, and the same files written for the PyTorch side (<see cref="WriteFiles"/>), so
/// both start from the same digits and the same weights.
/// </summary>
public sealed class GeodesyPeer : IDisposable
{
    private readonly PeerBenchOptions _options;
    private readonly DataSplit _full;
    private readonly DataSplit _subset;
    private readonly nn.Module<Tensor, Tensor> _trainInit;
    private readonly nn.Module<Tensor, Tensor> _mlp;
    private readonly nn.Module<Tensor, Tensor>? _cnn;
    private readonly CurvatureProblem _mlpProblem;
    private readonly CurvatureProblem? _cnnProblem;
    private readonly Tensor _vector;

    public GeodesyPeer(PeerBenchOptions options, Action<string> log)
    {
        _options = options;
        _full = DataSpecs.Load(DataSpecs.DefaultSpec, new DataOptions(Seed: options.Seed));
        _subset = DataSpecs.Load(DataSpecs.DefaultSpec, new DataOptions(options.CurvatureExamples, Seed: options.Seed));
        var shape = _full.Train.InputShape;
        int classes = _full.Train.NumClasses;
        _trainInit = ModelZoo.Create(PeerBenchOptions.TrainArch, shape, classes, options.Seed);

        // Curvature at a trained point, as users measure it: a few seeded epochs of the default trainer.
        log($"peer: training {PeerBenchOptions.CurvatureArch} for {options.CurvatureTrainEpochs} epochs (the curvature items' weights)");
        _mlp = Trained(PeerBenchOptions.CurvatureArch, options.CurvatureTrainEpochs);
        _mlpProblem = new CurvatureProblem(_mlp, _subset.Train.Inputs, _subset.Train.Labels, new CurvatureOptions { BatchSize = options.CurvatureExamples });
        using (var generator = new Generator(unchecked((ulong)options.Seed)))
        {
            _vector = randn([_mlpProblem.Dimension], generator: generator);
            _vector.div_(_vector.norm());
        }
        if (options.MemoryExamples > _full.Train.Count)
            throw new InputException($"--memory-examples {options.MemoryExamples} is more than the {_full.Train.Count} training digits");
        if (options.Items.Contains(PeerItems.EigenCnn) || options.MemoryExamples > 0)
        {
            log($"peer: training {PeerBenchOptions.CnnArch} for {options.CnnTrainEpochs} epoch(s) (the cnn item's weights)");
            _cnn = Trained(PeerBenchOptions.CnnArch, options.CnnTrainEpochs);
            _cnnProblem = new CurvatureProblem(_cnn, _subset.Train.Inputs, _subset.Train.Labels, new CurvatureOptions { BatchSize = options.CurvatureExamples });
        }
    }

    public long TrainExamples => _full.Train.Count;
    public long TestExamples => _full.Test.Count;
    public long CurvatureExamples => _subset.Train.Count;
    public long CurvatureParameters => _mlpProblem.Dimension;
    public long? CnnParameters => _cnnProblem?.Dimension;
    public string DataSha256 => _full.Sha256;
    /// <summary>The cnn's weights as written by <see cref="WriteFiles"/> (null before, or without a cnn).</summary>
    public string? CnnWeightsPath { get; private set; }

    private nn.Module<Tensor, Tensor> Trained(string arch, int epochs)
    {
        var model = ModelZoo.Create(arch, _full.Train.InputShape, _full.Train.NumClasses, _options.Seed);
        var result = Trainer.Train(model, _full, new TrainerOptions { Epochs = epochs, Seed = _options.Seed });
        if (result.Status == RunStatus.Diverged) throw new ComputationException($"bench peer: training {arch} diverged: {result.Message}");
        model.eval();
        return model;
    }

    /// <summary>The trainer's options of the training item (the `geodesy train` defaults: momentum SGD).</summary>
    private TrainerOptions TrainOptions(int epochs) => new() { Epochs = epochs, BatchSize = PeerBenchOptions.TrainBatch, Seed = _options.Seed };

    /// <summary>
    /// Writes digits, weights, the product vector, the trainer's permutations and the job file for
    /// peer.py into <paramref name="folder"/>; returns the job file's path.
    /// </summary>
    public string WriteFiles(string folder)
    {
        Npy.Write(Path.Combine(folder, "train-x.npy"), _full.Train.Inputs);
        Npy.Write(Path.Combine(folder, "train-y.npy"), _full.Train.Labels);
        Npy.Write(Path.Combine(folder, "test-x.npy"), _full.Test.Inputs);
        Npy.Write(Path.Combine(folder, "test-y.npy"), _full.Test.Labels);
        Npy.Write(Path.Combine(folder, "subset-x.npy"), _subset.Train.Inputs);
        Npy.Write(Path.Combine(folder, "subset-y.npy"), _subset.Train.Labels);
        Npy.Write(Path.Combine(folder, "vector.npy"), _vector);
        using (var perms = TrainerPermutations(_options.TrainEpochs)) Npy.Write(Path.Combine(folder, "train-perms.npy"), perms);
        SafeTensors.SaveModel(_trainInit, Path.Combine(folder, "train-init.safetensors"));
        SafeTensors.SaveModel(_mlp, Path.Combine(folder, "mlp.safetensors"));
        var train = TrainOptions(_options.TrainEpochs);
        var job = new JsonObject
        {
            ["threads"] = _options.Threads,
            ["reps"] = _options.Reps,
            ["warmup_reps"] = _options.WarmupReps,
            ["train"] = new JsonObject
            {
                ["arch"] = PeerBenchOptions.TrainArch, ["init"] = "train-init.safetensors",
                ["inputs"] = "train-x.npy", ["labels"] = "train-y.npy", ["test_inputs"] = "test-x.npy", ["test_labels"] = "test-y.npy",
                ["perms"] = "train-perms.npy", ["epochs"] = train.Epochs, ["batch"] = train.BatchSize,
                ["lr"] = train.LearningRate, ["momentum"] = train.Momentum, ["eval_batch"] = train.EvalBatchSize,
            },
            ["curvature"] = CurvatureJob(PeerBenchOptions.CurvatureArch, "mlp.safetensors", withVector: true),
        };
        if (_cnn is not null)
        {
            CnnWeightsPath = Path.Combine(folder, "cnn.safetensors");
            SafeTensors.SaveModel(_cnn, CnnWeightsPath);
            if (_options.Items.Contains(PeerItems.EigenCnn)) job["cnn"] = CurvatureJob(PeerBenchOptions.CnnArch, "cnn.safetensors", withVector: false);
        }
        if (_options.MemoryExamples > 0)
        {
            // The first N training digits, the examples `geodesy curvature --examples N` takes.
            using (var x = _full.Train.Inputs.narrow(0, 0, _options.MemoryExamples)) Npy.Write(Path.Combine(folder, "memory-x.npy"), x);
            using (var y = _full.Train.Labels.narrow(0, 0, _options.MemoryExamples)) Npy.Write(Path.Combine(folder, "memory-y.npy"), y);
            job["memory"] = PeerMemory.Job(_options, "cnn.safetensors", "memory-x.npy", "memory-y.npy");
        }
        string path = Path.Combine(folder, "job.json");
        File.WriteAllText(path, job.ToJsonString());
        return path;
    }

    private JsonObject CurvatureJob(string arch, string weights, bool withVector)
    {
        var o = new JsonObject
        {
            ["arch"] = arch, ["weights"] = weights, ["inputs"] = "subset-x.npy", ["labels"] = "subset-y.npy",
            ["k"] = _options.K, ["tol"] = _options.Tol, ["max_iter"] = new PowerOptions().MaxIter, ["seed"] = _options.Seed,
            ["hutchinson_probes"] = _options.HutchinsonProbes,
        };
        if (withVector) o["vector"] = "vector.npy";
        return o;
    }

    /// <summary>The permutation of every epoch exactly as <see cref="Trainer"/> draws them (one randperm per epoch from Generator(seed)).</summary>
    private Tensor TrainerPermutations(int epochs)
    {
        using var generator = new Generator((ulong)_options.Seed);
        var rows = new List<Tensor>();
        try
        {
            for (int e = 0; e < epochs; e++) rows.Add(randperm(_full.Train.Count, generator: generator));
            return stack(rows, 0);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }

    /// <summary>Hessian-vector products made so far on the Geodesy side (for the report's cost).</summary>
    public long Matvecs { get; private set; }
    /// <summary>Gradient passes made so far on the Geodesy side, training steps included.</summary>
    public long Gradients => _mlpProblem.Cost.GradientPasses + _trainSteps;
    private long _trainSteps;

    /// <summary>Applies a Hessian operator once and counts the product.</summary>
    private Tensor Product(HessianOperator op)
    {
        long before = op.Applications;
        var hv = op.Apply(_vector);
        Matvecs += op.Applications - before;
        return hv;
    }

    public PeerSample Run(string item, bool warmup) => item switch
    {
        PeerItems.Train => Train(warmup),
        PeerItems.Grad => Repeated(() =>
        {
            var r = _mlpProblem.LossAndGradient();
            return (r.Loss, r.Gradient);
        }, r => Detail(("loss", r.Loss), ("gradient_norm", Norm(r.Gradient))), r => r.Gradient.Dispose()),
        PeerItems.Hvp => Repeated(() => Product(new HessianOperator(_mlpProblem)), HvpDetail, t => t.Dispose(),
            extra: ("method", new HessianOperator(_mlpProblem).Method + " (new operator per product)")),
        PeerItems.HvpRepeated => RepeatedOnOneOperator(),
        PeerItems.Eigen => Eigen(_mlpProblem, warmup),
        PeerItems.EigenCnn => Eigen(_cnnProblem ?? throw new InvalidOperationException("cnn item not prepared"), warmup),
        PeerItems.Trace => Trace(warmup),
        PeerItems.PerExample => PerExample(warmup),
        _ => throw new InputException($"bench peer: unknown work item '{item}'"),
    };

    private PeerSample Train(bool warmup)
    {
        using var model = ModelZoo.Create(PeerBenchOptions.TrainArch, _full.Train.InputShape, _full.Train.NumClasses, _options.Seed);
        CopyParameters(_trainInit, model);
        var options = TrainOptions(warmup ? 1 : _options.TrainEpochs);
        var clock = Stopwatch.StartNew();
        var result = Trainer.Train(model, _full, options);
        double ms = clock.Elapsed.TotalMilliseconds;
        _trainSteps += result.Steps;
        if (result.Status == RunStatus.Diverged) throw new ComputationException($"bench peer: training diverged: {result.Message}");
        var f = result.Final!;
        return new PeerSample(ms, Detail(("epochs", options.Epochs), ("final_train_loss", f.TrainLoss), ("train_accuracy", f.TrainAccuracy),
            ("test_loss", f.TestLoss), ("test_accuracy", f.TestAccuracy)));
    }

    private static void CopyParameters(nn.Module from, nn.Module to)
    {
        using var noGrad = no_grad();
        foreach (var (a, b) in from.parameters().Zip(to.parameters())) b.copy_(a);
    }

    private PeerSample RepeatedOnOneOperator()
    {
        var op = new HessianOperator(_mlpProblem);
        return Repeated(() => Product(op), HvpDetail, t => t.Dispose(), extra: ("method", op.Method + " (one operator, repeated)"));
    }

    private JsonObject HvpDetail(Tensor hv) => Detail(("vHv", hv.dot(_vector).ToDouble()), ("hv_norm", Norm(hv)));

    private PeerSample Eigen(CurvatureProblem problem, bool warmup)
    {
        var clock = Stopwatch.StartNew();
        var hessian = new HessianOperator(problem);
        var op = new TimedOperator(hessian);
        var r = Lanczos.TopK(op, new EigenOptions
        {
            K = warmup ? 1 : _options.K, Tol = _options.Tol, Seed = _options.Seed, MaxMatvecs = warmup ? 3 : _options.LanczosMaxMatvecs,
        });
        double ms = clock.Elapsed.TotalMilliseconds;
        Matvecs += op.Applications;
        // The solver loop's own time over its products' time (as `bench eigen`'s lanczos_overhead).
        var d = Detail(("matvecs", r.Matvecs), ("status", r.Status.ToSnakeCase()), ("product_method", hessian.Method),
            ("product_seconds", op.Seconds), (PeerPair.LoopOverheadKey, (r.Seconds - op.Seconds) / op.Seconds));
        d["eigenvalues"] = new JsonArray(r.Eigenvalues.Select(x => (JsonNode)x).ToArray());
        d["relative_residuals"] = new JsonArray(r.RelativeResiduals.Select(x => (JsonNode?)(double.IsFinite(x) ? x : null)).ToArray());
        return new PeerSample(ms, d);
    }

    private PeerSample Trace(bool warmup)
    {
        var clock = Stopwatch.StartNew();
        var r = TraceEstimators.Hutchinson(new HessianOperator(_mlpProblem), new TraceOptions
        {
            MaxMatvecs = warmup ? 3 : _options.HutchinsonProbes, Seed = _options.Seed, Probes = ProbeKind.Rademacher,
        });
        double ms = clock.Elapsed.TotalMilliseconds;
        Matvecs += r.Matvecs;
        return new PeerSample(ms, Detail(("estimate", r.Estimate), ("stderr", r.StdErr), ("matvecs", r.Matvecs)));
    }

    private PeerSample PerExample(bool warmup)
    {
        var problem = warmup
            ? new CurvatureProblem(_mlp, _subset.Train.Inputs.narrow(0, 0, 50), _subset.Train.Labels.narrow(0, 0, 50))
            : _mlpProblem;
        var clock = Stopwatch.StartNew();
        var perExample = new PerExampleGradients(problem);
        var norms = perExample.Norms();
        double ms = clock.Elapsed.TotalMilliseconds;
        var d = Detail(("method", perExample.Method), ("examples", norms.Length));
        d["norms"] = new JsonArray(norms.Select(x => (JsonNode)x).ToArray());
        return new PeerSample(ms, d);
    }

    /// <summary>Median milliseconds of <paramref name="work"/> over Reps after WarmupReps, the answers of the last repetition.</summary>
    private PeerSample Repeated<T>(Func<T> work, Func<T, JsonObject> describe, Action<T> dispose, (string, object)? extra = null)
    {
        for (int i = 0; i < _options.WarmupReps; i++) dispose(work());
        var times = new double[_options.Reps];
        T last = default!;
        for (int i = 0; i < _options.Reps; i++)
        {
            if (i > 0) dispose(last);
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            last = work();
            times[i] = clock.Elapsed.TotalMilliseconds;
            MoveOut(last);
        }
        var detail = describe(last);
        dispose(last);
        detail["reps_ms"] = new JsonArray(times.Select(t => (JsonNode)Math.Round(t, 4)).ToArray());
        if (extra is var (key, value)) detail[key] = Node(value);
        return new PeerSample(BenchMath.Median(times), detail);
    }

    private static void MoveOut<T>(T value)
    {
        switch (value)
        {
            case Tensor t: t.MoveToOuterDisposeScope(); break;
            case ValueTuple<double, Tensor> p: p.Item2.MoveToOuterDisposeScope(); break;
        }
    }

    private static double Norm(Tensor t) => t.norm().ToDouble();

    private static JsonObject Detail(params (string Key, object Value)[] entries)
    {
        var o = new JsonObject();
        foreach (var (k, v) in entries) o[k] = Node(v);
        return o;
    }

    private static JsonNode? Node(object value) => value switch
    {
        double d => double.IsFinite(d) ? JsonValue.Create(d) : null,
        long l => JsonValue.Create(l),
        int i => JsonValue.Create(i),
        string s => JsonValue.Create(s),
        _ => throw new ArgumentException($"no JSON form for {value.GetType().Name}", nameof(value)),
    };

    public void Dispose()
    {
        _vector.Dispose();
        _trainInit.Dispose();
        _mlp.Dispose();
        _cnn?.Dispose();
        _subset.Dispose();
        _full.Dispose();
    }
}
