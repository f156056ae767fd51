using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

/// <summary>
/// Random-subspace training, the Goldilocks statistics, module criticality and stiffness against
/// independent references: ordinary training, closed-form spectra, explicit Hadamard matrices,
/// hand-built grids and per-example autograd loops.
/// </summary>
public sealed class GeometryTests
{
    private const string Data = "gaussian-mixture:classes=3,dim=6,sep=4,n=60";
    private const string Arch = "mlp:6-8-3";
    private const double Tol = 1e-10;

    private static (DataSplit Split, nn.Module<Tensor, Tensor> Model) Tiny(long seed = 1)
    {
        var split = DataSpecs.Load(Data);
        var model = ModelZoo.Create(Arch, split.Train.InputShape, split.Train.NumClasses, seed, ScalarType.Float64);
        return (split, model);
    }

    private static TrainerOptions Options(OptimizerKind optimizer) => new()
    {
        Optimizer = optimizer, LearningRate = optimizer == OptimizerKind.Adam ? 0.01 : 0.1, BatchSize = 16, Epochs = 2, Seed = 3, RunningLossEvery = 0,
    };

    [Theory]
    [InlineData(OptimizerKind.Sgd, false)]
    [InlineData(OptimizerKind.Momentum, false)]
    [InlineData(OptimizerKind.Adam, false)]
    [InlineData(OptimizerKind.Sgd, true)]
    [InlineData(OptimizerKind.Momentum, true)]
    public void SubspaceOfFullDimensionWithAnOrthonormalProjectionIsOrdinaryTraining(OptimizerKind optimizer, bool rotated)
    {
        // P P^T = I: SGD and heavy-ball steps in z map to the same steps in θ (Adam only for the identity, as it is not rotation-invariant).
        var (split, ordinary) = Tiny();
        using var _ = split;
        using var __ = ordinary;
        using var theta0 = ParameterVector.Flatten(ordinary);
        long n = theta0.numel();
        Trainer.Train(ordinary, split, Options(optimizer));
        using var expected = ParameterVector.Flatten(ordinary);

        var (_, restricted) = Tiny();
        using var ___ = restricted;
        var matrix = rotated ? linalg.qr(torch.randn(n, n, dtype: ScalarType.Float64, generator: new Generator(5))).Q : torch.eye(n, dtype: ScalarType.Float64);
        using var projection = new DenseProjection(matrix, "orthonormal");
        var result = SubspaceTraining.Train(restricted, split, theta0, projection, Options(optimizer));
        using var actual = result.Weights;
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.True((actual - expected).abs().max().ToDouble() < 1e-9, $"max difference {(actual - expected).abs().max().ToDouble()}");
    }

    [Fact]
    public void SubspaceTrainingOfLowDimensionStaysInTheSubspace()
    {
        var (split, model) = Tiny();
        using var _ = split;
        using var __ = model;
        using var theta0 = ParameterVector.Flatten(model);
        using var projection = DenseProjection.Random(theta0.numel(), 4, seed: 2, ScalarType.Float64);
        var result = SubspaceTraining.Train(model, split, theta0, projection, Options(OptimizerKind.Momentum));
        using var moved = result.Weights - theta0;
        // The offset is P z for the least-squares z: its residual vanishes.
        var p = projection.Matrix;
        var z = linalg.lstsq(p, moved.unsqueeze(1)).Solution;
        Assert.True((p.mm(z).squeeze(1) - moved).norm().ToDouble() < 1e-9);
        Assert.True(moved.norm().ToDouble() > 1e-3);
        // Columns of the dense projection have unit length (Li et al.'s normalization).
        Assert.True((p.norm(0) - 1).abs().max().ToDouble() < Tol);
    }

