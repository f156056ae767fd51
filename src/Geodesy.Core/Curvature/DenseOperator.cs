using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// An explicit symmetric matrix as an <see cref="ILinearOperator"/>: the reference operator of the
/// algorithm tests and a way to run the algorithms on any small matrix. Counts its products.
/// </summary>
public sealed class DenseOperator : ILinearOperator, IDisposable
{
    /// <summary>Allowed asymmetry max|A - A^T| relative to max|A|, in units of the dtype's epsilon.</summary>
    const double SymmetryEpsilons = 1000;

    readonly Tensor _matrix;
    long _applications;

    /// <param name="symmetricMatrix">A square symmetric float32/float64 matrix; it is copied.</param>
    /// <param name="name">The operator's name in results.</param>
    public DenseOperator(Tensor symmetricMatrix, string name = "dense")
    {
        ArgumentNullException.ThrowIfNull(symmetricMatrix);
        if (symmetricMatrix.dim() != 2 || symmetricMatrix.shape[0] != symmetricMatrix.shape[1])
            throw new InputException($"dense operator '{name}': expected a square matrix, got shape [{string.Join(", ", symmetricMatrix.shape)}]");
        if (symmetricMatrix.dtype != ScalarType.Float32 && symmetricMatrix.dtype != ScalarType.Float64)
            throw new InputException($"dense operator '{name}': dtype {symmetricMatrix.dtype} is not float32 or float64");
        if (symmetricMatrix.shape[0] == 0)
            throw new InputException($"dense operator '{name}': the matrix is empty");
        using (var scope = NewDisposeScope())
        {
            if (!symmetricMatrix.isfinite().all().item<bool>())
                throw new InputException($"dense operator '{name}': the matrix has non-finite entries");
            double scale = symmetricMatrix.abs().max().ToDouble();
            double asymmetry = (symmetricMatrix - symmetricMatrix.t()).abs().max().ToDouble();
            double eps = symmetricMatrix.dtype == ScalarType.Float64 ? 2.220446049250313e-16 : 1.1920929e-7;
            if (asymmetry > SymmetryEpsilons * eps * scale)
                throw new InputException($"dense operator '{name}': the matrix is not symmetric (max |A - A^T| = {asymmetry:G3}, max |A| = {scale:G3})");
        }
        _matrix = symmetricMatrix.detach().clone();
        Name = name;
    }

    public long Dimension => _matrix.shape[0];
    public string Name { get; }
    public ScalarType DType => _matrix.dtype;
    public long Applications => Interlocked.Read(ref _applications);

    /// <summary>The matrix itself (owned by the operator; do not dispose).</summary>
    public Tensor Matrix => _matrix;

    public Tensor Apply(Tensor v)
    {
        ArgumentNullException.ThrowIfNull(v);
        if (v.dim() != 1 || v.shape[0] != Dimension)
            throw new InputException($"dense operator '{Name}': expected a vector of length {Dimension}, got shape [{string.Join(", ", v.shape)}]");
        Interlocked.Increment(ref _applications);
        if (v.dtype == _matrix.dtype) return _matrix.mv(v);
        using var cast = v.to_type(_matrix.dtype);
        return _matrix.mv(cast);
    }

    public void Dispose() => _matrix.Dispose();
}
