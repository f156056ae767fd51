using System.Text.Json.Nodes;
using Geodesy.Experiments.Benchmarks;
using TorchSharp;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Benchmarks;

/// <summary>
/// `geodesy bench peer` without PyTorch: the ratio arithmetic and JSON shape on hand-made
/// samples, the .npy files it hands to Python, the library listing, the line protocol with a
/// stand-in for Python, and the errors that must come before any work.
/// </summary>
public class PeerBenchmarkTests
{
    private static PeerItem Item(string name, double? target = null) =>
        new(name, "work", "geodesy way", "pytorch way", target,
            [new("loss", AgreementKind.Scalar), new("eigenvalues", AgreementKind.SortedDescending), new("norms", AgreementKind.Elementwise)], ["norms"]);

    private static PeerSample Sample(double ms, JsonObject? detail = null) => new(ms, detail ?? new JsonObject());

    [Fact]
    public void RatioIsTheMedianOfPerRoundRatiosNotTheRatioOfMedians()
    {
        var pair = new PeerPair(Item("grad", target: 1.15));
        // Rounds: 1/1, 4/2, 9/10 -> ratios 1, 2, 0.9; median 1. Medians of the times: 4 and 2 (ratio 2).
        pair.Add(Sample(1), Sample(1));
        pair.Add(Sample(4), Sample(2));
        pair.Add(Sample(9), Sample(10));
        Assert.Equal([1.0, 2.0, 0.9], pair.Ratios);
        Assert.Equal(1.0, pair.Ratio, 12);
        Assert.True(pair.MeetsTarget);

        var json = pair.ToJson();
        Assert.Equal(1.0, (double)json["ratio"]!, 12);
        Assert.Equal(4.0, (double)json["geodesy_median_ms"]!, 12);
        Assert.Equal(2.0, (double)json["pytorch_median_ms"]!, 12);
        Assert.Equal(3, json["ratios"]!.AsArray().Count);
        Assert.Equal(1.15, (double)json["target_max_ratio"]!, 12);
        Assert.True((bool)json["meets_target"]!);
        foreach (var key in new[] { "work", "geodesy_method", "pytorch_method", "geodesy_ms", "pytorch_ms", "agreement", "geodesy", "pytorch" })
            Assert.True(json.ContainsKey(key), key);
    }

    [Fact]
    public void EvenRoundCountAveragesTheMiddleRatiosAndMissedTargetsSaySo()
    {
        var pair = new PeerPair(Item("eigen_top10", target: 1.0 / 3));
        pair.Add(Sample(1), Sample(4)); // 0.25
        pair.Add(Sample(1), Sample(2)); // 0.5
        Assert.Equal(0.375, pair.Ratio, 12);
        Assert.False(pair.MeetsTarget);
        var untargeted = new PeerPair(Item("trace_hutchinson"));
        untargeted.Add(Sample(1), Sample(2));
        Assert.Null(untargeted.MeetsTarget);
        Assert.Null(untargeted.ToJson()["target_max_ratio"]);
    }

    [Fact]
    public void AgreementComparesTheLastRoundsAnswersAndDropsBulkyArrays()
    {
        var pair = new PeerPair(Item("x"));
        pair.Add(Sample(1, new JsonObject { ["loss"] = 9.0 }), Sample(1, new JsonObject { ["loss"] = 1.0 }));
        pair.Add(
            Sample(1, new JsonObject { ["loss"] = 1.01, ["eigenvalues"] = new JsonArray(1.0, 3.0, 2.0), ["norms"] = new JsonArray(10.0, 0.001) }),
            Sample(1, new JsonObject { ["loss"] = 1.0, ["eigenvalues"] = new JsonArray(3.0, 2.0, 1.1), ["norms"] = new JsonArray(10.0, 0.002) }));
        var agreement = pair.Agreement();
        Assert.Equal(0.01, (double)agreement["loss_relative_difference"]!, 9);
        // Sorted descending: (3, 2, 1) against (3, 2, 1.1): |1 - 1.1| / 1.1.
        Assert.Equal(0.1 / 1.1, (double)agreement["eigenvalues_relative_difference"]!, 9);
        // Element-wise, relative to the largest magnitude (10), not to the tiny second entry.
        Assert.Equal(0.001 / 10, (double)agreement["norms_relative_difference"]!, 9);
        var json = pair.ToJson();
        Assert.False(json["geodesy"]!.AsObject().ContainsKey("norms"));
        Assert.True(json["geodesy"]!.AsObject().ContainsKey("eigenvalues"));
        Assert.Null(PeerPair.RelativeDifference([1, 2], [1], AgreementKind.Elementwise));
    }

