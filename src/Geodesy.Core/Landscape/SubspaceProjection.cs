using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>
/// A linear map P from R^d into the flat parameter space R^D (d ≤ D): the subspace θ0 + P z of
/// random-subspace training (Li et al. 2018). <see cref="Adjoint"/> is Pᵀ, which turns the gradient
/// in θ into the gradient in z by the chain rule.
/// </summary>
public interface ISubspaceProjection : IDisposable
{
    string Kind { get; }
    /// <summary>d, the dimension of the subspace.</summary>
    long SubspaceDimension { get; }
    /// <summary>D, the number of parameters.</summary>
    long Dimension { get; }
    /// <summary>P z, a [D] vector, for z of shape [d].</summary>
    Tensor Project(Tensor z);
    /// <summary>Pᵀ g, a [d] vector, for g of shape [D].</summary>
    Tensor Adjoint(Tensor g);
}

/// <summary>How the projection of <see cref="SubspaceProjections.Create"/> is chosen.</summary>
public enum ProjectionKind { Auto, Dense, Fastfood }

public static class SubspaceProjections
{
    /// <summary>Largest dense matrix (bytes) --projection auto builds before it switches to Fastfood.</summary>
    public const long DefaultMaxDenseBytes = 256L << 20;

    public static ProjectionKind Parse(string text, string option) => text switch
    {
        "auto" => ProjectionKind.Auto,
        "dense" => ProjectionKind.Dense,
        "fastfood" => ProjectionKind.Fastfood,
        _ => throw new InputException($"{option}: unknown projection '{text}' (known: auto, dense, fastfood)"),
    };

    /// <summary>Throws InputException unless 1 ≤ d ≤ D.</summary>
    public static void CheckDimension(long d, long parameters, string option)
    {
        if (d < 1) throw new InputException($"{option}: a subspace dimension must be at least 1 (got {d})");
        if (d > parameters) throw new InputException($"{option}: subspace dimension {d} is larger than the model's {parameters} parameters");
    }

    /// <summary>The dense projection when its D × d matrix fits in <paramref name="maxDenseBytes"/> (or when asked), Fastfood otherwise.</summary>
    public static ISubspaceProjection Create(ProjectionKind kind, long parameters, long d, long seed, ScalarType dtype, long maxDenseBytes = DefaultMaxDenseBytes)
    {
        CheckDimension(d, parameters, "--dims");
        long bytes = parameters * d * (dtype == ScalarType.Float64 ? 8 : 4);
        bool dense = kind == ProjectionKind.Dense || (kind == ProjectionKind.Auto && bytes <= maxDenseBytes);
        return dense ? DenseProjection.Random(parameters, d, seed, dtype) : new FastfoodProjection(parameters, d, seed, dtype);
    }

    /// <summary>A torch generator for the named stream of a seed (torch's CPU generator gives the same numbers everywhere).</summary>
    internal static Generator Generator(long seed, string stream) =>
        new((ulong)(SeededRandom.Stream(seed, stream).NextDouble() * (1L << 53)));
}

/// <summary>
/// A dense D × d matrix. <see cref="Random"/> draws it Gaussian and normalizes every column to unit
/// length, as the dense projection of Li et al.'s reference code does.
/// </summary>
public sealed class DenseProjection(Tensor matrix, string kind = "dense") : ISubspaceProjection
{
    public Tensor Matrix { get; } = matrix;
    public string Kind { get; } = kind;
    public long SubspaceDimension => Matrix.shape[1];
    public long Dimension => Matrix.shape[0];

    public static DenseProjection Random(long parameters, long d, long seed, ScalarType dtype)
    {
        using var generator = SubspaceProjections.Generator(seed, "subspace-dense");
        using var scope = NewDisposeScope();
        var p = torch.randn(parameters, d, dtype: ScalarType.Float64, generator: generator);
        p.div_(p.norm(0, keepdim: true));
        return new DenseProjection(p.to_type(dtype).MoveToOuterDisposeScope());
    }

    public Tensor Project(Tensor z) => Matrix.mv(z);
    public Tensor Adjoint(Tensor g) => Matrix.t().mv(g);
    public void Dispose() => Matrix.Dispose();
}

/// <summary>
/// The structured Fastfood projection (Le et al. 2013) of Li et al. 2018: P z = the first D entries of
/// H G Π H B [z; 0] / (‖G‖·√D), with L the power of two ≥ D, H the L × L Walsh-Hadamard matrix
/// (unnormalized), B random signs, Π a random permutation and G Gaussian. H G Π H B has columns of
/// norm √L·‖G‖, so the scaling gives the first D rows columns of expected unit norm. Memory O(L), time O(L log L).
/// </summary>
public sealed class FastfoodProjection : ISubspaceProjection
{
    private readonly Tensor _signs, _gauss, _perm, _inversePerm;
    private readonly double _scale;

    public FastfoodProjection(long parameters, long d, long seed, ScalarType dtype)
    {
        SubspaceProjections.CheckDimension(d, parameters, "--dims");
        Dimension = parameters;
        SubspaceDimension = d;
        Length = 1;
        while (Length < parameters) Length *= 2;
        using var generator = SubspaceProjections.Generator(seed, "subspace-fastfood");
        using var scope = NewDisposeScope();
        _signs = (torch.randint(0, 2, [Length], generator: generator).to_type(dtype) * 2 - 1).MoveToOuterDisposeScope();
        _perm = torch.randperm(Length, generator: generator).MoveToOuterDisposeScope();
        _inversePerm = torch.argsort(_perm).MoveToOuterDisposeScope();
        var g = torch.randn(Length, dtype: ScalarType.Float64, generator: generator);
        _scale = 1.0 / (g.norm().ToDouble() * Math.Sqrt(parameters));
        _gauss = g.to_type(dtype).MoveToOuterDisposeScope();
    }

    public string Kind => "fastfood";
    public long SubspaceDimension { get; }
    public long Dimension { get; }
    /// <summary>L, the padded length (a power of two).</summary>
    public long Length { get; }

    public Tensor Project(Tensor z)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.pad(z, [0, Length - SubspaceDimension]) * _signs;
        x = Hadamard(x).index_select(0, _perm) * _gauss;
        return (Hadamard(x).narrow(0, 0, Dimension) * _scale).MoveToOuterDisposeScope();
    }

    /// <summary>Pᵀ g = the first d entries of B H Πᵀ G H [g; 0] scaled alike (H, G, B symmetric; Πᵀ the inverse permutation).</summary>
    public Tensor Adjoint(Tensor g)
    {
        using var scope = NewDisposeScope();
        var x = Hadamard(nn.functional.pad(g, [0, Length - Dimension])) * _gauss;
        x = Hadamard(x.index_select(0, _inversePerm)) * _signs;
        return (x.narrow(0, 0, SubspaceDimension) * _scale).MoveToOuterDisposeScope();
    }

    /// <summary>The unnormalized fast Walsh-Hadamard transform of a vector of power-of-two length (Sylvester order).</summary>
    public static Tensor Hadamard(Tensor x)
    {
        long n = x.shape[0];
        var y = x;
        for (long h = 1; h < n; h *= 2)
        {
            var v = y.reshape(n / (2 * h), 2, h);
            var a = v.select(1, 0);
            var b = v.select(1, 1);
            y = torch.stack([a + b, a - b], 1).reshape(n);
        }
        return y.alias();
    }

    public void Dispose()
    {
        _signs.Dispose();
        _gauss.Dispose();
        _perm.Dispose();
        _inversePerm.Dispose();
    }
}
