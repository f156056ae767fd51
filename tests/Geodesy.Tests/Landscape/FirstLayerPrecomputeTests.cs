using Geodesy.Core.Data;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>
/// <see cref="LandscapeEvaluator.AtGrid"/> by the first-layer precompute against independent
/// references: an MLP forward written out here with explicit matrix products, and the model's own
/// whole forward pass at each point's weights (the naive slice). Tolerances: in float64 the two
/// differ only by reassociating the first layer's sum, a few units of 1e-16 relative on logits of
/// order 10, so 1e-12 on a loss of order 1 is loose yet catches any wrong term (a missing bias or
/// direction moves the loss by more than 1e-3 on these models). In float32 (unit roundoff 6e-8)
/// the same reassociation moves each first-layer output by about 1e-6 of its size; cross-entropy is
/// 1-Lipschitz in every logit and the later layers here have weights of norm below 10, so the loss
/// moves by at most about 1e-5: 1e-4 holds with a margin.
/// </summary>
public sealed class FirstLayerPrecomputeTests
{
    private static readonly double[] GridValues = [-1, -0.4, 0, 0.7, 1.5];

    /// <summary>
    /// The plane through the model's weights along two seeded directions on every parameter (biases and
    /// BatchNorm scale and shift included: the precompute must carry them all), evaluated by AtGrid.
    /// </summary>
    private sealed class PlaneRun : IDisposable
    {
        public PlaneRun(nn.Module<Tensor, Tensor> model, Dataset train, Dataset test, int batchSize, long seed)
        {
            using (var scope = NewDisposeScope())
            {
                D1 = (Directions.Random(model, seed, "one", DirectionNormalization.None) * 0.3).MoveToOuterDisposeScope();
                D2 = (Directions.Random(model, seed, "two", DirectionNormalization.None) * 0.3).MoveToOuterDisposeScope();
            }
            Theta = ParameterVector.Flatten(model);
            using var evaluator = new LandscapeEvaluator(model, train, test, batchSize);
            Grid = evaluator.AtGrid([D1, D2], Plane);
        }

        public Tensor Theta { get; }
        public Tensor D1 { get; }
        public Tensor D2 { get; }
        public double[][] Plane { get; } = GridValues.SelectMany(a => GridValues.Select(b => new[] { a, b })).ToArray();
        public GridEvaluation Grid { get; }

        /// <summary>θ0 + α_i·d1 + β_i·d2 (in the caller's dispose scope).</summary>
        public Tensor Weights(int i) => Theta + D1 * Plane[i][0] + D2 * Plane[i][1];

        public void Dispose()
        {
            Theta.Dispose();
            D1.Dispose();
            D2.Dispose();
        }
    }

    [Theory]
    [InlineData(1000)] // train and test joined in one chunk
    [InlineData(7)] // several chunks per set
    public void MlpGridMatchesAnExplicitForward(int batchSize)
    {
        using var split = DataSpecs.Load("gaussian-mixture:classes=3,dim=4,sep=2,n=60");
        using var model = ModelZoo.Create("mlp:4-6-5-3:tanh", split.Train.InputShape, 3, seed: 2, ScalarType.Float64);
        using var run = new PlaneRun(model, split.Train, split.Test, batchSize, seed: 4);
        var (grid, plane, theta) = (run.Grid, run.Plane, run.Theta);
        Assert.Equal(GridEvaluation.FirstLayerPrecompute, grid.Path);
        Assert.Null(grid.Fallback);
        Assert.True(grid.BatchedPoints); // Linear and tanh after the first layer: points batched
        for (int i = 0; i < plane.Length; i++)
        {
            using var scope = NewDisposeScope();
            var w = run.Weights(i);
            var (trainLoss, trainAccuracy) = ExplicitMlp(w, split.Train);
            var (testLoss, testAccuracy) = ExplicitMlp(w, split.Test);
            Assert.Equal(trainLoss, grid.Points[i].TrainLoss, 1e-12);
            Assert.Equal(testLoss, grid.Points[i].TestLoss, 1e-12);
            Assert.Equal(trainAccuracy, grid.Points[i].TrainAccuracy);
            Assert.Equal(testAccuracy, grid.Points[i].TestAccuracy);
        }
        // The model is back at the centre.
        using var after = ParameterVector.Flatten(model);
        Assert.Equal(0, (after - theta).abs().max().ToDouble());
    }

    /// <summary>mlp:4-6-5-3:tanh written out: tanh(x·W0ᵀ + b0), tanh(·W2ᵀ + b2), ·W4ᵀ + b4 from the flat vector.</summary>
    private static (double Loss, double Accuracy) ExplicitMlp(Tensor w, Dataset data)
    {
        using var scope = NewDisposeScope();
        long offset = 0;
        Tensor Take(long rows, long cols)
        {
            var t = w.narrow(0, offset, rows * cols).view(rows, cols);
            offset += rows * cols;
            return t;
        }
        Tensor Bias(long n)
        {
            var t = w.narrow(0, offset, n);
            offset += n;
            return t;
        }
        var x = data.Inputs.to_type(ScalarType.Float64);
        var w0 = Take(6, 4);
        var b0 = Bias(6);
        var w2 = Take(5, 6);
        var b2 = Bias(5);
        var w4 = Take(3, 5);
        var b4 = Bias(3);
        var h = torch.tanh(x.mm(w0.t()) + b0);
        h = torch.tanh(h.mm(w2.t()) + b2);
        var logits = h.mm(w4.t()) + b4;
        // Cross-entropy by its definition: log Σ exp(z) − z_y.
        var loss = (torch.logsumexp(logits, 1) - logits.gather(1, data.Labels.unsqueeze(1)).squeeze(1)).mean().ToDouble();
        var accuracy = logits.argmax(1).eq(data.Labels).to_type(ScalarType.Float64).mean().ToDouble();
        return (loss, accuracy);
    }