    [Fact]
    public void NpyFilesHaveAnAlignedHeaderAndTheRawData()
    {
        using var tmp = new TempDir();
        string path = tmp["a.npy"];
        using (var t = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }).reshape(2, 3)) Npy.Write(path, t);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
        int headerLength = bytes[8] | (bytes[9] << 8);
        Assert.Equal(0, (10 + headerLength) % 64);
        string header = System.Text.Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.Equal("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header.TrimEnd());
        Assert.EndsWith("\n", header);
        Assert.Equal(10 + headerLength + 6 * 4, bytes.Length);
        Assert.Equal(6f, BitConverter.ToSingle(bytes, bytes.Length - 4));

        using (var labels = torch.tensor(new long[] { 7, 8, 9 })) Npy.Write(tmp["b.npy"], labels);
        var b = File.ReadAllBytes(tmp["b.npy"]);
        Assert.Contains("'descr': '<i8'", System.Text.Encoding.ASCII.GetString(b, 10, b[8] | (b[9] << 8)));
        Assert.Contains("'shape': (3,)", System.Text.Encoding.ASCII.GetString(b, 10, b[8] | (b[9] << 8)));
    }

    [Fact]
    public void LoadedLibrariesPicksBlasOpenMpAndTorchFromMapsLines()
    {
        var lines = new[]
        {
            "7f1c0000-7f1c1000 r-xp 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3",
            "7f1c1000-7f1c2000 r--p 00001000 08:01 1234 /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3",
            "7f1d0000-7f1d1000 r-xp 00000000 08:01 99 /opt/app/libgomp-98b21ff3.so.1",
            "7f1e0000-7f1e1000 r-xp 00000000 08:01 98 /opt/app/libtorch_cpu.so",
            "7f1f0000-7f1f1000 r-xp 00000000 08:01 97 /usr/lib/x86_64-linux-gnu/libc.so.6",
            "7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]",
        };
        Assert.Equal(
            ["/opt/app/libgomp-98b21ff3.so.1", "/opt/app/libtorch_cpu.so", "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"],
            LoadedLibraries.Parse(lines));
    }

    [Fact]
    public void BuiltLibTorchRunsMklOnItsFeatureDispatchedKernels()
    {
        // The build patches mkl_serv_intel_cpu_true in the output copy of libtorch_cpu.so to return 1
        // (Directory.Build.targets), so MKL picks AVX2/AVX-512 kernels by cpuid on AMD processors too;
        // on Intel it answers 1 anyway. Either way a tensor op has loaded the library by now.
        using (var t = TorchSharp.torch.ones(2)) Assert.Equal(2.0, t.sum().ToDouble());
        var libraries = LoadedLibraries.OfThisProcess().Where(p => Path.GetFileName(p).StartsWith("libtorch_cpu", StringComparison.Ordinal));
        var mkl = LoadedLibraries.Mkl(libraries);
        Assert.NotNull(mkl);
        Assert.True(mkl.Value.IntelCodePath);
    }

    [Fact]
    public void PythonPeerSpeaksTheLineProtocolAndReportsErrorsAsOneLine()
    {
        using var tmp = new TempDir();
        // A stand-in for python3 that answers like peer.py: ready, one reply, then an error.
        string fake = tmp["fake-python"];
        File.WriteAllText(fake, """
            #!/bin/sh
            echo '{"ready": true, "libraries": {"torch_version": "fake"}}'
            read request
            echo '{"item": "grad", "ms": 2.5, "detail": {"loss": 0.5}}'
            read request
            echo '{"error": "ValueError: no such thing"}'
            """.Replace("\r", ""));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string job = tmp["job.json"];
        File.WriteAllText(job, "{}");
        using var peer = PythonPeer.Start(fake, job, TimeSpan.FromSeconds(30));
        Assert.Equal("fake", (string?)peer.Libraries["torch_version"]);
        Assert.True(File.Exists(tmp["peer.py"])); // the embedded script is written next to the job
        var sample = peer.Run("grad", warmup: false);
        Assert.Equal(2.5, sample.Milliseconds);
        Assert.Equal(0.5, (double)sample.Detail["loss"]!);
        var e = Assert.Throws<Geodesy.Core.ComputationException>(() => peer.Run("hvp", warmup: false));
        Assert.Equal("PyTorch peer, work item 'hvp': ValueError: no such thing", e.Message);
    }

    [Fact]
    public void PeakMemoryWrapperReportsItsChildsOwnPeakAndItsFailures()
    {
        const string python = "/usr/bin/python3"; // Debian's, standard library only: the wrapper needs no torch
        if (!File.Exists(python)) return;
        using var tmp = new TempDir();
        string script = PythonPeer.WriteScript(tmp.Path);
        // A child that writes 300 MiB peaks above it; the wrapper's own memory is not counted.
        var big = PeerMemory.PeakMemory(python, script, [python, "-c", "x = b'x' * (300 << 20)"], TimeSpan.FromMinutes(2), removeOpenBlasVariables: true);
        Assert.InRange(big.PeakKb, 300 * 1024, 1024 * 1024);
        var small = PeerMemory.PeakMemory(python, script, [python, "-c", "pass"], TimeSpan.FromMinutes(2), removeOpenBlasVariables: true);
        Assert.True(small.PeakKb < 100 * 1024, $"an empty child peaked at {small.PeakKb} kB");
        var e = Assert.Throws<Geodesy.Core.ComputationException>(() =>
            PeerMemory.PeakMemory(python, script, ["/bin/sh", "-c", "echo boom >&2; exit 3"], TimeSpan.FromMinutes(2), removeOpenBlasVariables: true));
        Assert.Contains("exit 3", e.Message);
        Assert.Contains("boom", e.Message);
    }

    [Fact]
    public void MissingPythonAndUnknownItemsAreUsageErrorsBeforeAnyWork()
    {
        AssertUsageError(RunCli("bench", "peer", "--python", "/nonexistent/python3"), "--python");
        AssertUsageError(RunCli("bench", "peer", "--python", "/bin/sh", "--items", "grad,bogus"), "unknown work item 'bogus'");
        AssertUsageError(RunCli("bench", "peer", "--python", "/bin/sh", "--rounds", "0"), "--rounds");
        AssertUsageError(RunCli("bench", "peer", "--python", "/bin/sh", "--memory-examples", "-1"), "--memory-examples");
    }
}
