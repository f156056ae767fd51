using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>A + shift I (e.g. a weight-decay term added to any operator).</summary>
public sealed class ShiftedOperator : ILinearOperator
{
    private readonly ILinearOperator _inner;

    public ShiftedOperator(ILinearOperator inner, double shift)
    {
        if (!double.IsFinite(shift)) throw new InputException($"{inner.Name}: shift must be finite, got {shift}");
        _inner = inner;
        Shift = shift;
    }

    public double Shift { get; }
    public long Dimension => _inner.Dimension;
    public string Name => _inner.Name;
    public ScalarType DType => _inner.DType;
    public string ProductMethod => _inner.ProductMethod;
    public long Applications { get; private set; }

    public Tensor Apply(Tensor v)
    {
        CurvatureProblem.CheckVector(v, Dimension, DType, Name);
        var result = _inner.Apply(v);
        result.add_(v, alpha: Shift);
        Applications++;
        return result;
    }
}

public static class LinearOperatorExtensions
{
    /// <summary>The operator A + shift I.</summary>
    public static ILinearOperator WithShift(this ILinearOperator inner, double shift) => new ShiftedOperator(inner, shift);
}
