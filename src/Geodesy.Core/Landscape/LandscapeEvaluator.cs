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
        var sums = Sums(_model.call(inputs), labels, _train.Count);
        return Mean(sums);
    }

    private LandscapePoint Mean(double[] sums) =>
        new(sums[0] / _train.Count, sums[1] / _train.Count, sums[2] / _test.Count, sums[3] / _test.Count);

    /// <summary>
    /// The sums of cross-entropy and of correct predictions over the first <paramref name="trainRows"/> rows (train)
    /// and over the rest (test), in float64 from per-example values, read back in one transfer.
    /// </summary>
    internal static double[] Sums(Tensor logits, Tensor labels, long trainRows)
    {
        using var one = logits.unsqueeze(0);
        return SumsPerPoint(one, labels, trainRows)[0];
    }

    /// <summary><see cref="Sums"/> of each of G points at once: <paramref name="logits"/> [G, N, classes], <paramref name="labels"/> [N].</summary>
    internal static double[][] SumsPerPoint(Tensor logits, Tensor labels, long trainRows)
    {
        using var scope = NewDisposeScope();
        long g = logits.shape[0], rows = logits.shape[1];
        var flat = logits.reshape(g * rows, -1);
        var y = labels.repeat(g);
        var losses = nn.functional.cross_entropy(flat, y, reduction: nn.Reduction.None).to_type(ScalarType.Float64).view(g, rows);
        var correct = flat.argmax(1).eq(y).to_type(ScalarType.Float64).view(g, rows);
        long n = trainRows, m = rows - trainRows;
        Tensor Part(Tensor t, long start, long length) => length == 0 ? torch.zeros(g, ScalarType.Float64) : t.narrow(1, start, length).sum(1);
        var sums = torch.stack([Part(losses, 0, n), Part(correct, 0, n), Part(losses, n, m), Part(correct, n, m)], 1).data<double>().ToArray();
        return Enumerable.Range(0, (int)g).Select(i => sums[(4 * i)..(4 * i + 4)]).ToArray();
    }

    /// <summary>
    /// Lets <see cref="AtGrid"/> use <see cref="FirstLayerPrecompute"/> where it applies (default);
    /// false forces a whole forward pass at every point.
    /// </summary>
    public bool AllowFirstLayerPrecompute { get; init; } = true;

    /// <summary>Why <see cref="AtGrid"/> evaluates point by point (null: it uses the first-layer precompute).</summary>
    public string? PrecomputeFallback =>
        !AllowFirstLayerPrecompute ? "the first-layer precompute was switched off"
        : ResetsBatchNorm ? "BatchNorm statistics are re-estimated at every point"
        : FirstLayerPrecompute.Unsupported(_model);

    /// <summary>
    /// The values at θ0 + Σ_k c_k·d_k for each coefficient vector c (one coefficient per direction), in
    /// order: by the first-layer precompute when it applies, otherwise point by point (<see cref="PrecomputeFallback"/>).
    /// </summary>
    public GridEvaluation AtGrid(IReadOnlyList<Tensor> directions, IReadOnlyList<double[]> coefficients)
    {
        if (directions.Count == 0) throw new ArgumentException("at least one direction", nameof(directions));
        if (coefficients.Any(c => c.Length != directions.Count)) throw new ArgumentException($"every point needs {directions.Count} coefficient(s)", nameof(coefficients));
        if (PrecomputeFallback is { } reason)
        {
            var points = coefficients.Select(c =>
            {
                using var scope = NewDisposeScope();
                var weights = Centre.clone();
                for (int k = 0; k < c.Length; k++) weights.add_(directions[k], alpha: c[k]);
                return At(weights);
            }).ToArray();
            return new GridEvaluation(points, GridEvaluation.PerPointForward, reason);
        }
        var sums = coefficients.Select(_ => new double[4]).ToArray();
        var chain = (SequentialModel)_model;
        try
        {
            using var noGrad = torch.no_grad();
            _model.eval();
            foreach (var (inputs, labels, trainRows) in Chunks())
                using (inputs)
                using (labels)
                    FirstLayerPrecompute.AddChunk(chain, Centre, directions, coefficients, inputs, labels, trainRows, sums);
        }
        finally
        {
            Restore();
        }
        ForwardExamples += coefficients.Count * (_train.Count + _test.Count);
        Points += coefficients.Count;
        return new GridEvaluation(sums.Select(Mean).ToArray(), GridEvaluation.FirstLayerPrecompute, null, FirstLayerPrecompute.BatchesPoints(chain));
    }

    /// <summary>
    /// The examples in chunks of at most the batch size, inputs in the model's dtype: the joined sets
    /// when they fit one (train rows first), otherwise the train chunks, then the test chunks. The caller disposes each.
    /// </summary>
    private IEnumerable<(Tensor Inputs, Tensor Labels, long TrainRows)> Chunks()
    {
        if (_joined is { } joined)
        {
            yield return (joined.Inputs.alias(), joined.Labels.alias(), _train.Count);
            yield break;
        }
        var dtype = Evaluation.ParameterDType(_model);
        foreach (var (set, isTrain) in new[] { (_train, true), (_test, false) })
            for (long start = 0; start < set.Count; start += _batchSize)
            {
                long len = Math.Min(_batchSize, set.Count - start);
                using var inputs = set.Inputs.narrow(0, start, len);
                yield return (inputs.to_type(dtype), set.Labels.narrow(0, start, len), isTrain ? len : 0);
            }
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
