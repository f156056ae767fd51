using System.Buffers.Binary;
using System.Text;

namespace Geodesy.Experiments.Reports;

/// <summary>
/// TensorBoard event files written by hand: TFRecord framing (little-endian uint64 length, masked
/// CRC-32C of the length, the payload, masked CRC-32C of the payload) around serialized
/// <c>tensorflow.Event</c> protos holding <c>Summary.Value</c> scalars (simple_value) and
/// <c>HistogramProto</c>s. Only the fields TensorBoard reads for scalars and histograms are encoded
/// (field numbers from tensorflow/core/util/event.proto and core/framework/summary.proto).
/// </summary>
public sealed class TensorBoardEventWriter : IDisposable
{
    /// <summary>The first record of every event file: Event.file_version.</summary>
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream _file;

    /// <summary>Creates DIR/events.out.tfevents.&lt;unix seconds&gt;.&lt;host&gt; (the name TensorBoard looks for).</summary>
    public TensorBoardEventWriter(string dir)
    {
        if (File.Exists(dir)) throw new Core.InputException($"--tensorboard '{dir}' is a file, not a folder");
        Directory.CreateDirectory(dir);
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string host = System.Net.Dns.GetHostName();
        string path = Path.Combine(dir, $"events.out.tfevents.{now}.{host}");
        // Two writers in one second on one host (a test, two runs into one folder): add a counter.
        for (int i = 1; File.Exists(path); i++) path = Path.Combine(dir, $"events.out.tfevents.{now}.{host}.{i}");
        FilePath = path;
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var e = new ProtoWriter();
        e.Double(1, WallTime());
        e.String(3, FileVersion);
        WriteRecord(e.ToArray());
    }

    /// <summary>The event file being written.</summary>
    public string FilePath { get; }

    /// <summary>One scalar: tag, step, value (stored as float32, as TensorBoard's simple_value is).</summary>
    public void Scalar(string tag, long step, double value)
    {
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Float(2, (float)value);
        WriteSummary(step, v);
    }

    /// <summary>A histogram of <paramref name="values"/> in <paramref name="buckets"/> equal-width buckets over [min, max].</summary>
    public void Histogram(string tag, long step, ReadOnlySpan<double> values, int buckets = 30)
    {
        if (values.Length == 0) return;
        var h = HistogramOf(values, buckets);
        var histo = new ProtoWriter();
        histo.Double(1, h.Min);
        histo.Double(2, h.Max);
        histo.Double(3, h.Count);
        histo.Double(4, h.Sum);
        histo.Double(5, h.SumSquares);
        histo.PackedDoubles(6, h.BucketLimits);
        histo.PackedDoubles(7, h.Counts);
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Message(5, histo);
        WriteSummary(step, v);
    }

    /// <summary>
    /// Min, max, count, sums, and the right edges and counts of equal-width buckets (one bucket when all
    /// values are equal). Bucket i holds limit[i-1] &lt;= x &lt; limit[i], as TensorFlow's Histogram::Add
    /// counts; the last bucket also holds the maximum.
    /// </summary>
    public sealed record HistogramData(double Min, double Max, double Count, double Sum, double SumSquares, double[] BucketLimits, double[] Counts);

    public static HistogramData HistogramOf(ReadOnlySpan<double> values, int buckets)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, squares = 0;
        foreach (double x in values)
        {
            min = Math.Min(min, x);
            max = Math.Max(max, x);
            sum += x;
            squares += x * x;
        }
        int k = max > min ? Math.Max(1, buckets) : 1;
        double width = (max - min) / k;
        var limits = new double[k];
        var counts = new double[k];
        for (int i = 0; i < k; i++) limits[i] = i == k - 1 ? max : min + (i + 1) * width;
        foreach (double x in values)
        {
            int i = k == 1 ? 0 : Math.Min(k - 1, (int)((x - min) / width));
            counts[i]++;
        }
        return new HistogramData(min, max, values.Length, sum, squares, limits, counts);
    }

    private void WriteSummary(long step, ProtoWriter value)
    {
        var summary = new ProtoWriter();
        summary.Message(1, value);
        var e = new ProtoWriter();
        e.Double(1, WallTime());
        e.Varint(2, (ulong)step);
        e.Message(5, summary);
        WriteRecord(e.ToArray());
    }

    private static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    private void WriteRecord(byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        _file.Write(header);
        _file.Write(data);
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(data));
        _file.Write(footer);
    }

    public void Flush() => _file.Flush();

    public void Dispose() => _file.Dispose();
}

/// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and TFRecord's mask of it.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = MakeTable();

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int j = 0; j < 8; j++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>((crc &gt;&gt; 15) | (crc &lt;&lt; 17)) + 0xa282ead8, as TFRecord stores it.</summary>
    public static uint Masked(ReadOnlySpan<byte> data)
    {
        uint crc = Compute(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xA282EAD8u);
    }
}

/// <summary>The few protobuf wire-format encodings the event files need (varint, 64/32-bit, length-delimited).</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    private void Tag(int field, int wireType) => WriteVarint((ulong)((field << 3) | wireType));

    private void WriteVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _buffer.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _buffer.WriteByte((byte)v);
    }

    public void Varint(int field, ulong v)
    {
        Tag(field, 0);
        WriteVarint(v);
    }

    public void Double(int field, double v)
    {
        Tag(field, 1);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, v);
        _buffer.Write(b);
    }

    public void Float(int field, float v)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        _buffer.Write(b);
    }

    public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

    public void Message(int field, ProtoWriter inner) => Bytes(field, inner.ToArray());

    public void PackedDoubles(int field, double[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * 8), values[i]);
        Bytes(field, bytes);
    }

    private void Bytes(int field, byte[] data)
    {
        Tag(field, 2);
        WriteVarint((ulong)data.Length);
        _buffer.Write(data);
    }

    public byte[] ToArray() => _buffer.ToArray();
}
