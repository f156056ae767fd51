using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>The Fisher-Rao norm &lt;w, F(w) w&gt; in its general form and, when it applies, in closed form.</summary>
public sealed record FisherRaoResult(double ModelFisher, double Empirical, int? Degree, double? ClosedForm, double? ClosedFormEmpirical);

/// <summary>
/// Fisher-Rao norm (Liang et al. 2019). With v(x) = J_x w the change of the logits along the
/// parameter vector itself, &lt;w, grad l(x,y)&gt; = &lt;softmax(f(x)) - e_y, v(x)&gt;, so
/// &lt;w, F w&gt; with the model Fisher (y drawn from the softmax, expectation taken exactly) is
/// mean_x Var_{y~p(x)}[v_y(x)], and with the labels of the data (empirical Fisher)
/// mean_x (&lt;p(x) - e_y, v(x)&gt;)^2. v is exact, by the double-vjp trick.
/// For a bias-free network of L+1 weight layers and positively homogeneous activations,
/// f((1+t)w) = (1+t)^(L+1) f(w), so v = (L+1) f and &lt;w, F w&gt; = (L+1)^2 E[&lt;dl/df, f&gt;^2]
/// (Liang et al., Lemma 2.1 / eq. 3.2).
/// </summary>
public static class FisherRao
{
    /// <summary>v = J_x w for each example of the batch ([B, C]), w being the model's own parameters.</summary>
    public static Tensor ParameterDirectionalDerivative(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        using var scope = NewDisposeScope();
        var ps = model.parameters().ToArray();
        if (ps.Length == 0 || ps.Any(q => !q.requires_grad))
            throw new MeasureSkippedException("fisher-rao needs every parameter to require gradients");
        var z = model.call(x);
        var u = torch.zeros(z.shape, dtype: z.dtype, requires_grad: true);
        var g = torch.autograd.grad([z], ps, [u], retain_graph: true, create_graph: true);
        Tensor s = torch.zeros(1, dtype: z.dtype);
        for (int i = 0; i < ps.Length; i++) s = s + (g[i] * ps[i].detach()).sum();
        var v = torch.autograd.grad([s], [u])[0];
        return v.detach().MoveToOuterDisposeScope();
    }

    /// <summary>Both forms for the context's model and data, computed once.</summary>
    public static FisherRaoResult Of(MeasureContext ctx) => ctx.Cached("fisher-rao", () =>
    {
        var set = MeasureData.All(ctx);
        var r = Compute(ctx.Model, set, Math.Min(ctx.Options.EvalBatchSize, 1000));
        ctx.ForwardExamples += 2 * set.Count;
        ctx.Gradients += 2 * ((set.Count + 999) / 1000);
        return r;
    });

    public static FisherRaoResult Compute(nn.Module<Tensor, Tensor> model, ExampleSet set, int batchSize)
    {
        int? degree = HomogeneousDegree(model);
        double model_ = 0, empirical = 0, closed = 0, closedEmp = 0;
        for (long start = 0; start < set.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long len = Math.Min(batchSize, set.Count - start);
            var x = set.Inputs.narrow(0, start, len);
            var y = set.Labels.narrow(0, start, len);
            var v = ParameterDirectionalDerivative(model, x).to_type(ScalarType.Float64);
            Tensor f;
            using (torch.no_grad()) f = model.call(x).to_type(ScalarType.Float64);
            var p = nn.functional.softmax(f, 1);
            model_ += VarianceUnderSoftmax(p, v).sum().item<double>();
            empirical += ResidualDot(p, y, v).pow(2).sum().item<double>();
            if (degree is int k)
            {
                closed += (k * k) * VarianceUnderSoftmax(p, f).sum().item<double>();
                closedEmp += (k * k) * ResidualDot(p, y, f).pow(2).sum().item<double>();
            }
        }
        double n = set.Count;
        return new FisherRaoResult(model_ / n, empirical / n, degree,
            degree is null ? null : closed / n, degree is null ? null : closedEmp / n);
    }

