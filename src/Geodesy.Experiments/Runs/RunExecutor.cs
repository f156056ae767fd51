using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Techniques;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Runs;

/// <summary>The result of executing a run spec into a folder.</summary>
public sealed record RunOutcome(string Id, string Directory, TrainingResult Training, JsonObject RunJson);

/// <summary>
/// Executes a <see cref="RunSpec"/>: loads the data, builds the model, trains, and leaves a
/// complete run folder. The folder is written under a temporary name and renamed into place
/// when training stops, so an interrupted run never leaves a half-written folder at the target.
/// </summary>
public static class RunExecutor
{
    public static RunOutcome Execute(RunSpec spec, string outDir, bool overwrite,
        IReadOnlyList<ITrainingObserver>? extraObservers = null, Action<string>? log = null,
        CancellationToken cancel = default)
    {
        spec.Validate();
        string target = Path.GetFullPath(outDir);
        PrepareTarget(target, overwrite);
        return Execute(spec, LoadData(spec), target, overwrite, extraObservers, log, cancel);
    }

    /// <summary>Loads the spec's data and checks that the architecture fits it.</summary>
    public static DataSplit LoadData(RunSpec spec)
    {
        var data = DataSpecs.Load(spec.Data, spec.DataOptions);
        ModelZoo.Validate(spec.Arch, data.Train.InputShape, data.Train.NumClasses);
        return data;
    }

    /// <summary>
    /// The spec's network at initialization, with the training techniques that change the network:
    /// --mimo (an M-input, M-head network) and --ghost-batch (BatchNorm layers swapped for ghost
    /// ones with the same parameters and names). Parameter names are always the zoo's.
    /// </summary>
    public static nn.Module<Tensor, Tensor> CreateModel(RunSpec spec, DataSplit data)
    {
        var model = spec.Mimo > 1
            ? MimoModel.Create(spec.Arch, data.Train.InputShape, data.Train.NumClasses, spec.Mimo, spec.Seed)
            : ModelZoo.Create(spec.Arch, data.Train.InputShape, data.Train.NumClasses, spec.Seed);
        if (spec.Init != "default") Initialization.Apply(model, spec.Seed, spec.Init);
        if (spec.Dropout > 0)
        {
            ModelZoo.SetDropout(model, spec.Dropout);
            // Dropout masks come from libtorch's global generator: seed it from the run, so a run's
            // weights do not depend on what ran before it in the same process (a sweep worker).
            torch.random.manual_seed(spec.Seed);
        }
        return spec.GhostBatch > 0 ? GhostBatchNorm.Install(model, spec.GhostBatch) : model;
    }

