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
        Tensor x = FlattenInput ? input.reshape(input.shape[0], -1) : input.alias();
        bool firstWeightLayer = true;
        foreach (var layer in _layers)
        {
            if (layer is TorchSharp.Modules.Linear or TorchSharp.Modules.Conv2d)
            {
                if (!firstWeightLayer && Dropout > 0 && training)
                {
                    var dropped = nn.functional.dropout(x, Dropout, training: true);
                    x.Dispose();
                    x = dropped;
                }
                firstWeightLayer = false;
            }
            var next = layer.call(x);
            x.Dispose();
            x = next;
        }
        return x;
    }
}
