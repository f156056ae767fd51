using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Pruning;
using Geodesy.Core.Training.Techniques;
using Geodesy.Experiments.Analyses;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Pruning;

/// <summary>How each pruning round's surviving weights are retrained.</summary>
public enum RetrainMode
{
    /// <summary>Weight rewinding (Frankle et al. 2019, 2020): reset to the run's weights at step K, retrain with the original schedule.</summary>
    Rewind,
    /// <summary>Fine-tuning (Renda et al. 2020): keep the trained weights, continue at the final learning rate.</summary>
    FineTune,
    /// <summary>Learning-rate rewinding (Renda et al. 2020): keep the trained weights, retrain with the original schedule.</summary>
    LrRewind,
}

/// <summary>The settings of `geodesy prune`.</summary>
public sealed record PruneOptions(int Rounds, double Rate, RetrainMode Mode, long RewindStep, PruningScope Scope)
{
    public void Validate()
    {
        if (Rounds < 1) throw new InputException($"--rounds must be at least 1 (got {Rounds})");
        if (!(Rate > 0 && Rate < 1)) throw new InputException($"--rate must be in (0, 1) (got {Rate})");
        if (RewindStep < 0) throw new InputException($"--rewind-step must be >= 0 (got {RewindStep})");
    }

    public string ModeName => Mode switch { RetrainMode.Rewind => "rewind", RetrainMode.FineTune => "fine-tune", _ => "lr-rewind" };
}

/// <summary>One row of the pruning table: round 0 is the dense trained run.</summary>
public sealed record PruneRound(int Round, long Remaining, long Total, double Sparsity,
    double TrainLoss, double TrainAccuracy, double TestLoss, double TestAccuracy, string Status, long Steps)
{
    /// <summary>Generalization gap in accuracy: train accuracy − test accuracy.</summary>
    public double Gap => TrainAccuracy - TestAccuracy;

    public JsonObject ToJson() => new()
    {
        ["round"] = Round,
        ["remaining"] = Remaining,
        ["total"] = Total,
        ["sparsity"] = Sparsity,
        ["density"] = 1 - Sparsity,
        ["train_loss"] = JsonNumbers.Finite(TrainLoss),
        ["train_accuracy"] = JsonNumbers.Finite(TrainAccuracy),
        ["test_loss"] = JsonNumbers.Finite(TestLoss),
        ["test_accuracy"] = JsonNumbers.Finite(TestAccuracy),
        ["gap"] = JsonNumbers.Finite(Gap),
        ["status"] = Status,
        ["steps"] = Steps,
    };
}

public sealed record PruneResult(IReadOnlyList<PruneRound> Rounds, long Gradients, string DataSha256, string FinalWeightsSha256, long Seed);

/// <summary>
/// Iterative magnitude pruning of a finished run (`geodesy prune`): each round prunes a fraction of
/// the remaining Linear/Conv weights by magnitude (<see cref="MagnitudePruning"/>), then retrains the
/// survivors (rewinding, fine-tuning or learning-rate rewinding) with the run's own spec under the
/// mask. Writes OUT/round-NN/mask.safetensors and OUT/round-NN/final.safetensors; the folder is built
/// under a temporary name and renamed when every round is done.
/// </summary>
public static class PruneExperiment
{
    public static string MaskFile(int round) => Path.Combine($"round-{round:D2}", "mask.safetensors");
    public static string WeightsFile(int round) => Path.Combine($"round-{round:D2}", "final.safetensors");

    /// <summary>The weights file retraining rewinds to: init for step 0, else the step-K checkpoint (which must exist).</summary>
    public static string RewindWeights(string runDir, long step)
    {
        string path = Path.Combine(runDir, step == 0 ? RunFiles.InitWeights : RunFiles.StepCheckpoint(step));
        if (!File.Exists(path))
            throw new InputException($"--run '{runDir}' has no checkpoint at step {step} ({path}); train it with --checkpoint-steps {step}");
        return path;
    }

