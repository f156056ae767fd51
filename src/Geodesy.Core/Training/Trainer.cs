using Geodesy.Core.Data;
using Geodesy.Core.Training.Regularizers;
using Geodesy.Core.Training.Techniques;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training;

/// <summary>
/// The training loop: shuffled mini-batches from a seeded generator, the chosen optimizer and
/// schedule, an evaluation of train and test loss after every epoch (and every LogEverySteps
/// steps), and a stopping rule. A non-finite loss or weight stops the run with status Diverged.
/// Same seed and thread count give bit-identical weights.
/// </summary>
public static class Trainer
{
    public static TrainingResult Train(
        nn.Module<Tensor, Tensor> model, DataSplit data, TrainerOptions options,
        IReadOnlyList<ITrainingObserver>? observers = null, CancellationToken cancel = default)
    {
        options.Validate();
        observers ??= [];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = data.Train;
        long n = train.Count;
        if (n == 0) throw new InputException($"data '{data.Spec}' has no training examples");
        int batch = (int)Math.Min(options.BatchSize, n);
        long stepsPerEpoch = (n + batch - 1) / batch;
        long totalSteps = stepsPerEpoch * Math.Max(1, options.EpochLimit);
        var dtype = Evaluation.ParameterDType(model);

        using var optimizer = CreateOptimizer(model, options);
        using var shuffle = new torch.Generator((ulong)options.Seed);
        var objective = TrainingObjective.Start(options.Regularizers, n, train.NumClasses, dtype, options.Seed);
        ParameterConstraints.Project(model, options.Constraints); // e.g. pruned weights are 0 from the start
        foreach (var o in observers) o.OnStart(model);

        long step = options.StartStep, seen = 0;
        int startEpoch = (int)(options.StartStep / stepsPerEpoch) + 1;
        var running = new RunningLoss(options.RunningLossEvery);
        int epoch = 0;
        MetricsRow? last = null;
        TrainingResult Finish(RunStatus status, string message)
        {
            var result = new TrainingResult(status, message, epoch, step, last, clock.Elapsed.TotalSeconds, seen) { Objective = objective.Cost };
            foreach (var o in observers) o.OnFinish(model, result);
            return result;
        }

        // Epoch 0 row: the initial model, so curves start at initialization.
        last = Measure(model, data, options, startEpoch - 1, step, options.RateAt(step, startEpoch - 1, totalSteps), clock);
        foreach (var o in observers) o.OnMetrics(model, last, endOfEpoch: true);
        if (options.UntilLoss is { } target0 && last.TrainLoss < target0)
            return Finish(RunStatus.Completed, $"train cross-entropy {last.TrainLoss:G4} already below {target0:G4}");

        for (int skipped = 1; skipped < startEpoch; skipped++) torch.randperm(n, generator: shuffle).Dispose(); // the shuffles of epochs already done
        for (epoch = startEpoch; epoch <= options.EpochLimit; epoch++)
        {
            model.train();
            using var perm = torch.randperm(n, generator: shuffle);
            for (long start = epoch == startEpoch ? options.StartStep % stepsPerEpoch * batch : 0; start < n; start += batch)
            {
                cancel.ThrowIfCancellationRequested();
                double rate = options.RateAt(step, epoch - 1, totalSteps);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = rate;
                double batchLoss;
                using (var scope = NewDisposeScope())
                {
                    long len = Math.Min(batch, n - start);
                    var idx = perm.narrow(0, start, len);
                    var x = train.Inputs.index_select(0, idx);
                    if (x.dtype != dtype) x = x.to_type(dtype);
                    var y = train.Labels.index_select(0, idx);
                    foreach (var o in observers) o.OnBatch(model, epoch, step, x, y, rate); // probes of the mini-batch
                    if (options.BatchTransform is { } transform) (x, y) = transform.Apply(x, y); // e.g. MIMO member batches
                    optimizer.zero_grad();
                    var loss = objective.Loss(model, x, y, idx, step);
                    // float -> double is exact: the same value as converting on the tensor, one native call fewer.
                    batchLoss = loss.dtype == ScalarType.Float32 ? loss.item<float>() : loss.to_type(ScalarType.Float64).item<double>();
                    if (!double.IsFinite(batchLoss))
                        return Finish(RunStatus.Diverged, $"loss became {batchLoss} at epoch {epoch}, step {step + 1} (learning rate {rate:G4}): training diverged");
                    loss.backward();
                    optimizer.step();
                    ParameterConstraints.Project(model, options.Constraints);
                    seen += len;
                }
                step++;
                foreach (var o in observers) o.OnStep(model, epoch, step, batchLoss);
                if (running.Add(batchLoss, step) is { } mean)
                {
                    var row = new RunningLossRow(epoch, step, mean, options.RunningLossEvery);
                    foreach (var o in observers) o.OnRunningLoss(model, row);
                }
                bool endOfEpoch = start + batch >= n;
                if (options.LogEverySteps > 0 && step % options.LogEverySteps == 0 && !endOfEpoch)
                {
                    var row = Measure(model, data, options, epoch, step, rate, clock);
                    foreach (var o in observers) o.OnMetrics(model, row, endOfEpoch: false);
                }
            }

            last = Measure(model, data, options, epoch, step, options.RateAt(Math.Max(0, step - 1), epoch - 1, totalSteps), clock);
            if (!double.IsFinite(last.TrainLoss) || !AllFinite(model))
                return Finish(RunStatus.Diverged, $"train loss became {last.TrainLoss} after epoch {epoch}: training diverged");
            foreach (var o in observers) o.OnMetrics(model, last, endOfEpoch: true);
            if (options.UntilLoss is { } target && last.TrainLoss < target)
                return Finish(RunStatus.Completed, $"train cross-entropy {last.TrainLoss:G4} < {target:G4} after {epoch} epochs");
        }
        epoch = options.EpochLimit;
        return options.UntilLoss is { } goal
            ? Finish(RunStatus.MaxEpochs, $"train cross-entropy {last.TrainLoss:G4} still above {goal:G4} after {options.MaxEpochs} epochs")
            : Finish(RunStatus.Completed, $"trained {options.Epochs} epochs");
    }

