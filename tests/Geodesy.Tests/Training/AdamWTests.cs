using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>
/// Decoupled AdamW (Loshchilov &amp; Hutter 2019) against the formula written out in float64:
/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η(m̂/(√v̂+ε) + λθ), with the gradient g of the
/// mean cross-entropy alone (the decay never enters m or v). Coupled Adam must not match it.
/// </summary>
public class AdamWTests
{
    private const double Lr = 0.05, Decay = 0.5, Beta1 = 0.9, Eps = 1e-8;
    private const int Steps = 3;
    private const double Tolerance = 2e-5; // float32 training against a float64 reference

    [Theory]
    [InlineData(0.999)]
    [InlineData(0.98)]
    public void ThreeFullBatchStepsMatchTheDecoupledFormula(double beta2)
    {
        var (trained, data) = Problem();
        Trainer.Train(trained, data, Options(OptimizerKind.AdamW) with { AdamBeta2 = beta2 });
        var reference = Reference(data, beta2);
        var actual = Flat(trained);
        Assert.Equal(reference.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(actual[i] - reference[i]) < Tolerance, $"parameter {i}: AdamW {actual[i]} vs formula {reference[i]}");
    }

    [Fact]
    public void CoupledAdamWithTheSameDecayEndsElsewhere()
    {
        var (coupled, data) = Problem();
        Trainer.Train(coupled, data, Options(OptimizerKind.Adam));
        var reference = Reference(data, 0.999);
        var actual = Flat(coupled);
        double largest = actual.Zip(reference, (a, r) => Math.Abs(a - r)).Max();
        Assert.True(largest > 100 * Tolerance, $"coupled Adam came within {largest} of decoupled AdamW");
    }

    private static TrainerOptions Options(OptimizerKind optimizer) => new()
    {
        Optimizer = optimizer, LearningRate = Lr, WeightDecay = Decay, BatchSize = 10_000, Epochs = Steps, RunningLossEvery = 0,
    };

    private static (nn.Module<Tensor, Tensor> Model, DataSplit Data) Problem()
    {
        var data = DataSpecs.Load("gaussian-mixture:classes=3,dim=4,sep=2,n=60");
        return (ModelZoo.Create("mlp:4-5-3", data.Train.InputShape, data.Train.NumClasses, seed: 3), data);
    }

    private static double[] Flat(nn.Module model) =>
        model.parameters().SelectMany(p => p.detach().to(ScalarType.Float64).flatten().data<double>().ToArray()).ToArray();

    /// <summary>The same model trained by the written-out AdamW update, the gradients from autograd in float64.</summary>
    private static double[] Reference(DataSplit data, double beta2)
    {
        var (model, _) = Problem();
        model.to(ScalarType.Float64);
        var parameters = model.parameters().ToArray();
        var m = parameters.Select(p => new double[p.numel()]).ToArray();
        var v = parameters.Select(p => new double[p.numel()]).ToArray();
        using var x = data.Train.Inputs.to(ScalarType.Float64);
        for (int t = 1; t <= Steps; t++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.call(x), data.Train.Labels);
            var grads = autograd.grad([loss], parameters);
            for (int k = 0; k < parameters.Length; k++)
            {
                var g = grads[k].flatten().data<double>().ToArray();
                var theta = parameters[k].detach().flatten().data<double>().ToArray();
                for (int i = 0; i < theta.Length; i++)
                {
                    m[k][i] = Beta1 * m[k][i] + (1 - Beta1) * g[i];
                    v[k][i] = beta2 * v[k][i] + (1 - beta2) * g[i] * g[i];
                    double mHat = m[k][i] / (1 - Math.Pow(Beta1, t)), vHat = v[k][i] / (1 - Math.Pow(beta2, t));
                    theta[i] -= Lr * (mHat / (Math.Sqrt(vHat) + Eps) + Decay * theta[i]);
                }
                using (no_grad())
                    parameters[k].copy_(tensor(theta, ScalarType.Float64).reshape(parameters[k].shape));
            }
        }
        return Flat(model);
    }
}
