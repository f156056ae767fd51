using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// Every model by arch spec string (mlp, cnn, nin, resnet20). Parameter names and order follow
/// PyTorch, so weights move to and from PyTorch state_dicts untouched. See docs/models.md.
/// </summary>
public static class ModelZoo
{
    private sealed record Family(string Name, string Example, string Description, Func<string, string?, IArchitecture> Parse);

    // Adding a model: one line here (see Models/README.md).
    private static readonly Family[] Families =
    [
        new("mlp", "mlp:784-100-10", "fully connected: Linear, act, ..., Linear on the flattened input; act relu (default), tanh, gelu or square (x²); :nobias drops the biases",
            MlpArchitecture.Parse),
        new("cnn", "cnn:channels=16-32", "conv stages Conv(k, same padding), [BN], act, 2x2 max/avg pool; then Linear; options channels, kernel, pool, bn, act",
            CnnArchitecture.Parse),
        new("nin", "nin:depth=2,width=32", "Network in Network (Fantastic measures / PGDL): D blocks of strided Conv3x3 + two Conv1x1, each with BN + ReLU; Conv1x1 to classes, global average pool",
            NinArchitecture.Parse),
        new("resnet20", "resnet20:width=16", "CIFAR ResNet-20 (He et al. 2016): 3 stages x 3 basic blocks at widths W, 2W, 4W; shortcut b (1x1 conv + BN, default) or a (zero padding)",
            ResNet20Architecture.Parse),
    ];

    /// <summary>(family name, example spec, one-line description) of every family.</summary>
    public static IReadOnlyList<(string Name, string Example, string Description)> Catalog { get; } =
        Families.Select(f => (f.Name, f.Example, f.Description)).ToArray();

    /// <summary>
    /// Builds the model of <paramref name="spec"/> for examples of shape <paramref name="inputShape"/>
    /// (one example, e.g. [1, 28, 28]) and <paramref name="numClasses"/> classes, in train mode, with
    /// PyTorch's default initialization drawn from <paramref name="seed"/> alone (see <see cref="Initialization"/>).
    /// </summary>
    public static nn.Module<Tensor, Tensor> Create(string spec, long[] inputShape, int numClasses, long seed, ScalarType dtype = ScalarType.Float32)
    {
        if (dtype != ScalarType.Float32 && dtype != ScalarType.Float64)
            throw new InputException($"arch '{spec}': dtype {dtype} is not supported (float32 or float64)");
        var architecture = Parse(spec, inputShape, numClasses);
        var model = architecture.Build(inputShape, numClasses);
        if (dtype != ScalarType.Float32) model.to(dtype);
        Initialization.Reset(model, seed);
        model.train();
        return model;
    }

    /// <summary>
    /// Sets the dropout probability of a zoo model (train mode only; eval mode, the default of curvature
    /// and measures, never drops). mlp/cnn/nin: the input of every weight layer but the first; resnet20:
    /// the pooled features before fc. Parameter names do not change.
    /// </summary>
    public static void SetDropout(nn.Module<Tensor, Tensor> model, double p)
    {
        if (!(p >= 0 && p < 1)) throw new InputException($"--dropout must be in [0, 1) (got {p})");
        switch (model)
        {
            case SequentialModel s: s.Dropout = p; break;
            case ResNet20Model r: r.Dropout = p; break;
            default: throw new InputException($"--dropout: model {model.GetType().Name} takes no dropout");
        }
    }

    /// <summary>Checks the spec and that the data fits it; throws InputException. No native calls.</summary>
    public static void Validate(string spec, long[] inputShape, int numClasses) =>
        Parse(spec, inputShape, numClasses).Parameters(inputShape, numClasses);

    /// <summary>The names and shapes <see cref="Create"/> would give, in named_parameters order. No native calls.</summary>
    public static IReadOnlyList<ParameterShape> DescribeParameters(string spec, long[] inputShape, int numClasses) =>
        Parse(spec, inputShape, numClasses).Parameters(inputShape, numClasses);

    /// <summary>The number of trainable parameters (BatchNorm running statistics excluded). No native calls.</summary>
    public static long CountParameters(string spec, long[] inputShape, int numClasses) =>
        DescribeParameters(spec, inputShape, numClasses).Sum(p => p.Count);

    private static IArchitecture Parse(string spec, long[] inputShape, int numClasses)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new InputException($"arch '{spec}': the data's input shape [{string.Join(", ", inputShape)}] must have positive dimensions");
        if (numClasses < 1)
            throw new InputException($"arch '{spec}': the data has {numClasses} classes; at least 1 is needed");
        int colon = spec.IndexOf(':');
        string name = colon < 0 ? spec : spec[..colon];
        string? body = colon < 0 ? null : spec[(colon + 1)..];
        var family = Families.FirstOrDefault(f => f.Name == name)
            ?? throw new InputException($"arch '{spec}': unknown architecture '{name}' (known: {string.Join(", ", Families.Select(f => f.Name))})");
        return family.Parse(spec, body);
    }
}
