using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// Tiny float64 problems and brute-force references (explicit autograd loops) shared by the
/// operator and per-example tests. References never go through the code under test.
/// </summary>
internal static class OperatorTestSupport
{
    public const int Classes = 3;

    /// <summary>The basic cases of <see cref="CurvatureCases"/>: tanh MLP, ReLU MLP, CNN with BatchNorm in eval and train mode.</summary>
    public static TheoryData<string> AllCases => CurvatureCases.Basic;

    public static SequentialModel Mlp(string activation, long seed = 1)
    {
        nn.Module<Tensor, Tensor> act = activation == "tanh" ? nn.Tanh() : nn.ReLU();
        var model = new SequentialModel($"mlp:5-4-3:{activation}", [nn.Linear(5, 4), act, nn.Linear(4, Classes)], flattenInput: true);
        model.to(ScalarType.Float64);
        Initialize(model, seed);
        return model;
    }

    /// <summary>
    /// Weights from a private generator: the global one is shared with tests running in
    /// parallel, so seeding it would not make the models reproducible.
    /// </summary>
    public static void Initialize(nn.Module model, long seed)
    {
        using var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var p in model.parameters())
        {
            using var values = randn(p.shape, dtype: ScalarType.Float64, generator: gen);
            p.copy_(values.mul(0.6));
        }
    }

    /// <summary>Conv2d(1,2,3,pad 1), BatchNorm2d(2) with non-trivial statistics, ReLU, MaxPool(2), Flatten, Linear(8,3).</summary>
    public static SequentialModel Cnn(long seed = 2)
    {
        var bn = nn.BatchNorm2d(2);
        var model = new SequentialModel("cnn-tiny",
            [nn.Conv2d(1, 2, 3, padding: 1), bn, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, Classes)], flattenInput: false);
        model.to(ScalarType.Float64);
        Initialize(model, seed);
        using (no_grad())
        {
            bn.weight.copy_(tensor(new[] { 1.3, 0.7 }, dtype: ScalarType.Float64));
            bn.bias!.copy_(tensor(new[] { 0.2, -0.1 }, dtype: ScalarType.Float64));
            bn.running_mean!.copy_(tensor(new[] { 0.1, -0.2 }, dtype: ScalarType.Float64));
            bn.running_var!.copy_(tensor(new[] { 0.8, 1.5 }, dtype: ScalarType.Float64));
        }
        return model;
    }

    public static (Tensor Inputs, Tensor Labels) TestData(bool image, long n, long seed = 3)
    {
        var gen = new Generator((ulong)seed);
        var x = image ? randn([n, 1, 4, 4], dtype: ScalarType.Float64, generator: gen) : randn([n, 5], dtype: ScalarType.Float64, generator: gen);
        var y = randint(0, Classes, [n], dtype: ScalarType.Int64, generator: gen);
        return (x, y);
    }

    public static CurvatureProblem Problem(string name, long n = 10, int batchSize = 4, double weightDecay = 0)
    {
        var model = name switch
        {
            "mlp-tanh" => Mlp("tanh"),
            "mlp-relu" => Mlp("relu"),
            "cnn-eval" or "cnn-train" => (nn.Module<Tensor, Tensor>)Cnn(),
            _ => throw new ArgumentException(name),
        };
        var (x, y) = TestData(name.StartsWith("cnn"), n);
        var mode = name == "cnn-train" ? CurvatureMode.Train : CurvatureMode.Eval;
        return new CurvatureProblem(model, x, y, new CurvatureOptions
        {
            BatchSize = batchSize, Mode = mode, WeightDecay = weightDecay, IncludeWeightDecay = weightDecay > 0,
        });
    }

    /// <summary>The matrix of an operator: column j = A e_j.</summary>
    public static Tensor DenseOf(ILinearOperator op)
    {
        using var scope = NewDisposeScope();
        var columns = new List<Tensor>();
        for (long j = 0; j < op.Dimension; j++)
        {
            var e = zeros(op.Dimension, dtype: op.DType);
            e[j] = 1.0;
            columns.Add(op.Apply(e));
        }
        return stack(columns, 1).MoveToOuterDisposeScope();
    }

    /// <summary>max |A - B| / ||B||_F.</summary>
    public static double RelativeMaxError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        return actual.sub(expected).abs().max().item<double>() / expected.norm().item<double>();
    }

    private static void SetMode(CurvatureProblem p) { if (p.Mode == CurvatureMode.Train) p.Model.train(); else p.Model.eval(); }

    private static IEnumerable<(long Start, long Count)> Batches(CurvatureProblem p)
    {
        for (long s = 0; s < p.Count; s += p.Options.BatchSize) yield return (s, Math.Min(p.Options.BatchSize, p.Count - s));
    }

    /// <summary>The problem's loss (weighted batch means, one graph) without weight decay.</summary>
    public static Tensor ReferenceLoss(CurvatureProblem p)
    {
        SetMode(p);
        Tensor total = zeros(1, dtype: p.DType).squeeze();
        foreach (var (s, c) in Batches(p))
            total = total.add(nn.functional.cross_entropy(p.Model.call(p.Inputs.narrow(0, s, c)), p.Labels.narrow(0, s, c)).mul((double)c / p.Count));
        return total;
    }

    /// <summary>Dense Hessian by a double loop: one second backward per coordinate of the gradient.</summary>
    public static Tensor ReferenceHessian(CurvatureProblem p)
    {
        using var scope = NewDisposeScope();
        var ps = p.Model.parameters().ToArray();
        var g = ParameterVector.Concat(autograd.grad([ReferenceLoss(p)], ps, create_graph: true, retain_graph: true));
        var rows = new List<Tensor>();
        for (long j = 0; j < p.Dimension; j++)
            rows.Add(ParameterVector.Concat(autograd.grad([g[j]], ps, retain_graph: true)));
        double wd = p.EffectiveWeightDecay;
        var h = stack(rows, 0);
        if (wd > 0) h = h.add(eye(p.Dimension, dtype: p.DType).mul(wd));
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>GGN from explicit Jacobian rows (one backward per logit) and H_out = diag(p) - p p^T.</summary>
    public static Tensor ReferenceGgn(CurvatureProblem p)
    {
        using var scope = NewDisposeScope();
        SetMode(p);
        var ps = p.Model.parameters().ToArray();
        var ggn = zeros(p.Dimension, p.Dimension, dtype: p.DType);
        foreach (var (s, c) in Batches(p))
        {
            var logits = p.Model.call(p.Inputs.narrow(0, s, c));
            var probs = nn.functional.softmax(logits.detach(), 1);
            for (long i = 0; i < c; i++)
            {
                var rows = new List<Tensor>();
                for (long k = 0; k < logits.shape[1]; k++)
                    rows.Add(ParameterVector.Concat(autograd.grad([logits[i, k]], ps, retain_graph: true)));
                var j = stack(rows, 0);
                var pi = probs[i];
                var hOut = diag(pi).sub(outer(pi, pi));
                ggn.add_(j.t().mm(hOut).mm(j).div(p.Count));
            }
        }
        double wd = p.EffectiveWeightDecay;
        if (wd > 0) ggn.add_(eye(p.Dimension, dtype: p.DType).mul(wd));
        return ggn.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-example loss gradients [N, P] for the given labels: in eval mode each example alone
    /// (forward + backward of one example); in train mode the gradient of example i's loss term
    /// within its mini-batch.
    /// </summary>
    public static Tensor ReferencePerExampleGradients(CurvatureProblem p, Tensor? labels = null)
    {
        using var scope = NewDisposeScope();
        labels ??= p.Labels;
        SetMode(p);
        var ps = p.Model.parameters().ToArray();
        var rows = new List<Tensor>();
        if (p.Mode == CurvatureMode.Eval)
        {
            for (long i = 0; i < p.Count; i++)
            {
                var loss = nn.functional.cross_entropy(p.Model.call(p.Inputs.narrow(0, i, 1)), labels.narrow(0, i, 1));
                rows.Add(ParameterVector.Concat(autograd.grad([loss], ps)));
            }
        }
        else
        {
            foreach (var (s, c) in Batches(p))
            {
                var losses = nn.functional.cross_entropy(p.Model.call(p.Inputs.narrow(0, s, c)), labels.narrow(0, s, c), reduction: nn.Reduction.None);
                for (long i = 0; i < c; i++) rows.Add(ParameterVector.Concat(autograd.grad([losses[i]], ps, retain_graph: true)));
            }
        }
        return stack(rows, 0).MoveToOuterDisposeScope();
    }

    /// <summary>(1/N) G^T G.</summary>
    public static Tensor SecondMoment(Tensor g) => g.t().mm(g).div(g.shape[0]);

    /// <summary>Unweighted model probabilities [N, C] in the problem's mode and batches.</summary>
    public static Tensor ReferenceProbabilities(CurvatureProblem p)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        SetMode(p);
        var parts = Batches(p).Select(b => nn.functional.softmax(p.Model.call(p.Inputs.narrow(0, b.Start, b.Count)), 1)).ToList();
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
