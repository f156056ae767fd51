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
/// </summary>
public sealed class LandscapeEvaluator : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly Dataset _train;
    private readonly Dataset _test;
    private readonly int _batchSize;

    public LandscapeEvaluator(nn.Module<Tensor, Tensor> model, Dataset train, Dataset test, int batchSize = 2000)
    {
        if (batchSize < 1) throw new InputException($"--stream-batch must be at least 1 (got {batchSize})");
        _model = model;
        _train = train;
        _test = test;
        _batchSize = batchSize;
        Centre = ParameterVector.Flatten(model);
    }

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

    /// <summary>At the given weights (a flat vector); the model is left at the centre afterwards.</summary>
    public LandscapePoint At(Tensor weights)
    {
        try
        {
            ParameterVector.Assign(_model, weights);
            var train = Evaluation.Evaluate(_model, _train, _batchSize);
            var test = Evaluation.Evaluate(_model, _test, _batchSize);
            ForwardExamples += _train.Count + _test.Count;
            Points++;
            return new LandscapePoint(train.Loss, train.Accuracy, test.Loss, test.Accuracy);
        }
        finally
        {
            Restore();
        }
    }

    /// <summary>Puts the centre weights back into the model.</summary>
    public void Restore() => ParameterVector.Assign(_model, Centre);

    public void Dispose()
    {
        Restore();
        Centre.Dispose();
    }
}
