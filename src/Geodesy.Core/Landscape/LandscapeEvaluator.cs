using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>Train and test loss (mean cross-entropy) and accuracy at one point of parameter space.</summary>
public readonly record struct LandscapePoint(double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy);

/// <summary>
/// Evaluates a model at points of its parameter space on a fixed train and test set: in eval mode,
/// batched, without gradients. The weights it was built with are the centre; every evaluation
/// starts from them and <see cref="Dispose"/> (or <see cref="Restore"/>) puts them back.
/// BatchNorm layers use the centre's running statistics, or statistics given with the point, or,
/// with a reset set, statistics re-estimated at every point (<see cref="BatchNormStatistics.Reestimate"/>).
/// </summary>
public sealed class LandscapeEvaluator : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly Dataset _train;
    private readonly Dataset _test;
    private readonly int _batchSize;
    private readonly Dataset? _resetData;
    private readonly BatchNormStatistics? _centreStatistics;
    private readonly (Tensor Inputs, Tensor Labels)? _joined;

    /// <param name="resetBatchNorm">When given, the examples BatchNorm statistics are re-estimated from at every point.</param>
    public LandscapeEvaluator(nn.Module<Tensor, Tensor> model, Dataset train, Dataset test, int batchSize = 2000, Dataset? resetBatchNorm = null)
    {
        if (batchSize < 1) throw new InputException($"--stream-batch must be at least 1 (got {batchSize})");
        _model = model;
        _train = train;
        _test = test;
        _batchSize = batchSize;
        _resetData = resetBatchNorm;
        Centre = ParameterVector.Flatten(model);
        // Both sets in one stream batch: one forward pass per point over them together (the sets stay apart in the sums).
        if (train.Count + test.Count <= batchSize && train.Count > 0 && test.Count > 0)
        {
            using var scope = NewDisposeScope();
            _joined = (torch.cat([train.Inputs, test.Inputs], 0).to_type(Evaluation.ParameterDType(model)).MoveToOuterDisposeScope(),
                torch.cat([train.Labels, test.Labels], 0).MoveToOuterDisposeScope());
        }
        if (BatchNormStatistics.Present(model)) _centreStatistics = BatchNormStatistics.Capture(model);
    }

    /// <summary>True when BatchNorm statistics are re-estimated at every point.</summary>
    public bool ResetsBatchNorm => _resetData is not null && _centreStatistics is not null;

    /// <summary>The weights the evaluator started from (flat).</summary>
    public Tensor Centre { get; }

    /// <summary>Examples passed forward so far (train and test together).</summary>
    public long ForwardExamples { get; private set; }

    /// <summary>Points evaluated so far.</summary>
    public long Points { get; private set; }

    /// <summary>At the centre plus <paramref name="offset"/> (a flat vector).</summary>
    public LandscapePoint AtOffset(Tensor offset)
    {
        using var scope = NewDisposeScope();
        return At(Centre + offset);
    }

    /// <summary>At θ + α·d.</summary>
    public LandscapePoint At(double alpha, Tensor d)
    {
        using var scope = NewDisposeScope();
        return At(Centre + d * alpha);
    }

    /// <summary>At θ + α·d + β·d2.</summary>
    public LandscapePoint At(double alpha, Tensor d, double beta, Tensor d2)
    {
        using var scope = NewDisposeScope();
        return At(Centre + d * alpha + d2 * beta);
    }

    /// <summary>
    /// At the given weights (a flat vector), with the given BatchNorm statistics (null: the centre's)
    /// unless they are re-estimated; the model is left at the centre afterwards.
    /// </summary>
    public LandscapePoint At(Tensor weights, BatchNormStatistics? statistics = null)
    {
        try
        {
            ParameterVector.Assign(_model, weights);
            statistics?.AssignTo(_model);
            if (ResetsBatchNorm) ForwardExamples += BatchNormStatistics.Reestimate(_model, _resetData!, _batchSize);
            ForwardExamples += _train.Count + _test.Count;
            Points++;
            if (_joined is { } joined) return EvaluateJoined(joined.Inputs, joined.Labels);
            var train = Evaluation.Evaluate(_model, _train, _batchSize);
            var test = Evaluation.Evaluate(_model, _test, _batchSize);
            return new LandscapePoint(train.Loss, train.Accuracy, test.Loss, test.Accuracy);
        }
        finally
        {
            Restore();
        }
    }

    /// <summary>Mean cross-entropy and accuracy of the train part (the first rows) and the test part, from one forward pass in eval mode.</summary>
    private LandscapePoint EvaluateJoined(Tensor inputs, Tensor labels)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        _model.eval();
        var logits = _model.call(inputs);
        var losses = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None).to_type(ScalarType.Float64);
        var correct = logits.argmax(1).eq(labels).to_type(ScalarType.Float64);
        long n = _train.Count, m = _test.Count;
        // One read-back for the four sums.
        var sums = torch.stack([losses.narrow(0, 0, n).sum(), correct.narrow(0, 0, n).sum(), losses.narrow(0, n, m).sum(), correct.narrow(0, n, m).sum()]).data<double>().ToArray();
        return new LandscapePoint(sums[0] / n, sums[1] / n, sums[2] / m, sums[3] / m);
    }

    /// <summary>Puts the centre weights back into the model.</summary>
    public void Restore()
    {
        ParameterVector.Assign(_model, Centre);
        _centreStatistics?.AssignTo(_model);
    }

    public void Dispose()
    {
        Restore();
        Centre.Dispose();
        _centreStatistics?.Dispose();
        _joined?.Inputs.Dispose();
        _joined?.Labels.Dispose();
    }
}
