using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>Directions against brute-force loops over the parameters (never through ParameterVector.Split).</summary>
public sealed class DirectionsTests
{
    private static readonly long[] Image = [1, 6, 6];

    /// <summary>(shape, values) of each parameter, in order, as plain arrays.</summary>
    private static List<(long[] Shape, double[] Values)> Parameters(nn.Module model) =>
        model.parameters().Select(p => (p.shape, p.detach().to_type(ScalarType.Float64).data<double>().ToArray())).ToList();

    private static double Norm(IEnumerable<double> xs) => Math.Sqrt(xs.Sum(x => x * x));

    [Theory]
    [InlineData("mlp:36-5-3")]
    [InlineData("cnn:channels=2-3,bn=1")]
    public void FilterNormalizationRescalesEveryRowToItsWeightRowAndZeroesVectors(string arch)
    {
        using var model = ModelZoo.Create(arch, Image, 3, seed: 4, ScalarType.Float64);
        var weights = Parameters(model);
        using var raw = torch.randn(ParameterVector.Count(model), generator: new Generator(7), dtype: ScalarType.Float64);
        using var normalized = Directions.Normalize(model, raw, DirectionNormalization.Filter);
        var r = raw.data<double>().ToArray();
        var d = normalized.data<double>().ToArray();
        long offset = 0;
        foreach (var (shape, w) in weights)
        {
            if (shape.Length <= 1)
            {
                for (long k = 0; k < w.Length; k++) Assert.Equal(0.0, d[offset + k]);
            }
            else
            {
                long rowLength = w.Length / shape[0];
                for (long row = 0; row < shape[0]; row++)
                {
                    long start = offset + row * rowLength;
                    var wRow = w.Skip((int)(row * rowLength)).Take((int)rowLength).ToArray();
                    var rRow = r.Skip((int)start).Take((int)rowLength).ToArray();
                    double scale = Norm(wRow) / (Norm(rRow) + Directions.NormGuard);
                    for (long k = 0; k < rowLength; k++) Assert.Equal(rRow[k] * scale, d[start + k], 1e-12);
                    Assert.Equal(Norm(wRow), Norm(d.Skip((int)start).Take((int)rowLength)), 1e-9);
                }
            }
            offset += w.Length;
        }
        Assert.Equal(d.Length, offset);
    }

    [Fact]
    public void LayerNormalizationRescalesEveryWeightTensorAndNoneKeepsTheRawDirection()
    {
        using var model = ModelZoo.Create("mlp:36-5-3", Image, 3, seed: 4, ScalarType.Float64);
        var weights = Parameters(model);
        using var raw = torch.randn(ParameterVector.Count(model), generator: new Generator(8), dtype: ScalarType.Float64);
        using var layer = Directions.Normalize(model, raw, DirectionNormalization.Layer);
        using var none = Directions.Normalize(model, raw, DirectionNormalization.None);
        var r = raw.data<double>().ToArray();
        var d = layer.data<double>().ToArray();
        Assert.Equal(r, none.data<double>().ToArray());
        long offset = 0;
        foreach (var (shape, w) in weights)
        {
            var part = r.Skip((int)offset).Take(w.Length).ToArray();
            double scale = shape.Length <= 1 ? 0 : Norm(w) / (Norm(part) + Directions.NormGuard);
            for (int k = 0; k < w.Length; k++) Assert.Equal(part[k] * scale, d[offset + k], 1e-12);
            offset += w.Length;
        }
    }

    [Fact]
    public void RandomDirectionsAreSeededPerStreamAndThePairIsOrthogonal()
    {
        using var model = ModelZoo.Create("mlp:36-5-3", Image, 3, seed: 4, ScalarType.Float64);
        using var a = Directions.Random(model, 3, "one", DirectionNormalization.Filter);
        using var again = Directions.Random(model, 3, "one", DirectionNormalization.Filter);
        using var b = Directions.Random(model, 3, "two", DirectionNormalization.Filter);
        Assert.Equal(a.data<double>().ToArray(), again.data<double>().ToArray());
        Assert.NotEqual(a.data<double>().ToArray(), b.data<double>().ToArray());
        using var orthogonal = Directions.Orthogonalize(b, a);
        Assert.Equal(0.0, Directions.Cosine(orthogonal, a), 1e-12);
        Assert.Equal(b.norm().ToDouble(), orthogonal.norm().ToDouble(), 1e-9);
        // The biases were zero in both and stay zero.
        var layout = ParameterVector.Layout(model);
        var o = orthogonal.data<double>().ToArray();
        foreach (var (name, off, length, _) in layout.Where(p => p.Name.EndsWith("bias")))
            for (long k = 0; k < length; k++) Assert.Equal(0.0, o[off + k]);
    }

    [Fact]
    public void TowardIsTheOtherModelMinusThisOne()
    {
        using var a = ModelZoo.Create("mlp:36-5-3", Image, 3, seed: 1, ScalarType.Float64);
        using var b = ModelZoo.Create("mlp:36-5-3", Image, 3, seed: 2, ScalarType.Float64);
        using var d = Directions.Toward(a, b);
        var wa = Parameters(a).SelectMany(p => p.Values).ToArray();
        var wb = Parameters(b).SelectMany(p => p.Values).ToArray();
        var dd = d.data<double>().ToArray();
        for (int k = 0; k < dd.Length; k++) Assert.Equal(wb[k] - wa[k], dd[k], 1e-15);
    }
}
