using Geodesy.Core.Curvature;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// Forwards kept between products (activations, masks, softmax): the same numbers as streaming,
/// dropped when the weights change, bounded by the byte cap, and the one cost meter that counts
/// what was really computed.
/// </summary>
public class KeptForwardTests
{
    private static ILinearOperator Make(string kind, CurvatureProblem p) => kind switch
    {
        "hessian" => new HessianOperator(p, CurvatureProductMethod.ROperator),
        "ggn" => new GgnOperator(p, CurvatureProductMethod.ROperator),
        _ => new EmpiricalFisherOperator(p, CurvatureProductMethod.ROperator),
    };

    [Theory]
    [MemberData(nameof(CurvatureCases.ROperatorCases), MemberType = typeof(CurvatureCases))]
    public void KeptForwards_GiveTheStreamingProducts(string name)
    {
        var kept = CurvatureCases.Problem(name);
        var streamed = CurvatureCases.Problem(name, forwardCacheBytes: 0);
        using var gen = new Generator(5);
        foreach (var kind in new[] { "hessian", "ggn", "empirical-fisher" })
        {
            var a = Make(kind, kept);
            var b = Make(kind, streamed);
            for (int repeat = 0; repeat < 2; repeat++)
            {
                using var v = randn([kept.Dimension], dtype: ScalarType.Float64, generator: gen);
                using var av = a.Apply(v);
                using var bv = b.Apply(v);
                Assert.True(RelativeMaxError(av, bv) <= Tolerances.KeptForward, $"{name} {kind} product {repeat}: {RelativeMaxError(av, bv):E2}");
            }
        }
        Assert.Equal(kept.Count, kept.Cost.ForwardExamples); // one forward of each example, shared by the operators
        Assert.Equal(6 * streamed.Count, streamed.Cost.ForwardExamples);
    }

    [Fact]
    public void ChangedWeights_DropTheKeptForwards()
    {
        var p = CurvatureCases.Problem("zoo-cnn-bn");
        var h = new HessianOperator(p);
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: new Generator(6));
        h.Apply(v).Dispose();
        using (no_grad())
        {
            // In place, as the landscape and flatness measures perturb weights, and a BatchNorm statistic too.
            foreach (var parameter in p.Model.parameters()) parameter.mul_(1.1);
            var bn = p.Model.modules().OfType<TorchSharp.Modules.BatchNorm>().First();
            bn.running_mean!.add_(0.05);
        }
        using var after = h.Apply(v);
        var reference = CurvatureCases.Problem("zoo-cnn-bn", forwardCacheBytes: 0);
        CopyWeights(p, reference);
        using var fresh = new HessianOperator(reference).Apply(v);
        Assert.True(RelativeMaxError(after, fresh) <= Tolerances.KeptForward, $"{RelativeMaxError(after, fresh):E2}");
        Assert.Equal(2 * p.Count, p.Cost.ForwardExamples);
    }

    private static void CopyWeights(CurvatureProblem from, CurvatureProblem to)
    {
        using var _ = no_grad();
        foreach (var (a, b) in from.Model.state_dict().Values.Zip(to.Model.state_dict().Values)) b.copy_(a);
    }

    [Fact]
    public void TheByteCap_KeepsSomeBatches_AndStreamsTheRest()
    {
        var unbounded = CurvatureCases.Problem("cnn-eval");
        var h = new HessianOperator(unbounded);
        using var v = randn([unbounded.Dimension], dtype: ScalarType.Float64, generator: new Generator(7));
        using var reference = h.Apply(v);
        long all = unbounded.Plan!.Cache.Bytes;
        Assert.Equal(3, unbounded.Plan.Cache.Count); // 10 examples in batches of 4

        // Room for the weight copy and the first batch only: the other two are recomputed every time.
        var capped = CurvatureCases.Problem("cnn-eval", forwardCacheBytes: all - 1);
        var hc = new HessianOperator(capped);
        using var first = hc.Apply(v);
        using var second = hc.Apply(v);
        Assert.InRange(capped.Plan!.Cache.Count, 1, 2);
        Assert.True(capped.Plan.Cache.Bytes <= all - 1);
        Assert.True(RelativeMaxError(second, reference) <= Tolerances.KeptForward);
        Assert.True(capped.Cost.ForwardExamples > capped.Count && capped.Cost.ForwardExamples < 2 * capped.Count);
    }

    [Fact]
    public void CostMeter_CountsProductsByMethod_GradientPasses_AndForwards()
    {
        var p = CurvatureCases.Problem("mlp-relu");
        using var v = randn([p.Dimension], dtype: ScalarType.Float64, generator: new Generator(8));
        var r = new HessianOperator(p, CurvatureProductMethod.ROperator);
        var d = new HessianOperator(p, CurvatureProductMethod.DoubleBackprop);
        var block = new BlockOperator(r, 0, 5);
        r.Apply(v).Dispose();
        r.Apply(v).Dispose();
        d.Apply(v).Dispose();
        using (var w = v.narrow(0, 0, 5).clone()) block.Apply(w).Dispose();
        p.LossAndGradient().Gradient.Dispose();
        new PerExampleGradients(p).Norms();
        var cost = p.Cost.Snapshot();
        Assert.Equal(4, cost.Products); // the block's product is one product of the Hessian
        Assert.Equal(1, cost.DoubleBackpropProducts);
        Assert.Equal(2, cost.GradientPasses);
        // The R-operator forward once (kept), double backprop, the gradient and the per-example pass each once.
        Assert.Equal(4 * p.Count, cost.ForwardExamples);
        Assert.Equal(new CostSnapshot(0, 0, 0, 0), p.Cost.Since(cost));
    }
}

/// <summary>The Core registry of curvature matrices and the product method every operator reports.</summary>
public class CurvatureMatrixRegistryTests
{
    [Fact]
    public void EveryMatrix_BuildsItsOperator_AndReportsItsProductMethod()
    {
        Assert.Equal(["hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance"], CurvatureMatrices.Names);
        foreach (var (name, method) in new[] { ("mlp-relu", "r-operator"), ("cnn-train", "double-backprop") })
        {
            var p = CurvatureCases.Problem(name);
            foreach (var matrix in CurvatureMatrices.All)
            {
                ILinearOperator op = matrix.Create(p);
                Assert.Equal(matrix.Name, op.Name);
                Assert.Equal(method, op.ProductMethod);
                Assert.Equal(method, new BlockOperator(op, 0, 3).ProductMethod);
                Assert.Equal(method, op.WithShift(1).ProductMethod);
            }
        }
        Assert.Equal("double-backprop", ((ILinearOperator)CurvatureMatrices.Find("ggn").Create(CurvatureCases.Problem("mlp-relu"),
            new CurvatureMatrixOptions { Method = CurvatureProductMethod.DoubleBackprop })).ProductMethod);
        var e = Assert.Throws<Geodesy.Core.InputException>(() => CurvatureMatrices.Find("hessain"));
        Assert.Contains("known: hessian, ggn", e.Message);
        using var dense = eye(3, dtype: ScalarType.Float64);
        Assert.Equal("explicit", ((ILinearOperator)new DenseOperator(dense)).ProductMethod);
    }
}
