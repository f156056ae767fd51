using Geodesy.Core.Measures;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class MarginAndFisherRaoTests
{
    private const double Tight = 1e-10;

    [Fact]
    public void MarginsOfHandMadeLogitsFollowTheTenthPercentileConvention()
    {
        var logits = torch.tensor(new double[,]
        {
            { 3.0, 1.0, 0.0 },   // y=0: 3 - 1 = 2
            { 0.5, 2.0, 1.0 },   // y=0: 0.5 - 2 = -1.5 (misclassified)
            { 0.0, 0.0, 4.0 },   // y=2: 4
            { 1.0, 1.5, 1.2 },   // y=1: 1.5 - 1.2 = 0.3
        });
        var labels = torch.tensor(new long[] { 0, 0, 2, 1 });
        var m = Margins.FromLogits(logits, labels);
        Assert.Equal(new[] { 2.0, -1.5, 4.0, 0.3 }, m.Select(v => Math.Round(v, 12)).ToArray());
        // m = 4 < 10: rank max(1, floor(4/10)) = 1, the smallest margin
        Assert.Equal(-1.5, Margins.TenthPercentile(m));
        // m = 25: rank floor(25/10) = 2, the second smallest
        var many = Enumerable.Range(1, 25).Select(i => (double)i).Reverse().ToArray();
        Assert.Equal(2.0, Margins.TenthPercentile(many));
    }

    [Fact]
    public void MarginMeasuresReadTheModelLogits()
    {
        var model = Mlp(4, 3);
        using var data = Clusters(10, 4, 3, 2.0, 4);
        using var ctx = Context(model, data);
        using var z = model.call(data.Inputs.to_type(ScalarType.Float64));
        var m = Margins.FromLogits(z, data.Labels);
        double gamma = m.OrderBy(v => v).ElementAt(2);   // 30 examples: 3rd smallest
        Assert.Equal(gamma, new MarginMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(1 / (gamma * gamma), new InverseMarginMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(m.Average(), new AverageMarginMeasure().Compute(ctx).Value, Tight);
    }

    [Fact]
    public void NormalizedMarginDividesByBartlettsSpectralComplexity()
    {
        var model = Mlp(4, 5, 3);
        using var data = Clusters(10, 4, 3, 2.0, 4);
        using var ctx = Context(model, data);
        using var z = model.call(data.Inputs.to_type(ScalarType.Float64));
        double gamma = Margins.FromLogits(z, data.Labels).OrderBy(v => v).ElementAt(2);
        // R_A = prod_i s_i (sum_i (r_i / s_i)^(2/3))^(3/2), s_i the spectral norm, r_i the sum of the row norms
        double prod = 1, sum = 0;
        foreach (var w in model.parameters().Where(p => p.dim() == 2).Select(p => p.detach()))
        {
            double spec = linalg.svdvals(w).max().item<double>(), rows = 0;
            for (long i = 0; i < w.shape[0]; i++)
            {
                double sq = 0;
                for (long j = 0; j < w.shape[1]; j++) sq += Math.Pow(w[i, j].item<double>(), 2);
                rows += Math.Sqrt(sq);
            }
            prod *= spec;
            sum += Math.Pow(rows / spec, 2.0 / 3.0);
        }
        double complexity = prod * Math.Pow(sum, 1.5);
        double dataNorm = Math.Sqrt(data.Inputs.to_type(ScalarType.Float64).pow(2).sum().item<double>());
        Assert.Equal(gamma * 30 / (complexity * dataNorm), new NormalizedMarginMeasure().Compute(ctx).Value, Tight);
    }

    /// <summary>&lt;w, F w&gt; by brute force: per example and per label y, the full gradient dotted with w, weighted by p(y|x).</summary>
    private static (double Model, double Empirical) BruteForceFisherRao(nn.Module<Tensor, Tensor> model, Tensor x, Tensor labels)
    {
        var ps = model.parameters().ToArray();
        var w = ps.Select(p => p.detach().clone()).ToArray();
        double modelSum = 0, empSum = 0;
        long n = x.shape[0];
        for (long i = 0; i < n; i++)
        {
            var xi = x.narrow(0, i, 1);
            var p = nn.functional.softmax(model.call(xi), 1).detach();
            long classes = p.shape[1];
            for (long y = 0; y < classes; y++)
            {
                var loss = nn.functional.cross_entropy(model.call(xi), torch.tensor(new[] { y }));
                var g = torch.autograd.grad([loss], ps);
                double dot = g.Zip(w).Sum(t => (t.First * t.Second).sum().item<double>());
                modelSum += p[0, y].item<double>() * dot * dot;
                if (y == labels[i].item<long>()) empSum += dot * dot;
            }
        }
        return (modelSum / n, empSum / n);
    }

    [Fact]
    public void FisherRaoClosedFormMatchesAutogradOnABiasFreeReluNet()
    {
        var model = Mlp(false, 4, 5, 5, 3);
        using var data = Clusters(4, 4, 3, 1.5, 5);
        var set = new ExampleSet(data.Inputs.to_type(ScalarType.Float64), data.Labels);
        var r = FisherRao.Compute(model, set, 5);
        var (bruteModel, bruteEmp) = BruteForceFisherRao(model, set.Inputs, set.Labels);

        Assert.Equal(3, r.Degree);
        Assert.Equal(bruteModel, r.ModelFisher, 1e-9 * bruteModel);
        Assert.Equal(bruteModel, r.ClosedForm!.Value, 1e-9 * bruteModel);
        Assert.Equal(bruteEmp, r.Empirical, 1e-9 * bruteEmp);
        Assert.Equal(bruteEmp, r.ClosedFormEmpirical!.Value, 1e-9 * bruteEmp);
    }

    [Fact]
    public void FisherRaoGeneralFormMatchesAutogradWithBiasesAndHasNoClosedForm()
    {
        var model = Mlp(true, 4, 6, 3);
        using var data = Clusters(3, 4, 3, 1.5, 6);
        using var ctx = Context(model, data);
        var value = new FisherRaoModelMeasure().Compute(ctx);
        var (bruteModel, bruteEmp) = BruteForceFisherRao(model, data.Inputs.to_type(ScalarType.Float64), data.Labels);
        Assert.Equal(bruteModel, value.Value, 1e-9 * bruteModel);
        Assert.Equal(bruteEmp, value.Details!["empirical"], 1e-9 * bruteEmp);
        Assert.False(value.Details.ContainsKey("closed_form"));
        Assert.Null(FisherRao.HomogeneousDegree(model));
    }

    [Fact]
    public void FantasticFisherRaoIsDepthSquaredTimesTheMeanSquaredInnerProductWithTheDataLabels()
    {
        // Fantastic eq. 45: (d+1)^2/m sum_i <w, grad l(x_i, y_i)>^2; here d+1 = 3 weight layers.
        var model = Mlp(true, 4, 5, 4, 3);
        using var data = Clusters(3, 4, 3, 1.5, 8);
        using var ctx = Context(model, data);
        var (_, bruteEmp) = BruteForceFisherRao(model, data.Inputs.to_type(ScalarType.Float64), data.Labels);
        Assert.Equal(9 * bruteEmp, new FisherRaoMeasure().Compute(ctx).Value, 1e-9 * bruteEmp);
    }
}
