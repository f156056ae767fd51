using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>How much of a vector (e.g. the gradient) lies in the span of some eigenvectors.</summary>
public static class SubspaceOverlap
{
    /// <summary>
    /// ||P_k g||² / ||g||², P_k the orthogonal projector onto the span of the rows of
    /// <paramref name="eigenvectors"/> [k, dim]. Rows that are not orthonormal (beyond √ε of the
    /// dtype) are orthonormalized first (QR; numerically dependent rows are dropped).
    /// Computed in float64.
    /// </summary>
    public static double Fraction(Tensor eigenvectors, Tensor g)
    {
        ArgumentNullException.ThrowIfNull(eigenvectors);
        ArgumentNullException.ThrowIfNull(g);
        if (eigenvectors.dim() != 2)
            throw new InputException($"subspace overlap: eigenvectors must be a [k, dim] matrix, got shape [{string.Join(", ", eigenvectors.shape)}]");
        if (g.dim() != 1 || g.shape[0] != eigenvectors.shape[1])
            throw new InputException($"subspace overlap: the vector has shape [{string.Join(", ", g.shape)}], expected [{eigenvectors.shape[1]}]");
        if (!eigenvectors.is_floating_point() || !g.is_floating_point())
            throw new InputException("subspace overlap: eigenvectors and vector must be floating point");

        using var scope = NewDisposeScope();
        var v = eigenvectors.to_type(ScalarType.Float64);
        var x = g.to_type(ScalarType.Float64);
        if (!v.isfinite().all().item<bool>() || !x.isfinite().all().item<bool>())
            throw new InputException("subspace overlap: non-finite entries in the eigenvectors or the vector");
        double normSquared = x.dot(x).item<double>();
        if (!(normSquared > 0)) throw new InputException("subspace overlap: the vector is zero, its overlap is undefined");
        long k = v.shape[0];
        if (k == 0) return 0;

        double tolerance = Math.Sqrt(OperatorCalls.Epsilon(eigenvectors.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32));
        var gram = v.mm(v.t()) - torch.eye(k, dtype: ScalarType.Float64);
        if (gram.abs().max().item<double>() > tolerance)
        {
            var (q, r) = torch.linalg.qr(v.t());
            var diagonal = r.diagonal().abs();
            var independent = (diagonal > tolerance * diagonal.max().item<double>()).nonzero().squeeze(1);
            v = q.t().index_select(0, independent);
        }
        var coordinates = v.mv(x);
        return coordinates.dot(coordinates).item<double>() / normSquared;
    }
}