    /// <summary>The Sylvester Hadamard matrix H_{2n} = [[H, H], [H, -H]] by explicit recursion.</summary>
    private static double[,] Sylvester(int n)
    {
        var h = new double[,] { { 1 } };
        while (h.GetLength(0) < n)
        {
            int m = h.GetLength(0);
            var next = new double[2 * m, 2 * m];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++)
                {
                    next[i, j] = h[i, j]; next[i, j + m] = h[i, j];
                    next[i + m, j] = h[i, j]; next[i + m, j + m] = -h[i, j];
                }
            h = next;
        }
        return h;
    }

    [Fact]
    public void FastHadamardMatchesTheExplicitMatrix()
    {
        var h = Sylvester(16);
        var x = Enumerable.Range(0, 16).Select(i => Math.Sin(i + 1.0)).ToArray();
        using var t = torch.tensor(x, ScalarType.Float64);
        var fast = FastfoodProjection.Hadamard(t).data<double>().ToArray();
        for (int i = 0; i < 16; i++)
            Assert.Equal(Enumerable.Range(0, 16).Sum(j => h[i, j] * x[j]), fast[i], 10);
    }

    [Theory]
    [InlineData(64, 10)]
    [InlineData(50, 7)]
    public void FastfoodAdjointIsTheTransposeAndColumnsHaveUnitNormWhenDIsAPowerOfTwo(long parameters, long d)
    {
        using var p = new FastfoodProjection(parameters, d, seed: 3, ScalarType.Float64);
        // The matrix column by column through Project, then Adjoint against its transpose.
        var columns = Enumerable.Range(0, (int)d).Select(k =>
        {
            using var e = torch.zeros(d, dtype: ScalarType.Float64);
            e[k] = 1;
            return p.Project(e);
        }).ToArray();
        using var matrix = torch.stack(columns, 1);
        using var g = torch.randn(parameters, dtype: ScalarType.Float64, generator: new Generator(8));
        Assert.True((p.Adjoint(g) - matrix.t().mv(g)).abs().max().ToDouble() < Tol);
        using var z = torch.randn(d, dtype: ScalarType.Float64, generator: new Generator(9));
        Assert.True((p.Project(z) - matrix.mv(z)).abs().max().ToDouble() < Tol);
        if (parameters == p.Length)
            Assert.True((matrix.norm(0) - 1).abs().max().ToDouble() < Tol); // ||H G Π H B e_j||² = L ||G||², scaled by 1/(||G||² D)
    }

    [Fact]
    public void AutoProjectionIsDenseWhenItFitsAndFastfoodOtherwise()
    {
        using var dense = SubspaceProjections.Create(ProjectionKind.Auto, 1000, 10, 0, ScalarType.Float32, maxDenseBytes: 40_000);
        using var fastfood = SubspaceProjections.Create(ProjectionKind.Auto, 1000, 11, 0, ScalarType.Float32, maxDenseBytes: 40_000);
        Assert.Equal("dense", dense.Kind);
        Assert.Equal("fastfood", fastfood.Kind);
        Assert.Throws<Geodesy.Core.InputException>(() => SubspaceProjections.Create(ProjectionKind.Auto, 1000, 1001, 0, ScalarType.Float32));
    }

    [Fact]
    public void GoldilocksStatisticsOfAQuadraticAreTheClosedForm()
    {
        // L(θ) = ½ θᵀ A θ with A = Q diag(λ) Qᵀ: H = A everywhere.
        double[] lambda = [3, 2, 1, -1, -2, 0.5];
        int n = lambda.Length;
        using var q = linalg.qr(torch.randn(n, n, dtype: ScalarType.Float64, generator: new Generator(4))).Q;
        using var a = q.mm(torch.diag(torch.tensor(lambda, ScalarType.Float64))).mm(q.t());
        using var op = new DenseOperator(a);
        // The full space: the eigenvalues of A themselves, whatever the basis.
        using var basis = GoldilocksZone.RandomOrthonormalBasis(n, n, seed: 1, "test", ScalarType.Float64);
        var full = GoldilocksZone.Statistics(GoldilocksZone.RestrictedHessian(op, basis), op.Applications);
        Assert.Equal(4.0 / 6, full.FractionPositive, 12);
        Assert.Equal(lambda.Sum() / Math.Sqrt(lambda.Sum(l => l * l)), full.TraceOverFrobenius, 10);
        Assert.Equal(n, full.Matvecs);
        // The plane of the first two eigenvectors: H_sub = diag(3, 2).
        using var plane = q.narrow(1, 0, 2).contiguous();
        var sub = GoldilocksZone.Statistics(GoldilocksZone.RestrictedHessian(op, plane), 2);
        Assert.Equal(1.0, sub.FractionPositive);
        Assert.Equal(5 / Math.Sqrt(13), sub.TraceOverFrobenius, 10);
        Assert.Equal(new[] { 2.0, 3.0 }, sub.Eigenvalues.Select(l => Math.Round(l, 10)));
    }

    [Fact]
    public void RescalingTheInitializationKeepsItsDirection()
    {
        using var theta = torch.tensor(new[] { 3.0, 4.0 });
        using var r = GoldilocksZone.AtRadius(theta, 10);
        Assert.Equal(new[] { 6.0, 8.0 }, r.data<double>().ToArray());
        Assert.Throws<Geodesy.Core.InputException>(() => GoldilocksZone.AtRadius(theta, 0));
    }

    [Fact]
    public void AModuleLeftAtItsInitializationHasCriticalityZero()
    {
        var (split, model) = Tiny(seed: 2);
        using var _ = split;
        using var __ = model;
        using var init = ParameterVector.Flatten(model);
        var modules = ModuleCriticality.Modules(model);
        Assert.Equal(new[] { "0", "2" }, modules.Select(m => m.Name));
        // Train only module "2" (the output layer): a projection onto its coordinates leaves module "0" at init.
        var (_, offset, length) = modules[1];
        using var eye = torch.zeros(init.numel(), length, dtype: ScalarType.Float64);
        for (long k = 0; k < length; k++) eye[offset + k, k] = 1;
        using var onlyLast = new DenseProjection(eye.alias());
        var trained = SubspaceTraining.Train(model, split, init, onlyLast, Options(OptimizerKind.Momentum) with { Epochs = 30 });
        using var final = trained.Weights;
        Assert.True(trained.TrainAccuracy >= 0.8, $"the output layer alone reached train accuracy {trained.TrainAccuracy}");

        var options = new CriticalityOptions { Epsilon = 0.2, NoiseSamples = 2 };
        var result = ModuleCriticality.Compute(model, init, final, split.Train, options, out long evaluations);
        Assert.Equal(0.0, result[0].Distance);
        Assert.Equal(0.0, result[0].Criticality);
        Assert.True(result[1].Distance > 0);
        Assert.True(result[1].Criticality > 0);
        // The grid's minimum, recomputed by hand from the points it reports.
        var byHand = result[1].Grid.Where(p => p.SigmaMax is not null)
            .Min(p => p.Alpha * p.Alpha * result[1].Distance * result[1].Distance / (p.SigmaMax!.Value * p.SigmaMax.Value));
        Assert.Equal(byHand, result[1].Criticality!.Value, 9);
        // At α = 1 the module is trained: the error without noise is the model's own.
        ParameterVector.Assign(model, final);
        Assert.Equal(1 - Evaluation.Evaluate(model, split.Train).Accuracy, result[1].Grid.Single(p => p.Alpha == 1).Error, 12);
        Assert.Equal(result[0].Criticality!.Value + result[1].Criticality!.Value, ModuleCriticality.Network(result)!.Value, 12);
        Assert.True(evaluations > 2 * options.Alphas.Length);
    }

    [Fact]
    public void CriticalityMeasureIsZeroWhenNoModuleMovedAndSkippedWithoutInitWeights()
    {
        var (split, model) = Tiny(seed: 4);
        using var _ = split;
        using var __ = model;
        Trainer.Train(model, split, Options(OptimizerKind.Momentum) with { Epochs = 20 });
        model.eval();
        Assert.True(Evaluation.Evaluate(model, split.Train).Accuracy >= 0.9);
        // The "initialization" is the trained model itself: every module has distance 0, so μ = 0.
        var (_, same) = Tiny(seed: 5);
        using var ___ = same;
        using (var w = ParameterVector.Flatten(model)) ParameterVector.Assign(same, w);
        var measure = Geodesy.Core.Measures.MeasureRegistry.Get("module-criticality");
        using var withInit = new Geodesy.Core.Measures.MeasureContext { Model = model, InitModel = same, Data = split.Train, ArchSpec = Arch };
        var value = Geodesy.Core.Measures.MeasureRunner.Compute(withInit, [measure]).Single();
        Assert.Null(value.SkippedReason);
        Assert.Equal(0.0, value.Value!.Value);
        Assert.Equal(0.0, value.Value.Details!["module_0"]);
        using var without = new Geodesy.Core.Measures.MeasureContext { Model = model, Data = split.Train, ArchSpec = Arch };
        Assert.NotNull(Geodesy.Core.Measures.MeasureRunner.Compute(without, [measure]).Single().SkippedReason);
    }

    [Fact]
    public void StiffnessMatchesPerExampleAutogradAndIsOneWithItself()
    {
        var (split, model) = Tiny(seed: 3);
        using var _ = split;
        using var __ = model;
        int n = 12;
        using var x = split.Train.Inputs.narrow(0, 0, n).to_type(ScalarType.Float64);
        using var y = split.Train.Labels.narrow(0, 0, n).clone();
        // Brute force: one backward pass per example.
        var rows = new double[n][];
        var parameters = model.parameters().ToArray();
        for (int i = 0; i < n; i++)
        {
            foreach (var p in parameters) p.grad?.zero_();
            using var loss = nn.functional.cross_entropy(model.call(x.narrow(0, i, 1)), y.narrow(0, i, 1));
            loss.backward();
            rows[i] = parameters.SelectMany(p => p.grad!.data<double>().ToArray()).ToArray();
        }
        double Dot(double[] a, double[] b) => a.Zip(b, (u, v) => u * v).Sum();

        var problem = CurvatureProblem.FromData(model, x, y, new CurvatureOptions { BatchSize = 5 });
        var perExample = new PerExampleGradients(problem);
        Assert.True(perExample.IsClosedForm);
        using var g = perExample.Materialize();
        var table = GradientStiffness.Compute(g, x, y, 3, bins: 3);
        var labels = y.data<long>().ToArray();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(1.0, table.Cosine[i, i], 12);
            Assert.Equal(1.0, table.Sign[i, i]);
            for (int j = 0; j < n; j++)
            {
                double dot = Dot(rows[i], rows[j]);
                Assert.Equal(dot / Math.Sqrt(Dot(rows[i], rows[i]) * Dot(rows[j], rows[j])), table.Cosine[i, j], 10);
                Assert.Equal((double)Math.Sign(dot), table.Sign[i, j]);
            }
        }
        // One cell of the class matrix by hand: pairs i != j with y_i = 0, y_j = 1.
        var pairs = (from i in Enumerable.Range(0, n) from j in Enumerable.Range(0, n) where i != j && labels[i] == 0 && labels[j] == 1 select table.Cosine[i, j]).ToArray();
        Assert.Equal(pairs.Length, table.ClassPairs[0, 1]);
        if (pairs.Length > 0) Assert.Equal(pairs.Average(), table.ClassCosine[0, 1], 12);
        Assert.Equal(n * (n - 1) / 2, table.Bins.Sum(b => b.Pairs));
    }
}
