using System.Text;

namespace Geodesy.Core.Data;

/// <summary>What the synthetic generators share: a size limit and the identity of generated data.</summary>
internal static class Synthetic
{
    /// <summary>Largest number of input floats generated (400 MB of float32).</summary>
    public const long MaxElements = 100_000_000;

    public static void CheckSize(SpecArgs args, long elements)
    {
        if (elements > MaxElements)
            throw args.Error($"would generate {elements} input values, more than the limit of {MaxElements}");
    }

    /// <summary>Generated data is identified by its generator version and every resolved parameter.</summary>
    public static string SourceSha(SpecArgs args) =>
        Provenance.Sha256Hex(Encoding.UTF8.GetBytes("geodesy-synthetic/1\n" + args.Canonical));
}
