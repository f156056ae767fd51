using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using Geodesy.Tests.Curvature;
using TorchSharp;
using static Geodesy.Tests.Measures.MeasureFixtures;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

/// <summary>The curvature measures against dense float64 matrices of a tiny fitted MLP (38 parameters, 30 examples).</summary>
public class CurvatureMeasureTests
{
    /// <summary>Lanczos is asked for relative residual 1e-3; on 38 dimensions it usually spans the space and is exact.</summary>
    private const double EigenRelativeTolerance = 1e-3;
    /// <summary>Randomized estimates must land within this many standard errors of the exact value.</summary>
    private const double StdErrs = 4;
    /// <summary>Rounding slack added to the stochastic comparisons (relative to the exact value).</summary>
    private const double RoundingRelative = 1e-8;
    /// <summary>float32 weights differ from the float64 ones by rounding; curvature moves by about that much.</summary>
    private const double Float32WeightsRelative = 2e-3;

    private static (SequentialModel Model, Dataset Set) Fitted()
    {
        var model = Mlp(3, 5, 3);
        var set = Clusters(10, 3, 3, 1.5, 21);
        Fit(model, set, steps: 200, lr: 0.3);
        return (model, set);
    }

    /// <summary>Dense Hessian and Fisher (GGN) of the mean cross-entropy on the given rows, in float64.</summary>
    private static (Tensor Hessian, Tensor Fisher) Dense(nn.Module<Tensor, Tensor> model, Dataset set, long[]? rows = null)
    {
        using var scope = NewDisposeScope();
        var x = set.Inputs.to_type(ScalarType.Float64);
        var y = set.Labels;
        if (rows is not null)
        {
            var idx = torch.tensor(rows, dtype: ScalarType.Int64);
            x = x.index_select(0, idx);
            y = y.index_select(0, idx);
        }
        var problem = new CurvatureProblem(model, x, y);
        var h = OperatorTestSupport.DenseOf(new HessianOperator(problem));
        var f = OperatorTestSupport.DenseOf(new GgnOperator(problem));
        return (h.MoveToOuterDisposeScope(), f.MoveToOuterDisposeScope());
    }

    private static double TopEigenvalue(Tensor symmetric)
    {
        using var sym = (symmetric + symmetric.t()) / 2;
        using var ev = torch.linalg.eigvalsh(sym);
        return ev.max().item<double>();
    }

    private static MeasureOutcome Run(MeasureContext ctx, string name) => MeasureRunner.Compute(ctx, MeasureRegistry.Select(name)).Single();

    private static MeasureValue Value(MeasureOutcome o) => o.Value ?? throw new Xunit.Sdk.XunitException($"{o.Name} skipped: {o.SkippedReason}");

    [Fact]
    public void CurvatureMeasuresMatchTheDenseMatrices()
    {
        var (model, set) = Fitted();
        using var _ = set;
        var (h, f) = Dense(model, set);
        using var hh = h;
        using var ff = f;
        double top = TopEigenvalue(h);
        double trace = h.trace().item<double>();
        double frob = h.square().sum().sqrt().item<double>();
        double fisherTrace = f.trace().item<double>();
        Assert.True(top > 0 && trace > 0, "the fitted model should have positive curvature");

        using var ctx = Context(model, set);
        var eig = Value(Run(ctx, "hessian-top-eigenvalue"));
        Assert.Null(eig.StdErr);
        Assert.InRange(Math.Abs(eig.Value - top), 0, EigenRelativeTolerance * top);
        Assert.InRange(Math.Abs(eig.Value - top), 0, eig.Details!["residual"] + RoundingRelative * top);
        Assert.Equal(30, eig.Details["examples"]);
        Assert.Equal(SolverStatus.Converged, eig.Status);

        long before = ctx.Matvecs;
        var tr = Value(Run(ctx, "hessian-trace"));
        Assert.Equal(ctx.Options.TraceMatvecs, ctx.Matvecs - before);
        Assert.True(tr.StdErr > 0);
        Assert.InRange(Math.Abs(tr.Value - trace), 0, StdErrs * tr.StdErr!.Value + RoundingRelative * trace);

        var fisher = Value(Run(ctx, "fisher-trace"));
        Assert.True(fisher.StdErr > 0);
        Assert.Equal(ctx.Options.FisherSamples, fisher.Details!["samples_per_input"]);
        Assert.InRange(Math.Abs(fisher.Value - fisherTrace), 0, StdErrs * fisher.StdErr!.Value + RoundingRelative * fisherTrace);

        var ratio = Value(Run(ctx, "trace-over-frobenius"));
        Assert.True(ratio.StdErr > 0);
        Assert.InRange(Math.Abs(ratio.Value - trace / frob), 0, StdErrs * ratio.StdErr!.Value + RoundingRelative * trace / frob);
        Assert.InRange(Math.Abs(ratio.Details!["frobenius_norm"] - frob), 0, StdErrs * ratio.Details["frobenius_norm_stderr"] + RoundingRelative * frob);
        // The problem's cost meter: each session's products reuse one kept forward of the 30 examples.
        Assert.True(ctx.ForwardExamples >= 30 && ctx.ForwardExamples < ctx.Matvecs * 30, $"{ctx.ForwardExamples} forward examples for {ctx.Matvecs} products");
    }

