using System.Text.Json;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;

namespace Geodesy.Cli.Output;

/// <summary>
/// The JSON document every computing command writes (docs/cli.md): "schema", "cost" {matvecs,
/// gradients, seconds, threads} and "provenance" {version, git, seed, command, data_sha256,
/// weights_sha256}, plus the command's own snake_case keys in <see cref="Root"/>.
/// </summary>
public sealed class JsonReport
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    public JsonReport(string command, IEnumerable<string> commandLine)
    {
        Root["schema"] = $"geodesy.{command}/1";
        Provenance["version"] = Core.Provenance.Version;
        Provenance["git"] = Core.Provenance.GitCommit;
        Provenance["torchsharp"] = Core.Provenance.TorchSharpVersion;
        Provenance["seed"] = null;
        Provenance["command"] = "geodesy " + string.Join(' ', commandLine);
        Provenance["data_sha256"] = null;
        Provenance["weights_sha256"] = null;
        Cost["matvecs"] = 0L;
        Cost["gradients"] = 0L;
        Cost["seconds"] = 0.0;
        Cost["threads"] = TorchSharp.torch.get_num_threads();
        Root["cost"] = Cost;
        Root["provenance"] = Provenance;
    }

    public JsonObject Root { get; } = new();
    public JsonObject Cost { get; } = new();
    public JsonObject Provenance { get; } = new();

    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>Writes the document to a file (atomically) or to stdout for "-".</summary>
    public void Write(string destination, TextWriter stdout)
    {
        Cost["seconds"] = Math.Round(_clock.Elapsed.TotalSeconds, 4);
        string text = Root.ToJsonString(Options);
        if (destination == "-") stdout.WriteLine(text);
        else AtomicFile.WriteAllText(destination, text + "\n");
    }
}
