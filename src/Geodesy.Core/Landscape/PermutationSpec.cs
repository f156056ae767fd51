using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>One axis of one parameter that a permutation reorders; the parameter is seen as <see cref="View"/> (a flatten tiles channels).</summary>
public sealed record PermutedAxis(int Parameter, int Axis, long[] View);

/// <summary>
/// The hidden units (or channels) of one layer that can be reordered without changing the
/// network's function, and every parameter axis and BatchNorm layer that moves with them.
/// </summary>
public sealed record PermutationGroup(string Layer, int Size, IReadOnlyList<PermutedAxis> Axes, IReadOnlyList<int> BatchNormLayers);

/// <summary>
/// Which parameter axes each hidden-unit permutation acts on, in the convention of git-re-basin's
/// permutation_spec_from_axes_to_perm (Ainsworth et al. 2023): a Linear or Conv2d layer that is
/// not the last one opens a group (axis 0 of its weight and bias); BatchNorm layers after it move
/// with it (scale, shift and running statistics); the next Linear or Conv2d takes it on its input
/// axis (axis 1). A Flatten from [C, H, W] to C·H·W features tiles each channel over H·W
/// consecutive inputs, so the first Linear after it is seen as [out, C, H·W]. Activations, pooling,
/// dropout and global average pooling act per channel and pass the group through.
/// </summary>
public static class PermutationSpec
{
    /// <summary>The groups of a sequential model of Linear, Conv2d, BatchNorm and per-channel layers; InputException for others.</summary>
    public static IReadOnlyList<PermutationGroup> For(nn.Module model, string arch)
    {
        if (model is not Models.SequentialModel sequential) throw Unsupported(arch, "not a sequential model");
        var parameterIndex = model.named_parameters().Select((p, i) => (p.name, i)).ToDictionary(x => x.name, x => x.i);
        var bnIndex = BatchNormStatistics.Layers(model).Select((bn, i) => (bn, i)).ToDictionary(x => x.bn, x => x.i);
        int lastWeighted = -1;
        for (int i = 0; i < sequential.Layers.Count; i++)
            if (sequential.Layers[i] is Linear or Conv2d) lastWeighted = i;
        if (lastWeighted < 0) throw Unsupported(arch, "no Linear or Conv2d layer");

        var groups = new List<(string Layer, int Size, List<PermutedAxis> Axes, List<int> Bn)>();
        int open = -1; // the group the current activations carry (-1: the input, never permuted)
        for (int i = 0; i < sequential.Layers.Count; i++)
        {
            var layer = sequential.Layers[i];
            string name = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            switch (layer)
            {
                case Linear or Conv2d:
                {
                    int weight = parameterIndex[$"{name}.weight"];
                    var shape = model.parameters().ElementAt(weight).shape;
                    if (open >= 0)
                    {
                        long channels = groups[open].Size;
                        long inputs = shape[1];
                        if (layer is Linear && inputs != channels)
                        {
                            // After a flatten: each channel covers inputs / channels consecutive features.
                            if (inputs % channels != 0) throw Unsupported(arch, $"layer {name} has {inputs} inputs, not a multiple of {channels} channels");
                            groups[open].Axes.Add(new PermutedAxis(weight, 1, [shape[0], channels, inputs / channels]));
                        }
                        else groups[open].Axes.Add(new PermutedAxis(weight, 1, shape));
                    }
                    if (i == lastWeighted)
                    {
                        open = -1;
                        break;
                    }
                    var axes = new List<PermutedAxis> { new(weight, 0, shape) };
                    if (parameterIndex.TryGetValue($"{name}.bias", out int bias)) axes.Add(new PermutedAxis(bias, 0, [shape[0]]));
                    groups.Add((name, (int)shape[0], axes, []));
                    open = groups.Count - 1;
                    break;
                }
                case BatchNorm bn:
                    if (open < 0) throw Unsupported(arch, $"BatchNorm layer {name} before any weight layer");
                    foreach (var p in new[] { "weight", "bias" })
                        if (parameterIndex.TryGetValue($"{name}.{p}", out int index)) groups[open].Axes.Add(new PermutedAxis(index, 0, [groups[open].Size]));
                    if (bnIndex.TryGetValue(bn, out int stats)) groups[open].Bn.Add(stats);
                    break;
                case ReLU or Tanh or GELU or MaxPool2d or AvgPool2d or Flatten or Dropout or Models.GlobalAvgPool:
                    break;
                default:
                    throw Unsupported(arch, $"layer {name} is a {layer.GetType().Name}, which weight matching does not know");
            }
        }
        if (groups.Count == 0) throw Unsupported(arch, "no hidden layer");
        return groups.Select(g => new PermutationGroup(g.Layer, g.Size, g.Axes, g.Bn)).ToArray();
    }

    private static InputException Unsupported(string arch, string why) =>
        new($"--align weights supports sequential MLPs and CNNs with at least one hidden layer (mlp:, cnn:), not '{arch}' ({why})");
}
