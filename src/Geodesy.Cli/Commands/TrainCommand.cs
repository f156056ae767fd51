using System.CommandLine;
using System.Text.Json.Nodes;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Training;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;

namespace Geodesy.Cli.Commands;

public static class TrainCommand
{
    public static Command Create()
    {
        var settings = new RunSpecOptions();
        var outDir = new Option<string>("--out") { Description = "Run folder to create", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing run folder" };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();
        var tensorboard = new Option<string?>("--tensorboard") { Description = "Also write TensorBoard event files to DIR: training metrics, every probe's numbers, weight and gradient histograms after each epoch (docs/probes.md)" };

        var cmd = new Command("train", "Train a model and write a run folder: run.json, metrics.jsonl, init/final safetensors, checkpoints.");
        foreach (var option in settings.All.Append(outDir).Append(overwrite).Append(threads).Append(json).Append(tensorboard)) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var spec = settings.Bind(parse);
            if (RunSpecOptions.Given(parse, settings["epochs"]) && spec.UntilLoss is not null)
                throw new InputException("give either --epochs or --until-loss, not both");
            spec.Validate();
            var report = new JsonReport("train", parse.Tokens.Select(t => t.Value));
            string target = parse.GetValue(outDir)!;
            string full = Path.GetFullPath(target);
            RunExecutor.PrepareTarget(full, parse.GetValue(overwrite));
            var dataSplit = RunExecutor.LoadData(spec);
            long stepsPerEpoch = (dataSplit.Train.Count + spec.Batch - 1) / spec.Batch;
            output.WriteLine($"training {spec.Arch} on {spec.Data} -> {target}");
            string? boardDir = parse.GetValue(tensorboard);
            // The run folder is written under another name and renamed at the end: a folder inside it would be in the way.
            if (boardDir is not null && (Path.GetFullPath(boardDir) + Path.DirectorySeparatorChar).StartsWith(full + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InputException($"--tensorboard '{boardDir}' is inside the run folder --out '{target}': give a folder outside it, e.g. runs/tb/NAME");
            using var board = boardDir is null ? null : new Experiments.Reports.TensorBoardLog(boardDir);
            var outcome = TrainingProgress.Run(output, "train", stepsPerEpoch * spec.TrainerOptions.EpochLimit, progress =>
                RunExecutor.Execute(spec, dataSplit, full, parse.GetValue(overwrite), board is null ? [progress] : [progress, board], line => output.WriteLine(line), CancellationToken.None));
            if (board is not null) output.WriteLine($"TensorBoard events written to {board.FilePath}");
            var t = outcome.Training;
            (t.Status == RunStatus.Diverged ? parse.InvocationConfiguration.Error : output).WriteLine($"{t.Status.Name()}: {t.Message}");
            if (t.Final is { } f) output.WriteLine("final " + TrainingProgress.Describe(f));
            output.WriteLine($"run {outcome.Id} written to {outcome.Directory}");
            if (parse.GetValue(json) is { } dest)
            {
                report.Root["id"] = outcome.Id;
                report.Root["out"] = outcome.Directory;
                report.Root["status"] = t.Status.Name();
                report.Root["message"] = t.Message;
                report.Root["epochs"] = t.Epochs;
                report.Root["steps"] = t.Steps;
                report.Root["final"] = t.Final is null ? null : RunFiles.ToJson(t.Final);
                report.Root["run"] = outcome.RunJson.DeepClone();
                report.Cost["gradients"] = t.Steps;
                report.Provenance["seed"] = spec.Seed;
                report.Provenance["data_sha256"] = outcome.RunJson["provenance"]?["data_sha256"]?.GetValue<string>();
                report.Provenance["weights_sha256"] = Provenance.Sha256OfFile(Path.Combine(outcome.Directory, RunFiles.FinalWeights));
                report.Write(dest, output);
            }
            return t.Status == RunStatus.Diverged ? GeodesyCli.ExitFailure : GeodesyCli.ExitOk;
        });
        return cmd;
    }
}
