using System.Buffers.Binary;
using System.Text;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Interop;

/// <summary>A temporary folder per test class, hand-built safetensors bytes, and the small models of the golden files.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "geodesy-interop-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

internal static class InteropTestFiles
{
    /// <summary>A safetensors document: 8-byte little-endian length, the header text, the data.</summary>
    public static byte[] Build(string header, byte[] data, ulong? declaredHeaderLength = null) =>
        Build(Encoding.UTF8.GetBytes(header), data, declaredHeaderLength);

    public static byte[] Build(byte[] header, byte[] data, ulong? declaredHeaderLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static string Golden(string name) => Path.Combine(AppContext.BaseDirectory, "Golden", name);

    /// <summary>Geodesy's mlp:784-8-10, the PyTorch nn.Sequential(Linear, ReLU, Linear) on flattened images.</summary>
    public static SequentialModel Mlp(int hidden = 8) =>
        new("mlp:784-" + hidden + "-10", [nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)], flattenInput: true);

    /// <summary>The golden CNN, layer for layer as in tools/golden/make_golden.py.</summary>
    public static SequentialModel Cnn() =>
        new("cnn:golden",
        [
            nn.Conv2d(1, 4, 3, padding: 1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding: 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(8 * 7 * 7, 10),
        ], flattenInput: false);

    public static bool BitEqual(Tensor a, Tensor b)
    {
        using var ca = a.detach().contiguous();
        using var cb = b.detach().contiguous();
        return a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && ca.bytes.SequenceEqual(cb.bytes);
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }
}
