using TorchSharp;
using System.Buffers.Binary;
using Geodesy.Core;
using Geodesy.Core.Data;

namespace Geodesy.Tests.Data;

public class IdxReaderTests : IDisposable
{
    private readonly DataTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsGeneratedFiles(bool gzip)
    {
        const int count = 12, rows = 5, columns = 4;
        byte[] Maybe(byte[] b) => gzip ? DataTestFiles.Gzip(b) : b;
        string images = _files.Write("images", Maybe(DataTestFiles.Images(count, rows, columns)));
        string labels = _files.Write("labels", Maybe(DataTestFiles.CyclicLabels(count, 3)));

        var (read, readLabels) = IdxReader.ReadPair(images, labels, numClasses: 3);

        Assert.Equal((count, rows, columns), (read.Count, read.Rows, read.Columns));
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i % 3, readLabels[i]);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    Assert.Equal(DataTestFiles.Pixel(i, r, c), read.Pixels[(i * rows + r) * columns + c]);
        }
    }

    [Fact]
    public void IdxSpecWithTestPairUsesFilesAsGiven()
    {
        using var scope = torch.NewDisposeScope();
        string trainImages = _files.Write("tr-img.gz", DataTestFiles.Gzip(DataTestFiles.Images(20, 6, 7)));
        string trainLabels = _files.Write("tr-lab", DataTestFiles.CyclicLabels(20, 4));
        string testImages = _files.Write("te-img", DataTestFiles.Images(8, 6, 7));
        string testLabels = _files.Write("te-lab.gz", DataTestFiles.Gzip(DataTestFiles.CyclicLabels(8, 4)));

        using var split = DataSpecs.Load($"idx:{trainImages}:{trainLabels}:{testImages}:{testLabels}");

        Assert.Equal([20L, 1, 6, 7], split.Train.Inputs.shape);
        Assert.Equal([8L, 1, 6, 7], split.Test.Inputs.shape);
        Assert.Equal(4, split.Train.NumClasses);
        // File order is kept when a test pair is given: example 3, pixel (2, 5).
        Assert.Equal(DataTestFiles.Pixel(3, 2, 5) / 255f, split.Train.Inputs[3, 0, 2, 5].item<float>());
        Assert.Equal(3L, split.Test.Labels[7].item<long>());
    }

    [Fact]
    public void IdxSpecWithoutTestPairSplitsEightyTwenty()
    {
        using var scope = torch.NewDisposeScope();
        string images = _files.Write("img", DataTestFiles.Images(50, 3, 3));
        string labels = _files.Write("lab", DataTestFiles.CyclicLabels(50, 5));

        using var split = DataSpecs.Load($"idx:{images}:{labels}");

        Assert.Equal(40, split.Train.Count);
        Assert.Equal(10, split.Test.Count);
        var testLabels = split.Test.Labels.data<long>().ToArray();
        for (int c = 0; c < 5; c++)
            Assert.Equal(2, testLabels.Count(y => y == c));
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        string missing = Path.Combine(_files.Directory, "nope.gz");
        var e = Assert.Throws<InputException>(() => IdxReader.ReadImages(missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("not found", e.Message);
        var e2 = Assert.Throws<InputException>(() => DataSpecs.Load($"idx:{missing}:{missing}"));
        Assert.Contains("not found", e2.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedImagesAreRefused(bool gzip)
    {
        var bytes = DataTestFiles.Images(10, 4, 4)[..^7];
        string path = _files.Write("trunc", gzip ? DataTestFiles.Gzip(bytes) : bytes);
        var e = Assert.Throws<InputException>(() => IdxReader.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TruncatedGzipStreamIsRefused()
    {
        var gz = DataTestFiles.Gzip(DataTestFiles.Images(40, 8, 8));
        string path = _files.Write("cut.gz", gz[..(gz.Length / 2)]);
        var e = Assert.Throws<InputException>(() => IdxReader.ReadImages(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TrailingBytesAreRefused()
    {
        var bytes = DataTestFiles.Labels([1, 2, 3]).Concat(new byte[] { 0, 0 }).ToArray();
        var e = Assert.Throws<InputException>(() => IdxReader.ParseLabels(bytes, "labels.idx"));
        Assert.Contains("2 trailing bytes", e.Message);
    }

    [Fact]
    public void WrongMagicIsRefused()
    {
        var bytes = DataTestFiles.Images(2, 2, 2);
        bytes[0] = 0x50;
        var e = Assert.Throws<InputException>(() => IdxReader.ParseImages(bytes, "x.idx"));
        Assert.Contains("x.idx", e.Message);
        Assert.Contains("not an IDX file", e.Message);
    }

    [Fact]
    public void UnsupportedTypeAndWrongRankAreRefused()
    {
        var floats = DataTestFiles.Images(2, 2, 2);
        floats[2] = 0x0D;
        Assert.Contains("float32", Assert.Throws<InputException>(() => IdxReader.ParseImages(floats, "f.idx")).Message);
        var labelsAsImages = DataTestFiles.Labels([1, 2]);
        Assert.Contains("rank 1", Assert.Throws<InputException>(() => IdxReader.ParseImages(labelsAsImages, "l.idx")).Message);
    }

    [Theory]
    [InlineData(0u, 28u, 28u, "no images")]
    [InlineData(10u, 0u, 28u, "image size")]
    [InlineData(10u, 28u, 100000u, "image size")]
    [InlineData(4000000000u, 4000u, 4000u, "truncated")]
    public void AbsurdDimensionsAreRefusedBeforeAllocating(uint count, uint rows, uint columns, string problem)
    {
        var bytes = DataTestFiles.Images(1, 2, 2);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), columns);
        var e = Assert.Throws<InputException>(() => IdxReader.ParseImages(bytes, "big.idx"));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void CountMismatchIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        string images = _files.Write("img", DataTestFiles.Images(10, 2, 2));
        string labels = _files.Write("lab", DataTestFiles.CyclicLabels(9, 2));
        var e = Assert.Throws<InputException>(() => IdxReader.ReadPair(images, labels));
        Assert.Contains("10 images", e.Message);
        Assert.Contains("9 labels", e.Message);
        Assert.Throws<InputException>(() => DataSpecs.Load($"idx:{images}:{labels}"));
    }

    [Fact]
    public void LabelOutOfRangeIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        string labels = _files.Write("lab", DataTestFiles.Labels([0, 1, 10, 2]));
        var e = Assert.Throws<InputException>(() => IdxReader.ReadLabels(labels, numClasses: 10));
        Assert.Contains("label 10 at index 2", e.Message);

        // A test label outside the classes of the training labels.
        string trainImages = _files.Write("tr", DataTestFiles.Images(6, 2, 2));
        string trainLabels = _files.Write("trl", DataTestFiles.CyclicLabels(6, 3));
        string testImages = _files.Write("te", DataTestFiles.Images(2, 2, 2));
        string testLabels = _files.Write("tel", DataTestFiles.Labels([0, 3]));
        var e2 = Assert.Throws<InputException>(() => DataSpecs.Load($"idx:{trainImages}:{trainLabels}:{testImages}:{testLabels}"));
        Assert.Contains(testLabels, e2.Message);
    }

    [Fact]
    public void MalformedIdxSpecIsRefused()
    {
        var e = Assert.Throws<InputException>(() => DataSpecs.Load("idx:only-one"));
        Assert.Contains("idx:only-one", e.Message);
    }

    /// <summary>
    /// Random byte flips, truncations and extensions of valid files (plain and gzip) must end in
    /// a valid load or an InputException, never another exception.
    /// </summary>
    [Fact]
    public void FuzzedFilesEndInInputExceptionOrValidLoad()
    {
        const int casesPerFile = 1500;
        var random = new Random(20240611);
        var images = DataTestFiles.Images(6, 5, 4);
        var labels = DataTestFiles.CyclicLabels(6, 3);
        var sources = new (byte[] Bytes, bool IsImages)[]
        {
            (images, true), (DataTestFiles.Gzip(images), true),
            (labels, false), (DataTestFiles.Gzip(labels), false),
        };
        int valid = 0, refused = 0;
        foreach (var (original, isImages) in sources)
            for (int k = 0; k < casesPerFile; k++)
            {
                var bytes = Mutate(original, random);
                try
                {
                    if (isImages) IdxReader.ParseImages(bytes, "fuzz");
                    else IdxReader.ParseLabels(bytes, "fuzz", numClasses: 3);
                    valid++;
                }
                catch (InputException e)
                {
                    Assert.Contains("fuzz", e.Message);
                    refused++;
                }
            }
        Assert.Equal(sources.Length * casesPerFile, valid + refused);
        Assert.True(refused > valid, $"most mutations should be refused ({refused} refused, {valid} valid)");
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(4))
        {
            case 0: // flip 1-4 random bits
                for (int f = random.Next(1, 5); f > 0; f--)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1: // overwrite a random byte (headers included)
                bytes[random.Next(Math.Min(bytes.Length, 20))] = (byte)random.Next(256);
                return bytes;
            case 2: // truncate
                return bytes[..random.Next(bytes.Length)];
            default: // append garbage
                return bytes.Concat(Enumerable.Range(0, random.Next(1, 9)).Select(_ => (byte)random.Next(256))).ToArray();
        }
    }
}
