using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>
/// A family of networks θ(x) = Σ_i c_i(x)·θ_i spanned by vertex weights θ_i: a quadratic Bezier
/// curve or a polygonal chain through a bend (Garipov et al. 2018), or a simplex (Fort &amp;
/// Jastrzebski 2019). <see cref="Sample"/> draws the c_i of a uniform point of the family;
/// <see cref="AtT"/> gives them at t for a curve.
/// </summary>
public sealed record VertexFamily(string Name, int Vertices, Func<SeededRandom, double[]> Sample, Func<double, double[]>? AtT = null)
{
    /// <summary>The quadratic Bezier curve (1 − t)²·a + 2t(1 − t)·bend + t²·b, vertices [a, bend, b]; t uniform in [0, 1].</summary>
    public static VertexFamily Bezier { get; } = new("bezier", 3, rng => BezierAt(rng.NextDouble()), BezierAt);

    /// <summary>The polygonal chain a → bend (t ≤ ½) → b (t ≥ ½), vertices [a, bend, b]; t uniform in [0, 1].</summary>
    public static VertexFamily PolyChain { get; } = new("polychain", 3, rng => PolyChainAt(rng.NextDouble()), PolyChainAt);

    /// <summary>The simplex of <paramref name="vertices"/> points; barycentric coordinates uniform on it (Dirichlet(1, ..., 1)).</summary>
    public static VertexFamily Simplex(int vertices) => new("simplex", vertices, rng => UniformBarycentric(rng, vertices));

    public static double[] BezierAt(double t) => [(1 - t) * (1 - t), 2 * t * (1 - t), t * t];

    public static double[] PolyChainAt(double t) => t <= 0.5 ? [1 - 2 * t, 2 * t, 0] : [0, 2 - 2 * t, 2 * t - 1];

    /// <summary>A uniform point of the simplex: normalized standard exponentials −ln U (a Dirichlet(1, ..., 1) draw).</summary>
    public static double[] UniformBarycentric(SeededRandom rng, int vertices)
    {
        var w = new double[vertices];
        for (int i = 0; i < vertices; i++) w[i] = -Math.Log(1 - rng.NextDouble()); // 1 - U is in (0, 1]
        double sum = w.Sum();
        return w.Select(x => x / sum).ToArray();
    }

    /// <summary>
    /// The regular lattice of the simplex with <paramref name="divisions"/> steps per edge: every
    /// c = (k_0, ..., k_{V-1}) / divisions with non-negative integers k summing to divisions,
    /// vertices and edges included ((divisions + V − 1) choose (V − 1) points), vertex 0 first.
    /// </summary>
    public static IReadOnlyList<double[]> Lattice(int vertices, int divisions)
    {
        if (vertices < 1) throw new ArgumentOutOfRangeException(nameof(vertices), vertices, "a simplex has at least one vertex");
        if (divisions < 1) throw new ArgumentOutOfRangeException(nameof(divisions), divisions, "at least one step per edge");
        var points = new List<double[]>();
        var k = new int[vertices];
        void Fill(int i, int left)
        {
            if (i == vertices - 1)
            {
                k[i] = left;
                points.Add(k.Select(x => x / (double)divisions).ToArray());
                return;
            }
            for (int n = left; n >= 0; n--)
            {
                k[i] = n;
                Fill(i + 1, left - n);
            }
        }
        Fill(0, divisions);
        return points;
    }

    /// <summary>Σ_i c_i·θ_i.</summary>
    public static Tensor Combine(IReadOnlyList<Tensor> vertices, IReadOnlyList<double> c)
    {
        using var scope = NewDisposeScope();
        var sum = vertices[0] * c[0];
        for (int i = 1; i < vertices.Count; i++) sum = sum + vertices[i] * c[i];
        return sum.MoveToOuterDisposeScope();
    }
}

/// <summary>How the trainable vertices are trained (the defaults follow dnn-mode-connectivity's train.py, without weight decay).</summary>
public sealed record CombinationTrainingOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 0.05;
    public double Momentum { get; init; } = 0.9;
    /// <summary>L2 penalty ½·wd·‖θ(x)‖² on the sampled point's weights (Garipov et al. use 5e-4 with their architectures).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Seed of the data order and of the sampled points.</summary>
    public long Seed { get; init; }

    public void Validate()
    {
        if (Epochs < 1) throw new InputException($"--epochs must be at least 1 (got {Epochs})");
        if (BatchSize < 1) throw new InputException($"--batch must be at least 1 (got {BatchSize})");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new InputException($"--lr must be > 0 (got {LearningRate})");
        if (Momentum < 0 || Momentum >= 1) throw new InputException($"--momentum must be in [0, 1) (got {Momentum})");
        if (WeightDecay < 0 || double.IsNaN(WeightDecay)) throw new InputException($"--weight-decay must be >= 0 (got {WeightDecay})");
    }

    /// <summary>
    /// dnn-mode-connectivity's learning_rate_schedule: the base rate for the first half of the
    /// epochs, then linearly down to 1% of it at 90%, then 1%. <paramref name="epoch"/> is 0-based.
    /// </summary>
    public double RateAt(int epoch)
    {
        double alpha = epoch / (double)Epochs;
        double factor = alpha <= 0.5 ? 1.0 : alpha <= 0.9 ? 1.0 - (alpha - 0.5) / 0.4 * 0.99 : 0.01;
        return LearningRate * factor;
    }
}

