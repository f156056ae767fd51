using Geodesy.Core;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Geodesy.Tests.Models;

public class ModelZooTests
{
    private static readonly long[] Mnist = [1, 28, 28], Cifar = [3, 32, 32];
    /// <summary>float64 forward passes against hand-written functional ones: only summation order differs.</summary>
    private const double Float64Tolerance = 1e-12;

    public static TheoryData<string, long[], int> Specs => new()
    {
        { "mlp:784-16-10", Mnist, 10 },
        { "mlp:20-8-8-3:tanh", [20], 3 },
        { "mlp:12-5:gelu", [3, 2, 2], 5 },
        { "cnn:channels=4-8,bn=1", Mnist, 10 },
        { "cnn", [3, 12, 12], 10 },
        { "cnn:channels=3,kernel=5,pool=avg,act=tanh", [2, 9, 7], 4 },
        { "nin:depth=2,width=8", Mnist, 10 },
        { "nin:depth=3,width=6,bn=0", [3, 16, 16], 7 },
        { "resnet20:width=4", [3, 12, 12], 10 },
        { "resnet20:width=4,shortcut=a", [1, 10, 10], 10 },
    };

    /// <summary>Bit-identical: same shape and every entry equal.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static string[] Names(nn.Module model) => model.named_parameters().Select(p => p.name).ToArray();

