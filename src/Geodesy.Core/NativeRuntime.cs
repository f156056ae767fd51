using System.Runtime.InteropServices;

namespace Geodesy.Core;

/// <summary>
/// Process-wide settings of the native runtime under libtorch, made once at start-up by every
/// entry point (the CLI, the BenchmarkDotNet runner) before any tensor exists. A value the user
/// set in the environment always wins. docs/bench.md shows what each one changed on a 2-core host.
/// </summary>
public static class NativeRuntime
{
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    private const int MTrimThreshold = -1, MMmapThreshold = -3;

    public static void Configure()
    {
        // libtorch's OpenMP workers spin between parallel regions by default; on a shared machine
        // they burn the cores other processes need (measure --measures all on 2 cores at load 20:
        // 118 s wall spinning, 22 s passive). libgomp reads the policy when libtorch loads.
        SetIfUnset("OMP_WAIT_POLICY", "PASSIVE");
        // Large activations (a CNN on 1,000 images) are tens-of-MB tensors; libtorch backs them with
        // transparent huge pages when asked, which cut page-fault time several-fold here.
        SetIfUnset("THP_MEM_ALLOC_ENABLE", "1");
        KeepFreedMemoryInHeap();
    }

    /// <summary>
    /// glibc serves every allocation above 128 KiB-32 MiB with a fresh mmap and hands freed memory
    /// back to the kernel, so each new activation pays page faults again; in a virtual machine that reports
    /// free pages to its host these are very slow (a ReLU over a 50 MB CNN activation: 26 ms, 9 ms
    /// with the heap reused; one fresh 50 MB clone: 67 ms, 2 ms reused). This raises the mmap
    /// threshold to 1 GiB and turns trimming off (-1, as mallopt(3) documents), so freed tensors are
    /// reused; the process keeps its peak memory until it exits (a CNN Hessian on 1,000 images
    /// levels off at 2 GB). Skipped when the user tuned malloc through the environment.
    /// </summary>
    private static void KeepFreedMemoryInHeap()
    {
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is not null
            || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null) return;
        try
        {
            MallOpt(MMmapThreshold, 1 << 30);
            MallOpt(MTrimThreshold, -1);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc: keep the allocator's defaults.
        }
    }

    /// <summary>Sets a variable in the process's native environment (Environment.SetEnvironmentVariable does not reach getenv on Linux).</summary>
    private static void SetIfUnset(string name, string value)
    {
        try
        {
            SetEnv(name, value, overwrite: 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not a glibc system: keep libtorch's defaults.
        }
    }
}