    /// <summary>A CNN with BatchNorm (non-trivial scale, shift and running statistics, eval mode): the precompute against the model's forward at every point.</summary>
    [Theory]
    [InlineData(ScalarType.Float64, 1e-12)]
    [InlineData(ScalarType.Float32, 1e-4)]
    public void CnnWithBatchNormMatchesThePerPointForward(ScalarType dtype, double tolerance)
    {
        using var train = new Dataset("train", torch.rand(30, 1, 8, 8, generator: new Generator(5)), torch.arange(30L) % 3, 3);
        using var test = new Dataset("test", torch.rand(12, 1, 8, 8, generator: new Generator(6)), torch.arange(12L) % 3, 3);
        using var model = ModelZoo.Create("cnn:channels=3-4,bn=1", [1, 8, 8], 3, seed: 1, dtype);
        using (var _ = torch.no_grad())
        {
            // Running statistics away from (0, 1), so that using the wrong ones shows.
            foreach (var bn in BatchNormStatistics.Layers(model))
            {
                bn.running_mean!.copy_(torch.linspace(-0.3, 0.4, bn.num_features, dtype: dtype));
                bn.running_var!.copy_(torch.linspace(0.5, 1.7, bn.num_features, dtype: dtype));
            }
        }
        using var run = new PlaneRun(model, train, test, batchSize: 16, seed: 8);
        var (grid, plane) = (run.Grid, run.Plane);
        Assert.Equal(GridEvaluation.FirstLayerPrecompute, grid.Path);
        Assert.False(grid.BatchedPoints); // BatchNorm, pooling, conv after the first layer: point by point
        double maxDifference = 0;
        for (int i = 0; i < plane.Length; i++)
        {
            using (var scope = NewDisposeScope()) ParameterVector.Assign(model, run.Weights(i));
            var trainRef = Evaluation.Evaluate(model, train);
            var testRef = Evaluation.Evaluate(model, test);
            maxDifference = Math.Max(maxDifference, Math.Max(Math.Abs(trainRef.Loss - grid.Points[i].TrainLoss), Math.Abs(testRef.Loss - grid.Points[i].TestLoss)));
            if (dtype == ScalarType.Float64)
            {
                Assert.Equal(trainRef.Accuracy, grid.Points[i].TrainAccuracy);
                Assert.Equal(testRef.Accuracy, grid.Points[i].TestAccuracy);
            }
        }
        Assert.True(maxDifference <= tolerance, $"max |Δ loss| = {maxDifference:G3} > {tolerance:G3}");
        ParameterVector.Assign(model, run.Theta);
    }

    [Fact]
    public void FallsBackToThePerPointForwardWhereThePrecomputeDoesNotApply()
    {
        using var train = new Dataset("train", torch.rand(6, 1, 8, 8, generator: new Generator(5)), torch.arange(6L) % 3, 3);
        using var resnet = ModelZoo.Create("resnet20:width=4", [1, 8, 8], 3, seed: 1, ScalarType.Float64);
        using var cnn = ModelZoo.Create("cnn:channels=2,bn=1", [1, 8, 8], 3, seed: 1, ScalarType.Float64);
        foreach (var (model, resetData, allow, reason) in new (nn.Module<Tensor, Tensor>, Dataset?, bool, string)[]
                 {
                     (resnet, null, true, "not a layer chain"),
                     (cnn, train, true, "BatchNorm statistics are re-estimated"),
                     (cnn, null, false, "switched off"),
                 })
        {
            var d = Directions.Random(model, 1, "one", DirectionNormalization.Filter);
            using var _ = d;
            using var evaluator = new LandscapeEvaluator(model, train, train, resetBatchNorm: resetData) { AllowFirstLayerPrecompute = allow };
            var grid = evaluator.AtGrid([d], [[-0.5], [0.5]]);
            Assert.Equal(GridEvaluation.PerPointForward, grid.Path);
            Assert.Contains(reason, grid.Fallback);
            // The same values as the evaluator's own single points.
            Assert.Equal(evaluator.At(0.5, d).TrainLoss, grid.Points[1].TrainLoss, 1e-12);
        }
    }

    [Theory]
    [InlineData("mlp:4-5-3")] // points batched
    [InlineData("cnn:channels=2,bn=1")] // point by point
    public void GridEvaluationLeavesNoLiveTensors(string arch)
    {
        long[] shape = arch.StartsWith("mlp", StringComparison.Ordinal) ? [4] : [1, 4, 4];
        using var model = ModelZoo.Create(arch, shape, 3, seed: 1, ScalarType.Float64);
        using var data = new Dataset("d", torch.randn([20, .. shape], generator: new Generator(3)), torch.arange(20L) % 3, 3);
        DisposeScopeManager.Statistics.Reset();
        using (var d1 = Directions.Random(model, 1, "one", DirectionNormalization.Filter))
        using (var evaluator = new LandscapeEvaluator(model, data, data, batchSize: 7))
        {
            evaluator.AtGrid([d1], [[0.5], [-1], [0]]);
        }
        Assert.Equal(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
