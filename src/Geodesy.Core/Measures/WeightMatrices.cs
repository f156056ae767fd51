using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>
/// One weight layer as the norm measures see it: float64, BatchNorm folded in when one follows it
/// directly, with the input size a convolution sees (for its exact spectral norm).
/// </summary>
public sealed class WeightMatrix : IDisposable, ITensorHolder
{
    public IEnumerable<Tensor> Tensors => Bias is null ? [Weight] : [Weight, Bias];

    public WeightMatrix(string name, int layerIndex, Tensor weight, Tensor? bias, long[]? convInputSize, bool foldedBatchNorm)
    {
        Name = name;
        LayerIndex = layerIndex;
        Weight = weight;
        Bias = bias;
        ConvInputSize = convInputSize;
        FoldedBatchNorm = foldedBatchNorm;
    }

    /// <summary>The parameter name of the weight, e.g. "0.weight".</summary>
    public string Name { get; }
    /// <summary>Index in SequentialModel.Layers, -1 for the generic fallback.</summary>
    public int LayerIndex { get; }
    /// <summary>float64, original shape ([out, in] or [out, in, kh, kw]), BatchNorm folded in.</summary>
    public Tensor Weight { get; }
    /// <summary>The folded bias (null if the layer had none and no BatchNorm followed).</summary>
    public Tensor? Bias { get; }
    /// <summary>[H, W] of the input this convolution sees; null for matrices.</summary>
    public long[]? ConvInputSize { get; }
    public bool FoldedBatchNorm { get; }
    public bool IsConv => Weight.dim() == 4;

    /// <summary>The weight as a matrix [out, rest] (a conv kernel reshaped to [c_out, c_in*kh*kw]).</summary>
    public Tensor Matrix() => Weight.reshape(Weight.shape[0], -1);

    public void Dispose()
    {
        Weight.Dispose();
        Bias?.Dispose();
    }
}

/// <summary>The weight matrices of a model and how they were obtained.</summary>
public sealed class WeightMatrixSet(IReadOnlyList<WeightMatrix> matrices, bool structured, string note) : IDisposable, ITensorHolder
{
    public IEnumerable<Tensor> Tensors => Matrices.SelectMany(m => m.Tensors);
    public IReadOnlyList<WeightMatrix> Matrices { get; } = matrices;
    /// <summary>True when read from a SequentialModel's layers (BatchNorm folded); false for the fallback.</summary>
    public bool Structured { get; } = structured;
    /// <summary>One line on how the matrices were found (reported in Details).</summary>
    public string Note { get; } = note;
    public int Count => Matrices.Count;

    public void Dispose()
    {
        foreach (var m in Matrices) m.Dispose();
    }
}

/// <summary>
/// Finds the weight matrices the norm measures use: the Linear and Conv2d weights of a
/// SequentialModel in layer order, each with an immediately following BatchNorm folded in
/// (W' = W * gamma/sqrt(var+eps) per output channel, b' = beta + (b - mean) * gamma/sqrt(var+eps)),
/// as the Fantastic re-implementations do. Biases are not weight matrices. Other models fall back to
/// every parameter with two or more dimensions, unfolded.
/// </summary>
public static class WeightMatrices
{
    public static WeightMatrixSet Of(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        using var noGrad = torch.no_grad();
        if (model is SequentialModel seq) return FromLayers(seq, inputShape);

        var list = new List<WeightMatrix>();
        foreach (var (name, p) in model.named_parameters())
            if (p.dim() >= 2)
                list.Add(new WeightMatrix(name, -1, p.detach().to_type(ScalarType.Float64).clone(), null, p.dim() == 4 ? SpatialOf(inputShape) : null, false));
        return new WeightMatrixSet(list, false,
            "not a SequentialModel: every parameter with 2+ dimensions, BatchNorm not folded, conv input size taken from the data");
    }

    private static long[]? SpatialOf(long[] inputShape) => inputShape.Length >= 2 ? inputShape[^2..] : null;

