using BenchmarkDotNet.Running;

namespace Geodesy.Bench;

/// <summary>
/// BenchmarkDotNet micro-benchmarks of the curvature kernels (docs/bench.md):
/// dotnet run -c Release --project bench/Geodesy.Bench -- --filter '*'
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        Core.NativeRuntime.Configure(); // the same native settings as the geodesy CLI
        // In process: BenchmarkDotNet's generated per-job project would be built without the
        // linux-x64 libtorch natives (and without the GLIBCXX fix of Directory.Build.targets).
        if (!args.Contains("--inProcess") && !args.Contains("-i")) args = [.. args, "--inProcess"];
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
