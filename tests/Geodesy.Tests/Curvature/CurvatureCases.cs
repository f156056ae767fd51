using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.Curvature.OperatorTestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Curvature;

/// <summary>
/// The tolerances of the curvature and per-layer tests, in one place, each with the reason for
/// its size (float64 unless said otherwise).
/// </summary>
internal static class Tolerances
{
    /// <summary>Operator vs dense brute-force matrix: max entry error relative to the reference's Frobenius norm.</summary>
    public const double Dense = 1e-10;
    /// <summary>Central differences with h = <see cref="FiniteDifferenceStep"/>: O(h^2) truncation plus O(eps/h) rounding.</summary>
    public const double FiniteDifference = 1e-7;
    public const double FiniteDifferenceStep = 1e-5;
    /// <summary>Streamed (uneven batches) vs one batch: only the summation order differs.</summary>
    public const double Streaming = 1e-12;
    /// <summary>Per-layer closed forms vs libtorch autograd on the same layer: same sums, another order.</summary>
    public const double Layer = 1e-12;
    /// <summary>A product from a kept forward vs one that recomputes it: the same operations on the same values.</summary>
    public const double KeptForward = 0;
    /// <summary>float32 rounding on a 39-parameter MLP: far below 1e-4 relative.</summary>
    public const double Float32 = 1e-4;
}

/// <summary>
/// The shared catalogue of tiny float64 problems (models x modes x product methods, as in
/// curvlinops' test cases) that every curvature and per-layer test draws from.
/// <list type="bullet">
/// <item>Basic cases (10 examples, batches of 4): tanh and ReLU MLPs 5-4-3, a CNN with BatchNorm
/// in eval and in train mode (<see cref="OperatorTestSupport.Problem"/>).</item>
/// <item>Layer-kind cases (7 examples of 5 features or 1x8x8, batches of 3): models that exercise
/// every entry of the derivative table and every backward need (g and R{g} below several layers).</item>
/// </list>
/// </summary>
internal static class CurvatureCases
{
    public static readonly string[] BasicNames = ["mlp-tanh", "mlp-relu", "cnn-eval", "cnn-train"];
    public static readonly string[] LayerKindNames = ["mlp-gelu-tanh", "cnn-strided-avgpool", "nin-like", "zoo-cnn-bn", "zoo-nin", "zoo-mlp-gelu", "zoo-mlp-square-nobias"];

    public static TheoryData<string> Basic => [.. BasicNames];
    public static TheoryData<string> LayerKinds => [.. LayerKindNames];

    /// <summary>Every case with every product method it supports (the R-operator only where the derivative table covers the model).</summary>
    public static TheoryData<string, CurvatureProductMethod> WithMethods
    {
        get
        {
            var data = new TheoryData<string, CurvatureProductMethod>();
            foreach (var name in BasicNames.Concat(LayerKindNames))
            {
                data.Add(name, CurvatureProductMethod.DoubleBackprop);
                if (name != "cnn-train") data.Add(name, CurvatureProductMethod.ROperator);
            }
            return data;
        }
    }

    /// <summary>Cases whose every layer has an entry in the derivative table (eval mode).</summary>
    public static TheoryData<string> ROperatorCases => [.. BasicNames.Where(n => n != "cnn-train").Concat(LayerKindNames)];

    /// <summary>The problem of a case; layer-kind cases take their mode from <paramref name="mode"/>, basic ones from their name.</summary>
    public static CurvatureProblem Problem(string name, CurvatureMode mode = CurvatureMode.Eval, long forwardCacheBytes = -1)
    {
        var problem = BasicNames.Contains(name) ? OperatorTestSupport.Problem(name) : LayerKindProblem(name, mode);
        return forwardCacheBytes < 0 ? problem
            : new CurvatureProblem(problem.Model, problem.Inputs, problem.Labels, problem.Options with { ForwardCacheBytes = forwardCacheBytes });
    }

    private static CurvatureProblem LayerKindProblem(string name, CurvatureMode mode)
    {
        var (model, image) = Build(name);
        using var gen = new Generator(9);
        var x = image ? randn([7, 1, 8, 8], dtype: ScalarType.Float64, generator: gen) : randn([7, 5], dtype: ScalarType.Float64, generator: gen);
        var y = randint(0, Classes, [7], dtype: ScalarType.Int64, generator: gen);
        return new CurvatureProblem(model, x, y, new CurvatureOptions { BatchSize = 3, Mode = mode });
    }

    private static (SequentialModel Model, bool Image) Build(string name)
    {
        SequentialModel model = name switch
        {
            "mlp-gelu-tanh" => new SequentialModel(name,
                [nn.Linear(5, 4), nn.GELU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, Classes)], flattenInput: true),
            // 8x8 -> avg pool 4x4 -> stride-2 conv 2x2: its transposed convolution needs output padding 1.
            "cnn-strided-avgpool" => new SequentialModel(name,
                [nn.Conv2d(1, 2, 3, padding: 1), nn.BatchNorm2d(2), nn.Tanh(), nn.AvgPool2d(2),
                 nn.Conv2d(2, 3, 3, stride: 2, padding: 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3, Classes)], flattenInput: false),
            // BatchNorm without affine parameters, 1x1 convolution without bias, eval dropout, global pooling.
            "nin-like" => new SequentialModel(name,
                [nn.Identity(), nn.Conv2d(1, 2, 3, stride: 2, padding: 1), nn.BatchNorm2d(2, affine: false), nn.ReLU(),
                 nn.Conv2d(2, 4, 1, bias: false), nn.Dropout(0.5), nn.GELU(), nn.Conv2d(4, Classes, 1), new GlobalAvgPool()], flattenInput: false),
            "zoo-cnn-bn" => (SequentialModel)ModelZoo.Create("cnn:channels=2-3,bn=1", [1, 8, 8], Classes, 4),
            "zoo-nin" => (SequentialModel)ModelZoo.Create("nin:depth=1,width=3", [1, 8, 8], Classes, 5),
            "zoo-mlp-gelu" => (SequentialModel)ModelZoo.Create("mlp:64-5-4-3:gelu", [1, 8, 8], Classes, 6),
            "zoo-mlp-square-nobias" => (SequentialModel)ModelZoo.Create("mlp:64-5-4-3:square:nobias", [1, 8, 8], Classes, 6),
            _ => throw new ArgumentException(name),
        };
        model.to(ScalarType.Float64);
        Initialize(model, 7);
        using (no_grad())
        {
            using var gen = new Generator(8);
            foreach (var bn in model.modules().OfType<TorchSharp.Modules.BatchNorm>())
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, dtype: ScalarType.Float64, generator: gen).mul(0.3));
                bn.running_var!.copy_(rand(bn.running_var.shape, dtype: ScalarType.Float64, generator: gen).add(0.5));
            }
        }
        return (model, name != "mlp-gelu-tanh");
    }
}
