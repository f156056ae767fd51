using Geodesy.Core;
using Geodesy.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Data;

public class SyntheticTests
{
    private static long[] LabelsOf(Dataset d) => d.Labels.data<long>().ToArray();
    private static float[] InputsOf(Dataset d) => d.Inputs.data<float>().ToArray();

    [Fact]
    public void GaussianMixtureShapesBalanceAndSeparation()
    {
        using var scope = torch.NewDisposeScope();
        using var split = DataSpecs.Load("gaussian-mixture:classes=4,dim=6,sep=3,n=400,test=100,seed=2");
        Assert.Equal([400L, 6], split.Train.Inputs.shape);
        Assert.Equal([100L, 6], split.Test.Inputs.shape);
        Assert.Equal(4, split.Train.NumClasses);
        var labels = LabelsOf(split.Train);
        for (int c = 0; c < 4; c++) Assert.Equal(100, labels.Count(y => y == c));

        // Class means are orthonormal directions times sep: pairwise distance sep·√2, each norm sep.
        // Empirical means of 100 unit-variance samples carry error ~ √(6/100) ≈ 0.25 per mean.
        const double meanTolerance = 1.0;
        using var x = split.Train.Inputs.to_type(ScalarType.Float64);
        var means = Enumerable.Range(0, 4).Select(c => x[split.Train.Labels == c].mean([0L])).ToArray();
        for (int a = 0; a < 4; a++)
        {
            Assert.InRange(means[a].norm().item<double>(), 3 - meanTolerance, 3 + meanTolerance);
            for (int b = a + 1; b < 4; b++)
                Assert.InRange((means[a] - means[b]).norm().item<double>(), 3 * Math.Sqrt(2) - meanTolerance, 3 * Math.Sqrt(2) + meanTolerance);
        }
        // Unit isotropic noise: within-class variance ≈ 1.
        var residual = x - torch.stack(LabelsOf(split.Train).Select(y => means[y]).ToArray());
        Assert.InRange(residual.var().item<double>(), 0.85, 1.15);
    }

