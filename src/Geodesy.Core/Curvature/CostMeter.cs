namespace Geodesy.Core.Curvature;

/// <summary>
/// What the computations on one <see cref="CurvatureProblem"/> cost, counted where the work is
/// done (one meter per problem, read by every caller: the CLI's "cost" object, the measures, the
/// benchmarks). Counts only grow; take differences to charge one computation.
/// </summary>
public sealed class CostMeter
{
    /// <summary>Products of the problem's curvature operators (matrix-vector products, "matvecs").</summary>
    public long Products { get; private set; }
    /// <summary>The part of <see cref="Products"/> computed by double backprop (the rest by the R-operator).</summary>
    public long DoubleBackpropProducts { get; private set; }
    /// <summary>Passes over the data that computed first-order gradients (mean or per-example).</summary>
    public long GradientPasses { get; private set; }
    /// <summary>Examples sent through a forward pass (a forward kept between products counts once).</summary>
    public long ForwardExamples { get; private set; }

    internal void CountProduct(bool doubleBackprop)
    {
        Products++;
        if (doubleBackprop) DoubleBackpropProducts++;
    }

    internal void CountGradientPass() => GradientPasses++;
    internal void CountForward(long examples) => ForwardExamples += examples;

    /// <summary>A copy of the counts now, to subtract later.</summary>
    public CostSnapshot Snapshot() => new(Products, DoubleBackpropProducts, GradientPasses, ForwardExamples);

    /// <summary>What was spent since <paramref name="before"/>.</summary>
    public CostSnapshot Since(CostSnapshot before) =>
        new(Products - before.Products, DoubleBackpropProducts - before.DoubleBackpropProducts,
            GradientPasses - before.GradientPasses, ForwardExamples - before.ForwardExamples);
}

/// <summary>Counts of a <see cref="CostMeter"/> at one moment, or spent between two.</summary>
public readonly record struct CostSnapshot(long Products, long DoubleBackpropProducts, long GradientPasses, long ForwardExamples);
