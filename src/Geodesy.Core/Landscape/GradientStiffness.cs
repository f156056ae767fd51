using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>One bin of input-space distance: its range, pair count and mean stiffness (all pairs, same class, different class).</summary>
public sealed record StiffnessBin(double Lo, double Hi, long Pairs, double Cosine, double Sign, long SamePairs, double SameCosine, long DiffPairs, double DiffCosine);

/// <summary>Stiffness between every pair of a set of examples, by class and by input distance.</summary>
public sealed record StiffnessTable(
    double[,] Cosine, double[,] Sign, double[,] ClassCosine, double[,] ClassSign, long[,] ClassPairs,
    IReadOnlyList<StiffnessBin> Bins, double SameClassCosine, double DiffClassCosine, double SameClassSign, double DiffClassSign, int ZeroGradients)
{
    public int Examples => Cosine.GetLength(0);
}

/// <summary>
/// Stiffness (Fort, Nowak, Jastrzebski, Narayanan 2019, "Stiffness: A New Perspective on Generalization
/// in Neural Networks"): for the per-example loss gradients g_i, g_j, the cosine stiffness
/// cos(g_i, g_j) and the sign stiffness sign(g_i · g_j). Class-by-class matrices average over pairs
/// i ≠ j with y_i = a, y_j = b; distance bins average over pairs i &lt; j by ‖x_i − x_j‖ (Euclidean, on
/// the inputs as the model sees them). An example whose gradient is zero has cosine 0 with every other.
/// </summary>
public static class GradientStiffness
{
    public static StiffnessTable Compute(Tensor gradients, Tensor inputs, Tensor labels, int classes, int bins)
    {
        if (bins < 1) throw new InputException($"--bins must be at least 1 (got {bins})");
        long n = gradients.shape[0];
        if (n < 2) throw new InputException($"stiffness needs at least 2 examples (got {n})");
        using var scope = NewDisposeScope();
        var g = gradients.to_type(ScalarType.Float64);
        var norms = g.norm(1, keepdim: true);
        int zero = (int)norms.eq(0).sum().item<long>();
        var unit = g / norms.clamp_min(double.Epsilon);
        var cosine = ToArray(unit.mm(unit.t()));
        var sign = ToArray(g.mm(g.t()).sign());
        var x = inputs.reshape(n, -1).to_type(ScalarType.Float64);
        var distance = ToArray(torch.cdist(x.unsqueeze(0), x.unsqueeze(0)).squeeze(0));
        var y = labels.to_type(ScalarType.Int64).data<long>().ToArray();

        var classCos = new double[classes, classes];
        var classSign = new double[classes, classes];
        var classPairs = new long[classes, classes];
        double sameCos = 0, diffCos = 0, sameSign = 0, diffSign = 0;
        long same = 0, diff = 0;
        double maxDistance = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                classCos[y[i], y[j]] += cosine[i, j];
                classSign[y[i], y[j]] += sign[i, j];
                classPairs[y[i], y[j]]++;
                if (j < i) continue;
                maxDistance = Math.Max(maxDistance, distance[i, j]);
                if (y[i] == y[j]) { sameCos += cosine[i, j]; sameSign += sign[i, j]; same++; }
                else { diffCos += cosine[i, j]; diffSign += sign[i, j]; diff++; }
            }
        for (int a = 0; a < classes; a++)
            for (int b = 0; b < classes; b++)
            {
                classCos[a, b] = classPairs[a, b] == 0 ? double.NaN : classCos[a, b] / classPairs[a, b];
                classSign[a, b] = classPairs[a, b] == 0 ? double.NaN : classSign[a, b] / classPairs[a, b];
            }

        // Equal-width bins over [0, the largest distance]; the last bin includes its upper end.
        double width = maxDistance > 0 ? maxDistance / bins : 1;
        var sums = new (long Pairs, double Cos, double Sign, long Same, double SameCos, long Diff, double DiffCos)[bins];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                int k = Math.Min(bins - 1, (int)(distance[i, j] / width));
                var s = sums[k];
                s.Pairs++; s.Cos += cosine[i, j]; s.Sign += sign[i, j];
                if (y[i] == y[j]) { s.Same++; s.SameCos += cosine[i, j]; } else { s.Diff++; s.DiffCos += cosine[i, j]; }
                sums[k] = s;
            }
        static double Mean(double sum, long count) => count == 0 ? double.NaN : sum / count;
        var binList = sums.Select((s, k) => new StiffnessBin(k * width, (k + 1) * width, s.Pairs, Mean(s.Cos, s.Pairs), Mean(s.Sign, s.Pairs),
            s.Same, Mean(s.SameCos, s.Same), s.Diff, Mean(s.DiffCos, s.Diff))).ToArray();
        return new StiffnessTable(cosine, sign, classCos, classSign, classPairs, binList,
            Mean(sameCos, same), Mean(diffCos, diff), Mean(sameSign, same), Mean(diffSign, diff), zero);
    }

    private static double[,] ToArray(Tensor m)
    {
        int rows = (int)m.shape[0], cols = (int)m.shape[1];
        var flat = m.contiguous().data<double>().ToArray();
        var result = new double[rows, cols];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }
}
