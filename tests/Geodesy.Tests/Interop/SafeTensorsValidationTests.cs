using System.Text;
using Geodesy.Core;
using Geodesy.Core.Interop;
using static Geodesy.Tests.Interop.InteropTestFiles;

namespace Geodesy.Tests.Interop;

/// <summary>Every malformed file gives one InputException that names the file and the problem.</summary>
public sealed class SafeTensorsValidationTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static string T(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    private void AssertRejected(byte[] bytes, string expected)
    {
        string path = _tmp.File("bad-" + Guid.NewGuid().ToString("N")[..8] + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InputException>(() => SafeTensors.Read(path));
        Assert.Contains($"safetensors file '{path}'", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private void AssertRejected(string header, int dataBytes, string expected) =>
        AssertRejected(Build(header, new byte[dataBytes]), expected);

    [Fact]
    public void MissingFile()
    {
        string path = _tmp.File("absent.safetensors");
        var e = Assert.Throws<InputException>(() => SafeTensors.Read(path));
        Assert.Equal($"safetensors file '{path}' does not exist", e.Message);
    }

    [Fact]
    public void ShorterThanEightBytes() => AssertRejected([1, 0, 0, 0, 0], "file is 5 bytes, shorter than the 8-byte header length");

    [Fact]
    public void HeaderLengthBeyondFile() =>
        AssertRejected(Build("{}", new byte[10], declaredHeaderLength: 1000), "header length 1000 bytes goes beyond the end of the file (20 bytes)");

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void AbsurdHeaderLength(ulong declared) =>
        AssertRejected(Build("{}", [], declaredHeaderLength: declared), $"header length {declared} bytes is absurd");

    [Theory]
    [InlineData("{\"a\":", "header is not valid JSON")]
    [InlineData("", "header is not valid JSON")]
    [InlineData("{} {}", "header is not valid JSON")]
    [InlineData("[]", "header is a JSON array, not an object")]
    [InlineData("\"x\"", "header is a JSON string, not an object")]
    [InlineData("{\"a\":[1]}", "tensor 'a' is described by a JSON array, not an object")]
    [InlineData("{\"a\":{\"dtype\":5,\"shape\":[],\"data_offsets\":[0,4]}}", "tensor 'a' needs a string 'dtype'")]
    [InlineData("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", "tensor 'a' needs a string 'dtype'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", "tensor 'a' needs a 'shape' list of integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "tensor 'a' needs a 'shape' list of integers (found 1.5)")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", "needs a 'shape' list of integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", "tensor 'a' needs 'data_offsets' [begin, end] of integers")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,8]}}", "tensor 'a' has 3 data_offsets, not 2")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,\"4\"]}}", "data_offsets' [begin, end] of integers (found \"4\")")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"extra\":1}}", "tensor 'a' has unknown field 'extra'")]
    [InlineData("{\"__metadata__\":[\"x\"]}", "'__metadata__' is a JSON array, not an object of strings")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", "'__metadata__' entry 'k' is a JSON number, not a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", "header names 'a' twice")]
    [InlineData("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "header is not valid JSON")]
    public void HeaderNotValidJsonOrWrongTypes(string header, string expected) => AssertRejected(header, 8, expected);

    [Fact]
    public void HeaderNotUtf8() =>
        AssertRejected(Build([.. Encoding.ASCII.GetBytes("{\"a"), 0xFF, 0xFE, .. Encoding.ASCII.GetBytes("\":{}}")], []), "header is not valid UTF-8");

    [Theory]
    [InlineData("Q8")]
    [InlineData("I32")]
    [InlineData("f32")]
    public void UnknownDtype(string dtype) =>
        AssertRejected("{" + T("w", dtype, "[1]", 0, 4) + "}", 4, $"tensor 'w' has unsupported dtype '{dtype}' (readable: F32, F64, F16, BF16, I64)");

    [Theory]
    [InlineData("F32", "[2,2]", 12, "tensor 'w' (F32 [2,2]) needs 16 bytes but its data_offsets [0,12] span 12")]
    [InlineData("F64", "[3]", 12, "tensor 'w' (F64 [3]) needs 24 bytes but its data_offsets [0,12] span 12")]
    [InlineData("F16", "[]", 4, "tensor 'w' (F16 []) needs 2 bytes but its data_offsets [0,4] span 4")]
    [InlineData("I64", "[0,5]", 8, "tensor 'w' (I64 [0,5]) needs 0 bytes but its data_offsets [0,8] span 8")]
    public void ShapeAndOffsetSizeMismatch(string dtype, string shape, int end, string expected) =>
        AssertRejected("{" + T("w", dtype, shape, 0, end) + "}", end, expected);

    [Fact]
    public void OffsetsBeyondTheData() =>
        AssertRejected("{" + T("w", "F32", "[4]", 0, 16) + "}", 8, "tensor 'w' has data_offsets [0,16] beyond the 8-byte data buffer");

    [Fact]
    public void OffsetsEndBeforeTheyBegin() =>
        AssertRejected("{" + T("w", "F32", "[1]", 8, 4) + "}", 8, "tensor 'w' has data_offsets [8,4] that end before they begin");

    [Fact]
    public void NegativeOffsets() =>
        AssertRejected("{" + T("w", "F32", "[1]", -4, 0) + "}", 8, "tensor 'w' has negative data_offsets [-4,0]");

    [Fact]
    public void OverlappingOffsets() =>
        AssertRejected("{" + T("a", "F32", "[2]", 0, 8) + "," + T("b", "F32", "[2]", 4, 12) + "}", 12,
            "tensor 'b' data_offsets [4,12] overlap tensor 'a' [0,8]");

    [Fact]
    public void EmptyTensorInsideAnotherOverlaps() =>
        AssertRejected("{" + T("a", "F32", "[2]", 0, 8) + "," + T("z", "F32", "[0]", 4, 4) + "}", 8,
            "tensor 'z' data_offsets [4,4] overlap tensor 'a' [0,8]");

    [Fact]
    public void GapBetweenTensors() =>
        AssertRejected("{" + T("a", "F32", "[2]", 0, 8) + "," + T("b", "F32", "[2]", 12, 20) + "}", 20,
            "data bytes [8,12) before tensor 'b' belong to no tensor");

    [Fact]
    public void GapAtTheStart() =>
        AssertRejected("{" + T("a", "F32", "[2]", 4, 12) + "}", 12, "data bytes [0,4) before tensor 'a' belong to no tensor");

    [Fact]
    public void TrailingBytesNotCovered() =>
        AssertRejected("{" + T("a", "F32", "[2]", 0, 8) + "}", 12, "data bytes [8,12) after the last tensor belong to no tensor");

    [Fact]
    public void NegativeDimension() =>
        AssertRejected("{" + T("w", "F32", "[-1,2]", 0, 8) + "}", 8, "tensor 'w' has negative dimension -1 in shape [-1,2]");

    [Theory]
    [InlineData("[4294967296,4294967296,4294967296]")]
    [InlineData("[4611686018427387904,2]")]
    [InlineData("[0,4294967296,4294967296,4294967296]")]
    public void ShapeTooLargeIsRejectedBeforeAllocating(string shape) =>
        AssertRejected("{" + T("w", "F32", shape, 0, 8) + "}", 8, $"tensor 'w' of shape {shape} is too large");

    [Fact]
    public void ZeroSizedTensorsAnywhereOnTheBoundary_AreValid()
    {
        string path = _tmp.File("zeros.safetensors");
        File.WriteAllBytes(path, Build("{" + T("e1", "F32", "[0]", 0, 0) + "," + T("a", "F32", "[2]", 0, 8) + "," +
                                       T("e2", "F64", "[3,0]", 8, 8) + "}", new byte[8]));
        using var file = SafeTensors.Read(path);
        Assert.Equal(["e1", "a", "e2"], file.Tensors.Select(t => t.Name));
        Assert.Equal([3L, 0L], file["e2"].shape);
    }
}
