using System.Runtime.InteropServices;
using Geodesy.Cli;

// libtorch's OpenMP workers spin between parallel regions by default; on a shared machine they
// burn the cores other processes need (measure --measures all on 2 cores at load 20: 118 s wall
// spinning, 22 s passive). libgomp reads the policy when libtorch loads, so it is set in the native
// environment before any tensor exists; a value the user set wins.
NativeEnvironment.SetIfUnset("OMP_WAIT_POLICY", "PASSIVE");
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
