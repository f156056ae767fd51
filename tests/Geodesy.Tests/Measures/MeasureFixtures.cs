using Geodesy.Core.Data;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

/// <summary>Tiny float64 models and data built in code for the measure tests.</summary>
internal static class MeasureFixtures
{
    public static SequentialModel Mlp(params int[] sizes) => Mlp(true, sizes);

    /// <summary>Linear-ReLU-...-Linear chain in float64, seeded.</summary>
    public static SequentialModel Mlp(bool bias, params int[] sizes)
    {
        torch.manual_seed(1234 + sizes.Sum());
        var layers = new List<nn.Module<Tensor, Tensor>>();
        for (int i = 0; i + 1 < sizes.Length; i++)
        {
            if (i > 0) layers.Add(nn.ReLU());
            layers.Add(nn.Linear(sizes[i], sizes[i + 1], hasBias: bias));
        }
        var model = new SequentialModel($"mlp:{string.Join("-", sizes)}", layers, flattenInput: true);
        model.to(ScalarType.Float64);
        model.eval();
        return model;
    }

    /// <summary>Gaussian clusters in d dimensions, one per class, at distance `separation` (float32 inputs as Dataset wants).</summary>
    public static Dataset Clusters(int perClass, int dim, int classes, double separation, int seed)
    {
        var rng = new Random(seed);
        var means = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, dim).Select(_ => Normal(rng) * separation).ToArray()).ToArray();
        var xs = new float[perClass * classes * dim];
        var ys = new long[perClass * classes];
        for (int i = 0; i < perClass * classes; i++)
        {
            int c = i % classes;
            ys[i] = c;
            for (int j = 0; j < dim; j++) xs[i * dim + j] = (float)(means[c][j] + Normal(rng));
        }
        return new Dataset("clusters", torch.tensor(xs).reshape(perClass * classes, dim), torch.tensor(ys), classes);
    }

    public static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>A few hundred full-batch gradient steps, enough to fit the clusters.</summary>
    public static void Fit(nn.Module<Tensor, Tensor> model, Dataset data, int steps = 300, double lr = 0.5)
    {
        var x = data.Inputs.to_type(ScalarType.Float64);
        var opt = torch.optim.SGD(model.parameters(), lr);
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            nn.functional.cross_entropy(model.call(x), data.Labels).backward();
            opt.step();
        }
        model.eval();
    }

    public static MeasureContext Context(nn.Module<Tensor, Tensor> model, Dataset data, nn.Module<Tensor, Tensor>? init = null,
        MeasureOptions? options = null, IReadOnlyList<Core.Training.MetricsRow>? record = null, int? batch = null) => new()
    {
        Model = model,
        InitModel = init,
        Data = data,
        ArchSpec = (model as SequentialModel)?.Spec ?? "custom",
        Seed = 7,
        Options = options ?? new MeasureOptions(),
        TrainingRecord = record,
        TrainingBatchSize = batch,
    };

    public static void SetWeights(nn.Module module, string name, double[] values)
    {
        using var noGrad = torch.no_grad();
        var p = module.named_parameters().Single(t => t.name == name).parameter;
        using var v = torch.tensor(values, dtype: ScalarType.Float64).reshape(p.shape);
        p.copy_(v);
    }

    public static double[] Values(Tensor t) => t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
}
