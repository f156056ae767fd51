using System.Diagnostics;
using System.Text.Json.Nodes;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

public sealed record TrainBenchOptions
{
    public int Epochs { get; init; } = 1;
    public int Batch { get; init; } = 64;
    /// <summary>Seed of the trainer's shuffling (the baseline uses the same batches).</summary>
    public long Seed { get; init; }
}

public sealed record TrainBenchResult
{
    /// <summary>Training examples processed per second of the training steps (evaluations excluded).</summary>
    public required double ExamplesPerSecond { get; init; }
    /// <summary>Mean seconds of one epoch's steps: shuffling, batch gathering, forward, backward, optimizer step, loss read-back.</summary>
    public required double EpochSeconds { get; init; }
    /// <summary>Mean seconds of forward + backward alone over the same batches (pre-gathered, no optimizer).</summary>
    public required double ForwardBackwardSeconds { get; init; }
    /// <summary>Mean seconds of forward + backward + the trainer's optimizer step over the same batches, on a twin of the model: the bare loop.</summary>
    public required double ForwardBackwardStepSeconds { get; init; }
    public required double[] EpochSecondsPerEpoch { get; init; }
    public required double[] ForwardBackwardSecondsPerPass { get; init; }
    /// <summary>Wall time of the whole Trainer.Train call, including its evaluations after every epoch.</summary>
    public required double TrainerSeconds { get; init; }
    public required long Examples { get; init; }
    public required long StepsPerEpoch { get; init; }
    public required long Parameters { get; init; }
    public required string Status { get; init; }
    /// <summary>Backward passes made: the trainer's steps plus the baseline's.</summary>
    public required long Gradients { get; init; }
    public required double FinalTrainLoss { get; init; }

    public double EpochOverForwardBackward => EpochSeconds / ForwardBackwardSeconds;
    /// <summary>The whole Trainer.Train call over its epochs' steps alone: what the evaluations (before training and after every epoch) add.</summary>
    public double TrainerOverSteps => TrainerSeconds / EpochSecondsPerEpoch.Sum();
    /// <summary>The trainer's own per-step overhead as a ratio: 1.10 = 10% over the bare loop.</summary>
    public double EpochOverForwardBackwardStep => EpochSeconds / ForwardBackwardStepSeconds;

    public void AddTo(JsonObject root)
    {
        root["examples_per_second"] = Math.Round(ExamplesPerSecond, 2);
        root["epoch_seconds"] = EpochSeconds; // unrounded: tiny models take milliseconds
        root["forward_backward_seconds"] = ForwardBackwardSeconds;
        root["epoch_over_forward_backward"] = Math.Round(EpochOverForwardBackward, 4);
        root["forward_backward_step_seconds"] = ForwardBackwardStepSeconds;
        root["epoch_over_forward_backward_step"] = Math.Round(EpochOverForwardBackwardStep, 4);
        root["epoch_seconds_reps"] = new JsonArray(EpochSecondsPerEpoch.Select(s => (JsonNode)Math.Round(s, 5)).ToArray());
        root["forward_backward_seconds_reps"] = new JsonArray(ForwardBackwardSecondsPerPass.Select(s => (JsonNode)Math.Round(s, 5)).ToArray());
        root["trainer_seconds"] = Math.Round(TrainerSeconds, 4);
        root["trainer_over_steps"] = Math.Round(TrainerOverSteps, 4);
        root["params"] = Parameters;
        root["examples"] = Examples;
        root["steps_per_epoch"] = StepsPerEpoch;
        root["status"] = Status;
        root["final_train_loss"] = FinalTrainLoss;
    }

    public string Summary() =>
        $"{ExamplesPerSecond:F0} examples/s; epoch {EpochSeconds:F3} s, forward+backward {ForwardBackwardSeconds:F3} s ({EpochOverForwardBackward:F2}x), " +
        $"forward+backward+step {ForwardBackwardStepSeconds:F3} s ({EpochOverForwardBackwardStep:F2}x)";
}

