using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

public class NormMeasureTests
{
    private const double Tight = 1e-10;
    private const double FftTolerance = 1e-9;

    [Fact]
    public void PathNormEqualsTheSumOverAllPathsOfAHandSetNetBiasesIncluded()
    {
        var model = Mlp(3, 2, 2);
        double[] w1 = [0.5, -1.0, 2.0, 1.5, 0.25, -0.75];   // [2,3]
        double[] w2 = [1.0, -2.0, 0.5, 3.0];                // [2,2]
        double[] b1 = [5.0, -5.0], b2 = [1.0, -0.5];
        SetWeights(model, "0.weight", w1);
        SetWeights(model, "2.weight", w2);
        SetWeights(model, "0.bias", b1);
        SetWeights(model, "2.bias", b2);

        // Every path from an input or from a bias to an output: the product of its squared parameters
        // (Fantastic eq. 44 as the reference code of Dziugaite et al. 2020 evaluates it).
        double expected = 0;
        for (int k = 0; k < 2; k++)
        {
            expected += b2[k] * b2[k];
            for (int j = 0; j < 2; j++)
            {
                expected += b1[j] * b1[j] * Math.Pow(w2[k * 2 + j], 2);
                for (int i = 0; i < 3; i++)
                    expected += Math.Pow(w1[j * 3 + i], 2) * Math.Pow(w2[k * 2 + j], 2);
            }
        }
        Assert.Equal(expected, PathNorm.Of(model, [3]), Tight);
    }

    [Fact]
    public void PathNormIsSkippedForBatchNormNetworks()
    {
        using var model = ModelZoo.Create("cnn:channels=2,bn=1", [1, 8, 8], 3, seed: 0, ScalarType.Float64);
        var e = Assert.Throws<MeasureSkippedException>(() => PathNorm.Of(model, [1, 8, 8]));
        Assert.Contains("BatchNorm", e.Message);
    }

