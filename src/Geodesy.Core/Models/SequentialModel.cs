using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// A chain of layers named "0", "1", ... exactly like PyTorch's nn.Sequential, so parameter names
/// ("0.weight", "2.bias") and the flat-vector order match a PyTorch state_dict. When
/// <see cref="FlattenInput"/> is set, the input is flattened to [N, -1] first (MLPs take images
/// flattened row-major) without occupying a layer index. Curvature code that needs per-layer
/// closed forms walks <see cref="Layers"/>.
/// </summary>
public sealed class SequentialModel : nn.Module<Tensor, Tensor>
{
    private readonly List<nn.Module<Tensor, Tensor>> _layers;

    public SequentialModel(string spec, IEnumerable<nn.Module<Tensor, Tensor>> layers, bool flattenInput)
        : base("SequentialModel")
    {
        Spec = spec;
        _layers = layers.ToList();
        FlattenInput = flattenInput;
        for (int i = 0; i < _layers.Count; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), _layers[i]);
    }

    /// <summary>The architecture spec string the model was built from, e.g. "mlp:784-100-10".</summary>
    public string Spec { get; }
    public IReadOnlyList<nn.Module<Tensor, Tensor>> Layers => _layers;
    public bool FlattenInput { get; }

    /// <summary>
    /// Dropout probability applied, in train mode only, to the input of every Linear/Conv layer but the
    /// first (the hidden features). It owns no module, so parameter names and Layers are unchanged.
    /// </summary>
    public double Dropout { get; set; }

    public override Tensor forward(Tensor input)
    {
        using var x = PrepareInput(input);
        return ForwardFrom(0, x);
    }

    /// <summary>What layer 0 receives: the input, flattened to [N, -1] when <see cref="FlattenInput"/> is set.</summary>
    public Tensor PrepareInput(Tensor input) => FlattenInput ? input.reshape(input.shape[0], -1) : input.alias();

    /// <summary>
    /// Layers <paramref name="first"/>, <paramref name="first"/> + 1, ... applied to <paramref name="x"/>
    /// (what layer <paramref name="first"/> receives); the input is not disposed. forward = ForwardFrom(0, PrepareInput(input)).
    /// </summary>
    public Tensor ForwardFrom(int first, Tensor x)
    {
        if (first < 0 || first > _layers.Count) throw new ArgumentOutOfRangeException(nameof(first), $"layer {first} of {_layers.Count}");
        int firstWeightLayer = _layers.FindIndex(IsWeightLayer);
        x = x.alias();
        for (int i = first; i < _layers.Count; i++)
        {
            if (i != firstWeightLayer && IsWeightLayer(_layers[i]) && Dropout > 0 && training)
            {
                var dropped = nn.functional.dropout(x, Dropout, training: true);
                x.Dispose();
                x = dropped;
            }
            var next = _layers[i].call(x);
            x.Dispose();
            x = next;
        }
        return x;
    }

    private static bool IsWeightLayer(nn.Module<Tensor, Tensor> layer) => layer is TorchSharp.Modules.Linear or TorchSharp.Modules.Conv2d;
}