/// <summary>
/// Training throughput of <see cref="Trainer"/> (momentum SGD, the default) and the loop's own
/// overhead: the time of an epoch's steps over the time of forward + backward alone on the same
/// batches, and over forward + backward + optimizer step (the bare loop, on a twin of the model
/// with its own optimizer, so the trained model is untouched). The baselines (same data, same
/// permutation as the trainer's first epoch) run once untimed, then once per epoch before and once
/// per epoch after training, and are averaged, so drifting load hits both sides.
/// </summary>
public static class TrainBenchmark
{
    public static TrainBenchResult Run(BenchSetup setup, TrainBenchOptions options)
    {
        if (options.Epochs < 1) throw new Core.InputException($"bench train: --epochs must be >= 1 (got {options.Epochs})");
        if (options.Batch < 1) throw new Core.InputException($"bench train: --batch must be >= 1 (got {options.Batch})");
        var model = setup.Model;
        var train = setup.Data.Train;
        long n = train.Count;
        int batch = (int)Math.Min(options.Batch, n);
        var trainerOptions = new TrainerOptions { Epochs = options.Epochs, BatchSize = batch, Seed = options.Seed };
        trainerOptions.Validate();

        var batches = GatherBatches(setup, batch, options.Seed);
        using var twin = Twin(setup);
        using var twinOptimizer = optim.SGD(twin.parameters(), trainerOptions.LearningRate, momentum: trainerOptions.Momentum);
        try
        {
            // The trainer evaluates before its first epoch; do the same first. Besides warming up,
            // this changes glibc's malloc state (its mmap threshold rises after large frees):
            // without it the baseline ran up to 4x slower on the CNN (fresh mmap + page faults).
            Evaluation.Evaluate(model, setup.Data.Train, trainerOptions.EvalBatchSize);
            ForwardBackward(model, batches); // untimed warm-up: first-touch allocations, JIT
            ForwardBackward(twin, batches, twinOptimizer);
            var baseline = new List<double>();
            var bare = new List<double>();
            for (int e = 0; e < options.Epochs; e++)
            {
                baseline.Add(ForwardBackward(model, batches));
                bare.Add(ForwardBackward(twin, batches, twinOptimizer));
            }

            var timer = new EpochTimer(stepsPerEpoch: batches.Count);
            var result = Trainer.Train(model, setup.Data, trainerOptions, [timer]);
            if (result.Status == RunStatus.Diverged) throw new Core.ComputationException($"bench train: {result.Message}");

            for (int e = 0; e < options.Epochs; e++)
            {
                baseline.Add(ForwardBackward(model, batches));
                bare.Add(ForwardBackward(twin, batches, twinOptimizer));
            }
            double epochSeconds = timer.EpochSeconds.Average();
            return new TrainBenchResult
            {
                ExamplesPerSecond = n / epochSeconds,
                EpochSeconds = epochSeconds,
                ForwardBackwardSeconds = baseline.Average(),
                ForwardBackwardStepSeconds = bare.Average(),
                EpochSecondsPerEpoch = timer.EpochSeconds.ToArray(),
                ForwardBackwardSecondsPerPass = baseline.ToArray(),
                TrainerSeconds = result.Seconds,
                Examples = n,
                StepsPerEpoch = batches.Count,
                Parameters = setup.Parameters,
                Status = result.Status.Name(),
                Gradients = result.Steps + (baseline.Count + bare.Count + 2) * batches.Count,
                FinalTrainLoss = result.Final?.TrainLoss ?? double.NaN,
            };
        }
        finally
        {
            foreach (var (x, y) in batches) { x.Dispose(); y.Dispose(); }
        }
    }

    /// <summary>The trainer's first-epoch batches (same generator, same permutation), gathered in advance.</summary>
    private static List<(Tensor X, Tensor Y)> GatherBatches(BenchSetup setup, int batch, long seed)
    {
        var train = setup.Data.Train;
        long n = train.Count;
        var dtype = Evaluation.ParameterDType(setup.Model);
        using var generator = new Generator((ulong)seed);
        using var perm = randperm(n, generator: generator);
        var list = new List<(Tensor, Tensor)>();
        for (long start = 0; start < n; start += batch)
        {
            using var idx = perm.narrow(0, start, Math.Min(batch, n - start));
            using var gathered = train.Inputs.index_select(0, idx);
            list.Add((gathered.to_type(dtype), train.Labels.index_select(0, idx)));
        }
        return list;
    }

    /// <summary>
    /// Seconds of forward + mean loss + backward over all batches, in train mode, followed by the
    /// optimizer's step when one is given (the bare training loop), else without any step.
    /// </summary>
    private static double ForwardBackward(nn.Module<Tensor, Tensor> model, List<(Tensor X, Tensor Y)> batches, optim.Optimizer? optimizer = null)
    {
        model.train();
        var clock = Stopwatch.StartNew();
        foreach (var (x, y) in batches)
        {
            using var scope = NewDisposeScope();
            if (optimizer is null) model.zero_grad(); else optimizer.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
            optimizer?.step();
        }
        double seconds = clock.Elapsed.TotalSeconds;
        model.zero_grad();
        return seconds;
    }

    /// <summary>A second model with the same architecture and weights (what the bare-loop baseline trains).</summary>
    private static nn.Module<Tensor, Tensor> Twin(BenchSetup setup)
    {
        var train = setup.Data.Train;
        var twin = Core.Models.ModelZoo.Create(setup.Spec.Arch, train.InputShape, train.NumClasses, setup.Spec.Seed, setup.Spec.DType);
        using var noGrad = no_grad();
        foreach (var (from, to) in setup.Model.parameters().Zip(twin.parameters())) to.copy_(from);
        return twin;
    }

    /// <summary>
    /// Times each epoch's steps: from the end-of-epoch evaluation before it (or the start) to its
    /// last optimizer step, so the trainer's evaluations are not counted.
    /// </summary>
    private sealed class EpochTimer(int stepsPerEpoch) : ITrainingObserver
    {
        private readonly Stopwatch _clock = new();
        public List<double> EpochSeconds { get; } = [];

        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
        {
            if (endOfEpoch) _clock.Restart();
        }

        public void OnStep(nn.Module model, int epoch, long step, double batchLoss)
        {
            if (step % stepsPerEpoch == 0) EpochSeconds.Add(_clock.Elapsed.TotalSeconds);
        }
    }
}
