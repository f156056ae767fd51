using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>Where training restricted to a subspace ended: its status, the train and test values there, and z.</summary>
public sealed record SubspaceTrainingResult(
    RunStatus Status, string Message, int Epochs, long Steps, double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy,
    double Seconds, long ExamplesSeen)
{
    /// <summary>The final weights θ0 + P z (flat; owned by the caller).</summary>
    public required Tensor Weights { get; init; }
}

/// <summary>
/// Training restricted to the affine subspace θ = θ0 + P z, z ∈ R^d, z starting at 0 (Li et al. 2018,
/// "Measuring the Intrinsic Dimension of Objective Landscapes"). Each step sets the model to θ0 + P z,
/// backpropagates the mini-batch loss to g = ∂L/∂θ and hands the optimizer ∂L/∂z = Pᵀ g (chain rule).
/// Mini-batches, optimizers and schedules are the <see cref="Trainer"/>'s (same seed, same order), so
/// with P the identity it takes exactly the steps of ordinary training. Weight decay is not applied
/// (it would act on z, not θ).
/// </summary>
public static class SubspaceTraining
{
    public static SubspaceTrainingResult Train(nn.Module<Tensor, Tensor> model, DataSplit data, Tensor theta0, ISubspaceProjection projection,
        TrainerOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = data.Train;
        long n = train.Count;
        if (n == 0) throw new InputException($"data '{data.Spec}' has no training examples");
        if (projection.Dimension != theta0.numel())
            throw new ArgumentException($"the projection maps into R^{projection.Dimension}, the model has {theta0.numel()} parameters");
        var parameters = model.parameters().ToArray();
        var dtype = Evaluation.ParameterDType(model);
        int batch = (int)Math.Min(options.BatchSize, n);
        long stepsPerEpoch = (n + batch - 1) / batch;
        long totalSteps = stepsPerEpoch * Math.Max(1, options.EpochLimit);

        using var z = new TorchSharp.Modules.Parameter(torch.zeros(projection.SubspaceDimension, dtype: dtype));
        using var optimizer = CreateOptimizer(z, options);
        using var shuffle = new torch.Generator((ulong)options.Seed);
        long step = 0, seen = 0;
        int epoch;
        RunStatus status = RunStatus.Completed;
        string message = $"trained {options.Epochs} epochs";
        for (epoch = 1; epoch <= options.EpochLimit; epoch++)
        {
            model.train();
            using var perm = torch.randperm(n, generator: shuffle);
            for (long start = 0; start < n && status == RunStatus.Completed; start += batch)
            {
                cancel.ThrowIfCancellationRequested();
                double rate = options.RateAt(step, epoch - 1, totalSteps);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = rate;
                using var scope = NewDisposeScope();
                using (torch.no_grad()) ParameterVector.Assign(model, theta0 + projection.Project(z.detach()));
                long len = Math.Min(batch, n - start);
                var idx = perm.narrow(0, start, len);
                var x = train.Inputs.index_select(0, idx);
                if (x.dtype != dtype) x = x.to_type(dtype);
                var loss = nn.functional.cross_entropy(model.call(x), train.Labels.index_select(0, idx));
                double value = loss.to_type(ScalarType.Float64).item<double>();
                if (!double.IsFinite(value))
                {
                    status = RunStatus.Diverged;
                    message = $"loss became {value} at epoch {epoch}, step {step + 1} (learning rate {rate:G4}): training diverged";
                    break;
                }
                var g = ParameterVector.Concat(Autograd.Grad(loss, parameters));
                var gz = projection.Adjoint(g).detach();
                optimizer.zero_grad();
                // The surrogate ⟨z, Pᵀg⟩ has gradient Pᵀg in z: the optimizer then steps as if it had backpropagated through θ0 + P z.
                (z * gz).sum().backward();
                optimizer.step();
                seen += len;
                step++;
            }
            if (status != RunStatus.Completed) break;
            if (options.UntilLoss is { } target)
            {
                using var scope = NewDisposeScope();
                using (torch.no_grad()) ParameterVector.Assign(model, theta0 + projection.Project(z.detach()));
                var tr = Evaluation.Evaluate(model, train, options.EvalBatchSize);
                if (tr.Loss < target)
                {
                    message = $"train cross-entropy {tr.Loss:G4} < {target:G4} after {epoch} epochs";
                    break;
                }
                if (epoch == options.EpochLimit)
                {
                    status = RunStatus.MaxEpochs;
                    message = $"train cross-entropy {tr.Loss:G4} still above {target:G4} after {options.MaxEpochs} epochs";
                }
            }
        }
        epoch = Math.Min(epoch, options.EpochLimit);
        Tensor weights;
        using (torch.no_grad()) weights = (theta0 + projection.Project(z.detach())).detach();
        ParameterVector.Assign(model, weights);
        var trainValues = Evaluation.Evaluate(model, train, options.EvalBatchSize);
        var testValues = data.Test.Count > 0 ? Evaluation.Evaluate(model, data.Test, options.EvalBatchSize) : new Evaluation.LossAccuracy(double.NaN, double.NaN);
        model.eval();
        return new SubspaceTrainingResult(status, message, epoch, step, trainValues.Loss, trainValues.Accuracy, testValues.Loss, testValues.Accuracy,
            clock.Elapsed.TotalSeconds, seen) { Weights = weights };
    }

    private static optim.Optimizer CreateOptimizer(TorchSharp.Modules.Parameter z, TrainerOptions o) => o.Optimizer switch
    {
        OptimizerKind.Sgd => optim.SGD([z], o.LearningRate),
        OptimizerKind.Momentum => optim.SGD([z], o.LearningRate, momentum: o.Momentum),
        OptimizerKind.Adam => optim.Adam([z], o.LearningRate),
        OptimizerKind.AdamW => optim.AdamW([z], o.LearningRate, weight_decay: 0), // no weight decay on z here, as for the others
        _ => throw new InputException($"unknown optimizer {o.Optimizer}"),
    };
}
