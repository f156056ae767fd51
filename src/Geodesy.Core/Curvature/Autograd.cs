using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// Thin wrappers over torch.autograd.grad. Errors inside it abort the process, so callers only
/// pass outputs built from validated data; unused inputs come back as zeros instead of failing.
/// </summary>
internal static class Autograd
{
    /// <summary>d(output)/d(inputs) for a scalar output; unused inputs give zeros.</summary>
    public static Tensor[] Grad(Tensor output, IReadOnlyList<Tensor> inputs, bool createGraph = false, bool retainGraph = false) =>
        Grad(output, null, inputs, createGraph, retainGraph);

    /// <summary>Vector-Jacobian product: sum(gradOutput * output) differentiated w.r.t. inputs.</summary>
    public static Tensor[] Grad(Tensor output, Tensor? gradOutput, IReadOnlyList<Tensor> inputs, bool createGraph = false, bool retainGraph = false)
    {
        var raw = TorchSharp.torch.autograd.grad(
            [output], inputs.ToList(), gradOutput is null ? null : [gradOutput],
            retain_graph: retainGraph || createGraph, create_graph: createGraph, allow_unused: true);
        var result = new Tensor[inputs.Count];
        for (int i = 0; i < result.Length; i++)
            result[i] = raw[i].IsInvalid ? zeros_like(inputs[i]) : raw[i];
        return result;
    }
}
