using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Geodesy.Core;
using Geodesy.Core.Interop;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Tests.Interop.InteropTestFiles;

namespace Geodesy.Tests.Interop;

public sealed class SafeTensorsFormatTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void WriteThenRead_F32_F64_I64_RoundTripBitExactly()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new("w", torch.randn([3, 5], generator: gen)),
            new("d", torch.randn([4], dtype: ScalarType.Float64, generator: gen) * 1e300),
            new("steps", torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }).reshape(2, 2)),
            new("scalar", torch.tensor(Math.PI, ScalarType.Float64)),
            new("empty", torch.zeros([0, 3])),
            new("special", torch.tensor(new float[] { float.NaN, float.PositiveInfinity, -0.0f, float.Epsilon })),
            new("transposed", torch.randn([2, 3], generator: gen).t()),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" and é ✓" };
        string path = _tmp.File("roundtrip.safetensors");

        SafeTensors.Write(path, tensors, metadata);
        using var file = SafeTensors.Read(path);

        Assert.Equal(tensors.Select(t => t.Key).Order(StringComparer.Ordinal), file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var (name, expected) in tensors)
            Assert.True(BitEqual(expected, file[name]), $"tensor '{name}' differs after the round trip");
        Assert.Equal(metadata, file.Metadata);
        Assert.Equal(path, file.Source);
    }

    [Fact]
    public void Write_LaysOutLikeTheReferenceWriter()
    {
        using var scope = NewDisposeScope();
        string path = _tmp.File("layout.safetensors");
        SafeTensors.Write(path,
        [
            new("b", torch.ones(3)), new("a", torch.ones(2)),
            new("c", torch.ones(1, ScalarType.Float64)), new("n", torch.ones(1, ScalarType.Int64)),
        ], new Dictionary<string, string> { ["z"] = "1", ["format"] = "pt" });

        byte[] bytes = File.ReadAllBytes(path);
        int n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(0, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, n);
        Assert.Equal(
            "{\"__metadata__\":{\"format\":\"pt\",\"z\":\"1\"}," +
            "\"n\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}," +
            "\"c\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
            header.TrimEnd(' '));
        Assert.Equal(8 + n + 36, bytes.Length);

        // Read returns tensors in data order.
        using var file = SafeTensors.Read(path);
        Assert.Equal(["n", "c", "a", "b"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Read_F16AndBF16_WidenToFloat32Exactly()
    {
        // Known bit patterns: F16 1, -2, 0x3555 = 0.333251953125, 65504 (largest), 2^-24 (smallest subnormal);
        // BF16 1, -3.140625, 2^-133 (subnormal), +inf.
        ushort[] f16 = [0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001];
        ushort[] bf16 = [0x3F80, 0xC049, 0x0001, 0x7F80];
        var data = new byte[2 * (f16.Length + bf16.Length)];
        for (int i = 0; i < f16.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * i), f16[i]);
        for (int i = 0; i < bf16.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(10 + 2 * i), bf16[i]);
        string header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]}," +
                        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[10,18]}}";
        string path = _tmp.File("half.safetensors");
        File.WriteAllBytes(path, Build(header, data));

        using var file = SafeTensors.Read(path);
        Assert.Equal(ScalarType.Float32, file["h"].dtype);
        Assert.Equal(ScalarType.Float32, file["b"].dtype);
        Assert.Equal([2L, 2L], file["b"].shape);
        Assert.Equal([1f, -2f, 0.333251953125f, 65504f, MathF.Pow(2, -24)], file["h"].data<float>().ToArray());
        Assert.Equal([1f, -3.140625f, (float)Math.Pow(2, -133), float.PositiveInfinity], file["b"].data<float>().ToArray());
    }

    [Fact]
    public void Read_EmptyFileWithOnlyMetadata_IsValid()
    {
        string path = _tmp.File("meta-only.safetensors");
        File.WriteAllBytes(path, Build("{\"__metadata__\":{\"a\":\"b\"}}", []));
        using var file = SafeTensors.Read(path);
        Assert.Empty(file.Tensors);
        Assert.Equal("b", file.Metadata["a"]);
        var e = Assert.Throws<InputException>(() => file["missing"]);
        Assert.Contains("has no tensor 'missing'", e.Message);
    }

    [Fact]
    public void Write_RejectsUnsupportedDtypesAndBadNames()
    {
        using var scope = NewDisposeScope();
        string path = _tmp.File("bad-write.safetensors");
        var e = Assert.Throws<InputException>(() => SafeTensors.Write(path, [new("i", torch.ones(2, ScalarType.Int32))]));
        Assert.Contains("tensor 'i' has dtype Int32", e.Message);
        e = Assert.Throws<InputException>(() => SafeTensors.Write(path, [new("x", torch.ones(1)), new("x", torch.ones(1))]));
        Assert.Contains("tensor name 'x' appears twice", e.Message);
        e = Assert.Throws<InputException>(() => SafeTensors.Write(path, [new("__metadata__", torch.ones(1))]));
        Assert.Contains("reserved", e.Message);
        e = Assert.Throws<InputException>(() => SafeTensors.Write(path, [new("", torch.ones(1))]));
        Assert.Contains("empty name", e.Message);
        Assert.False(File.Exists(path));
        e = Assert.Throws<InputException>(() => SafeTensors.Write(_tmp.File("no/such/folder/x.safetensors"), [new("x", torch.ones(1))]));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Write_HeaderIsValidJsonForAwkwardNames()
    {
        using var scope = NewDisposeScope();
        string path = _tmp.File("names.safetensors");
        string[] names = ["a\"b", "back\\slash", "tab\t", "ünïcode", "layer.0.weight"];
        SafeTensors.Write(path, names.Select(n => new KeyValuePair<string, Tensor>(n, torch.ones(1))));
        byte[] bytes = File.ReadAllBytes(path);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, n));
        using var file = SafeTensors.Read(path);
        Assert.Equal(names.Order(StringComparer.Ordinal), file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
    }
}
