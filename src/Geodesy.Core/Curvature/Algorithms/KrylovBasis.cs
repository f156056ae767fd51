using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// An orthonormal basis kept as the rows of one [capacity, dim] tensor, with full
/// reorthogonalization (classical Gram-Schmidt with the DGKS correction, see <see cref="Orthogonalize(Tensor, out double)"/>).
/// Shared by Lanczos and stochastic Lanczos quadrature.
/// </summary>
internal sealed class KrylovBasis : IDisposable
{
    readonly Tensor _rows;
    public int Count { get; private set; }
    public int Capacity { get; }
    public long Dimension { get; }
    public ScalarType DType { get; }

    public KrylovBasis(int capacity, long dimension, ScalarType dtype)
    {
        Capacity = capacity;
        Dimension = dimension;
        DType = dtype;
        // Only rows below Count are ever read: no need to clear (a zeroed 80-row basis of 80,000
        // parameters is a 25 MB memset, 0.5 ms per solve, a tenth of a warm probe call).
        _rows = torch.empty([capacity, dimension], dtype: dtype);
    }

    /// <summary>Appends a unit vector that is already orthogonal to the basis.</summary>
    public void Append(Tensor unitVector)
    {
        if (Count == Capacity) throw new InvalidOperationException("Krylov basis is full");
        using var row = _rows.select(0, Count);
        row.copy_(unitVector);
        Count++;
    }

    /// <summary>
    /// Removes from w (in place) its components along the basis and returns the total
    /// coefficients V w in double (the column of the projected matrix when w = A v_last).
    /// </summary>
    public double[] Orthogonalize(Tensor w) => Orthogonalize(w, out _);

    /// <summary>
    /// Classical Gram-Schmidt with the DGKS correction (Daniel, Gragg, Kaufman &amp; Stewart 1976,
    /// as in ARPACK): a second pass only when the first removed so much of w that rounding may
    /// have left components along the basis (||w after|| &lt; 0.717 ||w before||); "twice is
    /// enough". Returns the coefficients and <paramref name="norm"/> = ||w|| after, so callers
    /// need no further pass over w.
    /// </summary>
    public double[] Orthogonalize(Tensor w, out double norm)
    {
        using var serial = NativeRuntime.SerialIfSmall((Count + 1) * Dimension);
        using var scope = NewDisposeScope();
        double before = w.dot(w).ToDouble();
        if (Count == 0)
        {
            norm = Math.Sqrt(before);
            return [];
        }
        var basis = _rows.narrow(0, 0, Count);
        var h = basis.mv(w);
        w.addmv_(basis.t(), h, beta: 1, alpha: -1);
        double after = w.dot(w).ToDouble();
        if (!(after > DgksRatio * DgksRatio * before))
        {
            var h2 = basis.mv(w);
            w.addmv_(basis.t(), h2, beta: 1, alpha: -1);
            h.add_(h2);
            after = w.dot(w).ToDouble();
        }
        norm = Math.Sqrt(after);
        return ToDoubles(h);
    }

    /// <summary>ARPACK's threshold of the DGKS test (about 1/sqrt(2)).</summary>
    const double DgksRatio = 0.717;

    /// <summary>
    /// A random unit vector orthogonal to the basis (a fresh direction after a breakdown, or the
    /// start vector when the basis is empty). Requires Count &lt; Dimension.
    /// </summary>
    public Tensor RandomOrthogonalUnit(Generator generator)
    {
        const int attempts = 5;
        const double survivingFraction = 1e-3; // less than this left after projection: draw again
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            var v = torch.randn([Dimension], dtype: DType, generator: generator);
            double before = OperatorCalls.Norm(v);
            Orthogonalize(v, out double after);
            if (after > survivingFraction * before && after > 0)
                return v.div_(after);
            v.Dispose();
        }
        throw new ComputationException($"could not find a direction orthogonal to a Krylov basis of {Count} vectors in dimension {Dimension}");
    }

    /// <summary>Rows of coefficients [p, Count] times the basis: p new vectors [p, dim].</summary>
    public Tensor Combine(double[,] coefficients)
    {
        using var scope = NewDisposeScope();
        using var c = torch.tensor(coefficients, dtype: ScalarType.Float64).to_type(DType);
        var combined = c.mm(_rows.narrow(0, 0, Count));
        return combined.MoveToOuterDisposeScope();
    }

    /// <summary>Replaces the basis by the combinations of its vectors given by the coefficient rows (thick restart).</summary>
    public void Compress(double[,] coefficients)
    {
        using var scope = NewDisposeScope();
        var combined = Combine(coefficients);
        int p = coefficients.GetLength(0);
        _rows.narrow(0, 0, p).copy_(combined);
        Count = p;
    }

    public static double[] ToDoubles(Tensor t)
    {
        using var d = t.to_type(ScalarType.Float64).contiguous();
        return d.data<double>().ToArray();
    }

    public void Dispose() => _rows.Dispose();
}

/// <summary>Eigen-decomposition of a small symmetric matrix in double (MathNet), ascending.</summary>
internal static class SmallSymmetricEigen
{
    /// <summary>Decomposes the leading n x n block of a; Vectors[:, i] belongs to Values[i].</summary>
    public static (double[] Values, double[,] Vectors) Ascending(double[,] a, int n)
    {
        var m = Matrix<double>.Build.Dense(n, n, (i, j) => 0.5 * (a[i, j] + a[j, i]));
        var evd = m.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, n).OrderBy(i => evd.EigenValues[i].Real).ToArray();
        var values = new double[n];
        var vectors = new double[n, n];
        for (int c = 0; c < n; c++)
        {
            values[c] = evd.EigenValues[order[c]].Real;
            for (int r = 0; r < n; r++) vectors[r, c] = evd.EigenVectors[r, order[c]];
        }
        return (values, vectors);
    }
}
