using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// A symmetric linear operator on the flat parameter vector (the model's parameters in nn.Sequential order, each row-major). Algorithms see
/// only this; <see cref="Applications"/> is the exact number of products computed so far and is
/// reported with every result.
/// </summary>
public interface ILinearOperator
{
    long Dimension { get; }
    /// <summary>A short name, e.g. "hessian", "ggn".</summary>
    string Name { get; }
    ScalarType DType { get; }
    /// <summary>Returns A v for a 1-D tensor v of length <see cref="Dimension"/> (a new tensor).</summary>
    Tensor Apply(Tensor v);
    long Applications { get; }
    /// <summary>
    /// How a product is computed: "r-operator" or "double-backprop" for the curvature matrices of a
    /// problem (<see cref="CurvatureOperator.Method"/>), the inner operator's for wrappers, "explicit" otherwise.
    /// </summary>
    string ProductMethod => "explicit";
}

/// <summary>How a curvature-matrix product goes through the model; both ways are exact.</summary>
public enum CurvatureProductMethod
{
    /// <summary>The R-operator when the model supports it, double backprop otherwise.</summary>
    Auto,
    /// <summary>Pearlmutter's R-operator through per-layer closed forms (docs/curvature.md).</summary>
    ROperator,
    /// <summary>
    /// Through libtorch's autograd alone: grad of (grad L . v) for the Hessian, the double-backward
    /// trick for J v in the Gauss-Newton type matrices. Works for every model.
    /// </summary>
    DoubleBackprop,
}
