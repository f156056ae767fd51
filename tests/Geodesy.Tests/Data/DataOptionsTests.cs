using Geodesy.Core;
using Geodesy.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Data;

public class DataOptionsTests
{
    private const string Mixture = "gaussian-mixture:classes=5,dim=4,n=2000,test=10";
    private static long[] LabelsOf(Dataset d) => d.Labels.data<long>().ToArray();

    [Fact]
    public void LabelNoiseFlipsAboutPToOtherClassesAndRecordsThem()
    {
        using var scope = torch.NewDisposeScope();
        const double p = 0.3;
        using var clean = DataSpecs.Load(Mixture);
        using var noisy = DataSpecs.Load(Mixture, new DataOptions(LabelNoise: p, Seed: 7));
        var a = LabelsOf(clean.Train);
        var b = LabelsOf(noisy.Train);
        var changed = Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]).Select(i => (long)i).ToArray();

        Assert.Equal(changed, noisy.FlippedIndices);
        // Binomial(2000, 0.3): sd ≈ 20.5; allow 4 sd.
        const double tolerance = 4 * 20.5;
        Assert.InRange(changed.Length, 2000 * p - tolerance, 2000 * p + tolerance);
        Assert.All(b, y => Assert.InRange(y, 0, 4));
        Assert.Equal(LabelsOf(clean.Test), LabelsOf(noisy.Test));
        Assert.NotEqual(clean.Sha256, noisy.Sha256);

        // Flipped labels spread over all the other classes.
        var targets = changed.Select(i => (a[i], b[i])).Distinct().Count();
        Assert.Equal(5 * 4, targets);
    }

    [Fact]
    public void LabelNoiseIsSeeded()
    {
        using var scope = torch.NewDisposeScope();
        using var a = DataSpecs.Load(Mixture, new DataOptions(LabelNoise: 0.2, Seed: 1));
        using var b = DataSpecs.Load(Mixture, new DataOptions(LabelNoise: 0.2, Seed: 1));
        using var c = DataSpecs.Load(Mixture, new DataOptions(LabelNoise: 0.2, Seed: 2));
        Assert.Equal(a.FlippedIndices, b.FlippedIndices);
        Assert.NotEqual(a.FlippedIndices, c.FlippedIndices);
        Assert.Equal(a.Sha256, b.Sha256);
        Assert.NotEqual(a.Sha256, c.Sha256);
    }

    [Fact]
    public void SubsetIsStratifiedSeededAndLeavesTestAlone()
    {
        using var scope = torch.NewDisposeScope();
        using var full = DataSpecs.Load(Mixture);
        using var sub = DataSpecs.Load(Mixture, new DataOptions(Subset: 103, Seed: 3));
        using var again = DataSpecs.Load(Mixture, new DataOptions(Subset: 103, Seed: 3));
        Assert.Equal(103, sub.Train.Count);
        Assert.True(DataTestFiles.Same(full.Test.Inputs, sub.Test.Inputs));
        Assert.True(DataTestFiles.Same(sub.Train.Inputs, again.Train.Inputs));
        var labels = LabelsOf(sub.Train);
        for (int c = 0; c < 5; c++)
            Assert.InRange(labels.Count(y => y == c), 20, 21);

        // Every subset row is a row of the full training set with its label.
        var fullRows = full.Train.Inputs.data<float>().ToArray().Chunk(4).Select((r, i) => (Key: string.Join(",", r), Label: LabelsOf(full.Train)[i])).ToDictionary(e => e.Key, e => e.Label);
        var subRows = sub.Train.Inputs.data<float>().ToArray().Chunk(4).Select(r => string.Join(",", r)).ToArray();
        for (int i = 0; i < subRows.Length; i++)
            Assert.Equal(fullRows[subRows[i]], labels[i]);
    }

    [Fact]
    public void SubsetThenNoiseRecordsIndicesIntoTheSubset()
    {
        using var scope = torch.NewDisposeScope();
        using var sub = DataSpecs.Load(Mixture, new DataOptions(Subset: 200, Seed: 5));
        using var noisy = DataSpecs.Load(Mixture, new DataOptions(Subset: 200, LabelNoise: 0.5, Seed: 5));
        Assert.True(DataTestFiles.Same(sub.Train.Inputs, noisy.Train.Inputs));
        var a = LabelsOf(sub.Train);
        var b = LabelsOf(noisy.Train);
        Assert.Equal(Enumerable.Range(0, 200).Where(i => a[i] != b[i]).Select(i => (long)i), noisy.FlippedIndices);
        Assert.InRange(noisy.FlippedIndices.Length, 60, 140);
    }

    [Fact]
    public void NormalizeStandardizesWithTrainStatistics()
    {
        using var scope = torch.NewDisposeScope();
        using var raw = DataSpecs.Load("gaussian-mixture:classes=3,dim=4,n=300,test=30");
        using var norm = DataSpecs.Load("gaussian-mixture:classes=3,dim=4,n=300,test=30", new DataOptions(Normalize: true));
        const double tolerance = 1e-5;
        using var x = norm.Train.Inputs.to_type(ScalarType.Float64);
        Assert.True(x.mean([0L]).abs().max().item<double>() < tolerance);
        Assert.True((x.std([0L], unbiased: false) - 1).abs().max().item<double>() < tolerance);
        // Test is shifted and scaled by the same train statistics.
        using var r = raw.Train.Inputs.to_type(ScalarType.Float64);
        var mean = r.mean([0L]);
        var std = r.std([0L], unbiased: false);
        var expected = (raw.Test.Inputs.to_type(ScalarType.Float64) - mean) / std;
        Assert.True((norm.Test.Inputs.to_type(ScalarType.Float64) - expected).abs().max().item<double>() < tolerance);
        Assert.NotEqual(raw.Sha256, norm.Sha256);
    }

    [Fact]
    public void NormalizeImagesPerChannel()
    {
        using var scope = torch.NewDisposeScope();
        using var split = DataSpecs.Load("mnist", new DataOptions(Subset: 500, Normalize: true));
        const double tolerance = 1e-4;
        using var x = split.Train.Inputs.to_type(ScalarType.Float64);
        Assert.True(Math.Abs(x.mean().item<double>()) < tolerance);
        Assert.True(Math.Abs(x.std(unbiased: false).item<double>() - 1) < tolerance);
        Assert.Equal(2000, split.Test.Count);
    }

    [Fact]
    public void SeedOnlyMattersWhenItIsUsed()
    {
        using var scope = torch.NewDisposeScope();
        using var a = DataSpecs.Load(Mixture, new DataOptions(Seed: 1));
        using var b = DataSpecs.Load(Mixture, new DataOptions(Seed: 2));
        Assert.Equal(a.Sha256, b.Sha256);
    }

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(2001, 0.0)]
    [InlineData(null, 1.0)]
    [InlineData(null, -0.1)]
    [InlineData(null, double.NaN)]
    public void BadOptionsAreRefusedNamingTheSpec(int? subset, double noise)
    {
        var e = Assert.Throws<InputException>(() => DataSpecs.Load(Mixture, new DataOptions(Subset: subset, LabelNoise: noise)));
        Assert.Contains($"'{Mixture}'", e.Message);
    }

    [Fact]
    public void CatalogListsEverySpecAndItsExamplesLoad()
    {
        using var scope = torch.NewDisposeScope();
        var names = DataSpecs.Catalog.Select(e => e.Name).ToArray();
        Assert.Equal(["mnist", "idx", "cifar10", "gaussian-mixture", "hidden-manifold", "modular"], names);
        foreach (var (name, example, _) in DataSpecs.Catalog.Where(e => e.Name is "gaussian-mixture" or "hidden-manifold" or "modular"))
        {
            using var split = DataSpecs.Load(example);
            Assert.True(split.Train.Count > 0 && split.Test.Count > 0, name);
        }
    }
}
