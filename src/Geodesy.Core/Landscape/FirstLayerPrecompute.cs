using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>How the points of a grid were evaluated, and why (the slice document's "evaluation" object).</summary>
public sealed record GridEvaluation(IReadOnlyList<LandscapePoint> Points, string Path, string? Fallback, bool BatchedPoints = false)
{
    /// <summary>The first layer's outputs computed once per data chunk and combined at every point.</summary>
    public const string FirstLayerPrecompute = "first-layer-precompute";
    /// <summary>A whole forward pass at every point (the weights of the point assigned to the model).</summary>
    public const string PerPointForward = "per-point-forward";
}

/// <summary>
/// Loss and accuracy at θ0 + Σ_k c_k·d_k for many coefficient vectors c of a few directions d_k, for a
/// layer chain whose first layer is Linear or Conv2d. Such a layer is linear in its weight and bias
/// together for a fixed input x: layer(x; w0 + Σ c_k·e_k) = layer(x; w0) + Σ c_k·layer(x; e_k), where
/// e_k is the first layer's part of d_k (padding acts on x, so this holds for every padding).
/// The K + 1 outputs on the right are computed once per data chunk; each point then costs their
/// combination plus the later layers at the point's weights. The values equal the per-point forward
/// pass up to float rounding (the sum is reassociated). Later layers (BatchNorm included, in eval
/// mode with the centre's running statistics) are evaluated as they are, so directions may touch
/// any parameter.
/// </summary>
internal static class FirstLayerPrecompute
{
    /// <summary>Why the precompute does not apply to <paramref name="model"/> (null: it applies).</summary>
    public static string? Unsupported(nn.Module<Tensor, Tensor> model)
    {
        if (model is not SequentialModel chain) return $"{model.GetType().Name} is not a layer chain (SequentialModel): its layers after the first cannot be run on their own";
        if (chain.Layers.Count == 0) return "the model has no layers";
        var first = chain.Layers[0];
        if (first is not (TorchSharp.Modules.Linear or TorchSharp.Modules.Conv2d)) return $"its first layer is {first.GetType().Name}, not Linear or Conv2d";
        return null;
    }

    /// <summary>
    /// The four sums (train loss, train correct, test loss, test correct) of every point over one
    /// chunk of examples (the first <paramref name="trainRows"/> rows train, the rest test), added to <paramref name="sums"/>[point].
    /// The model is in eval mode, without gradients; it is left with the centre's first layer and the last point's later layers.
    /// </summary>
    public static void AddChunk(SequentialModel model, Tensor centre, IReadOnlyList<Tensor> directions, IReadOnlyList<double[]> coefficients,
        Tensor inputs, Tensor labels, long trainRows, double[][] sums)
    {
        using var scope = NewDisposeScope();
        var parameters = model.parameters().ToArray();
        int firstCount = model.Layers[0].parameters().Count();
        var firstParameters = parameters[..firstCount];
        var laterParameters = parameters[firstCount..];
        long firstLength = firstParameters.Sum(p => p.numel());
        long laterLength = centre.numel() - firstLength;

        // The centre's and each direction's first-layer output on this chunk.
        var x = model.PrepareInput(inputs);
        var products = new Tensor[directions.Count + 1];
        for (int k = 0; k <= directions.Count; k++)
        {
            var vector = k == 0 ? centre : directions[k - 1];
            ParameterVector.Assign(firstParameters, vector.narrow(0, 0, firstLength));
            products[k] = model.Layers[0].call(x);
        }
        ParameterVector.Assign(firstParameters, centre.narrow(0, 0, firstLength));

        var later = new Tensor[directions.Count + 1];
        later[0] = centre.narrow(0, firstLength, laterLength);
        for (int k = 0; k < directions.Count; k++) later[k + 1] = directions[k].narrow(0, firstLength, laterLength);
        if (BatchesPoints(model)) AddBatched(model, products, later, coefficients, labels, trainRows, sums);
        else AddPointByPoint(model, laterParameters, products, later, coefficients, labels, trainRows, sums);
    }

    /// <summary>
    /// True when every layer after the first is Linear or an elementwise activation (the MLPs): then a
    /// batch of G points runs as one batched product per layer, each point with its own weights.
    /// </summary>
    public static bool BatchesPoints(SequentialModel model) =>
        model.Layers.Skip(1).All(l => l is TorchSharp.Modules.Linear or TorchSharp.Modules.ReLU or TorchSharp.Modules.Tanh or TorchSharp.Modules.GELU);

    /// <summary>
    /// Numbers the batched path may hold per batch of points (activations and per-point weights): 2M, 8 MB in float32,
    /// so a batch stays near the caches (larger batches measured no faster).
    /// </summary>
    private const long BatchElements = 2L << 20;
    private const int MaxPointsPerBatch = 32;

    /// <summary>
    /// Batches of G points: the first-layer outputs are C·[products] with C the G × (K + 1) matrix of
    /// rows (1, c_1, ..., c_K), the later parameters C·[θ0; d_1; ...; d_K] likewise, and every later
    /// Linear layer a batched product with the G weight matrices.
    /// </summary>
    private static void AddBatched(SequentialModel model, Tensor[] products, Tensor[] later, IReadOnlyList<double[]> coefficients,
        Tensor labels, long trainRows, double[][] sums)
    {
        var dtype = products[0].dtype;
        long rows = products[0].shape[0];
        var outputs = torch.stack(products).view(products.Length, -1);
        var laterStack = torch.stack(later);
        var linears = model.Layers.Skip(1).OfType<TorchSharp.Modules.Linear>().ToArray();
        long widest = linears.Select(l => Math.Max(l.in_features, l.out_features)).Append(products[0].numel() / rows).Max();
        long perPoint = rows * widest * 2 + linears.Select(l => l.in_features * l.out_features).DefaultIfEmpty(0).Max();
        int batch = (int)Math.Clamp(BatchElements / perPoint, 1, MaxPointsPerBatch);
        for (int start = 0; start < coefficients.Count; start += batch)
        {
            using var batchScope = NewDisposeScope();
            int g = Math.Min(batch, coefficients.Count - start);
            var c = torch.tensor(Enumerable.Range(start, g).SelectMany(p => coefficients[p].Prepend(1.0)).ToArray(), dtype).view(g, products.Length);
            var z = c.mm(outputs).view([g, .. products[0].shape]);
            var parameters = c.mm(laterStack);
            long offset = 0;
            Tensor Take(long length, params long[] shape)
            {
                var t = parameters.narrow(1, offset, length).view([g, .. shape]);
                offset += length;
                return t;
            }
            foreach (var layer in model.Layers.Skip(1))
            {
                if (layer is TorchSharp.Modules.Linear linear)
                {
                    // Parameters in the flat order: weight [out, in] row-major, then bias [out].
                    var w = Take(linear.out_features * linear.in_features, linear.out_features, linear.in_features).transpose(1, 2);
                    z = linear.bias is null ? z.bmm(w) : z.bmm(w).add_(Take(linear.out_features, 1, linear.out_features));
                }
                else z = layer.call(z);
            }
            Add(LandscapeEvaluator.SumsPerPoint(z, labels, trainRows), sums, start);
        }
    }

    /// <summary>Point by point: the combination of the first-layer outputs, the later parameters assigned, the model's later layers.</summary>
    private static void AddPointByPoint(SequentialModel model, TorchSharp.Modules.Parameter[] laterParameters, Tensor[] products, Tensor[] later,
        IReadOnlyList<double[]> coefficients, Tensor labels, long trainRows, double[][] sums)
    {
        for (int start = 0; start < coefficients.Count; start += PointsPerReduction)
        {
            using var groupScope = NewDisposeScope();
            int count = Math.Min(PointsPerReduction, coefficients.Count - start);
            var logits = new Tensor[count];
            for (int j = 0; j < count; j++)
            {
                using var pointScope = NewDisposeScope();
                var c = coefficients[start + j];
                // z = products[0] + Σ_k c_k·products[k] and the later parameters θ0 + Σ c_k·d_k, without a copy at the centre.
                Tensor z = products[0], weights = later[0];
                for (int k = 0; k < c.Length; k++)
                {
                    if (c[k] == 0) continue;
                    bool fresh = ReferenceEquals(z, products[0]);
                    z = fresh ? torch.add(z, products[k + 1], alpha: c[k]) : z.add_(products[k + 1], alpha: c[k]);
                    weights = fresh ? torch.add(weights, later[k + 1], alpha: c[k]) : weights.add_(later[k + 1], alpha: c[k]);
                }
                ParameterVector.Assign(laterParameters, weights);
                logits[j] = model.ForwardFrom(1, z).MoveToOuterDisposeScope();
            }
            Add(LandscapeEvaluator.SumsPerPoint(torch.stack(logits), labels, trainRows), sums, start);
        }
    }

    private static void Add(double[][] perPoint, double[][] sums, int start)
    {
        for (int j = 0; j < perPoint.Length; j++)
            for (int i = 0; i < 4; i++) sums[start + j][i] += perPoint[j][i];
    }

    /// <summary>Points whose logits are reduced together: the reductions are small ops, cheaper in one go than one by one.</summary>
    private const int PointsPerReduction = 16;
}