    /// <summary>Var_{y~p}[v_y] per row: sum_c p_c v_c^2 - (sum_c p_c v_c)^2.</summary>
    private static Tensor VarianceUnderSoftmax(Tensor p, Tensor v) => (p * v * v).sum(1) - (p * v).sum(1).pow(2);

    /// <summary>&lt;p - e_y, v&gt; per row.</summary>
    private static Tensor ResidualDot(Tensor p, Tensor y, Tensor v) =>
        (p * v).sum(1) - v.gather(1, y.unsqueeze(1)).squeeze(1);

    private static readonly HashSet<string> Homogeneous =
        ["ReLU", "LeakyReLU", "PReLU", "Identity", "Flatten", "MaxPool2d", "AvgPool2d", "MaxPool1d", "AvgPool1d", "Dropout", "Dropout2d"];

    /// <summary>
    /// L+1, the number of weight layers, when the model is a bias-free chain of Linear/Conv2d layers
    /// and positively homogeneous parameter-free layers (ReLU, pooling, flatten); otherwise null.
    /// </summary>
    public static int? HomogeneousDegree(nn.Module model)
    {
        if (model is not SequentialModel seq) return null;
        int count = 0;
        foreach (var layer in seq.Layers)
        {
            switch (layer)
            {
                case Linear lin when IsZeroOrNull(lin.bias):
                case Conv2d conv when IsZeroOrNull(conv.bias):
                    count++;
                    break;
                default:
                    if (!Homogeneous.Contains(layer.GetType().Name) || layer.parameters().Any()) return null;
                    break;
            }
        }
        return count == 0 ? null : count;
    }

    private static bool IsZeroOrNull(Tensor? bias)
    {
        if (bias is null) return true;
        using var noGrad = torch.no_grad();
        using var nz = bias.count_nonzero();
        return nz.item<long>() == 0;
    }
}

/// <summary>
/// Fisher-Rao norm &lt;w, F w&gt; with the model Fisher (labels from the softmax, exact expectation), as
/// Liang et al. define it; Fantastic's printed formula is <see cref="FisherRaoMeasure"/>.
/// </summary>
public sealed class FisherRaoModelMeasure() : Measure("fisher-rao-model", MeasureFamily.FisherRao, MeasureNeeds.Data, 2,
    "<w, F(w) w> = (1/m) sum_i Var_{y~p(x_i)}[(J_{x_i} w)_y]; closed form (L+1)^2 E[<dl/df, f>^2] for bias-free ReLU nets",
    Citations.FisherRao)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var r = FisherRao.Of(context);
        var details = new Dictionary<string, double> { ["empirical"] = r.Empirical };
        if (r.Degree is int k)
        {
            details["degree"] = k;
            details["closed_form"] = r.ClosedForm!.Value;
            details["closed_form_empirical"] = r.ClosedFormEmpirical!.Value;
        }
        return new(r.ModelFisher, null, details);
    }
}

/// <summary>
/// Fantastic's fisher-rao (Appendix C) as printed: (d+1)^2 / m sum_i &lt;w, grad_w l(f_w(x_i), y_i)&gt;^2
/// with the labels of the data, w every parameter, d+1 the number of weight layers.
/// </summary>
public sealed class FisherRaoMeasure() : Measure("fisher-rao", MeasureFamily.FisherRao, MeasureNeeds.Data, 2,
    "(d+1)^2 / m sum_i <w, grad_w l(f_w(x_i), y_i)>^2, y_i the data labels, d+1 weight layers",
    Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        var r = FisherRao.Of(context);
        int layers = WeightMatrices.Trained(context).Count;
        if (layers == 0) throw new MeasureSkippedException($"{Name}: the model has no weight layers");
        return new((double)layers * layers * r.Empirical, null, new Dictionary<string, double>
        {
            ["weight_layers"] = layers,
            ["mean_squared_inner_product"] = r.Empirical,
        });
    }
}