    [Fact]
    public void SpectralAndFrobeniusMeasuresMatchSvdOfEachLayer()
    {
        var model = Mlp(6, 5, 4, 3);
        using var data = Clusters(4, 6, 3, 2.0, 1);
        using var ctx = Context(model, data);
        var weights = model.parameters().Where(p => p.dim() == 2).ToArray();
        double sumLogSpec = 0, sumLogFro = 0;
        foreach (var w in weights)
        {
            double s = linalg.svdvals(w.detach()).max().item<double>();
            sumLogSpec += Math.Log(s * s);
            sumLogFro += Math.Log(w.detach().pow(2).sum().item<double>());
        }
        int d = weights.Length;
        Assert.Equal(sumLogSpec, new ProdOfSpecMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(Math.Log(d) + sumLogSpec / d, new SumOfSpecMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(sumLogFro, new ProdOfFroMeasure().Compute(ctx).Value, Tight);
        double gamma = MeasureData.Margin(ctx);
        Assert.Equal(sumLogSpec - Math.Log(gamma * gamma), new ProdOfSpecOverMarginMeasure().Compute(ctx).Value, Tight);
    }

    [Fact]
    public void DistanceMeasuresUseTheInitialWeights()
    {
        var model = Mlp(4, 3, 2);
        var init = Mlp(4, 3, 2);
        using (torch.no_grad()) foreach (var p in init.parameters()) p.mul_(0.5);
        using var data = Clusters(3, 4, 2, 2.0, 2);
        using var ctx = Context(model, data, init);
        double fro = 0, spec = 0;
        foreach (var (a, b) in model.parameters().Zip(init.parameters()).Where(t => t.First.dim() == 2))
        {
            var diff = a.detach() - b.detach();
            fro += diff.pow(2).sum().item<double>();
            spec += Math.Pow(linalg.svdvals(diff).max().item<double>(), 2);
        }
        Assert.Equal(fro, new FrobDistanceMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(spec, new SpecDistMeasure().Compute(ctx).Value, Tight);
    }

    [Fact]
    public void FftConvSpectralNormEqualsTheLargestSingularValueOfTheConvolutionMatrix()
    {
        torch.manual_seed(3);
        const int cin = 3, cout = 2, n = 5;
        var kernel = torch.randn([cout, cin, 3, 3], dtype: ScalarType.Float64);
        // explicit matrix of the circular convolution on an n x n input, one unit input per column
        var columns = new List<Tensor>();
        for (int j = 0; j < cin * n * n; j++)
        {
            var e = torch.zeros(cin * n * n, dtype: ScalarType.Float64);
            e[j] = 1.0;
            var padded = nn.functional.pad(e.reshape(1, cin, n, n), [1, 1, 1, 1], PaddingModes.Circular);
            columns.Add(nn.functional.conv2d(padded, kernel).reshape(-1));
        }
        var matrix = torch.stack(columns, 1);
        double expected = linalg.svdvals(matrix).max().item<double>();

        Assert.Equal(expected, SpectralNorms.ConvExact(kernel, n, n), FftTolerance);
        // the reshaped-kernel approximation is a different number (it is the option, not the exact norm)
        Assert.NotEqual(expected, SpectralNorms.Matrix(kernel), 1e-3);
    }

    [Fact]
    public void FoldedBatchNormReproducesTheNetworkOutputs()
    {
        torch.manual_seed(5);
        var bn = nn.BatchNorm1d(5);
        var model = new SequentialModel("bn", [nn.Linear(4, 5), bn, nn.ReLU(), nn.Linear(5, 3)], flattenInput: true);
        model.to(ScalarType.Float64);
        using (torch.no_grad())
        {
            bn.running_mean!.copy_(torch.randn(5, dtype: ScalarType.Float64));
            bn.running_var!.copy_(torch.rand(5, dtype: ScalarType.Float64) + 0.5);
            bn.weight!.copy_(torch.randn(5, dtype: ScalarType.Float64));
            bn.bias!.copy_(torch.randn(5, dtype: ScalarType.Float64));
        }
        model.eval();
        var x = torch.randn([7, 4], dtype: ScalarType.Float64);
        var expected = model.call(x);

        using var set = WeightMatrices.Of(model, [4]);
        Assert.Equal(2, set.Count);
        Assert.True(set.Matrices[0].FoldedBatchNorm);
        var h = nn.functional.relu(nn.functional.linear(x, set.Matrices[0].Weight, set.Matrices[0].Bias));
        var folded = nn.functional.linear(h, set.Matrices[1].Weight, set.Matrices[1].Bias);
        Assert.True(torch.allclose(expected, folded, rtol: 0, atol: 1e-12));
    }

    [Fact]
    public void FoldedConvBatchNormReproducesTheConvolution()
    {
        torch.manual_seed(6);
        var conv = nn.Conv2d(2, 3, 3, padding: 1);
        var bn = nn.BatchNorm2d(3);
        var model = new SequentialModel("cnn", [conv, bn], flattenInput: false);
        model.to(ScalarType.Float64);
        using (torch.no_grad())
        {
            bn.running_mean!.copy_(torch.randn(3, dtype: ScalarType.Float64));
            bn.running_var!.copy_(torch.rand(3, dtype: ScalarType.Float64) + 0.5);
            bn.weight!.copy_(torch.randn(3, dtype: ScalarType.Float64));
        }
        model.eval();
        var x = torch.randn([2, 2, 6, 6], dtype: ScalarType.Float64);
        using var set = WeightMatrices.Of(model, [2, 6, 6]);
        var m = set.Matrices.Single();
        Assert.Equal([6L, 6L], m.ConvInputSize!);
        var folded = nn.functional.conv2d(x, m.Weight, m.Bias, padding: [1, 1]);
        Assert.True(torch.allclose(model.call(x), folded, rtol: 0, atol: 1e-12));
    }

    [Fact]
    public void ParamNormCountsWeightMatricesOnlyAndNumParamsCountsEverything()
    {
        var model = Mlp(3, 4, 2);
        using var data = Clusters(2, 3, 2, 1.0, 3);
        using var ctx = Context(model, data);
        double expected = model.parameters().Where(p => p.dim() == 2).Sum(p => p.detach().pow(2).sum().item<double>());
        Assert.Equal(expected, new ParamNormMeasure().Compute(ctx).Value, Tight);
        Assert.Equal(3 * 4 + 4 + 4 * 2 + 2, new NumParamsMeasure().Compute(ctx).Value);
    }
}
