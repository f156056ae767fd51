using System.CommandLine;
using Geodesy.Experiments.Reports;

namespace Geodesy.Cli.Commands;

/// <summary>`geodesy plot RUN_DIR [RUN_DIR...] [--out DIR]`: PNGs of the training curves and every probe (<see cref="RunPlots"/>).</summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("RUN_DIR") { Description = "Run folders of 'geodesy train' (several: overlaid, labelled by the settings in which they differ)", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string?>("--out") { Description = "Folder for the PNGs (default: RUN_DIR/plots for one run, ./plots for several)" };
        var cmd = new Command("plot", "Plot the training curves and every probe of one or more runs as PNGs: value against step, the 2/lr line on sharpness, clean vs noisy learning curves (docs/probes.md).")
        { runs, outDir };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var dirs = parse.GetValue(runs)!;
            var loaded = RunPlots.Load(dirs);
            string target = parse.GetValue(outDir) ?? (dirs.Length == 1 ? Path.Combine(dirs[0], "plots") : "plots");
            if (File.Exists(target)) throw new Core.InputException($"--out '{target}' is a file, not a folder");
            var files = RunPlots.Write(loaded, target);
            foreach (var f in files) output.WriteLine(Path.Combine(target, f));
            output.WriteLine($"{files.Count} plots written to {target}");
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