    /// <param name="beforePublish">Writes more files into the finished folder (e.g. prune.json) before it is renamed into place.</param>
    public static PruneResult Run(string runDir, PruneOptions options, string outDir, Action<string>? log = null,
        Action<string, PruneResult>? beforePublish = null)
    {
        options.Validate();
        var spec = RunFiles.ReadSpec(runDir);
        string finalWeights = Path.Combine(runDir, RunFiles.FinalWeights);
        if (!File.Exists(finalWeights)) throw new InputException($"--run '{runDir}' has no {RunFiles.FinalWeights}: the run did not finish");
        string? rewindFile = options.Mode == RetrainMode.Rewind ? RewindWeights(runDir, options.RewindStep) : null;
        string target = Path.GetFullPath(outDir);
        RunExecutor.PrepareTarget(target, overwrite: false);
        var data = RunExecutor.LoadData(spec);

        string partial = $"{target}.partial-{Environment.ProcessId}";
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        try
        {
            var result = RunRounds(spec, data, finalWeights, rewindFile, options, partial, log);
            beforePublish?.Invoke(partial, result);
            Directory.Move(partial, target);
            return result;
        }
        catch
        {
            try { Directory.Delete(partial, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    private static PruneResult RunRounds(RunSpec spec, DataSplit data, string finalWeights, string? rewindFile,
        PruneOptions options, string folder, Action<string>? log)
    {
        using var model = RunExecutor.CreateModel(spec, data);
        SafeTensors.LoadInto(model, finalWeights);
        var baseOptions = spec.TrainerOptions;
        var mask = PruningMask.Dense(model);
        var rows = new List<PruneRound> { Evaluate(model, data, mask, 0, "trained", 0, baseOptions) };
        log?.Invoke(Describe(rows[^1]));
        long gradients = 0;
        string lastWeights = finalWeights;
        for (int round = 1; round <= options.Rounds; round++)
        {
            var next = MagnitudePruning.Prune(model, mask, options.Rate, options.Scope);
            mask.Dispose();
            mask = next;
            if (rewindFile != null) Rewind(model, rewindFile, mask);
            var trainerOptions = RetrainOptions(baseOptions, options.Mode, data.Train.Count) with
            {
                Constraints = [.. baseOptions.Constraints, mask],
            };
            var training = Trainer.Train(model, data, trainerOptions);
            gradients += training.Steps;
            string roundDir = Path.Combine(folder, $"round-{round:D2}");
            Directory.CreateDirectory(roundDir);
            var metadata = new Dictionary<string, string> { ["format"] = "pt", ["geodesy_arch"] = spec.Arch, ["geodesy_prune_round"] = round.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            mask.Save(Path.Combine(folder, MaskFile(round)), metadata);
            lastWeights = Path.Combine(folder, WeightsFile(round));
            SafeTensors.SaveModel(model, lastWeights, metadata);
            rows.Add(Evaluate(model, data, mask, round, training.Status.Name(), training.Steps, baseOptions));
            log?.Invoke(Describe(rows[^1]));
        }
        mask.Dispose();
        return new PruneResult(rows, gradients, data.Sha256, Provenance.Sha256OfFile(lastWeights), spec.Seed);
    }

    /// <summary>Sets the model to the weights of <paramref name="weightsFile"/> with the pruned entries zeroed: where a round's retraining starts.</summary>
    public static void Rewind(nn.Module model, string weightsFile, PruningMask mask)
    {
        SafeTensors.LoadInto(model, weightsFile);
        ParameterConstraints.Project(model, [mask]);
    }

    /// <summary>
    /// Rewinding and learning-rate rewinding retrain with the run's own schedule; fine-tuning continues
    /// at the learning rate the schedule had reached at the end of training, held constant.
    /// </summary>
    public static TrainerOptions RetrainOptions(TrainerOptions original, RetrainMode mode, long trainExamples)
    {
        if (mode != RetrainMode.FineTune) return original;
        long stepsPerEpoch = (trainExamples + Math.Min(original.BatchSize, trainExamples) - 1) / Math.Max(1, Math.Min(original.BatchSize, trainExamples));
        long total = stepsPerEpoch * Math.Max(1, original.EpochLimit);
        double finalRate = original.RateAt(Math.Max(0, total - 1), Math.Max(0, original.EpochLimit - 1), total);
        return original with { Schedule = ScheduleKind.Constant, LearningRate = finalRate, WarmupSteps = 0 };
    }

    private static PruneRound Evaluate(nn.Module<Tensor, Tensor> model, DataSplit data, PruningMask mask, int round, string status, long steps, TrainerOptions o)
    {
        var train = Evaluation.Evaluate(model, data.Train, o.EvalBatchSize);
        var test = data.Test.Count > 0 ? Evaluation.Evaluate(model, data.Test, o.EvalBatchSize) : new Evaluation.LossAccuracy(double.NaN, double.NaN);
        return new PruneRound(round, mask.Remaining, mask.Total, mask.Sparsity, train.Loss, train.Accuracy, test.Loss, test.Accuracy, status, steps);
    }

    public static string Describe(PruneRound r) =>
        $"round {r.Round,2}  sparsity {r.Sparsity,7:P2}  ({r.Remaining}/{r.Total} kept)  train acc {r.TrainAccuracy:F4}  test acc {r.TestAccuracy:F4}  gap {r.Gap:F4}";
}
