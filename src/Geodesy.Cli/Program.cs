using System.Runtime.InteropServices;
using Geodesy.Cli;

// libtorch's OpenMP workers spin between parallel regions by default; on a shared machine they
// burn the cores other processes need (measure --measures all on 2 cores at load 20: 118 s wall
// spinning, 22 s passive). libgomp reads the policy when libtorch loads, so it is set in the native
// environment before any tensor exists; a value the user set wins.
NativeEnvironment.SetIfUnset("OMP_WAIT_POLICY", "PASSIVE");
// Large activations (a CNN on 1,000 images) are fresh tens-of-MB tensors; libtorch backs them with
// transparent huge pages when asked, which cut page-fault time several-fold here (docs/bench.md).
NativeEnvironment.SetIfUnset("THP_MEM_ALLOC_ENABLE", "1");
return GeodesyCli.Run(args);

internal static class NativeEnvironment
{
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    /// <summary>Sets a variable in the process's native environment (Environment.SetEnvironmentVariable does not reach getenv on Linux).</summary>
    public static void SetIfUnset(string name, string value)
    {
        try
        {
            SetEnv(name, value, overwrite: 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not a glibc system: keep libtorch's default.
        }
    }
}