/// <summary>What the training did: steps taken, examples seen, the last epoch's mean loss, and whether it diverged.</summary>
public sealed record CombinationTrainingResult(long Steps, long ExamplesSeen, double LastEpochLoss, bool Diverged);

/// <summary>
/// Trains the free vertices of a <see cref="VertexFamily"/> so that the expected loss over the
/// family is low (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast Ensembling of
/// DNNs", §3; dnn-mode-connectivity's train.py): for every mini-batch a point x of the family is
/// drawn uniformly (one t per batch for a curve, one barycentric point for a simplex), the network
/// at θ(x) = Σ c_i(x)·θ_i computes the batch loss, and since θ(x) is linear in each vertex the
/// gradient with respect to a free vertex θ_j is c_j(x)·∇L(θ(x)). The free vertices move by SGD
/// with heavy-ball momentum; the fixed ones never change. BatchNorm layers normalize with the
/// batch statistics (train mode), dropout is on, as in training.
/// </summary>
public static class CombinationTraining
{
    /// <param name="vertices">The vertex weights (flat vectors); the free ones are updated in place.</param>
    public static CombinationTrainingResult Train(nn.Module<Tensor, Tensor> model, Dataset train, VertexFamily family,
        IReadOnlyList<Tensor> vertices, IReadOnlyList<bool> free, CombinationTrainingOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        if (vertices.Count != family.Vertices || free.Count != family.Vertices)
            throw new ArgumentException($"the {family.Name} has {family.Vertices} vertices");
        long n = train.Count;
        if (n == 0) throw new InputException("no training examples");
        int batch = (int)Math.Min(options.BatchSize, n);
        var dtype = Evaluation.ParameterDType(model);
        var rng = SeededRandom.Stream(options.Seed, "connect-samples");
        using var shuffle = new torch.Generator((ulong)options.Seed);
        var velocity = vertices.Select((v, i) => free[i] ? torch.zeros_like(v).DetachFromDisposeScope() : null).ToArray();
        var parameters = model.parameters().ToArray();
        long steps = 0, seen = 0;
        double lastLoss = double.NaN;
        try
        {
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                double rate = options.RateAt(epoch), lossSum = 0;
                long count = 0;
                model.train();
                using var perm = torch.randperm(n, generator: shuffle);
                for (long start = 0; start < n; start += batch)
                {
                    cancel.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    var c = family.Sample(rng);
                    var point = VertexFamily.Combine(vertices, c);
                    ParameterVector.Assign(model, point);
                    long len = Math.Min(batch, n - start);
                    var idx = perm.narrow(0, start, len);
                    var x = train.Inputs.index_select(0, idx);
                    if (x.dtype != dtype) x = x.to_type(dtype);
                    var y = train.Labels.index_select(0, idx);
                    foreach (var p in parameters) p.grad?.zero_();
                    var loss = nn.functional.cross_entropy(model.call(x), y);
                    double value = loss.to_type(ScalarType.Float64).item<double>();
                    if (!double.IsFinite(value)) return new CombinationTrainingResult(steps, seen, value, Diverged: true);
                    loss.backward();
                    var gradient = ParameterVector.Concat(parameters.Select(p => p.grad ?? torch.zeros_like(p)));
                    if (options.WeightDecay > 0) gradient = gradient + point * options.WeightDecay;
                    using (torch.no_grad())
                        for (int i = 0; i < vertices.Count; i++)
                        {
                            if (!free[i]) continue;
                            velocity[i]!.mul_(options.Momentum).add_(gradient * c[i]);
                            vertices[i].sub_(velocity[i]! * rate);
                        }
                    lossSum += value * len;
                    count += len;
                    seen += len;
                    steps++;
                }
                lastLoss = lossSum / count;
            }
            return new CombinationTrainingResult(steps, seen, lastLoss, Diverged: false);
        }
        finally
        {
            foreach (var v in velocity) v?.Dispose();
            foreach (var p in parameters) p.grad?.zero_();
            model.eval();
        }
    }
}
