using System.Buffers.Binary;
using System.IO.Compression;

namespace Geodesy.Tests.Data;

/// <summary>Builds small IDX / CIFAR-10 files in code and cleans up a temporary folder.</summary>
public sealed class DataTestFiles : IDisposable
{
    public DataTestFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "geodesy-data-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(Directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }

    /// <summary>Pixel (i, r, c) = (i·7 + r·3 + c) mod 256, so every position is checkable.</summary>
    public static byte Pixel(int image, int row, int column) => (byte)((image * 7 + row * 3 + column) % 256);

    public static byte[] Images(int count, int rows, int columns)
    {
        var bytes = new byte[16 + count * rows * columns];
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(0), 0x00000803);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), (uint)count);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)rows);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), (uint)columns);
        for (int i = 0; i < count; i++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    bytes[16 + (i * rows + r) * columns + c] = Pixel(i, r, c);
        return bytes;
    }

    public static byte[] Labels(IReadOnlyList<byte> labels)
    {
        var bytes = new byte[8 + labels.Count];
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(0), 0x00000801);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), (uint)labels.Count);
        for (int i = 0; i < labels.Count; i++) bytes[8 + i] = labels[i];
        return bytes;
    }

    /// <summary>Labels i mod classes.</summary>
    public static byte[] CyclicLabels(int count, int classes) => Labels(Enumerable.Range(0, count).Select(i => (byte)(i % classes)).ToArray());

    /// <summary>Same shape and bit-identical values.</summary>
    public static bool Same(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }

    public static byte[] Gzip(byte[] payload)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(payload);
        return output.ToArray();
    }

    /// <summary>A CIFAR-10 binary batch of <paramref name="count"/> records; record i has label (i+offset) mod 10 and pixels (i+offset+k) mod 256.</summary>
    public static byte[] CifarBatch(int count, int offset)
    {
        const int record = 3073;
        var bytes = new byte[count * record];
        for (int i = 0; i < count; i++)
        {
            bytes[i * record] = (byte)((i + offset) % 10);
            for (int k = 0; k < 3072; k++)
                bytes[i * record + 1 + k] = (byte)((i + offset + k) % 256);
        }
        return bytes;
    }
}
