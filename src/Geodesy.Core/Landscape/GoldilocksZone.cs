using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>The curvature of one random hyperplane: its restricted Hessian's eigenvalues and the two statistics of Fort and Scherlis.</summary>
public sealed record RestrictedCurvature(double[] Eigenvalues, double FractionPositive, double TraceOverFrobenius, long Matvecs)
{
    public double Trace => Eigenvalues.Sum();
    public double Frobenius => Math.Sqrt(Eigenvalues.Sum(l => l * l));
}

/// <summary>
/// The Goldilocks zone (Fort and Scherlis 2019, "The Goldilocks Zone: Towards Better Understanding of
/// Neural Network Loss Landscapes"): on a random d-dimensional hyperplane through a point θ, spanned by
/// an orthonormal basis M (D × d), the restricted Hessian H_sub = Mᵀ H M; the zone is the range of
/// radii ‖θ‖ of the initialization where the fraction of positive eigenvalues of H_sub and
/// Tr(H_sub)/‖H_sub‖_F are high (convex-looking, positively curved hyperplanes).
/// </summary>
public static class GoldilocksZone
{
    /// <summary>A D × d matrix with orthonormal columns (QR of a seeded Gaussian), in <paramref name="dtype"/>.</summary>
    public static Tensor RandomOrthonormalBasis(long parameters, long d, long seed, string stream, ScalarType dtype)
    {
        SubspaceProjections.CheckDimension(d, parameters, "--dim");
        using var generator = SubspaceProjections.Generator(seed, stream);
        using var scope = NewDisposeScope();
        var gaussian = torch.randn(parameters, d, dtype: ScalarType.Float64, generator: generator);
        var (q, _) = linalg.qr(gaussian);
        return q.to_type(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// H_sub = Mᵀ H M by d products with H (one per column of M), symmetrized (½(A + Aᵀ), removing
    /// rounding asymmetry), float64 [d, d].
    /// </summary>
    public static Tensor RestrictedHessian(ILinearOperator hessian, Tensor basis)
    {
        if (basis.dim() != 2 || basis.shape[0] != hessian.Dimension)
            throw new ArgumentException($"the basis must be [{hessian.Dimension}, d], got [{string.Join(",", basis.shape)}]");
        using var scope = NewDisposeScope();
        long d = basis.shape[1];
        var columns = new Tensor[d];
        for (long k = 0; k < d; k++) columns[k] = hessian.Apply(basis[.., (int)k].contiguous()).to_type(ScalarType.Float64);
        var hm = torch.stack(columns, 1);
        var restricted = basis.to_type(ScalarType.Float64).t().mm(hm);
        return ((restricted + restricted.t()) * 0.5).MoveToOuterDisposeScope();
    }

    /// <summary>The eigenvalues (ascending) of a symmetric H_sub, the fraction that is positive, and Tr/‖·‖_F (NaN for a zero matrix).</summary>
    public static RestrictedCurvature Statistics(Tensor restricted, long matvecs)
    {
        using var scope = NewDisposeScope();
        var eigenvalues = linalg.eigvalsh(restricted.to_type(ScalarType.Float64)).data<double>().ToArray();
        double positive = eigenvalues.Count(l => l > 0) / (double)eigenvalues.Length;
        double frobenius = Math.Sqrt(eigenvalues.Sum(l => l * l));
        double ratio = frobenius == 0 ? double.NaN : eigenvalues.Sum() / frobenius;
        return new RestrictedCurvature(eigenvalues, positive, ratio, matvecs);
    }

    /// <summary>θ rescaled to norm <paramref name="radius"/> (the initialization moved along its ray).</summary>
    public static Tensor AtRadius(Tensor theta, double radius)
    {
        if (!(radius > 0) || !double.IsFinite(radius)) throw new InputException($"--radii: a radius must be a positive number (got {radius})");
        double norm = theta.norm().ToDouble();
        if (norm == 0) throw new InputException("the initialization is the zero vector: it has no direction to rescale along");
        return theta * (radius / norm);
    }
}