    [Fact]
    public void MlpNamesAndShapesFollowPyTorchSequential()
    {
        using var model = ModelZoo.Create("mlp:784-8-10", Mnist, 10, seed: 1);
        var ps = model.named_parameters().ToArray();
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], ps.Select(p => p.name));
        Assert.Equal([8L, 784], ps[0].parameter.shape);
        Assert.Equal([8L], ps[1].parameter.shape);
        Assert.Equal([10L, 8], ps[2].parameter.shape);
        Assert.Equal([10L], ps[3].parameter.shape);
        Assert.Equal(784L * 100 + 100 + 100 * 10 + 10, ModelZoo.CountParameters("mlp:784-100-10", Mnist, 10));
        Assert.Equal(79_510L, ModelZoo.CountParameters("mlp:784-100-10", Mnist, 10));
    }

    [Fact]
    public void CnnMatchesThePyTorchGoldenLayout()
    {
        // nn.Sequential(Conv2d(1,4,3,padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
        //               Conv2d(4,8,3,padding=1), BatchNorm2d(8), ReLU(), MaxPool2d(2), Flatten(), Linear(392,10))
        using var model = ModelZoo.Create("cnn:channels=4-8,bn=1", Mnist, 10, seed: 1);
        // The key set of the PyTorch state_dict (TorchSharp lists buffers after parameters; the order
        // of keys in a safetensors file carries no meaning).
        Assert.Equal(
            new[] { "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
                    "4.weight", "4.bias", "5.weight", "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
                    "9.weight", "9.bias" }.Order(StringComparer.Ordinal),
            model.state_dict().Keys.Order(StringComparer.Ordinal));
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal([4L, 1, 3, 3], shapes["0.weight"]);
        Assert.Equal([8L, 4, 3, 3], shapes["4.weight"]);
        Assert.Equal([10L, 392], shapes["9.weight"]);
        long byHand = (4 * 1 * 9 + 4) + 2 * 4 + (8 * 4 * 9 + 8) + 2 * 8 + (8 * 7 * 7 * 10 + 10);
        Assert.Equal(4_290L, byHand);
        Assert.Equal(byHand, ModelZoo.CountParameters("cnn:channels=4-8,bn=1", Mnist, 10));
        Assert.Equal(byHand, ParameterVector.Count(model));
    }

    [Fact]
    public void NinLayoutAndCount()
    {
        const int w = 8, classes = 10;
        using var model = ModelZoo.Create("nin:depth=2,width=8", Mnist, classes, seed: 1);
        var seq = Assert.IsType<SequentialModel>(model);
        Assert.Equal(2 * 9 + 2, seq.Layers.Count); // per block 3 x (conv, bn, relu); final conv; pool
        Assert.IsType<GlobalAvgPool>(seq.Layers[^1]);
        long block1 = (w * 1 * 9 + w) + 2 * (w * w + w) + 3 * 2 * w;
        long block2 = (w * w * 9 + w) + 2 * (w * w + w) + 3 * 2 * w;
        long head = classes * w + classes;
        Assert.Equal(block1 + block2 + head, ModelZoo.CountParameters("nin:depth=2,width=8", Mnist, classes));
        Assert.Equal(block1 + block2 + head, ParameterVector.Count(model));
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "3.weight"], Names(model).Take(5));
        Assert.Equal(["18.weight", "18.bias"], Names(model).TakeLast(2));
    }

    [Fact]
    public void ResNet20CountsMatchThePublishedValue()
    {
        // He et al. (2016) Table 6: ResNet-20 on CIFAR-10 has 0.27M parameters (option A: 269,722).
        Assert.Equal(269_722L, ModelZoo.CountParameters("resnet20:shortcut=a", Cifar, 10));
        // Option B adds a 1x1 conv + BN at the two stage transitions: 16->32 and 32->64.
        long optionB = 269_722L + (32 * 16 + 2 * 32) + (64 * 32 + 2 * 64);
        Assert.Equal(optionB, ModelZoo.CountParameters("resnet20", Cifar, 10));
        Assert.Equal(optionB, ModelZoo.CountParameters("resnet20:width=16,shortcut=b", Cifar, 10));
        using var model = ModelZoo.Create("resnet20", Cifar, 10, seed: 3);
        Assert.Equal(optionB, ParameterVector.Count(model));
        var names = Names(model);
        Assert.Equal(["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight"], names.Take(5));
        Assert.Contains("layer2.0.downsample.0.weight", names);
        Assert.Contains("layer3.0.downsample.1.bias", names);
        Assert.DoesNotContain("layer1.0.downsample.0.weight", names);
        Assert.Equal(["fc.weight", "fc.bias"], names.TakeLast(2));
        Assert.Contains("layer3.2.bn2.running_var", model.state_dict().Keys);
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void DescribedParametersEqualTheBuiltModel(string spec, long[] inputShape, int classes)
    {
        using var model = ModelZoo.Create(spec, inputShape, classes, seed: 5);
        var built = model.named_parameters().Select(p => (p.name, string.Join("x", p.parameter.shape))).ToArray();
        var described = ModelZoo.DescribeParameters(spec, inputShape, classes).Select(p => (p.Name, string.Join("x", p.Shape))).ToArray();
        Assert.Equal(described, built);
        Assert.Equal(ModelZoo.CountParameters(spec, inputShape, classes), ParameterVector.Count(model));
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void ForwardGivesLogitsInBothDtypesAndModes(string spec, long[] inputShape, int classes)
    {
        using var scope = NewDisposeScope();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            using var model = ModelZoo.Create(spec, inputShape, classes, seed: 2, dtype: dtype);
            Assert.All(model.parameters(), p => Assert.Equal(dtype, p.dtype));
            var x = torch.rand([3, .. inputShape], dtype: dtype, generator: new torch.Generator(9));
            foreach (bool train in new[] { true, false })
            {
                model.train(train);
                var y = model.call(x);
                Assert.Equal([3L, classes], y.shape);
                Assert.Equal(dtype, y.dtype);
                Assert.True(y.isfinite().all().item<bool>(), $"{spec} {dtype} train={train}: non-finite logits");
            }
        }
    }

    [Fact]
    public void SameSeedGivesBitIdenticalWeightsWhateverTheGlobalRngAndThreads()
    {
        const string spec = "cnn:channels=4-8,bn=1";
        torch.manual_seed(1);
        using var a = ModelZoo.Create(spec, Mnist, 10, seed: 42);
        torch.manual_seed(2);
        torch.rand(100);
        int threads = torch.get_num_threads();
        torch.set_num_threads(1);
        using var b = ModelZoo.Create(spec, Mnist, 10, seed: 42);
        torch.set_num_threads(threads);
        using var c = ModelZoo.Create(spec, Mnist, 10, seed: 43);
        using var va = ParameterVector.Flatten(a);
        using var vb = ParameterVector.Flatten(b);
        using var vc = ParameterVector.Flatten(c);
        Assert.True(Same(va, vb), "same seed gave different weights");
        Assert.False(Same(va, vc), "different seeds gave the same weights");
    }

    [Fact]
    public void Float32WeightsAreTheFloat64WeightsRounded()
    {
        using var m32 = ModelZoo.Create("resnet20:width=2", Cifar, 10, seed: 7);
        using var m64 = ModelZoo.Create("resnet20:width=2", Cifar, 10, seed: 7, dtype: ScalarType.Float64);
        using var v32 = ParameterVector.Flatten(m32);
        using var v64 = ParameterVector.Flatten(m64);
        using var rounded = v64.to(ScalarType.Float32);
        Assert.True(Same(v32, rounded));
    }

    [Fact]
    public void InitializationFollowsPyTorchDefaults()
    {
        using var model = ModelZoo.Create("cnn:channels=6,kernel=5,bn=1", [2, 8, 8], 3, seed: 11, dtype: ScalarType.Float64);
        var p = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        // Conv fan_in = 2 * 5 * 5 = 50; Linear fan_in = 6 * 4 * 4 = 96; biases share the weight's bound.
        AssertUniform(p["0.weight"], 1 / Math.Sqrt(50));
        AssertUniform(p["0.bias"], 1 / Math.Sqrt(50));
        AssertUniform(p["5.weight"], 1 / Math.Sqrt(96));
        AssertUniform(p["5.bias"], 1 / Math.Sqrt(96));
        Assert.True(p["1.weight"].eq(1.0).all().item<bool>());
        Assert.True(p["1.bias"].eq(0.0).all().item<bool>());
    }

    private static void AssertUniform(Tensor t, double bound)
    {
        Assert.True(t.abs().max().item<double>() <= bound, "a value lies outside the init bound");
        // With n >= 6 draws the largest |value| is above bound/4 with probability > 1 - 0.25^6 (> 99.9%).
        Assert.True(t.abs().max().item<double>() > bound / 4, "values are far inside the bound");
        Assert.True(t.unique().Item1.numel() == t.numel(), "repeated values in a uniform draw");
    }

    [Theory]
    [InlineData("relu")]
    [InlineData("tanh")]
    [InlineData("gelu")]
    [InlineData("square")]
    public void MlpForwardEqualsItsFormula(string activation)
    {
        using var scope = NewDisposeScope();
        string spec = activation == "relu" ? "mlp:6-5-4-3" : $"mlp:6-5-4-3:{activation}";
        using var model = ModelZoo.Create(spec, [2, 3], 3, seed: 4, dtype: ScalarType.Float64);
        var seq = Assert.IsType<SequentialModel>(model);
        Func<Tensor, Tensor> act = activation switch { "relu" => t => F.relu(t), "tanh" => torch.tanh, "square" => t => t * t, _ => t => F.gelu(t) };
        Assert.Equal(activation, seq.Layers[1].GetType().Name.ToLowerInvariant());
        var p = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        var x = torch.randn([4, 2, 3], dtype: ScalarType.Float64, generator: new torch.Generator(1));
        var h = act(F.linear(x.reshape(4, 6), p["0.weight"], p["0.bias"]));
        h = act(F.linear(h, p["2.weight"], p["2.bias"]));
        var expected = F.linear(h, p["4.weight"], p["4.bias"]);
        Assert.True(torch.allclose(model.call(x), expected, rtol: 0, atol: Float64Tolerance));
    }

    [Fact]
    public void NoBiasMlpHasOnlyWeightsAndComputesW2SquareW1x()
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create("mlp:6-5-3:square:nobias", [6], 3, seed: 4, dtype: ScalarType.Float64);
        var p = model.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        Assert.Equal(["0.weight", "2.weight"], p.Keys.ToArray());
        Assert.Equal(["0.weight", "2.weight"], ModelZoo.DescribeParameters("mlp:6-5-3:square:nobias", [6], 3).Select(s => s.Name).ToArray());
        var x = torch.randn([4, 6], dtype: ScalarType.Float64, generator: new torch.Generator(1));
        var h = x.mm(p["0.weight"].t());
        Assert.True(torch.allclose(model.call(x), (h * h).mm(p["2.weight"].t()), rtol: 0, atol: Float64Tolerance));
        Assert.Equal(["0.weight", "2.weight"], ModelZoo.Create("mlp:6-5-3:nobias", [6], 3, seed: 4).named_parameters().Select(x => x.name).ToArray());
    }

    [Fact]
    public void ActivationVariantsShareWeightsButNotOutputs()
    {
        using var scope = NewDisposeScope();
        using var relu = ModelZoo.Create("mlp:6-5-3", [6], 3, seed: 4);
        using var tanh = ModelZoo.Create("mlp:6-5-3:tanh", [6], 3, seed: 4);
        Assert.True(Same(ParameterVector.Flatten(relu), ParameterVector.Flatten(tanh)));
        var x = torch.randn([5, 6], generator: new torch.Generator(2));
        Assert.False(torch.allclose(relu.call(x), tanh.call(x)));
    }

    [Fact]
    public void CnnForwardEqualsItsFormulaInEvalMode()
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create("cnn:channels=3-4,bn=1,pool=avg,act=tanh", [2, 8, 8], 5, seed: 6, dtype: ScalarType.Float64);
        model.eval();
        var p = model.state_dict();
        var x = torch.randn([2, 2, 8, 8], dtype: ScalarType.Float64, generator: new torch.Generator(3));
        Tensor Stage(Tensor input, int conv) =>
            F.avg_pool2d(torch.tanh(F.batch_norm(F.conv2d(input, p[$"{conv}.weight"], p[$"{conv}.bias"], padding: [1, 1]),
                p[$"{conv + 1}.running_mean"], p[$"{conv + 1}.running_var"], p[$"{conv + 1}.weight"], p[$"{conv + 1}.bias"], false)), 2);
        var h = Stage(Stage(x, 0), 4);
        var expected = F.linear(h.reshape(2, -1), p["9.weight"], p["9.bias"]);
        Assert.True(torch.allclose(model.call(x), expected, rtol: 0, atol: Float64Tolerance));
    }

    [Fact]
    public void OptionAShortcutIsParameterFreeAndPadsChannels()
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create("resnet20:width=2,shortcut=a", [1, 9, 9], 4, seed: 1, dtype: ScalarType.Float64);
        Assert.DoesNotContain(Names(model), n => n.Contains("downsample"));
        // Odd sizes: strided conv and ::2 subsampling both give ceil(9/2) = 5, then 3.
        var y = model.call(torch.rand([2, 1, 9, 9], dtype: ScalarType.Float64, generator: new torch.Generator(1)));
        Assert.Equal([2L, 4], y.shape);
    }

    [Fact]
    public void TrainingModeUpdatesBatchNormStatisticsAndEvalDoesNot()
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create("nin:depth=1,width=4", [1, 6, 6], 3, seed: 1);
        Assert.True(model.training);
        var running = model.state_dict()["1.running_mean"];
        var x = torch.rand([4, 1, 6, 6], generator: new torch.Generator(5)) + 1;
        model.call(x);
        Assert.False(running.eq(0).all().item<bool>());
        var before = running.clone();
        model.eval();
        model.call(x);
        Assert.True(Same(before, model.state_dict()["1.running_mean"]));
    }
}
