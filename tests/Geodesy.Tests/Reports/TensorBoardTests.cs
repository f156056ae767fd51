using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Experiments.Reports;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Reports;

/// <summary>
/// TensorBoard event files: read back by a reader written here from the TFRecord and protobuf
/// specifications (bitwise CRC-32C, generic wire-format decoding), and, when Debian's
/// python3-protobuf is installed, by Google's protobuf parser (tools/tensorboard/read_events.py).
/// </summary>
public class TensorBoardTests
{
    private const string Data = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    /// <summary>One decoded value: a scalar or a histogram at a step.</summary>
    public sealed record Entry(long Step, string Tag, float? Scalar, Dictionary<int, List<object>>? Histogram);

    /// <summary>Reads an event file, checking both CRCs of every record; returns the file version and the values.</summary>
    public static (string Version, List<Entry> Entries) ReadEvents(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        string version = "";
        var entries = new List<Entry>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(pos));
            Assert.Equal(MaskedCrc(bytes.AsSpan(pos, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 8)));
            var payload = bytes.AsSpan(pos + 12, (int)length);
            Assert.Equal(MaskedCrc(payload), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 12 + (int)length)));
            pos += 16 + (int)length;
            var e = Decode(payload.ToArray());
            if (e.TryGetValue(3, out var v)) version = Encoding.UTF8.GetString((byte[])v[0]);
            long step = e.TryGetValue(2, out var s) ? (long)(ulong)s[0] : 0;
            Assert.True(e.ContainsKey(1), "every event has a wall_time");
            if (!e.TryGetValue(5, out var summaries)) continue;
            foreach (byte[] value in Decode((byte[])summaries[0])[1].Cast<byte[]>())
            {
                var fields = Decode(value);
                string tag = Encoding.UTF8.GetString((byte[])fields[1][0]);
                entries.Add(fields.TryGetValue(5, out var h)
                    ? new Entry(step, tag, null, Decode((byte[])h[0]))
                    : new Entry(step, tag, BitConverter.Int32BitsToSingle((int)(uint)fields[2][0]), null));
            }
        }
        return (version, entries);
    }

    /// <summary>Protobuf wire format: field number → values (ulong for varint, ulong for fixed64, uint for fixed32, byte[] for length-delimited).</summary>
    private static Dictionary<int, List<object>> Decode(byte[] b)
    {
        var fields = new Dictionary<int, List<object>>();
        int i = 0;
        ulong Varint()
        {
            ulong r = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte x = b[i++];
                r |= (ulong)(x & 0x7F) << shift;
                if (x < 0x80) return r;
            }
        }
        while (i < b.Length)
        {
            ulong key = Varint();
            int field = (int)(key >> 3);
            object value = (key & 7) switch
            {
                0 => Varint(),
                1 => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan((i += 8) - 8)),
                5 => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((i += 4) - 4)),
                2 => Bytes((int)Varint()),
                var w => throw new InvalidDataException($"wire type {w}"),
            };
            if (!fields.TryGetValue(field, out var list)) fields[field] = list = [];
            list.Add(value);
        }
        return fields;

        byte[] Bytes(int length)
        {
            var bytes = b.AsSpan(i, length).ToArray();
            i += length;
            return bytes;
        }
    }

    private static double[] PackedDoubles(object bytes)
    {
        var b = (byte[])bytes;
        return Enumerable.Range(0, b.Length / 8).Select(k => BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(8 * k))).ToArray();
    }

    private static double Fixed64(object v) => BitConverter.UInt64BitsToDouble((ulong)v);

    /// <summary>CRC-32C bit by bit (no table), masked as in TFRecord.</summary>
    private static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte x in data)
        {
            crc ^= x;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        crc ^= 0xFFFFFFFF;
        return unchecked(((crc >> 15) | (crc << 17)) + 0xA282EAD8);
    }

    [Fact]
    public void Crc32CMatchesTheStandardCheckValue() =>
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789"))); // RFC 3720 check value

    [Fact]
    public void ScalarsAndHistogramsReadBackWithValidCrcs()
    {
        using var tmp = new TempDir();
        string path;
        using (var w = new TensorBoardEventWriter(tmp.Path))
        {
            path = w.FilePath;
            w.Scalar("train/loss", 0, 2.5);
            w.Scalar("train/loss", 300, 0.125);
            w.Histogram("weights/0.weight", 7, new double[] { -1, 0, 0, 0.5, 1, 3 }, buckets: 4);
        }
        Assert.Matches(@"^events\.out\.tfevents\.\d+\..+$", Path.GetFileName(path));
        var (version, entries) = ReadEvents(path);
        Assert.Equal("brain.Event:2", version);
        Assert.Equal([(0L, 2.5f), (300L, 0.125f)], entries.Where(e => e.Tag == "train/loss").Select(e => (e.Step, e.Scalar!.Value)));
        var h = entries.Single(e => e.Tag == "weights/0.weight");
        Assert.Equal(7, h.Step);
        var f = h.Histogram!;
        // By hand: min -1, max 3, 6 values, sum 3.5, squares 11.25; buckets of width 1 ending at 0, 1, 2, 3,
        // each holding limit[i-1] <= x < limit[i] as TensorFlow's Histogram::Add counts (the last one also holds the max).
        Assert.Equal([-1.0, 3.0, 6.0, 3.5, 11.25], new[] { 1, 2, 3, 4, 5 }.Select(k => Fixed64(f[k][0])));
        Assert.Equal([0.0, 1, 2, 3], PackedDoubles(f[6][0]));
        Assert.Equal([1.0, 3, 1, 1], PackedDoubles(f[7][0]));
    }

    [Fact]
    public void TrainWritesMetricsProbesAndHistograms()
    {
        using var tmp = new TempDir();
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "2", "--lr", "0.1", "--batch", "50",
            "--probe", "weights", "--probe", "fisher-trace@every=3", "--probe-examples", "40",
            "--out", tmp["run"], "--tensorboard", tmp["tb"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var file = Assert.Single(Directory.GetFiles(tmp["tb"]));
        var (_, entries) = ReadEvents(file);

        // Every evaluation row of metrics.jsonl, as float32 scalars at its step.
        var metrics = File.ReadAllLines(tmp["run/metrics.jsonl"]).Select(l => JsonNode.Parse(l)!).Where(n => n["train_loss"] is not null).ToList();
        Assert.Equal(metrics.Select(m => ((long)m["step"]!, (float)(double)m["train_loss"]!)),
            entries.Where(e => e.Tag == "train/loss").Select(e => (e.Step, e.Scalar!.Value)));
        Assert.Equal(metrics.Count, entries.Count(e => e.Tag == "test/accuracy"));

        // Every probe row: its value and its numbers.
        var probes = File.ReadAllLines(tmp["run/probes.jsonl"]).Select(l => JsonNode.Parse(l)!).ToList();
        foreach (var row in probes)
        {
            string series = (string)row["probe"]! + (row["set"] is { } set ? "/" + (string)set! : "");
            long step = (long)row["step"]!;
            Assert.Contains(entries, e => e.Tag == "probe/" + series && e.Step == step && e.Scalar == (float)(double)row["value"]!);
        }
        Assert.Contains(entries, e => e.Tag == "probe/weights/distance_from_init");
        Assert.Contains(entries, e => e.Tag == "probe/weights/layer_norms/0.weight");
        Assert.Contains(entries, e => e.Tag == "probe/fisher-trace/batch" && e.Step == 3);
        Assert.Contains(entries, e => e.Tag == "probe/fisher-trace/probe" && e.Step == 3);

        // Histograms after each epoch: weights from epoch 0, gradients once a step has been taken.
        Assert.Equal(3, entries.Count(e => e.Tag == "weights/0.weight"));
        Assert.Equal(2, entries.Count(e => e.Tag == "gradients/2.bias"));
        var final = entries.Last(e => e.Tag == "weights/0.weight").Histogram!;
        Assert.Equal(6 * 8, Fixed64(final[3][0]));
        Assert.Equal(48, PackedDoubles(final[7][0]).Sum());
    }

    [Fact]
    public void TensorBoardFolderThatIsAFileOrInsideTheRunIsAnInputError()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["tb"], "");
        AssertUsageError(RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["run"], "--tensorboard", tmp["tb"]), "--tensorboard");
        AssertUsageError(RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["run"], "--tensorboard", tmp["run/tb"]), "inside the run folder");
        Assert.False(Directory.Exists(tmp["run"]));
    }

    /// <summary>The golden check: Google's protobuf parser reads the same tags, steps and values (skipped without python3-protobuf).</summary>
    [Fact]
    [Trait(TestCategory.Key, TestCategory.Slow)]
    public void GoogleProtobufReadsTheSameEvents()
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python) || Process(python, "-c", "import google.protobuf").Code != 0) return; // apt-get install python3-protobuf to run it
        using var tmp = new TempDir();
        var r = RunCli("train", "--data", Data, "--arch", "mlp:6-8-3", "--epochs", "1", "--lr", "0.1", "--batch", "100",
            "--probe", "weights", "--out", tmp["run"], "--tensorboard", tmp["tb"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string file = Directory.GetFiles(tmp["tb"]).Single();
        var (code, stdout, stderr) = Process(python, Path.Combine(RepoRoot(), "tools", "tensorboard", "read_events.py"), file);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal("brain.Event:2", (string?)lines[0]["file_version"]);
        var ours = ReadEvents(file).Entries;
        var theirs = lines.Skip(1).ToList();
        Assert.Equal(ours.Count, theirs.Count);
        for (int i = 0; i < ours.Count; i++)
        {
            Assert.Equal(ours[i].Tag, (string?)theirs[i]["tag"]);
            Assert.Equal(ours[i].Step, (long)theirs[i]["step"]!);
            if (ours[i].Scalar is { } s) Assert.Equal(s, (float)(double)theirs[i]["simple_value"]!);
            else Assert.Equal(PackedDoubles(ours[i].Histogram![7][0]), theirs[i]["histo"]!["bucket"]!.AsArray().Select(x => (double)x!));
        }
    }

    private static (int Code, string Stdout, string Stderr) Process(string exe, params string[] args)
    {
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Geodesy.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
