using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Interop;

/// <summary>
/// Reader and writer of the safetensors format: an 8-byte little-endian header length N, N bytes
/// of JSON header <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}</c>,
/// then the data buffer, which the tensors must cover exactly, without gaps or overlaps.
/// Reading validates every size and offset before anything is allocated and reports each problem
/// as an <see cref="InputException"/> naming the file. Reads F32, F64, F16, BF16 (widened to
/// float32) and I64; writes F32, F64 and I64 the way the reference implementation does (tensors
/// ordered by descending dtype then name, header padded with spaces to a multiple of 8).
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";
    private const int ReadBufferBytes = 1 << 20;

    /// <param name="Rank">Position in the reference implementation's dtype enum, which orders tensors in written files.</param>
    private sealed record Dtype(string Name, int ItemSize, ScalarType Stored, int Rank);

    private static readonly Dtype F16 = new("F16", 2, ScalarType.Float16, 13);
    private static readonly Dtype BF16 = new("BF16", 2, ScalarType.BFloat16, 14);
    private static readonly Dtype F32 = new("F32", 4, ScalarType.Float32, 17);
    private static readonly Dtype F64 = new("F64", 8, ScalarType.Float64, 19);
    private static readonly Dtype I64 = new("I64", 8, ScalarType.Int64, 20);
    private static readonly Dtype[] Readable = [F32, F64, F16, BF16, I64];
    private static readonly Dtype[] Writable = [F32, F64, I64];

    private sealed record Entry(string Name, Dtype Dtype, long[] Shape, long Begin, long End);

    /// <summary>Reads every tensor of a safetensors file (in the order of their data) and its metadata.</summary>
    public static SafeTensorsFile Read(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InputException($"safetensors file '{path}' does not exist");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InputException($"cannot read safetensors file '{path}': permission denied or not a file", e);
        }
        catch (IOException e)
        {
            throw new InputException($"cannot read safetensors file '{path}': {e.Message}", e);
        }
        using (stream) return Read(stream, path);
    }

    /// <summary>Reads a safetensors document from a seekable stream (from its start); <paramref name="source"/> names it in errors.</summary>
    public static SafeTensorsFile Read(Stream stream, string source)
    {
        if (!stream.CanSeek || !stream.CanRead) throw new ArgumentException("safetensors needs a readable, seekable stream", nameof(stream));
        long length = stream.Length;
        stream.Position = 0;
        if (length < 8)
            throw Bad(source, $"file is {length} bytes, shorter than the 8-byte header length");

        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, source);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw Bad(source, $"header length {headerLength} bytes is absurd (limit {MaxHeaderBytes})");
        if ((long)headerLength > length - 8)
            throw Bad(source, $"header length {headerLength} bytes goes beyond the end of the file ({length} bytes)");

        var header = new byte[headerLength];
        ReadExactly(stream, header, source);
        var (entries, metadata) = ParseHeader(header, source);
        long dataLength = length - 8 - (long)headerLength;
        var ordered = CheckLayout(entries, dataLength, source);

        var tensors = new List<(string, Tensor)>(ordered.Count);
        try
        {
            foreach (var e in ordered)
                tensors.Add((e.Name, ReadTensor(stream, e, 8 + (long)headerLength, source)));
        }
        catch
        {
            foreach (var (_, t) in tensors) t.Dispose();
            throw;
        }
        return new SafeTensorsFile(source, tensors, metadata);
    }

    /// <summary>
    /// Writes tensors (float32, float64 or int64; any device) and optional metadata atomically.
    /// Names must be unique and non-empty.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = new List<(string Name, Dtype Dtype, Tensor Tensor, long Bytes)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in tensors)
        {
            if (string.IsNullOrEmpty(name)) throw new InputException($"cannot write '{path}': a tensor has an empty name");
            if (name == MetadataKey) throw new InputException($"cannot write '{path}': '{MetadataKey}' is reserved and cannot name a tensor");
            if (!seen.Add(name)) throw new InputException($"cannot write '{path}': tensor name '{name}' appears twice");
            var dtype = Array.Find(Writable, d => d.Stored == t.dtype)
                ?? throw new InputException($"cannot write '{path}': tensor '{name}' has dtype {t.dtype}; safetensors writing supports float32, float64 and int64");
            long bytes = t.numel() * dtype.ItemSize;
            if (bytes > Array.MaxLength) throw new InputException($"cannot write '{path}': tensor '{name}' has {bytes} bytes; tensors over 2 GiB are not supported");
            items.Add((name, dtype, t, bytes));
        }
        // The reference order: descending dtype, then name compared as UTF-8 bytes.
        items.Sort((a, b) => a.Dtype.Rank != b.Dtype.Rank
            ? b.Dtype.Rank.CompareTo(a.Dtype.Rank)
            : Encoding.UTF8.GetBytes(a.Name).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b.Name)));

        byte[] header = BuildHeader(items.Select(i => (i.Name, i.Dtype, i.Tensor.shape, i.Bytes)), metadata);
        AtomicFile.Write(path, s =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            s.Write(prefix);
            s.Write(header);
            foreach (var item in items)
            {
                if (item.Bytes == 0) continue;
                using var scope = NewDisposeScope();
                var data = item.Tensor.detach().cpu().contiguous();
                s.Write(data.bytes);
            }
        });
    }

    /// <summary>
    /// Saves a model's state_dict (parameters and persistent buffers, PyTorch names, the model's
    /// dtypes) as safetensors.
    /// </summary>
    public static void SaveModel(nn.Module model, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, model.state_dict(), metadata);

    /// <summary>
    /// Loads a safetensors file into a model, strictly: the file must hold exactly the model's
    /// state_dict names with the same shapes (the first mismatch is named, and nothing is changed
    /// then); values are converted to the model's dtypes.
    /// </summary>
    public static void LoadInto(nn.Module model, string path)
    {
        using var file = Read(path);
        StateDictCopy.CopyStrict(model, file.Tensors, $"weights file '{path}'");
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseHeader(byte[] header, string source)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Bad(source, "header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad(source, $"header is not valid JSON ({OneLine(e.Message)})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Bad(source, $"header is a JSON {Kind(root)}, not an object");
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!names.Add(name))
                    throw Bad(source, $"header names '{name}' twice");
                if (name == MetadataKey)
                    ParseMetadata(property.Value, metadata, source);
                else
                    entries.Add(ParseEntry(name, property.Value, source));
            }
            return (entries, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(source, $"'{MetadataKey}' is a JSON {Kind(value)}, not an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Bad(source, $"'{MetadataKey}' entry '{item.Name}' is a JSON {Kind(item.Value)}, not a string");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw Bad(source, $"'{MetadataKey}' names '{item.Name}' twice");
        }
    }

    private static Entry ParseEntry(string name, JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(source, $"tensor '{name}' is described by a JSON {Kind(value)}, not an object");
        JsonElement? dtypeJson = null, shapeJson = null, offsetsJson = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype": dtypeJson = field.Value; break;
                case "shape": shapeJson = field.Value; break;
                case "data_offsets": offsetsJson = field.Value; break;
                default: throw Bad(source, $"tensor '{name}' has unknown field '{field.Name}'");
            }
        }
        if (dtypeJson is not { ValueKind: JsonValueKind.String } dt)
            throw Bad(source, $"tensor '{name}' needs a string 'dtype'");
        string dtypeName = dt.GetString()!;
        var dtype = Array.Find(Readable, d => d.Name == dtypeName)
            ?? throw Bad(source, $"tensor '{name}' has unsupported dtype '{dtypeName}' (readable: {string.Join(", ", Readable.Select(d => d.Name))})");

        long[] shape = ReadIntegers(shapeJson, $"tensor '{name}' needs a 'shape' list of integers", source);
        foreach (long d in shape)
            if (d < 0) throw Bad(source, $"tensor '{name}' has negative dimension {d} in shape {FormatShape(shape)}");
        long[] offsets = ReadIntegers(offsetsJson, $"tensor '{name}' needs 'data_offsets' [begin, end] of integers", source);
        if (offsets.Length != 2)
            throw Bad(source, $"tensor '{name}' has {offsets.Length} data_offsets, not 2 [begin, end]");
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < 0)
            throw Bad(source, $"tensor '{name}' has negative data_offsets [{begin},{end}]");
        if (end < begin)
            throw Bad(source, $"tensor '{name}' has data_offsets [{begin},{end}] that end before they begin");

        long bytes = ByteSize(shape, dtype)
            ?? throw Bad(source, $"tensor '{name}' of shape {FormatShape(shape)} is too large");
        if (bytes != end - begin)
            throw Bad(source, $"tensor '{name}' ({dtype.Name} {FormatShape(shape)}) needs {bytes} bytes but its data_offsets [{begin},{end}] span {end - begin}");
        if (bytes > Array.MaxLength)
            throw Bad(source, $"tensor '{name}' has {bytes} bytes; tensors over 2 GiB are not supported");
        return new Entry(name, dtype, shape, begin, end);
    }

    /// <summary>numel * itemsize, or null on overflow (also when a zero dimension hides an overflowing product).</summary>
    private static long? ByteSize(long[] shape, Dtype dtype)
    {
        long numel = 1, nonZeroProduct = 1;
        try
        {
            foreach (long d in shape)
            {
                numel = checked(numel * d);
                if (d != 0) nonZeroProduct = checked(nonZeroProduct * d);
            }
            return checked(numel * dtype.ItemSize);
        }
        catch (OverflowException)
        {
            return null;
        }
    }

    private static long[] ReadIntegers(JsonElement? json, string problem, string source)
    {
        if (json is not { ValueKind: JsonValueKind.Array } array) throw Bad(source, problem);
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out values[i++]))
                throw Bad(source, $"{problem} (found {OneLine(item.GetRawText())})");
        }
        return values;
    }

    /// <summary>The entries in data order, after checking that they tile [0, dataLength) exactly.</summary>
    private static List<Entry> CheckLayout(List<Entry> entries, long dataLength, string source)
    {
        foreach (var e in entries)
            if (e.End > dataLength)
                throw Bad(source, $"tensor '{e.Name}' has data_offsets [{e.Begin},{e.End}] beyond the {dataLength}-byte data buffer");
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long covered = 0;
        Entry? previous = null;
        foreach (var e in ordered)
        {
            if (e.Begin < covered)
                throw Bad(source, $"tensor '{e.Name}' data_offsets [{e.Begin},{e.End}] overlap tensor '{previous!.Name}' [{previous.Begin},{previous.End}]");
            if (e.Begin > covered)
                throw Bad(source, $"data bytes [{covered},{e.Begin}) before tensor '{e.Name}' belong to no tensor");
            covered = e.End;
            if (e.End > e.Begin || previous is null) previous = e;
        }
        if (covered != dataLength)
            throw Bad(source, $"data bytes [{covered},{dataLength}) after the last tensor belong to no tensor");
        return ordered;
    }

    private static Tensor ReadTensor(Stream stream, Entry e, long dataStart, string source)
    {
        long bytes = e.End - e.Begin;
        var raw = torch.empty(e.Shape, e.Dtype.Stored);
        try
        {
            if (bytes > 0)
            {
                stream.Position = dataStart + e.Begin;
                raw.ReadBytesFromStream(stream, (int)Math.Min(bytes, ReadBufferBytes));
            }
        }
        catch (EndOfStreamException)
        {
            raw.Dispose();
            throw Bad(source, $"file ended inside the data of tensor '{e.Name}'");
        }
        catch
        {
            raw.Dispose();
            throw;
        }
        if (e.Dtype.Stored is ScalarType.Float16 or ScalarType.BFloat16)
        {
            using (raw) return raw.to(ScalarType.Float32);
        }
        return raw;
    }

    private static byte[] BuildHeader(IEnumerable<(string Name, Dtype Dtype, long[] Shape, long Bytes)> items, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape, bytes) in items)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.Name);
                json.WriteStartArray("shape");
                foreach (long d in shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    internal static string FormatShape(long[] shape) =>
        "[" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    private static void ReadExactly(Stream stream, Span<byte> buffer, string source)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw Bad(source, "file ended early");
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string OneLine(string s)
    {
        s = s.ReplaceLineEndings(" ");
        return s.Length > 80 ? s[..80] + "..." : s;
    }

    private static InputException Bad(string source, string problem) => new($"safetensors file '{source}': {problem}");
}