    [Fact]
    public void TopEigenvalueOutOfBudgetIsStoredWithItsStatus()
    {
        var (model, set) = Fitted();
        using var _ = set;
        using var ctx = Context(model, set, options: new MeasureOptions { EigenMatvecs = 2, EigenTolerance = 1e-12 });
        var eig = Value(Run(ctx, "hessian-top-eigenvalue"));
        Assert.Equal(SolverStatus.BudgetExhausted, eig.Status);
        Assert.Null(eig.StdErr);
        Assert.Null(eig.BracketHalfwidth);
    }

    [Fact]
    public void Float32ModelIsMeasuredThroughAFloat64CopyAndLeftUnchanged()
    {
        var (reference, set) = Fitted();
        using var _ = set;
        var (h, f) = Dense(reference, set);
        double top = TopEigenvalue(h);
        h.Dispose();
        f.Dispose();

        using var model32 = ModelZoo.Create("mlp:3-5-3", set.InputShape, set.NumClasses, seed: 5);
        using (var w = ParameterVector.Flatten(reference)) ParameterVector.Assign(model32, w.to_type(ScalarType.Float32));
        using var before = ParameterVector.Flatten(model32);

        using var ctx = Context(model32, set);
        var eig = Value(Run(ctx, "hessian-top-eigenvalue"));
        Assert.InRange(Math.Abs(eig.Value - top), 0, Float32WeightsRelative * top);
        Assert.Equal(ScalarType.Float32, model32.parameters().First().dtype);
        using var after = ParameterVector.Flatten(model32);
        Assert.True(after.eq(before).all().item<bool>(), "the measured model must not change");

        // In float32 (no copy) the value agrees to float32 accuracy.
        using var ctx32 = Context(model32, set, options: new MeasureOptions { CurvatureDType = ScalarType.Float32 });
        var eig32 = Value(Run(ctx32, "hessian-top-eigenvalue"));
        Assert.InRange(Math.Abs(eig32.Value - top), 0, Float32WeightsRelative * top);
    }

    [Fact]
    public void ModelThatCannotBeRebuiltIsSkippedWithAReason()
    {
        var (_, set) = Fitted();
        using var data = set;
        using var model32 = ModelZoo.Create("mlp:3-5-3", set.InputShape, set.NumClasses, seed: 5);
        using var ctx = new MeasureContext { Model = model32, Data = set, ArchSpec = "not-a-zoo-model", Seed = 1 };
        var o = Run(ctx, "hessian-trace");
        Assert.Null(o.Value);
        Assert.Contains("cannot rebuild", o.SkippedReason);
    }

    [Fact]
    public void CurvatureExamplesSelectsTheSeededSubset()
    {
        var (model, set) = Fitted();
        using var _ = set;
        const int n = 12;
        using var ctx = Context(model, set, options: new MeasureOptions { CurvatureExamples = n });
        var rows = MeasureData.SeededIndices(set.Count, n, MeasureData.SeedFor(ctx, "curvature"));
        var (h, f) = Dense(model, set, rows);
        double top = TopEigenvalue(h);
        double fullTop;
        using (var full = Dense(model, set).Hessian) fullTop = TopEigenvalue(full);
        h.Dispose();
        f.Dispose();
        Assert.True(Math.Abs(top - fullTop) > 10 * EigenRelativeTolerance * fullTop, "the subset should change the top eigenvalue");

        var eig = Value(Run(ctx, "hessian-top-eigenvalue"));
        Assert.Equal(n, eig.Details!["examples"]);
        Assert.InRange(Math.Abs(eig.Value - top), 0, EigenRelativeTolerance * top);
    }

    [Fact]
    public void BadCurvatureOptionsAreRejected()
    {
        Assert.Throws<Geodesy.Core.InputException>(() => new MeasureOptions { TraceMatvecs = 3 }.Validate());
        Assert.Throws<Geodesy.Core.InputException>(() => new MeasureOptions { EigenTolerance = 0 }.Validate());
        Assert.Throws<Geodesy.Core.InputException>(() => new MeasureOptions { CurvatureDType = ScalarType.Int64 }.Validate());
    }
}
