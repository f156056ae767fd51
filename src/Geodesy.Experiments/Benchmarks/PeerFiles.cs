using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Geodesy.Core.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>
/// The files the peer benchmark hands to Python: arrays as NumPy .npy (format 1.0: magic, a
/// little-endian u16 header length, a Python-literal header padded to 64 bytes, raw C-order data).
/// </summary>
public static class Npy
{
    public static void Write(string path, Tensor tensor)
    {
        string descr = tensor.dtype switch
        {
            ScalarType.Float32 => "<f4",
            ScalarType.Float64 => "<f8",
            ScalarType.Int64 => "<i8",
            _ => throw new ArgumentException($"npy writing supports float32, float64 and int64, not {tensor.dtype}", nameof(tensor)),
        };
        string shape = tensor.shape.Length == 1
            ? $"({tensor.shape[0].ToString(CultureInfo.InvariantCulture)},)"
            : "(" + string.Join(", ", tensor.shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        const int prefix = 10; // magic (6) + version (2) + header length (2)
        int padded = (prefix + header.Length + 1 + 63) / 64 * 64 - prefix;
        header = header.PadRight(padded - 1) + "\n";
        AtomicFile.Write(path, s =>
        {
            s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
            s.Write([(byte)(header.Length & 0xff), (byte)(header.Length >> 8)]);
            s.Write(Encoding.ASCII.GetBytes(header));
            using var scope = NewDisposeScope();
            s.Write(tensor.detach().cpu().contiguous().bytes);
        });
    }
}

/// <summary>Which native libraries a process has mapped: the evidence of what BLAS, OpenMP and oneDNN it runs on.</summary>
public static class LoadedLibraries
{
    private static readonly string[] Interesting = ["torch", "c10", "gomp", "omp", "mkl", "dnnl", "blas", "lapack"];

    /// <summary>Resolved paths of the shared objects in /proc/self/maps whose names mention BLAS, OpenMP, MKL, oneDNN or torch; empty off Linux.</summary>
    public static IReadOnlyList<string> OfThisProcess() => Parse(File.Exists("/proc/self/maps") ? File.ReadLines("/proc/self/maps") : []);

    /// <summary>The interesting library paths among /proc/PID/maps lines (last column: the mapped file).</summary>
    public static IReadOnlyList<string> Parse(IEnumerable<string> mapsLines)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var line in mapsLines)
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            string path = line[slash..].Trim();
            string name = Path.GetFileName(path).ToLowerInvariant();
            if (!name.Contains(".so", StringComparison.Ordinal)) continue;
            if (Interesting.Any(k => name.Contains(k, StringComparison.Ordinal))) found.Add(path);
        }
        return found.ToArray();
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void VersionString(byte[] buffer, int length);

    /// <summary>An int-valued native function without arguments (MKL_Get_Max_Threads, mkl_serv_intel_cpu_true).</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MaxThreads();

    /// <summary>
    /// The MKL that a mapped library exports (libtorch's CPU build links MKL and oneDNN statically
    /// into libtorch_cpu.so, so they never show up as files of their own): its version string,
    /// thread count and whether it takes its Intel code path (mkl_serv_intel_cpu_true() != 0: an
    /// Intel CPU, or the build's patch for AMD, docs/bench.md "BLAS kernels"; null when not exported),
    /// or null when no mapped library exports MKL_Get_Version_String.
    /// </summary>
    public static (string Library, string Version, int MaxThreads, bool? IntelCodePath)? Mkl(IEnumerable<string> libraries)
    {
        foreach (var path in libraries)
        {
            if (!NativeLibrary.TryLoad(path, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "MKL_Get_Version_String", out var version)) continue;
            var buffer = new byte[256];
            Marshal.GetDelegateForFunctionPointer<VersionString>(version)(buffer, buffer.Length);
            string text = Encoding.ASCII.GetString(buffer).TrimEnd('\0', ' ');
            int threads = NativeLibrary.TryGetExport(handle, "MKL_Get_Max_Threads", out var max)
                ? Marshal.GetDelegateForFunctionPointer<MaxThreads>(max)() : -1;
            bool? intel = NativeLibrary.TryGetExport(handle, "mkl_serv_intel_cpu_true", out var isIntel)
                ? Marshal.GetDelegateForFunctionPointer<MaxThreads>(isIntel)() != 0 : null;
            return (path, text, threads, intel);
        }
        return null;
    }
}
