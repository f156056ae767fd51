using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>
/// Relative flatness (Petzka et al. 2021) of the last layer: with W [C, m] the weights from the
/// penultimate representation phi to the logits, w_s its rows and H_{s,s'} the m x m blocks of the
/// Hessian of the mean cross-entropy with respect to (w_s, w_s'),
/// kappa = sum_{s,s'} &lt;w_s, w_s'&gt; Tr(H_{s,s'}).
/// For z = W phi + b the Hessian is exact in closed form: H = (1/N) sum_i A_i (Kronecker) phi_i phi_i^T with
/// A_i = diag(p_i) - p_i p_i^T, so Tr(H_{s,s'}) = (1/N) sum_i A_i[s,s'] ||phi_i||^2 and
/// kappa = (1/N) sum_i ||phi_i||^2 &lt;W W^T, A_i&gt;_F.
/// </summary>
public static class RelativeFlatness
{
    /// <summary>kappa from features [N, m], softmax probabilities [N, C] and the last-layer weight [C, m].</summary>
    public static double Kappa(Tensor features, Tensor probs, Tensor weight)
    {
        CheckShapes(features, probs, weight);
        using var scope = NewDisposeScope();
        var phi = features.to_type(ScalarType.Float64);
        var p = probs.to_type(ScalarType.Float64);
        var w = weight.to_type(ScalarType.Float64);
        var gram = w.mm(w.t());                                   // [C, C]
        var diagTerm = p.mv(gram.diagonal());                     // sum_s G_ss p_s
        var quad = (p.mm(gram) * p).sum(1);                       // p^T G p
        var sqNorms = phi.pow(2).sum(1);
        return (sqNorms * (diagTerm - quad)).mean().item<double>();
    }

    /// <summary>The dense Hessian [C*m, C*m] of the mean cross-entropy w.r.t. the row-major weight W (closed form).</summary>
    public static Tensor LastLayerHessian(Tensor features, Tensor probs)
    {
        using var scope = NewDisposeScope();
        var phi = features.to_type(ScalarType.Float64);
        var p = probs.to_type(ScalarType.Float64);
        long n = phi.shape[0], c = p.shape[1], m = phi.shape[1];
        var h = torch.zeros([c * m, c * m], dtype: ScalarType.Float64);
        for (long i = 0; i < n; i++)
        {
            using var step = NewDisposeScope();
            var pi = p[i];
            var a = torch.diag(pi) - pi.outer(pi);
            var f = phi[i];
            h.add_(torch.kron(a, f.outer(f)));
        }
        return (h / n).MoveToOuterDisposeScope();
    }

    /// <summary>kappa = sum_{s,s'} &lt;w_s, w_s'&gt; Tr(H_{s,s'}) from any dense last-layer Hessian (row-major W).</summary>
    public static double KappaFromHessian(Tensor hessian, Tensor weight)
    {
        long c = weight.shape[0], m = weight.shape[1];
        if (hessian.dim() != 2 || hessian.shape[0] != c * m || hessian.shape[1] != c * m)
            throw new InputException($"the Hessian must be [{c * m}, {c * m}] for a weight [{c}, {m}]");
        using var scope = NewDisposeScope();
        var w = weight.to_type(ScalarType.Float64);
        var blocks = hessian.to_type(ScalarType.Float64).reshape(c, m, c, m);
        var traces = blocks.diagonal(0, 1, 3).sum(-1);            // [C, C]: Tr(H_{s,s'})
        return (w.mm(w.t()) * traces).sum().item<double>();
    }

    private static void CheckShapes(Tensor features, Tensor probs, Tensor weight)
    {
        if (features.dim() != 2 || probs.dim() != 2 || weight.dim() != 2
            || features.shape[0] != probs.shape[0] || weight.shape[0] != probs.shape[1] || weight.shape[1] != features.shape[1])
            throw new InputException($"relative flatness needs features [N,m], probabilities [N,C] and weight [C,m]; got [{string.Join(",", features.shape)}], [{string.Join(",", probs.shape)}], [{string.Join(",", weight.shape)}]");
    }
}

public sealed class RelativeFlatnessMeasure() : Measure("relative-flatness", MeasureFamily.Flatness, MeasureNeeds.Data, 2,
    "kappa = sum_{s,s'} <w_s, w_s'> Tr(H_{s,s'}), W the penultimate-to-output weights, H the Hessian of the mean CE w.r.t. W",
    Citations.Petzka)
{
    public override MeasureValue Compute(MeasureContext c)
    {
        var last = Penultimate.LastLinear(c.Model, Name);
        var phi = Penultimate.Features(c, Name);
        using var scope = NewDisposeScope();
        var probs = nn.functional.softmax(MeasureData.Logits(c), 1);
        var w = last.weight!.detach().to_type(ScalarType.Float64);
        return new(RelativeFlatness.Kappa(phi, probs, w), null, new Dictionary<string, double>
        {
            ["feature_dim"] = phi.shape[1],
            ["classes"] = w.shape[0],
        });
    }
}