    /// <summary>Executes with data already loaded (sweeps reuse one dataset for many runs).</summary>
    public static RunOutcome Execute(RunSpec spec, DataSplit data, string target, bool overwrite,
        IReadOnlyList<ITrainingObserver>? extraObservers, Action<string>? log, CancellationToken cancel)
    {
        string id = spec.Id();
        string partial = $"{target}.partial-{Environment.ProcessId}";
        RemoveStalePartials(target);
        if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true);
        Directory.CreateDirectory(partial);
        var started = DateTime.UtcNow;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["geodesy_arch"] = spec.Arch,
            ["geodesy_run_id"] = id,
            ["geodesy_version"] = Provenance.Version,
        };
        RunOutcome outcome;
        var writer = new RunWriter(partial, spec.CheckpointEpochs, spec.CheckpointSteps, metadata);
        try
        {
            using var model = CreateModel(spec, data);
            var observers = new List<ITrainingObserver> { writer };
            using var probes = ProbeLog.Open(spec, data, partial, extraObservers?.OfType<IProbeRowObserver>().ToList());
            if (probes != null) observers.Add(probes.Recorder);
            if (extraObservers != null) observers.AddRange(extraObservers);
            log?.Invoke($"run {id[..12]}: {spec.Arch} on {data.Spec} ({data.Train.Count} train / {data.Test.Count} test), {ParameterVector.Count(model):N0} parameters");
            var result = Trainer.Train(model, data, spec.TrainerOptions, observers, cancel);
            writer.Close();
            probes?.Dispose();
            var json = RunJson(spec, id, data, result, started, ParameterVector.Count(model));
            AtomicFile.WriteAllText(Path.Combine(partial, RunFiles.RunJson), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            PublishFolder(partial, target, id, overwrite);
            outcome = new RunOutcome(id, target, result, json);
        }
        catch
        {
            writer.Close();
            try { if (Directory.Exists(partial)) Directory.Delete(partial, recursive: true); } catch (IOException) { }
            throw;
        }
        return outcome;
    }

    /// <summary>
    /// Moves the finished partial folder to the target. If another process (a sweep worker whose
    /// lease expired under load) already published the same run there, that folder is kept: the
    /// run is deterministic, and deleting it would pull files from under its reader. Otherwise an
    /// existing folder is renamed aside first, so the target is never a half-deleted folder.
    /// </summary>
    private static void PublishFolder(string partial, string target, string id, bool overwrite)
    {
        if (Directory.Exists(target))
        {
            if (!overwrite) throw new InputException($"output folder '{target}' appeared while training (use --overwrite)");
            if (IsCompleteRun(target, id))
            {
                Directory.Delete(partial, recursive: true);
                return;
            }
            string aside = $"{target}.replaced-{Environment.ProcessId}";
            Directory.Move(target, aside);
            Directory.Move(partial, target);
            Directory.Delete(aside, recursive: true);
            return;
        }
        Directory.Move(partial, target);
    }

    private static bool IsCompleteRun(string dir, string id)
    {
        try
        {
            string path = Path.Combine(dir, RunFiles.RunJson);
            return File.Exists(path) && File.Exists(Path.Combine(dir, RunFiles.FinalWeights))
                && (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?["id"] == id;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Deletes TARGET.partial-PID and TARGET.replaced-PID folders left by processes that no longer exist (killed runs).</summary>
    private static void RemoveStalePartials(string target)
    {
        string parent = Path.GetDirectoryName(target) ?? ".";
        if (!Directory.Exists(parent)) return;
        var leftovers = Directory.GetDirectories(parent, Path.GetFileName(target) + ".partial-*")
            .Concat(Directory.GetDirectories(parent, Path.GetFileName(target) + ".replaced-*"));
        foreach (var dir in leftovers)
        {
            if (!int.TryParse(dir[(dir.LastIndexOf('-') + 1)..], out int pid) || pid == Environment.ProcessId) continue;
            bool alive;
            try { using var p = System.Diagnostics.Process.GetProcessById(pid); alive = !p.HasExited; }
            catch (ArgumentException) { alive = false; }
            if (!alive)
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { /* another cleaner got it */ }
        }
    }

    /// <summary>Refuses an existing folder unless overwriting, and checks that we can write there.</summary>
    public static void PrepareTarget(string target, bool overwrite)
    {
        if (File.Exists(target)) throw new InputException($"output '{target}' is a file, not a folder");
        if (Directory.Exists(target) && !overwrite)
            throw new InputException($"output folder '{target}' already exists (use --overwrite to replace it)");
        string parent = Path.GetDirectoryName(target) ?? ".";
        try
        {
            Directory.CreateDirectory(parent);
            string probe = Path.Combine(parent, $".geodesy-write-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot write output folder '{target}': {e.Message}");
        }
    }

    private static JsonObject RunJson(RunSpec spec, string id, DataSplit data, TrainingResult r, DateTime started, long parameters)
    {
        var final = r.Final;
        return new JsonObject
        {
            ["schema"] = "geodesy.run/1",
            ["id"] = id,
            ["status"] = r.Status.Name(),
            ["message"] = r.Message,
            ["spec"] = spec.ToJson(),
            ["spec_non_default"] = spec.NonDefaultSettings(),
            ["params"] = parameters,
            ["examples_train"] = data.Train.Count,
            ["examples_test"] = data.Test.Count,
            ["epochs"] = r.Epochs,
            ["steps"] = r.Steps,
            ["examples_seen"] = r.ExamplesSeen,
            // What the regularizers cost: extra forward/gradient passes and double backwards, counted exactly.
            ["objective_cost"] = new JsonObject
            {
                ["penalized_steps"] = r.Objective.PenalizedSteps,
                ["extra_forwards"] = r.Objective.ExtraForwards,
                ["extra_gradients"] = r.Objective.ExtraGradients,
                ["double_backwards"] = r.Objective.DoubleBackwards,
                ["loss_seconds"] = Math.Round(r.Objective.LossSeconds, 3),
            },
            ["final"] = final is null ? null : RunFiles.ToJson(final),
            // Which training examples carry a flipped label (--label-noise), for noisy-label studies.
            ["label_noise_flipped_indices"] = new JsonArray(data.FlippedIndices.Select(i => (JsonNode)i).ToArray()),
            ["started_utc"] = RunWriter.Stamp(started),
            ["wall_seconds"] = Math.Round(r.Seconds, 3),
            ["threads"] = torch.get_num_threads(),
            ["provenance"] = new JsonObject
            {
                ["version"] = Provenance.Version,
                ["git"] = Provenance.GitCommit,
                ["torchsharp"] = Provenance.TorchSharpVersion,
                ["dotnet"] = Environment.Version.ToString(),
                ["seed"] = spec.Seed,
                ["data_sha256"] = data.Sha256,
            },
        };
    }
}
