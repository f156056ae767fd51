using System.Buffers.Binary;
using System.IO.Compression;

namespace Geodesy.Core.Data;

/// <summary>Images of an IDX file: Count images of Rows x Columns unsigned bytes, row-major.</summary>
public sealed record IdxImages(byte[] Pixels, int Count, int Rows, int Columns)
{
    public int PixelsPerImage => Rows * Columns;
}

/// <summary>
/// Reads IDX files (the MNIST format: magic 00 00 TYPE RANK, RANK big-endian int32 dimensions,
/// then the data), plain or gzip-compressed (detected by the magic 1f 8b). Only unsigned-byte
/// data is supported: images of rank 3 (count, rows, columns) and labels of rank 1.
/// Every problem is an <see cref="InputException"/> naming the file. Nothing is allocated from a
/// header's claims: the whole payload is read first (bounded by <see cref="MaxPayloadBytes"/>)
/// and the header is checked against its real length.
/// </summary>
public static class IdxReader
{
    /// <summary>Largest file (after decompression) accepted: 1 GiB.</summary>
    public const long MaxPayloadBytes = 1L << 30;
    /// <summary>Largest accepted image side; real sets are at most a few hundred.</summary>
    public const int MaxImageSide = 4096;

    private const byte UnsignedByteType = 0x08;

    public static IdxImages ReadImages(string path) => ParseImages(ReadPayload(path), path);

    public static byte[] ReadLabels(string path, int? numClasses = null) => ParseLabels(ReadPayload(path), path, numClasses);

    /// <summary>Reads an image file and its label file and checks that their counts agree.</summary>
    public static (IdxImages Images, byte[] Labels) ReadPair(string imagesPath, string labelsPath, int? numClasses = null)
    {
        var images = ReadImages(imagesPath);
        var labels = ReadLabels(labelsPath, numClasses);
        CheckCounts(images, imagesPath, labels, labelsPath);
        return (images, labels);
    }

    public static void CheckCounts(IdxImages images, string imagesName, byte[] labels, string labelsName)
    {
        if (images.Count != labels.Length)
            throw new InputException($"{imagesName} holds {images.Count} images but {labelsName} holds {labels.Length} labels");
    }

    /// <summary>The bytes of a file, decompressed if it is gzip, at most <see cref="MaxPayloadBytes"/>.</summary>
    public static byte[] ReadPayload(string path)
    {
        if (!File.Exists(path))
            throw new InputException($"{path}: file not found");
        byte[] raw;
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxPayloadBytes)
                throw new InputException($"{path}: {length} bytes is larger than the {MaxPayloadBytes}-byte limit");
            raw = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new InputException($"{path}: cannot read ({e.Message})", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InputException($"{path}: cannot read ({e.Message})", e);
        }
        return Decompress(raw, path);
    }

    /// <summary>Gunzips <paramref name="bytes"/> if they start with 1f 8b, else returns them unchanged.</summary>
    public static byte[] Decompress(byte[] bytes, string name)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b)
            return bytes;
        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes, writable: false), CompressionMode.Decompress);
            using var output = new MemoryStream();
            var buffer = new byte[1 << 16];
            int read;
            while ((read = gzip.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (output.Length + read > MaxPayloadBytes)
                    throw new InputException($"{name}: decompresses to more than the {MaxPayloadBytes}-byte limit");
                output.Write(buffer, 0, read);
            }
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InputException($"{name}: corrupt gzip data ({e.Message})", e);
        }
        catch (IOException e)
        {
            throw new InputException($"{name}: corrupt gzip data ({e.Message})", e);
        }
    }

    /// <summary>Parses an IDX image file (plain or gzip bytes).</summary>
    public static IdxImages ParseImages(byte[] fileBytes, string name)
    {
        var data = Decompress(fileBytes, name);
        var dims = ParseHeader(data, name, rank: 3, "images");
        long count = dims[0], rows = dims[1], columns = dims[2];
        if (count < 1)
            throw new InputException($"{name}: holds no images (count 0)");
        if (rows < 1 || rows > MaxImageSide || columns < 1 || columns > MaxImageSide)
            throw new InputException($"{name}: image size {rows}x{columns} is outside 1..{MaxImageSide}");
        CheckLength(data, name, dims.Length, count * rows * columns, $"{count}x{rows}x{columns}");
        var pixels = data.AsSpan(HeaderLength(dims.Length)).ToArray();
        return new IdxImages(pixels, (int)count, (int)rows, (int)columns);
    }

    /// <summary>Parses an IDX label file (plain or gzip bytes); with <paramref name="numClasses"/>, every label must be below it.</summary>
    public static byte[] ParseLabels(byte[] fileBytes, string name, int? numClasses = null)
    {
        var data = Decompress(fileBytes, name);
        var dims = ParseHeader(data, name, rank: 1, "labels");
        long count = dims[0];
        if (count < 1)
            throw new InputException($"{name}: holds no labels (count 0)");
        CheckLength(data, name, dims.Length, count, $"{count}");
        var labels = data.AsSpan(HeaderLength(dims.Length)).ToArray();
        if (numClasses is int k)
            CheckLabels(labels, name, k);
        return labels;
    }

    public static void CheckLabels(ReadOnlySpan<byte> labels, string name, int numClasses)
    {
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= numClasses)
                throw new InputException($"{name}: label {labels[i]} at index {i} is out of range [0, {numClasses})");
    }

    private static int HeaderLength(int rank) => 4 + 4 * rank;

    private static long[] ParseHeader(byte[] data, string name, int rank, string what)
    {
        if (data.Length < 4)
            throw new InputException($"{name}: too short for an IDX header ({data.Length} bytes)");
        if (data[0] != 0 || data[1] != 0)
            throw new InputException($"{name}: not an IDX file (magic starts {data[0]:x2} {data[1]:x2}, expected 00 00)");
        if (data[2] != UnsignedByteType)
            throw new InputException($"{name}: IDX element type 0x{data[2]:x2} ({TypeName(data[2])}) is not supported; only unsigned bytes (0x08)");
        if (data[3] != rank)
            throw new InputException($"{name}: IDX rank {data[3]} but {what} need rank {rank}");
        if (data.Length < HeaderLength(rank))
            throw new InputException($"{name}: truncated IDX header ({data.Length} bytes, need {HeaderLength(rank)})");
        var dims = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            // Dimensions are unsigned 32-bit; read as uint so a flipped top bit is just a huge number.
            dims[d] = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4 + 4 * d, 4));
        }
        return dims;
    }

    private static void CheckLength(byte[] data, string name, int rank, long claimedBytes, string shape)
    {
        long actual = data.Length - HeaderLength(rank);
        if (claimedBytes > actual)
            throw new InputException($"{name}: truncated: header says {shape} = {claimedBytes} bytes of data but only {actual} are present");
        if (claimedBytes < actual)
            throw new InputException($"{name}: header says {shape} = {claimedBytes} bytes of data but {actual} are present ({actual - claimedBytes} trailing bytes)");
    }

    private static string TypeName(byte type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown type",
    };
}
