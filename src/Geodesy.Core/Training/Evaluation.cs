using Geodesy.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training;

/// <summary>Mean cross-entropy and accuracy of a model over a whole dataset, in eval mode.</summary>
public static class Evaluation
{
    public readonly record struct LossAccuracy(double Loss, double Accuracy);

    public static LossAccuracy Evaluate(nn.Module<Tensor, Tensor> model, Dataset data, int batchSize = 2000)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            double lossSum = 0;
            long correct = 0;
            long n = data.Count;
            for (long start = 0; start < n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(batchSize, n - start);
                var x = data.Inputs.narrow(0, start, len);
                var y = data.Labels.narrow(0, start, len);
                var logits = model.call(x.to_type(ParameterDType(model)));
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }
            return new LossAccuracy(n == 0 ? double.NaN : lossSum / n, n == 0 ? double.NaN : correct / (double)n);
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>The dtype of the model's first parameter (inputs are converted to it).</summary>
    public static ScalarType ParameterDType(nn.Module model) =>
        model.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
}