    private static WeightMatrixSet FromLayers(SequentialModel model, long[] inputShape)
    {
        var layers = model.Layers;
        var inputShapes = LayerInputShapes(model, inputShape);
        var list = new List<WeightMatrix>();
        int folded = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            Tensor w;
            Tensor? b;
            long[]? convSize = null;
            switch (layers[i])
            {
                case Linear lin:
                    w = lin.weight!.detach().to_type(ScalarType.Float64).clone();
                    b = lin.bias?.detach().to_type(ScalarType.Float64).clone();
                    break;
                case Conv2d conv:
                    if (conv.groups != 1) throw new MeasureSkippedException($"layer {i}: grouped convolutions are not supported by the norm measures");
                    w = conv.weight!.detach().to_type(ScalarType.Float64).clone();
                    b = conv.bias?.detach().to_type(ScalarType.Float64).clone();
                    convSize = inputShapes[i][^2..];
                    break;
                default:
                    continue;
            }
            bool fold = i + 1 < layers.Count && layers[i + 1] is BatchNorm;
            if (fold)
            {
                var bn = (BatchNorm)layers[i + 1];
                (w, b) = Fold(w, b, bn);
                folded++;
            }
            list.Add(new WeightMatrix($"{i}.weight", i, w, b, convSize, fold));
        }
        string note = folded > 0
            ? $"Linear/Conv2d weights of the layer chain, {folded} BatchNorm layer(s) folded into the preceding layer"
            : "Linear/Conv2d weights of the layer chain (no BatchNorm to fold)";
        return new WeightMatrixSet(list, true, note);
    }

    /// <summary>Folds eval-mode BatchNorm into the preceding layer's weight and bias (float64).</summary>
    public static (Tensor Weight, Tensor Bias) Fold(Tensor weight, Tensor? bias, BatchNorm bn)
    {
        using var scope = NewDisposeScope();
        long c = weight.shape[0];
        if (bn.num_features != c) throw new InputException($"BatchNorm with {bn.num_features} features follows a layer with {c} outputs");
        var mean = bn.running_mean?.to_type(ScalarType.Float64) ?? torch.zeros(c, dtype: ScalarType.Float64);
        var variance = bn.running_var?.to_type(ScalarType.Float64) ?? torch.ones(c, dtype: ScalarType.Float64);
        var gamma = bn.weight?.detach().to_type(ScalarType.Float64) ?? torch.ones(c, dtype: ScalarType.Float64);
        var beta = bn.bias?.detach().to_type(ScalarType.Float64) ?? torch.zeros(c, dtype: ScalarType.Float64);
        var scale = gamma / (variance + bn.eps).sqrt();
        var shape = new long[weight.dim()];
        Array.Fill(shape, 1L);
        shape[0] = c;
        var w = weight * scale.reshape(shape);
        var b0 = bias ?? torch.zeros(c, dtype: ScalarType.Float64);
        var b = beta + (b0 - mean) * scale;
        weight.Dispose();
        bias?.Dispose();
        return (w.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope());
    }

    /// <summary>The shape of the input each layer receives, from one zero example pushed through.</summary>
    public static IReadOnlyList<long[]> LayerInputShapes(SequentialModel model, long[] inputShape)
    {
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var dtype = Training.Evaluation.ParameterDType(model);
            var x = torch.zeros([1, .. inputShape], dtype: dtype);
            if (model.FlattenInput) x = x.reshape(1, -1);
            var shapes = new List<long[]>();
            foreach (var layer in model.Layers)
            {
                shapes.Add(x.shape[1..]);
                x = layer.call(x);
            }
            return shapes;
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>The context's weight matrices of the trained model (cached).</summary>
    public static WeightMatrixSet Trained(MeasureContext ctx) =>
        ctx.Cached("weights:trained", () => Of(ctx.Model, ctx.Data.InputShape));

    /// <summary>The context's weight matrices of the initial model (cached); skips the measure without init.</summary>
    public static WeightMatrixSet Initial(MeasureContext ctx, string measure)
    {
        var init = ctx.RequireInit(measure);
        return ctx.Cached("weights:init", () => Of(init, ctx.Data.InputShape));
    }

    /// <summary>W_i - W_i^0 per layer, shapes checked.</summary>
    public static Tensor[] Differences(WeightMatrixSet trained, WeightMatrixSet init)
    {
        if (trained.Count != init.Count)
            throw new InputException($"the initial model has {init.Count} weight matrices, the trained one {trained.Count}");
        var diffs = new Tensor[trained.Count];
        for (int i = 0; i < trained.Count; i++)
        {
            var a = trained.Matrices[i].Weight;
            var b = init.Matrices[i].Weight;
            if (!a.shape.SequenceEqual(b.shape))
                throw new InputException($"weight {trained.Matrices[i].Name}: trained shape [{string.Join(",", a.shape)}] differs from initial [{string.Join(",", b.shape)}]");
            diffs[i] = a - b;
        }
        return diffs;
    }
}
