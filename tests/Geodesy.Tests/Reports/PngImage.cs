using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Geodesy.Tests.Reports;

/// <summary>
/// A minimal PNG decoder for tests (8-bit grey, grey+alpha, RGB and RGBA, not interlaced): enough to
/// check that a plot or a screenshot is a real image and to look at its pixels.
/// </summary>
public sealed class PngImage
{
    private static readonly byte[] Magic = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public int Width { get; }
    public int Height { get; }
    /// <summary>Pixels as RGB triples, row-major (alpha dropped: plots and screenshots are opaque).</summary>
    public byte[] Rgb { get; }

    private PngImage(int width, int height, byte[] rgb) => (Width, Height, Rgb) = (width, height, rgb);

    public static bool HasMagic(ReadOnlySpan<byte> bytes) => bytes.Length >= Magic.Length && bytes[..Magic.Length].SequenceEqual(Magic);

    public static PngImage Decode(byte[] png)
    {
        if (!HasMagic(png)) throw new InvalidDataException("not a PNG: bad magic bytes");
        int width = 0, height = 0, channels = 0;
        var idat = new MemoryStream();
        for (int at = Magic.Length; at + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = Encoding.ASCII.GetString(png, at + 4, 4);
            if (length < 0 || at + 12 + length > png.Length) throw new InvalidDataException($"PNG chunk {type} runs past the end of the file");
            var body = png.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(body);
                height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                byte depth = body[8], color = body[9], interlace = body[12];
                channels = color switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => 0 };
                if (depth != 8 || channels == 0 || interlace != 0)
                    throw new InvalidDataException($"unsupported PNG: bit depth {depth}, color type {color}, interlace {interlace}");
            }
            else if (type == "IDAT") idat.Write(body);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        if (width <= 0 || height <= 0) throw new InvalidDataException("PNG has no valid IHDR");

        int stride = width * channels;
        var raw = new byte[(stride + 1) * height];
        idat.Position = 0;
        using (var z = new ZLibStream(idat, CompressionMode.Decompress)) z.ReadExactly(raw);
        var pixels = new byte[stride * height];
        for (int y = 0; y < height; y++)
        {
            byte filter = raw[y * (stride + 1)];
            var line = raw.AsSpan(y * (stride + 1) + 1, stride);
            var cur = pixels.AsSpan(y * stride, stride);
            var prev = y > 0 ? pixels.AsSpan((y - 1) * stride, stride) : new byte[stride];
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? cur[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
                cur[i] = (byte)(line[i] + filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG row {y} has unknown filter {filter}"),
                });
            }
        }
        var rgb = new byte[width * height * 3];
        for (int p = 0; p < width * height; p++)
            for (int k = 0; k < 3; k++)
                rgb[3 * p + k] = pixels[p * channels + (channels >= 3 ? k : 0)];
        return new PngImage(width, height, rgb);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Number of distinct RGB colors.</summary>
    public int DistinctColors()
    {
        var seen = new HashSet<int>();
        for (int p = 0; p < Rgb.Length; p += 3) seen.Add(Rgb[p] << 16 | Rgb[p + 1] << 8 | Rgb[p + 2]);
        return seen.Count;
    }

    /// <summary>Fraction of pixels that differ from the most common color (the background).</summary>
    public double ForegroundFraction()
    {
        var counts = new Dictionary<int, int>();
        for (int p = 0; p < Rgb.Length; p += 3)
        {
            int key = Rgb[p] << 16 | Rgb[p + 1] << 8 | Rgb[p + 2];
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return 1 - (double)counts.Values.Max() / (Width * Height);
    }

    /// <summary>Number of pixels within <paramref name="tolerance"/> (per channel) of a color.</summary>
    public int CountNear(byte r, byte g, byte b, int tolerance)
    {
        int n = 0;
        for (int p = 0; p < Rgb.Length; p += 3)
            if (Math.Abs(Rgb[p] - r) <= tolerance && Math.Abs(Rgb[p + 1] - g) <= tolerance && Math.Abs(Rgb[p + 2] - b) <= tolerance) n++;
        return n;
    }
}
