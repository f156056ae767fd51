using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// <c>cnn[:channels=16-32][,kernel=3][,pool=max|avg][,bn=0|1][,act=relu|tanh|gelu]</c>: per channel
/// count c a stage Conv2d(in, c, k, padding=k/2), [BatchNorm2d(c)], act, MaxPool2d(2)|AvgPool2d(2);
/// then Flatten and Linear(c_last * H' * W', classes). Same layout and names as the PyTorch
/// nn.Sequential of those layers.
/// </summary>
internal sealed class CnnArchitecture : IArchitecture
{
    private static readonly string[] Keys = ["channels", "kernel", "pool", "bn", "act"];
    private static readonly string[] Pools = ["max", "avg"];
    private const int MaxKernel = 15;

    private CnnArchitecture(string spec, int[] channels, int kernel, string pool, bool batchNorm, string activation)
    {
        Spec = spec;
        Channels = channels;
        Kernel = kernel;
        Pool = pool;
        BatchNorm = batchNorm;
        Activation = activation;
    }

    public string Spec { get; }
    public int[] Channels { get; }
    public int Kernel { get; }
    public string Pool { get; }
    public bool BatchNorm { get; }
    public string Activation { get; }

    public static CnnArchitecture Parse(string spec, string? body)
    {
        var o = SpecOptions.Parse(spec, body, Keys);
        int kernel = o.Int("kernel", 3, MaxKernel);
        if (kernel % 2 == 0)
            throw SpecOptions.Error(spec, $"kernel={kernel} must be odd so that padding=k/2 keeps the image size");
        string activation = o.Choice("act", Activations.Default, Activations.Names);
        return new CnnArchitecture(spec, o.Sizes("channels", [16, 32]), kernel, o.Choice("pool", "max", Pools), o.Flag("bn", false), activation);
    }

    /// <summary>Image side lengths after all stages (each conv keeps the size, each pool halves it, flooring).</summary>
    private (long C, long H, long W) FinalFeatureShape(long[] inputShape)
    {
        var (_, h, w) = ImageInput.Require(Spec, inputShape);
        for (int s = 0; s < Channels.Length; s++)
        {
            h /= 2;
            w /= 2;
            if (h == 0 || w == 0)
                throw SpecOptions.Error(Spec, $"the {inputShape[1]}x{inputShape[2]} input shrinks to nothing after pooling stage {s + 1} of {Channels.Length}; use fewer channel stages");
        }
        return (Channels[^1], h, w);
    }

    private int LayersPerStage => BatchNorm ? 4 : 3;

    public IReadOnlyList<ParameterShape> Parameters(long[] inputShape, int numClasses)
    {
        var (c, h, w) = FinalFeatureShape(inputShape);
        var list = new List<ParameterShape>();
        long inChannels = inputShape[0];
        for (int s = 0; s < Channels.Length; s++)
        {
            int conv = s * LayersPerStage;
            list.Add(new($"{conv}.weight", [Channels[s], inChannels, Kernel, Kernel]));
            list.Add(new($"{conv}.bias", [Channels[s]]));
            if (BatchNorm)
            {
                list.Add(new($"{conv + 1}.weight", [Channels[s]]));
                list.Add(new($"{conv + 1}.bias", [Channels[s]]));
            }
            inChannels = Channels[s];
        }
        int linear = Channels.Length * LayersPerStage + 1;
        list.Add(new($"{linear}.weight", [numClasses, c * h * w]));
        list.Add(new($"{linear}.bias", [numClasses]));
        return list;
    }

    public nn.Module<Tensor, Tensor> Build(long[] inputShape, int numClasses)
    {
        var (c, h, w) = FinalFeatureShape(inputShape);
        var layers = new List<nn.Module<Tensor, Tensor>>();
        long inChannels = inputShape[0];
        foreach (int channels in Channels)
        {
            layers.Add(nn.Conv2d(inChannels, channels, Kernel, padding: Kernel / 2));
            if (BatchNorm) layers.Add(nn.BatchNorm2d(channels));
            layers.Add(Activations.Create(Activation));
            layers.Add(Pool == "max" ? nn.MaxPool2d(2) : nn.AvgPool2d(2));
            inChannels = channels;
        }
        layers.Add(nn.Flatten());
        layers.Add(nn.Linear(c * h * w, numClasses));
        return new SequentialModel(Spec, layers, flattenInput: false);
    }
}
