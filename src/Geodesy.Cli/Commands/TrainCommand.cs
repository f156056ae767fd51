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
        var data = CommonOptions.Data();
        var arch = CommonOptions.Arch();
        var epochs = new Option<int?>("--epochs") { Description = "Train this many epochs (default 10 unless --until-loss)" };
        var untilLoss = new Option<double?>("--until-loss") { Description = "Stop when the cross-entropy over the whole training set falls below X (Fantastic uses 0.01)" };
        var maxEpochs = new Option<int>("--max-epochs") { Description = "With --until-loss: give up after N epochs (status max-epochs)", DefaultValueFactory = _ => 100 };
        var optimizer = new Option<string>("--optimizer") { Description = "sgd | momentum (heavy ball, --momentum 0.9) | adam", DefaultValueFactory = _ => "momentum" };
        optimizer.AcceptOnlyFromAmong("sgd", "momentum", "adam");
        var lr = new Option<double>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => 0.05 };
        var momentum = new Option<double>("--momentum") { Description = "Momentum for --optimizer momentum", DefaultValueFactory = _ => 0.9 };
        var batch = new Option<int>("--batch") { Description = "Mini-batch size", DefaultValueFactory = _ => 64 };
        var weightDecay = new Option<double>("--weight-decay") { Description = "L2 weight decay coefficient" };
        var schedule = new Option<string>("--schedule") { Description = "constant | step | cosine", DefaultValueFactory = _ => "constant" };
        schedule.AcceptOnlyFromAmong("constant", "step", "cosine");
        var warmup = new Option<int>("--warmup") { Description = "Linear learning-rate warm-up over N steps" };
        var stepEvery = new Option<int>("--step-every") { Description = "Step schedule: decay every N epochs", DefaultValueFactory = _ => 30 };
        var stepGamma = new Option<double>("--step-gamma") { Description = "Step schedule: decay factor", DefaultValueFactory = _ => 0.1 };
        var seed = CommonOptions.Seed();
        var labelNoise = CommonOptions.LabelNoise();
        var subset = CommonOptions.Subset();
        var normalize = CommonOptions.Normalize();
        var checkpointEpochs = new Option<string?>("--checkpoint-epochs") { Description = "Also save weights after these epochs, e.g. 1,2,5" };
        var checkpointSteps = new Option<string?>("--checkpoint-steps") { Description = "Also save weights after these steps, e.g. 10,100" };
        var logEvery = new Option<int>("--log-every") { Description = "Also evaluate and log every N steps" };
        var outDir = new Option<string>("--out") { Description = "Run folder to create", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing run folder" };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("train", "Train a model and write a run folder: run.json, metrics.jsonl, init/final safetensors, checkpoints.")
        {
            data, arch, epochs, untilLoss, maxEpochs, optimizer, lr, momentum, batch, weightDecay, schedule, warmup,
            stepEvery, stepGamma, seed, labelNoise, subset, normalize, checkpointEpochs, checkpointSteps, logEvery,
            outDir, overwrite, threads, json,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var spec = new RunSpec
            {
                Data = parse.GetValue(data)!,
                Arch = parse.GetValue(arch)!,
                Optimizer = parse.GetValue(optimizer)!,
                Lr = parse.GetValue(lr),
                Momentum = parse.GetValue(momentum),
                Batch = parse.GetValue(batch),
                WeightDecay = parse.GetValue(weightDecay),
                Schedule = parse.GetValue(schedule)!,
                Warmup = parse.GetValue(warmup),
                StepEvery = parse.GetValue(stepEvery),
                StepGamma = parse.GetValue(stepGamma),
                Epochs = parse.GetValue(epochs) ?? 10,
                UntilLoss = parse.GetValue(untilLoss),
                MaxEpochs = parse.GetValue(maxEpochs),
                Seed = parse.GetValue(seed),
                LabelNoise = parse.GetValue(labelNoise),
                Subset = parse.GetValue(subset),
                Normalize = parse.GetValue(normalize),
                CheckpointEpochs = CommonOptions.ParseList<int>(parse.GetValue(checkpointEpochs), "--checkpoint-epochs"),
                CheckpointSteps = CommonOptions.ParseList<long>(parse.GetValue(checkpointSteps), "--checkpoint-steps"),
                LogEvery = parse.GetValue(logEvery),
            };
            if (parse.GetValue(epochs) is not null && spec.UntilLoss is not null)
                throw new InputException("give either --epochs or --until-loss, not both");
            spec.Validate();
            var report = new JsonReport("train", parse.Tokens.Select(t => t.Value));
            string target = parse.GetValue(outDir)!;
            string full = Path.GetFullPath(target);
            RunExecutor.PrepareTarget(full, parse.GetValue(overwrite));
            var dataSplit = RunExecutor.LoadData(spec);
            long stepsPerEpoch = (dataSplit.Train.Count + spec.Batch - 1) / spec.Batch;
            output.WriteLine($"training {spec.Arch} on {spec.Data} -> {target}");
            var outcome = TrainingProgress.Run(output, "train", stepsPerEpoch * spec.TrainerOptions.EpochLimit, progress =>
                RunExecutor.Execute(spec, dataSplit, full, parse.GetValue(overwrite), [progress], line => output.WriteLine(line), CancellationToken.None));
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
