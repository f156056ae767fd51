using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Geodesy.Core.Models;

/// <summary>
/// <c>resnet20[:width=16][,shortcut=b|a]</c>: the CIFAR ResNet-20 of He et al. (2016, section 4.2):
/// conv3x3(W) + BN + ReLU, three stages of three basic blocks at widths W, 2W, 4W (the first block
/// of stages 2 and 3 strides by 2), global average pool, Linear(4W, classes). Shortcut "b"
/// (default, torchvision style): a 1x1 strided conv + BN where the shape changes, named
/// layerN.0.downsample.0/1. Shortcut "a" (the paper's CIFAR choice): parameter-free, the input
/// subsampled by 2 and zero-padded in channels; at width 16 on CIFAR-10 it has the published
/// 269,722 (0.27M) parameters, "b" has 272,474.
/// </summary>
internal sealed class ResNet20Architecture : IArchitecture
{
    private static readonly string[] Keys = ["width", "shortcut"];
    private static readonly string[] Shortcuts = ["b", "a"];
    public const int BlocksPerStage = 3;
    public const int Stages = 3;

    private ResNet20Architecture(string spec, int width, bool convShortcut)
    {
        Spec = spec;
        Width = width;
        ConvShortcut = convShortcut;
    }

    public string Spec { get; }
    public int Width { get; }
    /// <summary>True for option B (1x1 conv + BN), false for option A (zero padding).</summary>
    public bool ConvShortcut { get; }

    public static ResNet20Architecture Parse(string spec, string? body)
    {
        var o = SpecOptions.Parse(spec, body, Keys);
        return new ResNet20Architecture(spec, o.Int("width", 16, 4096), o.Choice("shortcut", "b", Shortcuts) == "b");
    }

    /// <summary>(stage 1..3, block 0..2, in channels, out channels, stride) of every basic block.</summary>
    private IEnumerable<(int Stage, int Block, long In, long Out, long Stride)> Blocks()
    {
        long inC = Width;
        for (int s = 0; s < Stages; s++)
        {
            long outC = (long)Width << s;
            for (int b = 0; b < BlocksPerStage; b++)
            {
                yield return (s + 1, b, inC, outC, s > 0 && b == 0 ? 2 : 1);
                inC = outC;
            }
        }
    }

    public IReadOnlyList<ParameterShape> Parameters(long[] inputShape, int numClasses)
    {
        var (channels, _, _) = ImageInput.Require(Spec, inputShape);
        var list = new List<ParameterShape> { new("conv1.weight", [Width, channels, 3, 3]) };
        void AddBn(string name, long c)
        {
            list.Add(new($"{name}.weight", [c]));
            list.Add(new($"{name}.bias", [c]));
        }
        AddBn("bn1", Width);
        foreach (var (stage, block, inC, outC, stride) in Blocks())
        {
            string p = $"layer{stage}.{block}";
            list.Add(new($"{p}.conv1.weight", [outC, inC, 3, 3]));
            AddBn($"{p}.bn1", outC);
            list.Add(new($"{p}.conv2.weight", [outC, outC, 3, 3]));
            AddBn($"{p}.bn2", outC);
            if (ConvShortcut && (stride != 1 || inC != outC))
            {
                list.Add(new($"{p}.downsample.0.weight", [outC, inC, 1, 1]));
                AddBn($"{p}.downsample.1", outC);
            }
        }
        list.Add(new("fc.weight", [numClasses, 4L * Width]));
        list.Add(new("fc.bias", [numClasses]));
        return list;
    }

    public nn.Module<Tensor, Tensor> Build(long[] inputShape, int numClasses)
    {
        var (channels, _, _) = ImageInput.Require(Spec, inputShape);
        var stages = Blocks()
            .GroupBy(b => b.Stage)
            .Select(g => nn.Sequential(g.Select(b => (b.Block.ToString(System.Globalization.CultureInfo.InvariantCulture),
                (nn.Module<Tensor, Tensor>)new BasicBlock(b.In, b.Out, b.Stride, ConvShortcut))).ToArray()))
            .ToArray();
        return new ResNet20Model(Spec, channels, Width, numClasses, stages);
    }
}

/// <summary>The CIFAR ResNet with PyTorch (torchvision) parameter names: conv1, bn1, layer1..3, fc.</summary>
public sealed class ResNet20Model : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _bn1;
    private readonly Sequential[] _stages;
    private readonly Linear _fc;

    internal ResNet20Model(string spec, long inputChannels, long width, long numClasses, Sequential[] stages)
        : base(nameof(ResNet20Model))
    {
        Spec = spec;
        _conv1 = nn.Conv2d(inputChannels, width, 3, padding: 1, bias: false);
        _bn1 = nn.BatchNorm2d(width);
        _stages = stages;
        _fc = nn.Linear(4 * width, numClasses);
        // Registration order is named_parameters order: conv1, bn1, layer1, layer2, layer3, fc.
        register_module("conv1", _conv1);
        register_module("bn1", _bn1);
        for (int s = 0; s < stages.Length; s++) register_module($"layer{s + 1}", stages[s]);
        register_module("fc", _fc);
    }

    /// <summary>The arch spec the model was built from.</summary>
    public string Spec { get; }

    /// <summary>Dropout probability on the pooled features before fc, in train mode only.</summary>
    public double Dropout { get; set; }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = F.relu(_bn1.call(_conv1.call(input)));
        foreach (var stage in _stages) x = stage.call(x);
        var pooled = x.mean([2L, 3L]);
        if (Dropout > 0 && training) pooled = F.dropout(pooled, Dropout, training: true);
        return _fc.call(pooled).MoveToOuterDisposeScope();
    }
}

/// <summary>Two 3x3 conv + BN with an identity, 1x1-conv (option B) or zero-padding (option A) shortcut.</summary>
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly Sequential? _downsample;
    private readonly long _stride, _padChannels;

    public BasicBlock(long inChannels, long outChannels, long stride, bool convShortcut) : base(nameof(BasicBlock))
    {
        _stride = stride;
        _conv1 = nn.Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
        _bn1 = nn.BatchNorm2d(outChannels);
        _conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
        _bn2 = nn.BatchNorm2d(outChannels);
        register_module("conv1", _conv1);
        register_module("bn1", _bn1);
        register_module("conv2", _conv2);
        register_module("bn2", _bn2);
        bool reshapes = stride != 1 || inChannels != outChannels;
        if (reshapes && convShortcut)
        {
            _downsample = nn.Sequential(
                ("0", nn.Conv2d(inChannels, outChannels, 1, stride: stride, bias: false)),
                ("1", nn.BatchNorm2d(outChannels)));
            register_module("downsample", _downsample);
        }
        else if (reshapes)
        {
            if ((outChannels - inChannels) % 2 != 0 || outChannels < inChannels)
                throw new ArgumentException($"option-A shortcut cannot pad {inChannels} channels to {outChannels}");
            _padChannels = (outChannels - inChannels) / 2;
        }
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var main = _bn2.call(_conv2.call(F.relu(_bn1.call(_conv1.call(input)))));
        Tensor shortcut;
        if (_downsample != null) shortcut = _downsample.call(input);
        else if (_stride != 1 || _padChannels != 0)
        {
            var sub = _stride == 1 ? input : input[TensorIndex.Colon, TensorIndex.Colon,
                TensorIndex.Slice(null, null, _stride), TensorIndex.Slice(null, null, _stride)];
            shortcut = F.pad(sub, [0, 0, 0, 0, _padChannels, _padChannels]);
        }
        else shortcut = input;
        return F.relu(main + shortcut).MoveToOuterDisposeScope();
    }
}
