using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>A parameter's PyTorch name and shape, known from the spec alone (no native calls).</summary>
public readonly record struct ParameterShape(string Name, long[] Shape)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A parsed arch spec of one family. <see cref="Parameters"/> and <see cref="Build"/> must agree
/// name for name and shape for shape (a test checks every family); both throw InputException when
/// the data does not fit the architecture.
/// </summary>
internal interface IArchitecture
{
    string Spec { get; }

    /// <summary>named_parameters() of the model that <see cref="Build"/> would return, in order.</summary>
    IReadOnlyList<ParameterShape> Parameters(long[] inputShape, int numClasses);

    /// <summary>A float32 model in train mode with TorchSharp's default initialization (ModelZoo re-initializes it).</summary>
    nn.Module<Tensor, Tensor> Build(long[] inputShape, int numClasses);
}

/// <summary>Shape checks shared by the image families.</summary>
internal static class ImageInput
{
    /// <summary>(C, H, W) of an image input, or an InputException naming the arch and the shape.</summary>
    public static (long C, long H, long W) Require(string spec, long[] inputShape)
    {
        if (inputShape.Length != 3)
            throw SpecOptions.Error(spec, $"needs image input [C, H, W] but the data has input shape [{string.Join(", ", inputShape)}]");
        return (inputShape[0], inputShape[1], inputShape[2]);
    }

    /// <summary>Output size of a k x k convolution with stride s and padding p (PyTorch's floor rule).</summary>
    public static long ConvOut(long size, long kernel, long stride, long padding) => (size + 2 * padding - kernel) / stride + 1;
}
