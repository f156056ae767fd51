using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// <c>nin[:depth=3][,width=64][,bn=0|1]</c>: the Network-in-Network family of Jiang et al. (2019, 2020)
/// and the PGDL competition. Each of the D blocks is Conv3x3(stride 2, padding 1) + [BN] + ReLU and
/// two Conv1x1 + [BN] + ReLU, all W channels; then Conv1x1(W, classes) and a global average pool.
/// See docs/models.md for where this departs from the TensorFlow originals.
/// </summary>
internal sealed class NinArchitecture : IArchitecture
{
    private static readonly string[] Keys = ["depth", "width", "bn"];
    private const int MaxDepth = 32;

    private NinArchitecture(string spec, int depth, int width, bool batchNorm)
    {
        Spec = spec;
        Depth = depth;
        Width = width;
        BatchNorm = batchNorm;
    }

    public string Spec { get; }
    public int Depth { get; }
    public int Width { get; }
    public bool BatchNorm { get; }

    public static NinArchitecture Parse(string spec, string? body)
    {
        var o = SpecOptions.Parse(spec, body, Keys);
        return new NinArchitecture(spec, o.Int("depth", 3, MaxDepth), o.Int("width", 64), o.Flag("bn", true));
    }

    /// <summary>Each conv is followed by BN (if any) and ReLU.</summary>
    private int LayersPerConv => BatchNorm ? 3 : 2;

    /// <summary>(kernel, in channels) of the three convolutions of block b.</summary>
    private IEnumerable<(int Kernel, long In)> BlockConvs(int block, long inputChannels)
    {
        yield return (3, block == 0 ? inputChannels : Width);
        yield return (1, Width);
        yield return (1, Width);
    }

    public IReadOnlyList<ParameterShape> Parameters(long[] inputShape, int numClasses)
    {
        var (channels, _, _) = ImageInput.Require(Spec, inputShape);
        var list = new List<ParameterShape>();
        int index = 0;
        for (int b = 0; b < Depth; b++)
            foreach (var (kernel, inC) in BlockConvs(b, channels))
            {
                list.Add(new($"{index}.weight", [Width, inC, kernel, kernel]));
                list.Add(new($"{index}.bias", [Width]));
                if (BatchNorm)
                {
                    list.Add(new($"{index + 1}.weight", [Width]));
                    list.Add(new($"{index + 1}.bias", [Width]));
                }
                index += LayersPerConv;
            }
        list.Add(new($"{index}.weight", [numClasses, Width, 1, 1]));
        list.Add(new($"{index}.bias", [numClasses]));
        return list;
    }

    public nn.Module<Tensor, Tensor> Build(long[] inputShape, int numClasses)
    {
        var (channels, _, _) = ImageInput.Require(Spec, inputShape);
        var layers = new List<nn.Module<Tensor, Tensor>>();
        for (int b = 0; b < Depth; b++)
            foreach (var (kernel, inC) in BlockConvs(b, channels))
            {
                // The 3x3 conv downsamples (stride 2); padding 1 gives ceil(H/2) like TensorFlow's 'SAME'.
                layers.Add(kernel == 3 ? nn.Conv2d(inC, Width, 3, stride: 2, padding: 1) : nn.Conv2d(inC, Width, 1));
                if (BatchNorm) layers.Add(nn.BatchNorm2d(Width));
                layers.Add(nn.ReLU());
            }
        layers.Add(nn.Conv2d(Width, numClasses, 1));
        layers.Add(new GlobalAvgPool());
        return new SequentialModel(Spec, layers, flattenInput: false);
    }
}
