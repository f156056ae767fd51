using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>
/// The shared plumbing of the algorithms: input checks, one counted and checked product, seeded
/// probes and small statistics. Everything here is deterministic given the seed.
/// </summary>
internal static class OperatorCalls
{
    /// <summary>Machine epsilon of the operator's dtype.</summary>
    public static double Epsilon(ScalarType dtype) =>
        dtype == ScalarType.Float64 ? 2.220446049250313e-16 : 1.1920929e-7;

    public static void Validate(ILinearOperator op, string algorithm)
    {
        ArgumentNullException.ThrowIfNull(op);
        if (op.Dimension < 1)
            throw new InputException($"{algorithm}: operator '{op.Name}' has dimension {op.Dimension}");
        if (op.DType != ScalarType.Float32 && op.DType != ScalarType.Float64)
            throw new InputException($"{algorithm}: operator '{op.Name}' has dtype {op.DType}; use float32 or float64");
    }

    /// <summary>One product A v; checks the operator's answer so a broken operator fails loudly.</summary>
    public static Tensor Apply(ILinearOperator op, Tensor v)
    {
        var w = op.Apply(v);
        if (w.dim() != 1 || w.shape[0] != op.Dimension)
        {
            var shape = string.Join(", ", w.shape);
            w.Dispose();
            throw new ComputationException($"operator '{op.Name}' returned shape [{shape}] for a vector of length {op.Dimension}");
        }
        if (w.dtype == op.DType) return w;
        var cast = w.to_type(op.DType);
        w.Dispose();
        return cast;
    }

    /// <summary>A generator owned by the caller; the seed fixes every random draw of one call.</summary>
    public static Generator NewGenerator(long seed) => new Generator(unchecked((ulong)seed));

    /// <summary>A probe vector of the operator's dimension and dtype.</summary>
    public static Tensor Probe(ILinearOperator op, ProbeKind kind, Generator generator)
    {
        using var rows = Probes(op, kind, 1, generator);
        return rows.squeeze(0);
    }

    /// <summary>count probe vectors as rows of a [count, dim] tensor.</summary>
    public static Tensor Probes(ILinearOperator op, ProbeKind kind, long count, Generator generator)
    {
        long[] shape = [count, op.Dimension];
        if (kind == ProbeKind.Gaussian)
            return torch.randn(shape, dtype: op.DType, generator: generator);
        using var bits = torch.randint(0, 2, shape, dtype: op.DType, generator: generator);
        return bits.mul(2.0).sub_(1.0);
    }

    public static double Dot(Tensor a, Tensor b)
    {
        using var d = a.dot(b);
        return d.ToDouble();
    }

    public static double Norm(Tensor a)
    {
        using var n = a.norm();
        return n.ToDouble();
    }

    public static double Seconds(Stopwatch stopwatch) => stopwatch.Elapsed.TotalSeconds;
}

/// <summary>Running mean and sample variance (Welford) of independent samples.</summary>
internal sealed class SampleStats
{
    double _mean, _m2;
    public int Count { get; private set; }

    public void Add(double x)
    {
        Count++;
        double delta = x - _mean;
        _mean += delta / Count;
        _m2 += delta * (x - _mean);
    }

    public double Mean => _mean;
    /// <summary>Sample variance with n - 1 (0 for fewer than two samples).</summary>
    public double Variance => Count > 1 ? _m2 / (Count - 1) : 0;
    /// <summary>Standard error of the mean; NaN for fewer than two samples.</summary>
    public double StdErr => Count > 1 ? Math.Sqrt(Variance / Count) : double.NaN;
}
