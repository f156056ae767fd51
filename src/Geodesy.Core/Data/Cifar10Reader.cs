namespace Geodesy.Core.Data;

/// <summary>Records of CIFAR-10 binary batches: Count images of 3x32x32 bytes (channel-major) and their labels.</summary>
public sealed record Cifar10Batch(byte[] Pixels, byte[] Labels)
{
    public int Count => Labels.Length;
}

/// <summary>
/// Reads the binary version of CIFAR-10 (cifar-10-batches-bin): data_batch_1..5.bin for training,
/// test_batch.bin for testing; each record is 1 label byte (0..9) then 3072 pixel bytes
/// (1024 red, 1024 green, 1024 blue, each 32x32 row-major).
/// </summary>
public static class Cifar10Reader
{
    public const int Channels = 3;
    public const int Side = 32;
    public const int PixelsPerImage = Channels * Side * Side;
    public const int RecordBytes = 1 + PixelsPerImage;
    public const int NumClasses = 10;
    public static readonly string[] TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    public const string TestFile = "test_batch.bin";

    /// <summary>Reads the five training batches and the test batch of <paramref name="directory"/>.</summary>
    public static (Cifar10Batch Train, Cifar10Batch Test, string Sha256) Read(string directory)
    {
        if (!Directory.Exists(directory))
            throw new InputException($"cifar10:{directory}: directory not found");
        var hashes = new List<string>();
        var train = TrainFiles.Select(f => ReadBatchFile(Path.Combine(directory, f), hashes)).ToList();
        var test = ReadBatchFile(Path.Combine(directory, TestFile), hashes);
        var merged = new Cifar10Batch(Concat(train.Select(b => b.Pixels)), Concat(train.Select(b => b.Labels)));
        return (merged, test, Provenance.Sha256Hex(System.Text.Encoding.UTF8.GetBytes("cifar10\n" + string.Join("\n", hashes))));
    }

    private static byte[] Concat(IEnumerable<byte[]> parts)
    {
        var list = parts.ToList();
        var result = new byte[list.Sum(p => (long)p.Length)];
        long offset = 0;
        foreach (var part in list)
        {
            Array.Copy(part, 0, result, offset, part.Length);
            offset += part.Length;
        }
        return result;
    }

    private static Cifar10Batch ReadBatchFile(string path, List<string> hashes)
    {
        if (!File.Exists(path))
            throw new InputException($"{path}: file not found (cifar10 needs {string.Join(", ", TrainFiles)} and {TestFile})");
        var bytes = IdxReader.ReadPayload(path);
        hashes.Add(Provenance.Sha256Hex(bytes));
        return ParseBatch(bytes, path);
    }

    /// <summary>Parses one batch file's bytes: a positive whole number of 3073-byte records with labels 0..9.</summary>
    public static Cifar10Batch ParseBatch(byte[] bytes, string name)
    {
        if (bytes.Length == 0)
            throw new InputException($"{name}: empty file");
        if (bytes.Length % RecordBytes != 0)
            throw new InputException($"{name}: {bytes.Length} bytes is not a whole number of {RecordBytes}-byte records (truncated or not a CIFAR-10 binary batch)");
        int count = bytes.Length / RecordBytes;
        var labels = new byte[count];
        var pixels = new byte[(long)count * PixelsPerImage];
        for (int i = 0; i < count; i++)
        {
            long offset = (long)i * RecordBytes;
            labels[i] = bytes[offset];
            if (labels[i] >= NumClasses)
                throw new InputException($"{name}: label {labels[i]} of record {i} is out of range [0, {NumClasses})");
            Array.Copy(bytes, offset + 1, pixels, (long)i * PixelsPerImage, PixelsPerImage);
        }
        return new Cifar10Batch(pixels, labels);
    }
}
