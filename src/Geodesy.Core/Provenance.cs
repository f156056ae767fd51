using System.Reflection;
using System.Security.Cryptography;

namespace Geodesy.Core;

/// <summary>Where a number came from: code version, git commit, hashes of inputs.</summary>
public static class Provenance
{
    /// <summary>The Geodesy version, e.g. "0.1.0".</summary>
    public static string Version { get; } =
        typeof(Provenance).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>The git commit the build came from (set at build time), or "unknown".</summary>
    public static string GitCommit { get; } =
        typeof(Provenance).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "GitCommit")?.Value is { Length: > 0 } c ? c : "unknown";

    /// <summary>TorchSharp's version, recorded with every run.</summary>
    public static string TorchSharpVersion { get; } =
        typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    public static string Sha256Hex(ReadOnlySpan<byte> bytes) =>
        Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Sha256OfFile(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
