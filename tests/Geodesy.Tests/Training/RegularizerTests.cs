using Geodesy.Core;
using Geodesy.Core.Models;
using Geodesy.Core.Training.Regularizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>
/// Each regularizer against an independent reference in float64: central finite differences of the
/// penalized loss (Fisher penalty), or the formula evaluated by hand on plain arrays (ELR, label
/// smoothing, margin, Jacobian of a linear model whose Jacobian is its weight matrix).
/// </summary>
public class RegularizerTests
{
    private const double Tight = 1e-10;

    private static nn.Module<Tensor, Tensor> TinyMlp(long seed = 1, string arch = "mlp:3-4-3:tanh") =>
        ModelZoo.Create(arch, [3], 3, seed, ScalarType.Float64);

    private static Tensor Inputs(long n = 5, long seed = 7)
    {
        using var g = new torch.Generator((ulong)seed);
        return torch.randn([n, 3], dtype: ScalarType.Float64, generator: g);
    }

    private static Tensor[] Params(nn.Module m) => m.parameters().ToArray();

    private static double[] Flat(IEnumerable<Tensor> ts) => ts.SelectMany(t => t.detach().reshape(-1).data<double>().ToArray()).ToArray();

    /// <summary>The penalized Fisher loss CE(x, y) + α‖∇θ CE(x, ŷ)‖², computed here from scratch (value only).</summary>
    private static double PenalizedLoss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, Tensor yhat, double alpha)
    {
        var ps = Params(model);
        var sampled = nn.functional.cross_entropy(model.call(x), yhat);
        var g = torch.autograd.grad([sampled], ps);
        double sq = g.Sum(t => t.pow(2).sum().item<double>());
        using var noGrad = torch.no_grad();
        return nn.functional.cross_entropy(model.call(x), y).item<double>() + alpha * sq;
    }

    private static double[] FiniteDifferenceGradient(nn.Module<Tensor, Tensor> model, Func<double> loss, double h = 1e-5)
    {
        var ps = Params(model);
        var result = new List<double>();
        foreach (var p in ps)
        {
            var flat = p.detach().view(-1);
            for (long i = 0; i < flat.shape[0]; i++)
            {
                double orig = flat[i].item<double>();
                using (torch.no_grad()) flat[i].fill_(orig + h);
                double up = loss();
                using (torch.no_grad()) flat[i].fill_(orig - h);
                double down = loss();
                using (torch.no_grad()) flat[i].fill_(orig);
                result.Add((up - down) / (2 * h));
            }
        }
        return result.ToArray();
    }

    [Theory]
    [InlineData("double-backward", 1e-7)]
    [InlineData("finite-difference", 1e-5)]
    public void FisherPenaltyGradientMatchesFiniteDifferencesOfThePenalizedLoss(string method, double tolerance)
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var x = Inputs();
        var y = torch.tensor(new long[] { 0, 1, 2, 1, 0 });
        var yhat = torch.tensor(new long[] { 2, 2, 0, 1, 1 }); // sampled labels, fixed for the check
        const double alpha = 0.7;
        var penalty = FisherPenalty.Parse("--fisher-penalty", $"{alpha},method={method},eps=1e-5");
        penalty.Start(new ObjectiveStart(5, 3, ScalarType.Float64, 0, new ObjectiveCost()));
        var p = method == "double-backward" ? penalty.ExactPenalty(model, x, yhat) : penalty.FiniteDifferencePenalty(model, x, yhat);
        var total = nn.functional.cross_entropy(model.call(x), y) + p;
        double value = total.item<double>();
        var grad = Flat(torch.autograd.grad([total], Params(model)));

        var reference = FiniteDifferenceGradient(model, () => PenalizedLoss(model, x, y, yhat, alpha));
        Assert.Equal(PenalizedLoss(model, x, y, yhat, alpha), value, Tight);
        double scale = reference.Max(Math.Abs);
        for (int i = 0; i < reference.Length; i++) Assert.True(Math.Abs(grad[i] - reference[i]) <= tolerance * Math.Max(1, scale), $"parameter {i}: {grad[i]} vs {reference[i]}");
    }

    [Fact]
    public void FiniteDifferenceFisherPenaltyKeepsOneDropoutMaskAcrossItsGradients()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp(2, "mlp:3-16-16-3:tanh");
        ModelZoo.SetDropout(model, 0.5); // train mode: every forward pass draws a mask
        var x = Inputs(6);
        var yhat = torch.tensor(new long[] { 2, 2, 0, 1, 1, 0 });
        var penalty = FisherPenalty.Parse("--fisher-penalty", "1,method=finite-difference,eps=1e-5");
        penalty.Start(new ObjectiveStart(6, 3, ScalarType.Float64, 0, new ObjectiveCost()));
        using var state = torch.Generator.Default.get_state();
        // The exact penalty with the mask drawn from this state is the reference for the gradient.
        torch.Generator.Default.set_state(state);
        var exact = Flat(torch.autograd.grad([penalty.ExactPenalty(model, x, yhat)], Params(model)));
        torch.Generator.Default.set_state(state);
        var fd = Flat(torch.autograd.grad([penalty.FiniteDifferencePenalty(model, x, yhat)], Params(model)));
        double scale = exact.Max(Math.Abs);
        for (int i = 0; i < exact.Length; i++) Assert.True(Math.Abs(fd[i] - exact[i]) <= 1e-5 * Math.Max(1, scale), $"parameter {i}: {fd[i]} vs {exact[i]}");
    }

    [Fact]
    public void FisherPenaltyRunsEveryKStepsAndCountsItsDoubleBackwards()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var objective = TrainingObjective.Start([FisherPenalty.Parse("--fisher-penalty", "0.1,sub=2@every=3")], 5, 3, ScalarType.Float64, 0);
        var x = Inputs();
        var y = torch.tensor(new long[] { 0, 1, 2, 1, 0 });
        for (long step = 0; step < 7; step++) objective.Loss(model, x, y, torch.arange(5), step).backward();
        Assert.Equal(3, objective.Cost.PenalizedSteps); // steps 0, 3, 6
        Assert.Equal(3, objective.Cost.DoubleBackwards);
        Assert.Equal(6, objective.Cost.ExtraForwards); // one to sample labels, one for the gradient
    }

    [Fact]
    public void ElrKeepsTemporalEnsembleTargetsAndMatchesItsFormula()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var x = Inputs(4);
        var y = torch.tensor(new long[] { 0, 1, 2, 1 });
        const double lambda = 3, beta = 0.7;
        var elr = EarlyLearningRegularization.Parse("--elr", $"{lambda},beta={beta}");
        elr.Start(new ObjectiveStart(4, 3, ScalarType.Float64, 0, new ObjectiveCost()));
        double[,] logits;
        using (torch.no_grad()) logits = To2D(model.call(x));
        var targets = new double[4, 3];
        foreach (var batch in new[] { new long[] { 2, 0 }, new long[] { 0, 1, 3 } })
        {
            var idx = torch.tensor(batch);
            var step = new StepContext(model, x.index_select(0, idx), y.index_select(0, idx), idx, 0, inputGradient: false);
            double got = elr.Penalty(step)!.item<double>();
            // By hand: p = clamp(softmax), t <- beta t + (1-beta) p / sum p, penalty = lambda mean log(1 - <p, t>).
            double sum = 0;
            foreach (long i in batch)
            {
                var p = Softmax(logits, (int)i).Select(v => Math.Clamp(v, 1e-4, 1 - 1e-4)).ToArray();
                double total = p.Sum();
                for (int k = 0; k < 3; k++) targets[i, k] = beta * targets[i, k] + (1 - beta) * p[k] / total;
                sum += Math.Log(1 - Enumerable.Range(0, 3).Sum(k => p[k] * targets[i, k]));
            }
            Assert.Equal(lambda * sum / batch.Length, got, Tight);
        }
        var kept = To2D(elr.Targets!);
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 3; k++) Assert.Equal(targets[i, k], kept[i, k], Tight);
    }

    [Fact]
    public void LabelSmoothingEqualsTheCrossEntropyAgainstSmoothedTargets()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var x = Inputs();
        var y = new long[] { 0, 1, 2, 1, 0 };
        const double eps = 0.2;
        var objective = TrainingObjective.Start([new LabelSmoothing(eps)], 5, 3, ScalarType.Float64, 0);
        double got = objective.Loss(model, x, torch.tensor(y), torch.arange(5), 0).item<double>();
        double[,] z;
        using (torch.no_grad()) z = To2D(model.call(x));
        double expected = 0;
        for (int i = 0; i < 5; i++)
        {
            var p = Softmax(z, i);
            for (int k = 0; k < 3; k++) expected -= ((k == y[i] ? 1 - eps : 0) + eps / 3) * Math.Log(p[k]);
        }
        Assert.Equal(expected / 5, got, Tight);
    }

    [Fact]
    public void MarginRegularizerIsVarianceMinusMeanOfTheOutputMargins()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var x = Inputs();
        var y = new long[] { 0, 1, 2, 1, 0 };
        var reg = MarginRegularizer.Parse("--margin-reg", "0.5,var=2");
        var step = new StepContext(model, x, torch.tensor(y), torch.arange(5), 0, inputGradient: false);
        double got = reg.Penalty(step)!.item<double>();
        double[,] z;
        using (torch.no_grad()) z = To2D(model.call(x));
        var margins = Enumerable.Range(0, 5).Select(i => z[i, y[i]] - Enumerable.Range(0, 3).Where(k => k != y[i]).Max(k => z[i, k])).ToArray();
        double mean = margins.Average(), variance = margins.Average(m => (m - mean) * (m - mean));
        Assert.Equal(0.5 * (2 * variance - mean), got, Tight);
    }

    [Fact]
    public void JacobianEstimatorsMatchTheirFormulasOnALinearModel()
    {
        using var scope = NewDisposeScope();
        // z = W x + b: the input-output Jacobian of every example is W.
        var model = ModelZoo.Create("mlp:3-4", [3], 4, 5, ScalarType.Float64);
        var w = To2D(Params(model)[0]);
        var x = Inputs(2).requires_grad_(true);
        var logits = model.call(x);
        var a = new double[4, 4]; // W Wᵀ
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 4; l++)
                for (int j = 0; j < 3; j++) a[k, l] += w[k, j] * w[l, j];
        double S(double[] u) { double s = 0; for (int k = 0; k < 4; k++) for (int l = 0; l < 4; l++) s += u[k] * a[k, l] * u[l]; return s; }

        // Orthogonal kind, two given sign vectors: half the unbiased variance of s = ‖Wᵀu‖² over the pair.
        var orthogonal = new JacobianRegularizer(1, orthogonal: true, projections: 2);
        orthogonal.Start(new ObjectiveStart(2, 4, ScalarType.Float64, 0, new ObjectiveCost()));
        double[] u1 = [1, -1, 1, 1], u2 = [-1, -1, 1, -1];
        var us = new[] { u1, u2 }.Select(u => torch.tensor(u, dtype: ScalarType.Float64).unsqueeze(0).expand(2, 4).contiguous()).ToArray();
        double got = orthogonal.Estimate(logits, x, us).item<double>();
        Assert.Equal(0.5 * Math.Pow(S(u1) - S(u2), 2) / 2, got, 1e-9);

        // Its expectation over Rademacher pairs is Σ_{k≠l} (W Wᵀ)²_kl: enumerate all 16 × 16 pairs.
        var signs = Enumerable.Range(0, 16).Select(m => Enumerable.Range(0, 4).Select(k => (m >> k & 1) == 1 ? 1.0 : -1.0).ToArray()).ToArray();
        double mean = signs.SelectMany(p => signs.Select(q => Math.Pow(S(p) - S(q), 2) / 4)).Average();
        double offDiagonal = 0;
        for (int k = 0; k < 4; k++) for (int l = 0; l < 4; l++) if (k != l) offDiagonal += a[k, l] * a[k, l];
        Assert.Equal(offDiagonal, mean, 1e-9);

        // Frobenius kind: ½ (C/m) Σ ‖Wᵀu‖² with the given unit vectors.
        var frobenius = new JacobianRegularizer(1, orthogonal: false, projections: 2);
        frobenius.Start(new ObjectiveStart(2, 4, ScalarType.Float64, 0, new ObjectiveCost()));
        double[] v1 = [0.5, 0.5, 0.5, 0.5], v2 = [0.6, 0, -0.8, 0];
        var vs = new[] { v1, v2 }.Select(u => torch.tensor(u, dtype: ScalarType.Float64).unsqueeze(0).expand(2, 4).contiguous()).ToArray();
        Assert.Equal(0.5 * 4 / 2 * (S(v1) + S(v2)), frobenius.Estimate(logits, x, vs).item<double>(), 1e-9);
    }

    [Fact]
    public void OrthogonalJacobianEstimateMatchesFiniteDifferenceJacobiansOfATanhNetwork()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp(3);
        var x = Inputs(2);
        double[] u1 = [1, -1, 1], u2 = [-1, -1, 1];
        var us = new[] { u1, u2 }.Select(u => torch.tensor(u, dtype: ScalarType.Float64).unsqueeze(0).expand(2, 3).contiguous()).ToArray();
        var reg = new JacobianRegularizer(1, orthogonal: true, projections: 2);
        reg.Start(new ObjectiveStart(2, 3, ScalarType.Float64, 0, new ObjectiveCost()));
        var xg = x.clone().requires_grad_(true);
        double got = reg.Estimate(model.call(xg), xg, us).item<double>();

        // Reference: J of each example by central differences in the inputs, then s = ‖Jᵀu‖² by hand.
        const double h = 1e-6;
        double expected = 0;
        for (int i = 0; i < 2; i++)
        {
            var jac = new double[3, 3]; // [class, input]
            for (int j = 0; j < 3; j++)
            {
                double[,] Eval(double shift)
                {
                    var xs = x.clone();
                    xs[i, j].fill_(x[i, j].item<double>() + shift);
                    using var noGrad = torch.no_grad();
                    return To2D(model.call(xs));
                }
                var up = Eval(h);
                var down = Eval(-h);
                for (int k = 0; k < 3; k++) jac[k, j] = (up[i, k] - down[i, k]) / (2 * h);
            }
            double S(double[] u) => Enumerable.Range(0, 3).Sum(j => Math.Pow(Enumerable.Range(0, 3).Sum(k => u[k] * jac[k, j]), 2));
            expected += Math.Pow(S(u1) - S(u2), 2) / 4 / 2;
        }
        Assert.Equal(expected, got, 1e-7);
    }

    [Fact]
    public void JacobianPenaltyGradientReachesTheWeights()
    {
        using var scope = NewDisposeScope();
        var model = TinyMlp();
        var objective = TrainingObjective.Start([JacobianRegularizer.Parse("--jacobian-reg", "1,kind=frobenius")], 5, 3, ScalarType.Float64, 0);
        var loss = objective.Loss(model, Inputs(), torch.tensor(new long[] { 0, 1, 2, 1, 0 }), torch.arange(5), 0);
        var plain = nn.functional.cross_entropy(model.call(Inputs()), torch.tensor(new long[] { 0, 1, 2, 1, 0 }));
        var gReg = Flat(torch.autograd.grad([loss], Params(model)));
        var gPlain = Flat(torch.autograd.grad([plain], Params(model)));
        Assert.Contains(gReg.Zip(gPlain), t => Math.Abs(t.First - t.Second) > 1e-6);
        Assert.Equal(1, objective.Cost.DoubleBackwards);
    }

    [Theory]
    [InlineData("abc", "coefficient 'abc'")]
    [InlineData("-1", "must be a number >= 0")]
    [InlineData("0.1@every=0", "@every=K")]
    [InlineData("0.1,method=cheap", "method=cheap is not one of")]
    [InlineData("0.1,foo=1", "unknown key 'foo'")]
    public void BadFisherPenaltyTextIsAnInputError(string text, string fragment)
    {
        var e = Assert.Throws<InputException>(() => FisherPenalty.Parse("--fisher-penalty", text));
        Assert.Contains(fragment, e.Message);
        Assert.Contains("--fisher-penalty", e.Message);
    }

    private static double[] Softmax(double[,] z, int i)
    {
        int k = z.GetLength(1);
        double max = Enumerable.Range(0, k).Max(j => z[i, j]);
        var e = Enumerable.Range(0, k).Select(j => Math.Exp(z[i, j] - max)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    private static double[,] To2D(Tensor t)
    {
        var d = t.detach().contiguous().data<double>().ToArray();
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var r = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) r[i, j] = d[i * cols + j];
        return r;
    }
}
