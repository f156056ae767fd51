using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>Largest singular values of weight matrices and convolutions.</summary>
public static class SpectralNorms
{
    /// <summary>||W||_2 of a matrix (or any tensor reshaped to [dim0, rest]) by SVD.</summary>
    public static double Matrix(Tensor w)
    {
        using var scope = NewDisposeScope();
        var m = w.to_type(ScalarType.Float64).reshape(w.shape[0], -1);
        return torch.linalg.svdvals(m).max().item<double>();
    }

    /// <summary>
    /// Exact operator norm of a stride-1 2-D convolution with circular boundary on an h x w input
    /// (Sedghi, Gupta &amp; Long 2019): the largest singular value over all frequencies of the
    /// c_out x c_in matrices of the kernel's 2-D DFT (kernel zero-padded to h x w).
    /// For zero-padded convolutions this is the circular operator of the same input size, as in the
    /// Fantastic re-implementation.
    /// </summary>
    public static double ConvExact(Tensor kernel, long h, long w)
    {
        if (kernel.dim() != 4) throw new InputException($"a conv kernel must be [c_out, c_in, kh, kw], got [{string.Join(",", kernel.shape)}]");
        using var scope = NewDisposeScope();
        long n0 = Math.Max(h, kernel.shape[2]), n1 = Math.Max(w, kernel.shape[3]);
        var k = kernel.to_type(ScalarType.Float64);
        var transform = torch.fft.fft2(k, s: [n0, n1], dim: [2, 3]);          // [out, in, n0, n1] complex
        var perFrequency = transform.permute(2, 3, 0, 1).contiguous();        // [n0, n1, out, in]
        return torch.linalg.svdvals(perFrequency).max().item<double>();
    }

    /// <summary>The spectral norm a norm measure uses for this layer (exact FFT or reshaped kernel for convs).</summary>
    public static double Of(WeightMatrix m, bool exactConv) => Of(m.Weight, m.ConvInputSize, exactConv);

    public static double Of(Tensor weight, long[]? convInputSize, bool exactConv) =>
        weight.dim() == 4 && exactConv && convInputSize is { Length: 2 }
            ? ConvExact(weight, convInputSize[0], convInputSize[1])
            : Matrix(weight);
}
