using Geodesy.Core;
using Geodesy.Core.Models;

namespace Geodesy.Tests.Models;

public class SpecValidationTests
{
    private static readonly long[] Mnist = [1, 28, 28];

    [Theory]
    [InlineData("", "unknown architecture")]
    [InlineData("MLP:784-10", "unknown architecture 'MLP'")]
    [InlineData("resnet:width=16", "unknown architecture 'resnet'")]
    [InlineData("mlp", "needs its layer sizes")]
    [InlineData("mlp:", "needs its layer sizes")]
    [InlineData("mlp:784", "at least an input and an output")]
    [InlineData("mlp:784-0-10", "must be positive")]
    [InlineData("mlp:784--10", "not a positive integer")]
    [InlineData("mlp:784-+5-10", "not a positive integer")]
    [InlineData("mlp:784-1 0-10", "not a positive integer")]
    [InlineData("mlp:784-99999999999-10", "too large")]
    [InlineData("mlp:784-100-10:sigmoid", "unknown activation 'sigmoid'")]
    [InlineData("mlp:784-100-10:relu:tanh", "one activation at most")]
    [InlineData("cnn:", "nothing after ':'")]
    [InlineData("cnn:channels", "key=value")]
    [InlineData("cnn:channels=", "key=value")]
    [InlineData("cnn:channels=0", "must be positive")]
    [InlineData("cnn:channels=4-", "not a positive integer")]
    [InlineData("cnn:channels=4,channels=8", "given twice")]
    [InlineData("cnn:kernel=4", "must be odd")]
    [InlineData("cnn:pool=min", "pool=min is not one of max|avg")]
    [InlineData("cnn:bn=2", "must be 0 or 1")]
    [InlineData("cnn:act=sigmoid", "act=sigmoid")]
    [InlineData("cnn:filters=8", "unknown option 'filters'")]
    [InlineData("cnn:channels=4-8-16-32-64", "shrinks to nothing after pooling stage 5")]
    [InlineData("nin:depth=0", "must be positive")]
    [InlineData("nin:width=-3", "not a positive integer")]
    [InlineData("nin:depth=2;width=4", "not a positive integer")]
    [InlineData("resnet20:width=0", "must be positive")]
    [InlineData("resnet20:shortcut=c", "shortcut=c is not one of b|a")]
    public void MalformedSpecsAreInputErrorsNamingSpecAndProblem(string spec, string problem)
    {
        var e = Assert.Throws<InputException>(() => ModelZoo.Validate(spec, Mnist, 10));
        Assert.Contains($"'{spec}'", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // Create reports the same error before building anything.
        Assert.Equal(e.Message, Assert.Throws<InputException>(() => ModelZoo.Create(spec, Mnist, 10, seed: 0)).Message);
    }

    [Fact]
    public void MlpMustMatchTheDataSizes()
    {
        var inputs = Assert.Throws<InputException>(() => ModelZoo.Validate("mlp:784-100-10", [20], 10));
        Assert.Equal("arch 'mlp:784-100-10': expects 784 inputs but the data has 20 (input shape [20])", inputs.Message);
        var classes = Assert.Throws<InputException>(() => ModelZoo.Validate("mlp:784-100-10", Mnist, 7));
        Assert.Equal("arch 'mlp:784-100-10': expects 10 classes but the data has 7", classes.Message);
        ModelZoo.Validate("mlp:784-100-10", Mnist, 10); // 1x28x28 flattens to 784
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("nin:depth=2,width=8")]
    [InlineData("resnet20")]
    public void ImageModelsNeedImageInput(string spec)
    {
        var e = Assert.Throws<InputException>(() => ModelZoo.Validate(spec, [20], 3));
        Assert.Contains("needs image input [C, H, W]", e.Message);
        ModelZoo.Validate(spec, [3, 32, 32], 100); // infer channels and classes from the data
    }

    [Fact]
    public void DataShapesMustBeSensible()
    {
        Assert.Throws<InputException>(() => ModelZoo.Validate("cnn", [1, 0, 28], 10));
        Assert.Throws<InputException>(() => ModelZoo.Validate("cnn", [], 10));
        Assert.Throws<InputException>(() => ModelZoo.Validate("cnn", Mnist, 0));
        Assert.Throws<InputException>(() => ModelZoo.Create("mlp:784-10", Mnist, 10, seed: 0, dtype: TorchSharp.torch.ScalarType.Int64));
    }

    [Fact]
    public void CatalogExamplesAreValidAndCoverEveryFamily()
    {
        Assert.Equal(["mlp", "cnn", "nin", "resnet20"], ModelZoo.Catalog.Select(c => c.Name));
        foreach (var (name, example, description) in ModelZoo.Catalog)
        {
            Assert.StartsWith(name, example);
            Assert.False(string.IsNullOrWhiteSpace(description));
            Assert.True(ModelZoo.CountParameters(example, Mnist, 10) > 0);
        }
    }
}
