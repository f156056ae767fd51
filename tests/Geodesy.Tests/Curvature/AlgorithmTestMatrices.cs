using Geodesy.Core.Curvature;
using MathNet.Numerics.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>Dense float64 test matrices with known spectra, and dense references.</summary>
internal static class AlgorithmTestMatrices
{
    /// <summary>A Haar-random orthogonal matrix (columns are the eigenvectors), seeded.</summary>
    public static Tensor RandomOrthogonal(int n, long seed)
    {
        using var generator = new Generator((ulong)seed);
        using var gaussian = torch.randn([n, n], dtype: ScalarType.Float64, generator: generator);
        var (q, r) = torch.linalg.qr(gaussian);
        r.Dispose();
        return q;
    }

    /// <summary>Q diag(l) Qᵀ with Q = <see cref="RandomOrthogonal"/>(n, seed).</summary>
    public static Tensor WithSpectrum(double[] eigenvalues, long seed)
    {
        using var q = RandomOrthogonal(eigenvalues.Length, seed);
        return WithSpectrum(eigenvalues, q);
    }

    public static Tensor WithSpectrum(double[] eigenvalues, Tensor q)
    {
        using var scope = NewDisposeScope();
        using var l = torch.tensor(eigenvalues, dtype: ScalarType.Float64);
        var a = q.mm(torch.diag(l)).mm(q.t());
        return (0.5 * (a + a.t())).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A Hessian-like spectrum: ten well separated outliers (as many as classes) over a bulk
    /// near zero with a few small negative eigenvalues.
    /// </summary>
    public static double[] HessianLike(int n, long seed)
    {
        double[] outliers = [40, 25, 18, 12, 9, 7, 5.5, 4.5, 3.6, 3.0];
        var random = new Random((int)seed);
        var bulk = Enumerable.Range(0, n - outliers.Length).Select(_ => -0.2 + 1.2 * random.NextDouble() * random.NextDouble());
        return outliers.Concat(bulk).ToArray();
    }

    /// <summary>Indefinite: negative outliers, a bulk around zero and two positive outliers.</summary>
    public static double[] Indefinite(int n, long seed)
    {
        double[] outliers = [-9, -6, -4, -3, -2.5, 20, 15];
        var random = new Random((int)seed);
        var bulk = Enumerable.Range(0, n - outliers.Length).Select(_ => -1 + 2 * random.NextDouble());
        return outliers.Concat(bulk).ToArray();
    }

    /// <summary>λ_i = i^-2: a decaying spectrum where low-rank deflation pays off.</summary>
    public static double[] Decaying(int n) => Enumerable.Range(1, n).Select(i => 1.0 / ((double)i * i)).ToArray();

    /// <summary>Dense symmetric eigendecomposition (MathNet), ascending; Vectors[:, i] belongs to Values[i].</summary>
    public static (double[] Values, Matrix<double> Vectors) DenseEigen(Tensor a)
    {
        var m = ToMatrix(a);
        var evd = m.Evd(Symmetricity.Symmetric);
        int n = m.RowCount;
        var order = Enumerable.Range(0, n).OrderBy(i => evd.EigenValues[i].Real).ToArray();
        var values = order.Select(i => evd.EigenValues[i].Real).ToArray();
        var vectors = Matrix<double>.Build.Dense(n, n, (r, c) => evd.EigenVectors[r, order[c]]);
        return (values, vectors);
    }

    public static Matrix<double> ToMatrix(Tensor a)
    {
        using var d = a.to_type(ScalarType.Float64).contiguous();
        var data = d.data<double>().ToArray();
        int n = (int)a.shape[0], cols = (int)a.shape[1];
        return Matrix<double>.Build.Dense(n, cols, (r, c) => data[r * cols + c]);
    }

    public static double[] Row(Tensor rows, int i)
    {
        using var r = rows[i].to_type(ScalarType.Float64).contiguous();
        return r.data<double>().ToArray();
    }

    /// <summary>Tr(A^p) / n from the known spectrum.</summary>
    public static double Moment(double[] eigenvalues, int p) => eigenvalues.Average(l => Math.Pow(l, p));

    public static double Std(IReadOnlyList<double> xs)
    {
        double mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1));
    }

    public static double RootMeanSquare(IEnumerable<double> xs) => Math.Sqrt(xs.Average(x => x * x));
}