    [Fact]
    public void GeneratorsAreDeterministicPerSeed()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var spec in new[] { "gaussian-mixture:classes=3,dim=5,n=50", "hidden-manifold:latent=4,dim=12,n=60", "modular:p=11,op=mul,corrupt=0.2" })
        {
            using var a = DataSpecs.Load(spec);
            using var b = DataSpecs.Load(spec);
            using var other = DataSpecs.Load(spec + ",seed=1");
            Assert.True(DataTestFiles.Same(a.Train.Inputs, b.Train.Inputs), spec);
            Assert.True(DataTestFiles.Same(a.Test.Inputs, b.Test.Inputs), spec);
            Assert.Equal(LabelsOf(a.Train), LabelsOf(b.Train));
            Assert.Equal(a.Sha256, b.Sha256);
            Assert.NotEqual(a.Sha256, other.Sha256);
            bool differs = !DataTestFiles.Same(a.Train.Inputs, other.Train.Inputs) || !LabelsOf(a.Train).SequenceEqual(LabelsOf(other.Train));
            Assert.True(differs, $"{spec}: seed 1 should change the data");
        }
    }

    [Fact]
    public void SyntheticTestSetIsADifferentDraw()
    {
        using var scope = torch.NewDisposeScope();
        using var split = DataSpecs.Load("gaussian-mixture:classes=2,dim=3,n=20");
        Assert.Equal(20, split.Test.Count); // test defaults to n
        Assert.False(DataTestFiles.Same(split.Train.Inputs, split.Test.Inputs));
    }

    [Theory]
    [InlineData("tanh")]
    [InlineData("sign")]
    [InlineData("relu")]
    public void HiddenManifoldActivationAndLabels(string act)
    {
        using var scope = torch.NewDisposeScope();
        using var split = DataSpecs.Load($"hidden-manifold:latent=5,dim=30,n=400,test=50,act={act}");
        Assert.Equal([400L, 30], split.Train.Inputs.shape);
        Assert.Equal(2, split.Train.NumClasses);
        var x = InputsOf(split.Train);
        switch (act)
        {
            case "tanh": Assert.All(x, v => Assert.InRange(v, -1f, 1f)); break;
            case "sign": Assert.All(x, v => Assert.Contains(v, new[] { -1f, 0f, 1f })); break;
            default: Assert.All(x, v => Assert.True(v >= 0f)); break;
        }
        // A random linear teacher splits N(0, I) roughly in half.
        int ones = LabelsOf(split.Train).Count(y => y == 1);
        Assert.InRange(ones, 120, 280);
    }

    [Fact]
    public void HiddenManifoldInputsLieOnALatentDimensionalManifold()
    {
        using var scope = torch.NewDisposeScope();
        // Before the activation, x is C z: rank `latent`. With act=relu on the positive part the
        // pre-activation is exact where positive; check the rank of the sign-free case via tanh⁻¹.
        using var split = DataSpecs.Load("hidden-manifold:latent=3,dim=20,n=200,act=tanh,teacher=two-layer,classes=3");
        using var pre = split.Train.Inputs.to_type(ScalarType.Float64).atanh();
        var singular = torch.linalg.svdvals(pre).data<double>().ToArray();
        Assert.True(singular[3] / singular[0] < 1e-5, $"rank should be 3; σ4/σ1 = {singular[3] / singular[0]}");
        Assert.Equal(3, split.Train.NumClasses);
        Assert.Equal(3, LabelsOf(split.Train).Distinct().Count());
    }

    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    public void ModularLabelsAreCorrect(string op)
    {
        using var scope = torch.NewDisposeScope();
        const int p = 13;
        using var split = DataSpecs.Load($"modular:p={p},op={op},train=0.6");
        int total = op == "div" ? p * (p - 1) : p * p;
        Assert.Equal(total, split.Train.Count + split.Test.Count);
        Assert.Equal((int)Math.Round(0.6 * total, MidpointRounding.AwayFromZero), split.Train.Count);
        Assert.Equal(p, split.Train.NumClasses);
        Assert.Equal([split.Train.Count, 2L * p], split.Train.Inputs.shape);

        var seen = new HashSet<(int, int)>();
        foreach (var set in new[] { split.Train, split.Test })
        {
            var x = InputsOf(set);
            var y = LabelsOf(set);
            for (int i = 0; i < y.Length; i++)
            {
                var row = x.AsSpan(i * 2 * p, 2 * p);
                Assert.Equal(2f, row.ToArray().Sum());
                int a = row[..p].IndexOf(1f), b = row[p..].IndexOf(1f);
                Assert.True(seen.Add((a, b)), "each pair appears once");
                // Check the defining identity rather than recomputing with the same formula.
                long c = y[i];
                bool ok = op switch
                {
                    "add" => (c - a - b) % p == 0,
                    "sub" => (c + b - a) % p == 0,
                    "mul" => (c - (long)a * b) % p == 0,
                    _ => b != 0 && (c * b - a) % p == 0, // c = a / b  <=>  c·b ≡ a
                };
                Assert.True(ok, $"{a} {op} {b} mod {p} labelled {c}");
            }
        }
        Assert.Equal(total, seen.Count);
    }

    [Fact]
    public void ModularCorruptionHitsExactlyTheFractionOfTrainOnly()
    {
        using var scope = torch.NewDisposeScope();
        const int p = 11;
        using var clean = DataSpecs.Load($"modular:p={p},op=add,train=0.5");
        using var corrupt = DataSpecs.Load($"modular:p={p},op=add,train=0.5,corrupt=0.2");
        int trainCount = (int)clean.Train.Count;
        Assert.Empty(clean.FlippedIndices);
        Assert.True(DataTestFiles.Same(clean.Train.Inputs, corrupt.Train.Inputs));
        Assert.Equal(LabelsOf(clean.Test), LabelsOf(corrupt.Test));

        var a = LabelsOf(clean.Train);
        var b = LabelsOf(corrupt.Train);
        var changed = Enumerable.Range(0, trainCount).Where(i => a[i] != b[i]).Select(i => (long)i).ToArray();
        Assert.Equal((int)Math.Round(0.2 * trainCount, MidpointRounding.AwayFromZero), changed.Length);
        Assert.Equal(changed, corrupt.FlippedIndices);
        Assert.All(b, y => Assert.InRange(y, 0, p - 1));
    }

    [Theory]
    [InlineData("modular:p=12,op=div", "not prime")]
    [InlineData("modular:p=97,op=pow", "op=pow")]
    [InlineData("modular:p=97,train=1", "train=1")]
    [InlineData("modular:p=97,corrupt=1", "corrupt=1")]
    [InlineData("modular:p=97,train=0", "leaves 0 of 9409 pairs")]
    [InlineData("gaussian-mixture:classes=10,dim", "'dim' is not key=value")]
    [InlineData("gaussian-mixture:classes=ten", "classes=ten is not an integer")]
    [InlineData("gaussian-mixture:colour=red", "unknown key 'colour'")]
    [InlineData("gaussian-mixture:n=5,n=6", "given twice")]
    [InlineData("hidden-manifold:act=softplus", "act=softplus")]
    [InlineData("hidden-manifold:classes=1", "classes=1")]
    [InlineData("gaussian-mixture:dim=100000,n=10000000", "limit")]
    [InlineData("imagenet", "unknown data source 'imagenet'")]
    [InlineData("mnist:extra", "mnist takes no arguments")]
    [InlineData("cifar10:", "cifar10:DIR")]
    public void BadSpecsNameTheSpec(string spec, string problem)
    {
        var e = Assert.Throws<InputException>(() => DataSpecs.Load(spec));
        Assert.Contains($"'{spec}'", e.Message);
        Assert.Contains(problem, e.Message);
    }
}
