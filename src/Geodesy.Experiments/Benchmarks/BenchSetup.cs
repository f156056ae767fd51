using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Experiments.Analyses;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

/// <summary>What every benchmark starts from: an arch, a data spec, optional weights, a dtype.</summary>
public sealed record BenchModelSpec
{
    public required string Arch { get; init; }
    public string Data { get; init; } = DataSpecs.DefaultSpec;
    /// <summary>Safetensors weights to load; null: the seeded PyTorch-default initialization.</summary>
    public string? Weights { get; init; }
    /// <summary>Seed of the initialization (and of the data options).</summary>
    public long Seed { get; init; }
    public ScalarType DType { get; init; } = ScalarType.Float32;
    /// <summary>Data options (e.g. a stratified subset) applied when the data is loaded.</summary>
    public DataOptions DataOptions { get; init; } = new();

    /// <summary>Parses "float32" / "float64" (the --dtype option).</summary>
    public static ScalarType ParseDType(string text) => text switch
    {
        "float32" => ScalarType.Float32,
        "float64" => ScalarType.Float64,
        _ => throw new InputException($"--dtype must be float32 or float64 (got '{text}')"),
    };
}

/// <summary>A loaded model and its data, with the hashes the provenance needs.</summary>
public sealed class BenchSetup : IDisposable
{
    private BenchSetup(BenchModelSpec spec, DataSplit data, nn.Module<Tensor, Tensor> model, string? weightsSha256)
    {
        Spec = spec;
        Data = data;
        Model = model;
        WeightsSha256 = weightsSha256;
    }

    public BenchModelSpec Spec { get; }
    public DataSplit Data { get; }
    public nn.Module<Tensor, Tensor> Model { get; }
    public string? WeightsSha256 { get; }
    public long Parameters => ParameterVector.Count(Model);
    /// <summary>True when no weights file was given (the benchmark ran on the seeded initialization).</summary>
    public bool SeededInit => Spec.Weights is null;

    /// <summary>Loads data and model by the one rule of <see cref="ModelSource"/> (the seeded initialization without weights).</summary>
    public static BenchSetup Load(BenchModelSpec spec)
    {
        var loaded = new ModelSource
        {
            Arch = spec.Arch, Weights = spec.Weights, Data = spec.Data, DType = spec.DType, AllowSeededInit = true,
            Subset = spec.DataOptions.Subset, LabelNoise = spec.DataOptions.LabelNoise, Normalize = spec.DataOptions.Normalize,
            Seed = spec.DataOptions.Seed, InitSeed = spec.Seed,
        }.Load();
        string? sha = spec.Weights is { } path ? Provenance.Sha256OfFile(path) : null;
        return new BenchSetup(spec, loaded.Data, loaded.Model, sha);
    }

    /// <summary>The first <paramref name="count"/> training examples, inputs in the model's dtype.</summary>
    public (Tensor Inputs, Tensor Labels) FirstExamples(long count, string option)
    {
        long n = Data.Train.Count;
        if (count < 1 || count > n)
            throw new InputException($"{option} {count} is outside [1, {n}] (the number of training examples of '{Spec.Data}')");
        var x = Data.Train.Inputs.narrow(0, 0, count);
        if (Spec.DType != ScalarType.Float32) x = x.to_type(Spec.DType);
        return (x, Data.Train.Labels.narrow(0, 0, count));
    }

    public void Dispose()
    {
        Model.Dispose();
        Data.Dispose();
    }
}
