using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Analyses;

/// <summary>
/// Where a model and its data come from: a run folder of `geodesy train`, or an arch, weights and
/// a data spec with its options. One rule for every verb, the sweep worker and the benchmarks:
/// a value given explicitly wins, field by field; a value not given comes from the run folder's
/// run.json (arch, data, subset, label noise, normalization, training batch, seed) and files
/// (final.safetensors, init.safetensors, metrics.jsonl); otherwise the default applies.
/// Null means "not given".
/// </summary>
public sealed record ModelSource
{
    /// <summary>A run folder (run.json, final.safetensors, init.safetensors, metrics.jsonl).</summary>
    public string? Run { get; init; }
    public string? Arch { get; init; }
    /// <summary>Trained weights (safetensors); default RUN/final.safetensors.</summary>
    public string? Weights { get; init; }
    /// <summary>Initial weights; default RUN/init.safetensors when <see cref="WithInit"/>.</summary>
    public string? InitWeights { get; init; }
    public string? Data { get; init; }
    public int? Subset { get; init; }
    public double? LabelNoise { get; init; }
    public bool? Normalize { get; init; }
    /// <summary>Seed of the data options (subset, label noise) without a run folder; a run's own seed wins.</summary>
    public long? Seed { get; init; }
    /// <summary>Seed of the seeded initialization (without weights); default: the run's seed, else <see cref="Seed"/>, else 0.</summary>
    public long? InitSeed { get; init; }
    /// <summary>The dtype the model is made in (and the weights loaded into).</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>Also load the initial weights (for the *-init and distance measures).</summary>
    public bool WithInit { get; init; }
    /// <summary>Without weights, use the seeded initialization (benchmarks) instead of failing.</summary>
    public bool AllowSeededInit { get; init; }

    /// <summary>Everything decided without tensors: paths checked, run.json read. Throws InputException.</summary>
    public ResolvedSource Resolve()
    {
        RunSpec? spec = Run is null ? null : RunFiles.ReadSpec(Run);
        string? InRun(string file) => Run is not null && File.Exists(Path.Combine(Run, file)) ? Path.Combine(Run, file) : null;
        string arch = Arch ?? spec?.Arch ?? throw new InputException("give --arch SPEC (or --run DIR)");
        string? weights = Weights ?? InRun(RunFiles.FinalWeights);
        if (weights is null && !AllowSeededInit)
            throw new InputException(Run is null ? "give --weights FILE (or --run DIR)" : $"run folder '{Run}' has no {RunFiles.FinalWeights}; give --weights FILE");
        if (weights is not null) RequireFile(weights, "--weights");
        string? init = null;
        if (WithInit)
        {
            init = InitWeights ?? InRun(RunFiles.InitWeights);
            if (InitWeights is not null) RequireFile(InitWeights, "--init-weights");
        }
        var dataOptions = new DataOptions(
            Subset ?? spec?.Subset, LabelNoise ?? spec?.LabelNoise ?? 0, Normalize ?? spec?.Normalize ?? false,
            spec?.DataOptions.Seed ?? Seed ?? 0);
        var record = Run is not null && File.Exists(Path.Combine(Run, RunFiles.Metrics)) ? RunFiles.ReadMetrics(Run) : null;
        return new ResolvedSource(arch, weights, init, Data ?? spec?.Data ?? DataSpecs.DefaultSpec, dataOptions, DType, Run, spec, record)
        {
            InitSeed = InitSeed ?? spec?.Seed ?? Seed ?? 0,
            RunningLoss = Run is null ? null : RunFiles.ReadRunningLoss(Run),
        };
    }

    /// <summary>Resolves, then loads the data and the model(s).</summary>
    public LoadedModel Load() => Resolve().Load();

    private static void RequireFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new InputException($"{option} '{path}' is a folder, not a safetensors file");
        if (!File.Exists(path)) throw new InputException($"{option} file '{path}' does not exist");
    }
}