    /// <summary>The last k mini-batch losses; their mean every k steps (only reads losses already computed).</summary>
    private sealed class RunningLoss(int k)
    {
        private readonly double[] _window = new double[Math.Max(1, k)];

        public double? Add(double loss, long step)
        {
            if (k <= 0) return null;
            _window[(step - 1) % k] = loss;
            return step % k == 0 ? _window.Average() : null;
        }
    }

    private static MetricsRow Measure(nn.Module<Tensor, Tensor> model, DataSplit data, TrainerOptions o, int epoch, long step, double rate, System.Diagnostics.Stopwatch clock)
    {
        var tr = Evaluation.Evaluate(model, data.Train, o.EvalBatchSize);
        var te = data.Test.Count > 0 ? Evaluation.Evaluate(model, data.Test, o.EvalBatchSize) : new Evaluation.LossAccuracy(double.NaN, double.NaN);
        var extra = (model as IExtraMetrics)?.Evaluate(data, o.EvalBatchSize); // e.g. MIMO member vs ensemble accuracy
        return new MetricsRow(epoch, step, rate, tr.Loss, tr.Accuracy, te.Loss, te.Accuracy, clock.Elapsed.TotalSeconds) { Extra = extra };
    }

    private static bool AllFinite(nn.Module model)
    {
        using var scope = NewDisposeScope();
        return model.parameters().All(p => p.isfinite().all().item<bool>());
    }

    private static optim.Optimizer CreateOptimizer(nn.Module<Tensor, Tensor> model, TrainerOptions o)
    {
        var trainable = ParameterConstraints.Trainable(model, o.Constraints); // all parameters unless a constraint freezes some
        return o.Optimizer switch
        {
            OptimizerKind.Sgd => optim.SGD(trainable, o.LearningRate, weight_decay: o.WeightDecay),
            OptimizerKind.Momentum => optim.SGD(trainable, o.LearningRate, momentum: o.Momentum, weight_decay: o.WeightDecay),
            OptimizerKind.Adam => optim.Adam(trainable, o.LearningRate, beta2: o.AdamBeta2, weight_decay: o.WeightDecay),
            OptimizerKind.AdamW => optim.AdamW(trainable, o.LearningRate, beta2: o.AdamBeta2, weight_decay: o.WeightDecay),
            _ => throw new InputException($"unknown optimizer {o.Optimizer}"),
        };
    }
}
