using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>Evaluation along directions against closed forms and the curvature engine.</summary>
public sealed class LandscapeEvaluatorTests
{
    /// <summary>
    /// mlp:2-2 is one Linear layer (softmax regression): the cross-entropy at W + αD, b + αd is
    /// computed here by hand, example by example.
    /// </summary>
    [Fact]
    public void SliceOfSoftmaxRegressionMatchesTheClosedForm()
    {
        double[,] x = { { 1, 0 }, { 0, 2 }, { -1, 1 }, { 0.5, -1.5 } };
        long[] y = [0, 1, 1, 0];
        double[,] xt = { { 2, 1 }, { -1, -1 } };
        long[] yt = [1, 0];
        using var train = new Dataset("train", torch.tensor(x, ScalarType.Float32), torch.tensor(y), 2);
        using var test = new Dataset("test", torch.tensor(xt, ScalarType.Float32), torch.tensor(yt), 2);
        using var model = ModelZoo.Create("mlp:2-2", [2], 2, seed: 3, ScalarType.Float64);
        model.eval();
        // Flat order: W [2,2] row-major, then b [2].
        double[] theta = ParameterVector.Flatten(model).data<double>().ToArray();
        double[] d = [0.5, -0.5, 0.5, 0.5, 0, 0];
        double dn = Math.Sqrt(d.Sum(v => v * v));
        d = d.Select(v => v / dn).ToArray();
        using var direction = torch.tensor(d, ScalarType.Float64);
        using var evaluator = new LandscapeEvaluator(model, train, test, batchSize: 3);
        foreach (double alpha in new[] { -2.0, -0.5, 0, 1, 3 })
        {
            var w = theta.Zip(d, (t, v) => t + alpha * v).ToArray();
            var (trainLoss, trainAcc) = SoftmaxRegression(w, x, y);
            var (testLoss, testAcc) = SoftmaxRegression(w, xt, yt);
            var p = evaluator.At(alpha, direction);
            Assert.Equal(trainLoss, p.TrainLoss, 1e-12);
            Assert.Equal(trainAcc, p.TrainAccuracy, 12);
            Assert.Equal(testLoss, p.TestLoss, 1e-12);
            Assert.Equal(testAcc, p.TestAccuracy, 12);
        }
        // The weights are back at the centre after every evaluation.
        Assert.Equal(theta, ParameterVector.Flatten(model).data<double>().ToArray());
        Assert.Equal(5 * (4 + 2), evaluator.ForwardExamples);
    }

    private static (double Loss, double Accuracy) SoftmaxRegression(double[] w, double[,] x, long[] y)
    {
        double loss = 0;
        int correct = 0;
        int n = y.Length;
        for (int i = 0; i < n; i++)
        {
            double z0 = w[0] * x[i, 0] + w[1] * x[i, 1] + w[4];
            double z1 = w[2] * x[i, 0] + w[3] * x[i, 1] + w[5];
            double m = Math.Max(z0, z1);
            double logSum = m + Math.Log(Math.Exp(z0 - m) + Math.Exp(z1 - m));
            loss += logSum - (y[i] == 0 ? z0 : z1);
            if ((z1 > z0 ? 1 : 0) == y[i]) correct++;
        }
        return (loss / n, correct / (double)n);
    }

    /// <summary>
    /// Along the unit top Hessian eigenvector (Lanczos), the central second difference of the train
    /// loss at a small step is the top eigenvalue (float64).
    /// </summary>
    [Fact]
    public void SecondDifferenceAlongTheTopEigenvectorIsTheTopEigenvalue()
    {
        using var split = DataSpecs.Load("gaussian-mixture:classes=3,dim=4,sep=2,n=60");
        using var model = ModelZoo.Create("mlp:4-5-3:tanh", split.Train.InputShape, 3, seed: 1, ScalarType.Float64);
        model.eval();
        using var inputs = split.Train.Inputs.to_type(ScalarType.Float64);
        var problem = CurvatureProblem.FromData(model, inputs, split.Train.Labels, new CurvatureOptions { BatchSize = 1000 });
        var top = Lanczos.TopK(new HessianOperator(problem), new EigenOptions { K = 1, Tol = 1e-10, MaxMatvecs = 200, Seed = 5, ReturnVectors = true });
        using var vectors = top.Eigenvectors!;
        using var v = vectors[0].clone();
        Assert.Equal(1.0, v.norm().ToDouble(), 1e-10);
        double lambda = top.Eigenvalues[0];
        Assert.True(lambda > 0);

        using var evaluator = new LandscapeEvaluator(model, split.Train, split.Test);
        const double h = 1e-3;
        double plus = evaluator.At(h, v).TrainLoss, centre = evaluator.At(0, v).TrainLoss, minus = evaluator.At(-h, v).TrainLoss;
        double secondDifference = (plus - 2 * centre + minus) / (h * h);
        Assert.Equal(lambda, secondDifference, lambda * 1e-4);
    }
}
