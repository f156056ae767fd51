using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>A parameter's place in the flat parameter vector.</summary>
internal sealed record ParameterSlice(long Offset, long[] Shape)
{
    public long Length => Shape.Aggregate(1L, (x, y) => x * y);
    /// <summary>The parameter's part of a flat vector, viewed in the parameter's shape.</summary>
    public Tensor Of(Tensor flat) => flat.narrow(0, Offset, Length).view(Shape);
    /// <summary>Adds <paramref name="value"/> (any shape with the parameter's size) into its part of a flat vector.</summary>
    public void Add(Tensor flat, Tensor value) => flat.narrow(0, Offset, Length).add_(value.reshape(-1));
}

/// <summary>
/// The weight and bias of layer <c>i</c> of a <see cref="Models.SequentialModel"/> ("i.weight",
/// "i.bias") in the problem's flat vector: what the per-layer closed forms (per-example gradients,
/// the R-operator) write to.
/// </summary>
internal sealed record LayerParameters(ParameterSlice? Weight, ParameterSlice? Bias)
{
    public static readonly LayerParameters None = new(null, null);

    public bool HasParameters => Weight is not null;
    public long Count => (Weight?.Length ?? 0) + (Bias?.Length ?? 0);
    public int Names => (Weight is null ? 0 : 1) + (Bias is null ? 0 : 1);

    /// <summary>
    /// The layer's slices, or null when it owns other parameters (names other than weight and
    /// bias, parameters of submodules) or a bias without a weight: closed forms assume W (+ b).
    /// </summary>
    public static LayerParameters? Locate(CurvatureProblem problem, int index, nn.Module layer)
    {
        var own = layer.named_parameters(recurse: false).Select(p => p.name).ToList();
        if (layer.named_parameters().Count() != own.Count || own.Any(n => n is not ("weight" or "bias"))) return null;
        string prefix = index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
        ParameterSlice? weight = null, bias = null;
        foreach (var name in own)
        {
            var slot = problem.Layout.FirstOrDefault(l => l.Name == prefix + name);
            if (slot.Name is null) return null; // not the problem's parameter
            var slice = new ParameterSlice(slot.Offset, slot.Shape);
            if (name == "weight") weight = slice;
            else bias = slice;
        }
        if (weight is null && bias is not null) return null;
        return new LayerParameters(weight, bias);
    }

    /// <summary>True when these layers own every parameter of the problem and at least one exists.</summary>
    public static bool CoverAll(CurvatureProblem problem, IReadOnlyCollection<LayerParameters> layers) =>
        layers.Any(l => l.HasParameters)
        && layers.Sum(l => l.Count) == problem.Dimension
        && layers.Sum(l => l.Names) == problem.Layout.Count;
}

/// <summary>Which layers the per-layer closed forms (per-example gradients, the R-operator) handle.</summary>
internal static class ClosedFormLayers
{
    /// <summary>An ordinary 2-D convolution: one group, zero padding given as numbers, not transposed.</summary>
    public static bool IsPlainConv(Conv2d c) =>
        c.groups == 1 && c.padding_mode == PaddingModes.Zeros && c.padding_type is null && c.padding is not null && !c.transposed;

    /// <summary>BatchNorm that normalizes with fixed running statistics in this mode (a per-channel affine map).</summary>
    public static bool IsFixedAffine(BatchNorm bn, CurvatureMode mode) =>
        mode == CurvatureMode.Eval && bn.track_running_stats && bn.running_mean is not null && bn.running_var is not null;
}
