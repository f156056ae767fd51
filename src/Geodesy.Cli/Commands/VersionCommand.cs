using System.CommandLine;
using Geodesy.Core;

namespace Geodesy.Cli.Commands;

public static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Print Geodesy's version, git commit, TorchSharp version and thread count.");
        cmd.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"geodesy {Provenance.Version} (git {Provenance.GitCommit})");
            o.WriteLine($"TorchSharp {Provenance.TorchSharpVersion}, {TorchSharp.torch.get_num_threads()} threads");
            return 0;
        });
        return cmd;
    }
}
