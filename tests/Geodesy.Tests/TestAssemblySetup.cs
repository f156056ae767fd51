using System.Runtime.CompilerServices;

namespace Geodesy.Tests;

internal static class TestAssemblySetup
{
    /// <summary>
    /// libtorch's thread count is process-wide. xunit already runs test classes in parallel on the
    /// cores, and tests that run the CLI in-process with --threads would otherwise change it under
    /// other tests' feet (bit-identical checks depend on it). So the whole suite uses one thread.
    /// </summary>
    [ModuleInitializer]
    internal static void PinLibTorchThreads() => TorchSharp.torch.set_num_threads(1);
}
