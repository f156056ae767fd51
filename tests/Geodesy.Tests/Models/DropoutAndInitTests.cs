using Geodesy.Core;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Models;

public class DropoutAndInitTests
{
    [Theory]
    [InlineData("mlp:12-16-16-3", new long[] { 12 })]
    [InlineData("cnn:channels=4", new long[] { 1, 8, 8 })]
    [InlineData("nin:depth=1,width=8", new long[] { 1, 8, 8 })]
    [InlineData("resnet20:width=4", new long[] { 3, 8, 8 })]
    public void DropoutActsInTrainModeOnlyAndKeepsTheParameterNames(string arch, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var plain = ModelZoo.Create(arch, shape, 3, 4, ScalarType.Float64);
        using var dropped = ModelZoo.Create(arch, shape, 3, 4, ScalarType.Float64);
        ModelZoo.SetDropout(dropped, 0.5);
        Assert.Equal(plain.named_parameters().Select(p => p.name), dropped.named_parameters().Select(p => p.name));
        using var g = new torch.Generator(3);
        var x = torch.rand([6, .. shape], dtype: ScalarType.Float64, generator: g);
        plain.eval();
        dropped.eval();
        Assert.True(plain.call(x).allclose(dropped.call(x), 0, 0)); // eval mode: no dropout
        dropped.train();
        plain.train();
        Assert.False(plain.call(x).allclose(dropped.call(x)));
    }

    [Fact]
    public void DropoutOutsideZeroToOneIsAnInputError()
    {
        using var model = ModelZoo.Create("mlp:4-3", [4], 3, 0);
        Assert.Throws<InputException>(() => ModelZoo.SetDropout(model, 1.0));
    }

    [Fact]
    public void DefaultInitIsTheZooInitialization()
    {
        using var a = ModelZoo.Create("mlp:5-7-3", [5], 3, 11, ScalarType.Float64);
        using var b = ModelZoo.Create("mlp:5-7-3", [5], 3, 2, ScalarType.Float64);
        Initialization.Apply(b, 11, "default");
        foreach (var ((_, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters())) Assert.True(pa.allclose(pb, 0, 0));
    }

    [Theory]
    [InlineData("mlp:5-7-6-3", new long[] { 5 })]
    [InlineData("cnn:channels=4-6", new long[] { 1, 8, 8 })]
    public void IdenticalRowsGiveEveryUnitTheSameWeightsUpToThePerturbation(string arch, long[] shape)
    {
        using var model = ModelZoo.Create(arch, shape, 3, 0, ScalarType.Float64);
        Initialization.Apply(model, 9, "identical-rows");
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.Contains("bn")) continue;
            var rows = p.detach().reshape(p.shape[0], -1);
            Assert.True(rows.allclose(rows.narrow(0, 0, 1).expand(rows.shape), 0, 0), $"{name} rows differ with eps = 0");
        }
        // With eps, rows differ from row 0 by eps (P_i - P_0), |P| <= 1/sqrt(fan_in): at most 2 eps / sqrt(fan_in), and not zero.
        const double eps = 0.01;
        Initialization.Apply(model, 9, $"identical-rows:eps={eps}");
        var weight = model.named_parameters().First().parameter.detach();
        long fanIn = weight.shape.Skip(1).Aggregate(1L, (x, y) => x * y);
        var spread = (weight - weight.narrow(0, 0, 1)).abs().max().item<double>();
        Assert.InRange(spread, 1e-6, 2 * eps / Math.Sqrt(fanIn) + 1e-15);
    }

    [Theory]
    [InlineData("xavier")]
    [InlineData("identical-rows:eps=-1")]
    [InlineData("identical-rows:e=1")]
    public void UnknownInitIsAnInputError(string scheme) =>
        Assert.Throws<InputException>(() => Initialization.ParseScheme(scheme));
}