/// <summary>A <see cref="ModelSource"/> with every choice made; <see cref="Load"/> makes the tensors.</summary>
public sealed record ResolvedSource(
    string Arch, string? Weights, string? InitWeights, string DataSpec, DataOptions DataOptions, ScalarType DType,
    string? Run, RunSpec? RunSpec, IReadOnlyList<MetricsRow>? TrainingRecord)
{
    /// <summary>Seed of the initialization when there are no weights.</summary>
    public long InitSeed { get; init; }

    /// <summary>The running means of the mini-batch loss recorded every k steps (metrics.jsonl), when there is a run.</summary>
    public IReadOnlyList<RunningLossRow>? RunningLoss { get; init; }

    /// <summary>The training batch size of the run, if there is one.</summary>
    public int? TrainingBatch => RunSpec?.Batch;

    /// <summary>Loads the data, then the model(s); the result owns both.</summary>
    public LoadedModel Load()
    {
        var split = DataSpecs.Load(DataSpec, DataOptions);
        try
        {
            return LoadModels(split, ownsData: true);
        }
        catch
        {
            split.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The model(s) on data loaded already (a sweep worker reuses one data set for many runs; it
    /// must be this source's <see cref="DataSpec"/> with <see cref="DataOptions"/>).
    /// </summary>
    public LoadedModel LoadModels(DataSplit split, bool ownsData = false)
    {
        nn.Module<Tensor, Tensor>? model = null;
        try
        {
            var train = split.Train;
            ModelZoo.Validate(Arch, train.InputShape, train.NumClasses);
            model = Weights is null
                ? ModelLoader.SeededInit(Arch, train, InitSeed, DType)
                : ModelLoader.Load(Arch, train, Weights, DType, "--weights");
            var init = InitWeights is null ? null : ModelLoader.Load(Arch, train, InitWeights, DType, "--init-weights");
            return new LoadedModel(this, split, model, init, ownsData);
        }
        catch
        {
            model?.Dispose();
            throw;
        }
    }
}

/// <summary>A loaded model (in eval mode), its optional initial weights and its data.</summary>
public sealed class LoadedModel(ResolvedSource source, DataSplit data, nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor>? init, bool ownsData) : IDisposable
{
    public ResolvedSource Source { get; } = source;
    public DataSplit Data { get; } = data;
    public nn.Module<Tensor, Tensor> Model { get; } = model;
    public nn.Module<Tensor, Tensor>? Init { get; } = init;
    public long Parameters => ParameterVector.Count(Model);

    /// <summary>The first <paramref name="count"/> training examples (all of them for null); <paramref name="option"/> names the option in the error.</summary>
    public Dataset FirstExamples(long? count, string option)
    {
        var train = Data.Train;
        if (count is not long n) return train;
        if (n < 1 || n > train.Count)
            throw new InputException($"{option} {n} is outside [1, {train.Count}] (the number of training examples of '{Source.DataSpec}')");
        return n == train.Count ? train : train.Take(n);
    }

    public void Dispose()
    {
        Init?.Dispose();
        Model.Dispose();
        if (ownsData) Data.Dispose();
    }
}

/// <summary>The one way a model is made from an arch spec and a weights file.</summary>
public static class ModelLoader
{
    /// <summary>
    /// Makes <paramref name="arch"/> for the data's input shape and classes in <paramref name="dtype"/>
    /// and loads the weights strictly (every tensor, by PyTorch name and shape); eval mode.
    /// <paramref name="label"/> names the weights in the error ("--weights", "final.safetensors").
    /// </summary>
    public static nn.Module<Tensor, Tensor> Load(string arch, Dataset data, string weights, ScalarType dtype, string label)
    {
        // The seed does not matter: every tensor is overwritten by the file.
        var model = ModelZoo.Create(arch, data.InputShape, data.NumClasses, seed: 0, dtype);
        try
        {
            SafeTensors.LoadInto(model, weights);
        }
        catch (InputException e)
        {
            model.Dispose();
            throw new InputException($"{label} does not fit --arch {arch}: {e.Message}", e);
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// The seeded PyTorch-default initialization, made in float32 and then converted, so one seed
    /// gives the same initial model in either dtype; eval mode.
    /// </summary>
    public static nn.Module<Tensor, Tensor> SeededInit(string arch, Dataset data, long seed, ScalarType dtype)
    {
        var model = ModelZoo.Create(arch, data.InputShape, data.NumClasses, seed);
        if (dtype != ScalarType.Float32) model.to(dtype);
        model.eval();
        return model;
    }
}
