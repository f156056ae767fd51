using System.Buffers.Binary;
using System.Diagnostics;
using Geodesy.Core;
using Geodesy.Core.Interop;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Interop;

/// <summary>
/// Seeded corruption of a valid file (byte flips in header and data, truncations, extensions,
/// header-length corruption): every case ends in a valid load or an InputException, never
/// another exception, a crash or a hang.
/// </summary>
public sealed class SafeTensorsFuzzTests(ITestOutputHelper output)
{
    private const int Cases = 8000;
    private const int Seed = 20240601;
    /// <summary>Generous bound for a few thousand small parses on a loaded 2-core machine.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(30);

    /// <summary>A small valid file with every readable dtype, an empty tensor, a scalar and metadata.</summary>
    private static byte[] ValidFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"geodesy-fuzz-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var scope = NewDisposeScope();
            SafeTensors.Write(path,
            [
                new("0.weight", torch.linspace(-1, 1, 12).reshape(3, 4)),
                new("0.bias", torch.linspace(0, 1, 3, dtype: ScalarType.Float64)),
                new("1.num_batches_tracked", torch.tensor(3L)),
                new("empty", torch.zeros([0, 2])),
            ], new Dictionary<string, string> { ["format"] = "pt" });
            byte[] written = File.ReadAllBytes(path);
            // Append hand-made F16 and BF16 tensors so the fuzzer reaches the widening path too.
            int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(written);
            string header = System.Text.Encoding.UTF8.GetString(written, 8, n).TrimEnd(' ');
            long dataLength = written.Length - 8 - n;
            header = header[..^1] +
                $",\"h\":{{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[{dataLength},{dataLength + 4}]}}" +
                $",\"b\":{{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[{dataLength + 4},{dataLength + 8}]}}}}";
            byte[] data = [.. written.AsSpan(8 + n), 0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x49, 0xC0];
            return InteropTestFiles.Build(header, data);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] Mutate(byte[] valid, Random rng, out string kind)
    {
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        byte[] b = (byte[])valid.Clone();
        switch (rng.Next(7))
        {
            case 0:
                kind = "header byte flips";
                for (int i = rng.Next(1, 4); i > 0; i--) b[rng.Next(8, headerEnd)] ^= (byte)rng.Next(1, 256);
                return b;
            case 1:
                kind = "header byte set to a JSON character";
                const string json = "{}[]\",:0123456789-.eE tfn";
                b[rng.Next(8, headerEnd)] = (byte)json[rng.Next(json.Length)];
                return b;
            case 2:
                kind = "data byte flips";
                for (int i = rng.Next(1, 8); i > 0; i--) b[rng.Next(headerEnd, b.Length)] ^= (byte)rng.Next(1, 256);
                return b;
            case 3:
                kind = "truncation";
                return b[..rng.Next(0, b.Length)];
            case 4:
                kind = "extension";
                var extra = new byte[rng.Next(1, 64)];
                rng.NextBytes(extra);
                return [.. b, .. extra];
            case 5:
                kind = "header length small change";
                BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)Math.Max(0, headerEnd - 8 + rng.Next(-16, 17)));
                return b;
            default:
                kind = "header length byte flip";
                b[rng.Next(0, 8)] ^= (byte)rng.Next(1, 256);
                return b;
        }
    }

    [Fact]
    public void CorruptedFiles_LoadOrThrowInputException_Only()
    {
        byte[] valid = ValidFile();
        using (var check = SafeTensors.Read(new MemoryStream(valid), "valid"))
            Assert.Equal(6, check.Tensors.Count);

        var rng = new Random(Seed);
        int loaded = 0, rejected = 0;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Cases; i++)
        {
            byte[] bytes = Mutate(valid, rng, out string kind);
            using var scope = NewDisposeScope();
            try
            {
                using var file = SafeTensors.Read(new MemoryStream(bytes), $"case {i}");
                foreach (var (_, t) in file.Tensors)
                    Assert.Contains(t.dtype, new[] { ScalarType.Float32, ScalarType.Float64, ScalarType.Int64 });
                loaded++;
            }
            catch (InputException e)
            {
                Assert.StartsWith($"safetensors file 'case {i}': ", e.Message);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({kind}): {e.GetType().Name}: {e.Message}");
            }
        }
        clock.Stop();
        output.WriteLine($"{Cases} cases: {loaded} loaded, {rejected} rejected, {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(clock.Elapsed < Budget, $"{Cases} cases took {clock.Elapsed.TotalSeconds:F1} s");
        // Both outcomes must occur, or the mutations are not exercising the reader.
        Assert.True(loaded > Cases / 20, $"only {loaded} of {Cases} corrupted files loaded");
        Assert.True(rejected > Cases / 4, $"only {rejected} of {Cases} corrupted files were rejected");
    }

    [Fact]
    public void EveryTruncationOfARealFile_IsRejected()
    {
        byte[] valid = File.ReadAllBytes(InteropTestFiles.Golden("cnn_state.safetensors"));
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(valid);
        // Every cut inside the prefix and header, and a stride through the data.
        var cuts = Enumerable.Range(0, headerEnd + 1).Concat(Enumerable.Range(0, 200).Select(k => headerEnd + 1 + k * (valid.Length - headerEnd - 2) / 200));
        foreach (int cut in cuts)
        {
            var e = Assert.Throws<InputException>(() => SafeTensors.Read(new MemoryStream(valid[..cut]), "cut"));
            Assert.StartsWith("safetensors file 'cut': ", e.Message);
        }
    }
}
