using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

public class PerExampleGradientTests
{
    /// <summary>Closed forms vs single-example backward passes: same sums, different order.</summary>
    private const double GradientTolerance = 1e-12;
    /// <summary>Traces and eigenvalues vs the dense operators.</summary>
    private const double TraceTolerance = 1e-10;

    private static double MaxError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        return actual.sub(expected).abs().max().item<double>() / expected.abs().max().item<double>();
    }

    [Theory]
    [InlineData("mlp-tanh")]
    [InlineData("mlp-relu")]
    [InlineData("cnn-eval")]
    public void ClosedForms_MatchSingleExampleBackward(string name)
    {
        var p = Problem(name, n: 10, batchSize: 4);
        var per = new PerExampleGradients(p);
        Assert.True(per.IsClosedForm);
        using var actual = per.Materialize();
        using var expected = ReferencePerExampleGradients(p);
        Assert.True(MaxError(actual, expected) <= GradientTolerance, $"{name}: {MaxError(actual, expected):E2}");
    }

    [Fact]
    public void TrainModeBatchNorm_FallsBackToLoopOverBatchLosses()
    {
        var p = Problem("cnn-train", n: 10, batchSize: 4);
        var per = new PerExampleGradients(p);
        Assert.False(per.IsClosedForm);
        using var actual = per.Materialize();
        using var expected = ReferencePerExampleGradients(p);
        Assert.True(MaxError(actual, expected) <= GradientTolerance, $"{MaxError(actual, expected):E2}");
    }

    /// <summary>A model that is not a SequentialModel: the loop runs single-example passes.</summary>
    private sealed class Wrapped : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> inner;
        public Wrapped(nn.Module<Tensor, Tensor> inner) : base("Wrapped") { this.inner = inner; RegisterComponents(); }
        public override Tensor forward(Tensor x) => inner.call(x);
    }

    [Fact]
    public void NonSequentialModel_FallsBackToSingleExampleLoop()
    {
        var (x, y) = TestData(true, 9);
        var p = new CurvatureProblem(new Wrapped(Cnn()), x, y, new CurvatureOptions { BatchSize = 4 });
        var per = new PerExampleGradients(p);
        Assert.False(per.IsClosedForm);
        using var actual = per.Materialize();
        using var expected = ReferencePerExampleGradients(p);
        Assert.True(MaxError(actual, expected) <= GradientTolerance, $"{MaxError(actual, expected):E2}");
    }

    [Fact]
    public void ForcedLoop_EqualsClosedForms_IncludingNorms()
    {
        var p = Problem("cnn-eval", n: 10, batchSize: 3);
        using var closed = new PerExampleGradients(p).Materialize();
        using var loop = new PerExampleGradients(p, forceLoop: true).Materialize();
        Assert.True(MaxError(closed, loop) <= GradientTolerance);
        var norms = new PerExampleGradients(p).Norms();
        var expected = loop.norm(1).data<double>().ToArray();
        for (int i = 0; i < norms.Length; i++) Assert.Equal(expected[i], norms[i], 12);
    }

    [Fact]
    public void ForEachChunk_StreamsContiguousChunksOfTheBatchSize()
    {
        var p = Problem("mlp-relu", n: 10, batchSize: 4);
        var starts = new List<(long, long)>();
        new PerExampleGradients(p).ForEachChunk((start, g) => starts.Add((start, g.shape[0])));
        Assert.Equal(new (long, long)[] { (0, 4), (4, 4), (8, 2) }, starts);
        Assert.Throws<InputException>(() => new PerExampleGradients(p).Materialize(maxBytes: 100));
    }

    [Theory]
    [InlineData("mlp-tanh")]
    [InlineData("cnn-eval")]
    [InlineData("cnn-train")]
    public void Traces_MatchDenseOperators(string name)
    {
        var p = Problem(name, n: 10, batchSize: 4);
        var per = new PerExampleGradients(p);
        using var ef = DenseOf(new EmpiricalFisherOperator(p));
        using var k = DenseOf(new GradientCovarianceOperator(p));
        double efTrace = ef.trace().item<double>(), kTrace = k.trace().item<double>();
        Assert.True(Math.Abs(per.EmpiricalFisherTrace() - efTrace) <= TraceTolerance * efTrace);
        Assert.True(Math.Abs(per.GradientCovarianceTrace() - kTrace) <= TraceTolerance * efTrace);

        const int top = 4;
        var eigenvalues = per.GradientCovarianceTopEigenvalues(top);
        var dense = linalg.eigvalsh(k).data<double>().ToArray().Reverse().Take(top).ToArray();
        for (int i = 0; i < top; i++) Assert.True(Math.Abs(eigenvalues[i] - dense[i]) <= TraceTolerance * dense[0], $"eigenvalue {i}");
        Assert.Throws<InputException>(() => per.GradientCovarianceTopEigenvalues(11));
    }

    /// <summary>
    /// Tr(F) by sampled labels is unbiased: the mean over seeds is within 3 standard errors of
    /// the exact trace (the GGN's, equal to the Fisher for softmax cross-entropy), and the
    /// reported standard error matches the spread over seeds.
    /// </summary>
    [Fact]
    public void FisherTrace_IsUnbiasedWithHonestStandardError()
    {
        const int seeds = 100, samples = 4;
        var p = Problem("mlp-tanh", n: 12, batchSize: 5);
        using var ggn = DenseOf(new GgnOperator(p));
        double exact = ggn.trace().item<double>();
        var per = new PerExampleGradients(p);
        var estimates = Enumerable.Range(0, seeds).Select(s => per.FisherTrace(samples, seed: s)).ToList();
        double mean = estimates.Average(e => e.Estimate);
        double sd = Math.Sqrt(estimates.Sum(e => (e.Estimate - mean) * (e.Estimate - mean)) / (seeds - 1));
        Assert.True(Math.Abs(mean - exact) <= 3 * sd / Math.Sqrt(seeds), $"mean {mean} exact {exact} sd {sd}");
        double reported = Math.Sqrt(estimates.Average(e => e.StdErr * e.StdErr));
        Assert.InRange(reported / sd, 0.6, 1.6);
        Assert.All(estimates, e => Assert.Equal(samples, e.SamplesPerInput));
        Assert.Equal(estimates[3].Estimate, per.FisherTrace(samples, seed: 3).Estimate);
    }

    [Fact]
    public void FisherTrace_SampleLabelsAreThoseOfTheMonteCarloFisher()
    {
        var p = Problem("cnn-eval", n: 10, batchSize: 4);
        var estimate = new PerExampleGradients(p).FisherTrace(2, seed: 8);
        using var fisher = DenseOf(new MonteCarloFisherOperator(p, 2, seed: 8));
        double trace = fisher.trace().item<double>();
        Assert.True(Math.Abs(estimate.Estimate - trace) <= TraceTolerance * trace);
    }

    [Fact]
    public void PerExampleQuantities_LeaveNoLiveTensors()
    {
        var p = Problem("cnn-eval", n: 10, batchSize: 4);
        var closed = new PerExampleGradients(p);
        var loop = new PerExampleGradients(Problem("cnn-train", n: 10, batchSize: 4));
        closed.Norms();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 20; i++)
        {
            closed.Norms();
            closed.FisherTrace(2, seed: i);
            closed.GradientCovarianceTrace();
            closed.GradientCovarianceTopEigenvalues(2);
            loop.EmpiricalFisherTrace();
            closed.ForEachChunk((_, _) => { });
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
