using System.CommandLine;
using System.Text.Json.Nodes;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Training.Pruning;
using Geodesy.Experiments.Pruning;

namespace Geodesy.Cli.Commands;

/// <summary>`geodesy prune`: iterative magnitude pruning of a finished run (docs/training-techniques.md).</summary>
public static class PruneCommand
{
    public const string JsonFile = "prune.json";

    public static Command Create()
    {
        var run = CommonOptions.Run("its spec, data, final weights and the weights to rewind to");
        run.Required = true;
        var rounds = new Option<int>("--rounds") { Description = "Pruning rounds", Required = true };
        var rate = new Option<double>("--rate") { Description = "Fraction of the remaining weights pruned each round, in (0, 1)", Required = true };
        var rewindStep = new Option<long?>("--rewind-step") { Description = "Rewind the survivors to the run's weights at step K before retraining (default 0 = init; K > 0 needs a checkpoint, train with --checkpoint-steps K)" };
        var fineTune = new Option<bool>("--fine-tune") { Description = "Keep the trained weights and retrain at the final learning rate (Renda et al. 2020)" };
        var lrRewind = new Option<bool>("--lr-rewind") { Description = "Keep the trained weights and retrain with the original learning-rate schedule (Renda et al. 2020)" };
        var global = new Option<bool>("--global") { Description = "Rank weights by magnitude over all layers together (the default)" };
        var perLayer = new Option<bool>("--per-layer") { Description = "Prune the same fraction in each layer" };
        var outDir = new Option<string>("--out") { Description = "Folder to create: round-NN/mask.safetensors, round-NN/final.safetensors, prune.json", Required = true };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("prune", "Iterative magnitude pruning of a run with weight rewinding, fine-tuning or learning-rate rewinding; sparsity, accuracy and gap per round.");
        foreach (var o in new Option[] { run, rounds, rate, rewindStep, fineTune, lrRewind, global, perLayer, outDir, threads, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            bool ft = parse.GetValue(fineTune), lr = parse.GetValue(lrRewind);
            long? k = parse.GetValue(rewindStep);
            if ((ft ? 1 : 0) + (lr ? 1 : 0) + (k.HasValue ? 1 : 0) > 1)
                throw new InputException("give at most one of --rewind-step, --fine-tune and --lr-rewind");
            if (parse.GetValue(global) && parse.GetValue(perLayer)) throw new InputException("give either --global or --per-layer, not both");
            var options = new PruneOptions(parse.GetValue(rounds), parse.GetValue(rate),
                ft ? RetrainMode.FineTune : lr ? RetrainMode.LrRewind : RetrainMode.Rewind, k ?? 0,
                parse.GetValue(perLayer) ? PruningScope.PerLayer : PruningScope.Global);
            options.Validate();
            string runDir = parse.GetValue(run)!;
            var report = new JsonReport("prune", parse.Tokens.Select(t => t.Value));
            output.WriteLine($"pruning {runDir}: {options.Rounds} rounds of {options.Rate:G4}, {options.ModeName}{(options.Mode == RetrainMode.Rewind ? $" to step {options.RewindStep}" : "")}, {(options.Scope == PruningScope.Global ? "global" : "per layer")}");
            var result = PruneExperiment.Run(runDir, options, parse.GetValue(outDir)!, line => output.WriteLine(line), (folder, r) =>
            {
                Fill(report, runDir, options, r);
                report.Write(Path.Combine(folder, JsonFile), output);
            });
            output.WriteLine($"written to {Path.GetFullPath(parse.GetValue(outDir)!)}");
            if (parse.GetValue(json) is { } dest) report.Write(dest, output);
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static void Fill(JsonReport report, string runDir, PruneOptions o, PruneResult r)
    {
        report.Root["run"] = Path.GetFullPath(runDir);
        report.Root["rounds"] = o.Rounds;
        report.Root["rate"] = o.Rate;
        report.Root["mode"] = o.ModeName;
        report.Root["rewind_step"] = o.Mode == RetrainMode.Rewind ? o.RewindStep : null;
        report.Root["scope"] = o.Scope == PruningScope.Global ? "global" : "per-layer";
        report.Root["table"] = new JsonArray(r.Rounds.Select(row => (JsonNode)row.ToJson()).ToArray());
        report.Root["masks"] = new JsonArray(r.Rounds.Where(row => row.Round > 0).Select(row => (JsonNode)PruneExperiment.MaskFile(row.Round)).ToArray());
        report.Cost["gradients"] = r.Gradients;
        report.Provenance["seed"] = r.Seed;
        report.Provenance["data_sha256"] = r.DataSha256;
        report.Provenance["weights_sha256"] = r.FinalWeightsSha256;
    }
}
