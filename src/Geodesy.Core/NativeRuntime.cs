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

    [DllImport("libc", EntryPoint = "getenv")]
    private static extern IntPtr GetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    private const int MTrimThreshold = -1, MMmapThreshold = -3;

    /// <summary>Spin iterations of an idle OpenMP worker before it sleeps (libgomp's default: 300,000).</summary>
    public const string SpinCount = "1000";

    /// <summary>The variables this class sets or honours, as the native environment has them now (null: unset).</summary>
    public static IReadOnlyDictionary<string, string?> Settings() =>
        new[] { "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "THP_MEM_ALLOC_ENABLE", "GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_" }
            .ToDictionary(n => n, GetVariable);

    public static void Configure()
    {
        // OpenMP waiting (libgomp, bundled with libtorch, reads these when libtorch loads). Between
        // two parallel regions a worker thread first spins GOMP_SPINCOUNT times, then sleeps on a
        // futex. libgomp's default spin (300,000) is fast on a quiet machine but collapses under
        // foreign load: a spinning thread burns the time slice its descheduled partner needs
        // (training mlp:784-100-10 on 2 cores with two busy loops running: 0.34-0.98 s per epoch,
        // against 0.04 s quiet). Sleeping at once (OMP_WAIT_POLICY=PASSIVE) survives load but pays a
        // futex wake-up per small op: 4x slower quiet. 1,000 spins keep the quiet speed, match
        // PASSIVE beside two busy loops, and at load 25 stay within 3-4x of it where the default
        // took 10-100x (docs/bench.md, "Threads and waiting"; 300 spins were already as slow as
        // PASSIVE quiet). Workers of a sweep get cores / workers threads each (SweepRunner), so
        // they never oversubscribe.
        if (GetVariable("OMP_WAIT_POLICY") is null) SetIfUnset("GOMP_SPINCOUNT", SpinCount);
        // Large activations (a CNN on 1,000 images) are tens-of-MB tensors; libtorch backs them with
        // transparent huge pages when asked, which cut page-fault time several-fold here.
        SetIfUnset("THP_MEM_ALLOC_ENABLE", "1");
        KeepFreedMemoryInHeap();
    }

    /// <summary>
    /// Below this many elements the solvers' own vector work (reorthogonalization against a Krylov
    /// basis) runs on one thread: 2 threads save microseconds on it but pay an OpenMP wake-up per
    /// operation, because the workers went to sleep during the product before (short spin, above).
    /// On mlp:784-32-32-10 (26,506 parameters) that wake-up was most of the Lanczos loop's time.
    /// </summary>
    public const long SerialBelowElements = 1L << 22;

    /// <summary>
    /// Runs the operations until Dispose on one libtorch thread when the work touches fewer than
    /// <see cref="SerialBelowElements"/> elements and more threads are set; restores the count after.
    /// Results differ from the threaded ones only by summation order.
    /// </summary>
    public static SerialScope SerialIfSmall(long elements) => new(elements < SerialBelowElements ? TorchSharp.torch.get_num_threads() : 1);

    /// <summary>The thread count to restore (1: nothing was changed).</summary>
    public readonly struct SerialScope : IDisposable
    {
        private readonly int _restore;

        internal SerialScope(int restore)
        {
            _restore = restore;
            if (restore > 1) TorchSharp.torch.set_num_threads(1);
        }

        public void Dispose()
        {
            if (_restore > 1) TorchSharp.torch.set_num_threads(_restore);
        }
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

    /// <summary>A variable of the process's native environment (which sees what <see cref="SetIfUnset"/> set).</summary>
    private static string? GetVariable(string name)
    {
        try
        {
            var p = GetEnv(name);
            return p == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(p);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return Environment.GetEnvironmentVariable(name);
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
