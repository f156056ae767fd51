using Geodesy.Core.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// One measurement: <see cref="Value"/> at the weights after <see cref="Step"/> steps
/// (<see cref="Epoch"/> epochs completed), plus the probe's own keys (snake_case; values are
/// numbers, strings, booleans, number arrays or name → number maps; NaN is written as null).
/// </summary>
public sealed record ProbeRow(string Probe, long Step, int Epoch, double Value, IReadOnlyList<KeyValuePair<string, object?>> Extras);

/// <summary>What a probe sees when it is due. Tensors belong to the recorder and the trainer.</summary>
public sealed class ProbeContext
{
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    public required long Step { get; init; }
    /// <summary>Epochs completed when the measurement is taken.</summary>
    public required int Epoch { get; init; }
    /// <summary>The learning rate of the step about to be taken (at the end of training: of the last step); NaN before any step is known.</summary>
    public required double LearningRate { get; init; }
    /// <summary>The fixed probe set: the first N training examples, in the model's dtype.</summary>
    public required Tensor ProbeInputs { get; init; }
    public required Tensor ProbeLabels { get; init; }
    /// <summary>The mini-batch of the next step, or null at the end of training.</summary>
    public Tensor? BatchInputs { get; init; }
    public Tensor? BatchLabels { get; init; }
    /// <summary>Flat initial weights (the model's dtype).</summary>
    public required Tensor InitialWeights { get; init; }
    /// <summary>The run's seed; probes derive their own streams from it (<see cref="ProbeSeeds"/>).</summary>
    public required long RunSeed { get; init; }
    /// <summary>The whole training set (float32 inputs, the training labels, noisy ones included).</summary>
    public Data.Dataset? Train { get; init; }
    /// <summary>Indices (ascending) of the training examples whose label was flipped (--label-noise, modular corrupt=).</summary>
    public IReadOnlyList<long> Flipped { get; init; } = [];

    /// <summary>The probe-set problem the recorder validated once at the start (model, dtype, label range).</summary>
    internal CurvatureProblem? Validated { get; init; }

    /// <summary>A curvature problem (eval mode) on the probe set or the mini-batch.</summary>
    public CurvatureProblem Problem(ProbeSet set) => Problem(
        set == ProbeSet.Batch ? BatchInputs ?? throw new InvalidOperationException("no mini-batch at this step") : ProbeInputs,
        set == ProbeSet.Batch ? BatchLabels! : ProbeLabels);

    /// <summary>A curvature problem (eval mode) on training examples in the model's dtype, without repeating the recorder's checks.</summary>
    public CurvatureProblem Problem(Tensor inputs, Tensor labels) =>
        Validated is { } validated ? CurvatureProblem.Checked(validated, inputs, labels) : CurvatureProblem.FromData(Model, inputs, labels);

    public ProbeRow Row(string probe, double value, params KeyValuePair<string, object?>[] extras) => new(probe, Step, Epoch, value, extras);
}

/// <summary>Which examples a curvature probe measures on.</summary>
public enum ProbeSet { Probe, Batch }

/// <summary>A recorder of one quantity. It reads the model and never changes it, its gradients or any random stream.</summary>
public interface IProbe : IDisposable
{
    string Name { get; }
    /// <summary>Before training: refuse a model the probe cannot measure (InputException), so no run fails half-way.</summary>
    void Check(nn.Module model) { }
    IEnumerable<ProbeRow> Measure(ProbeContext context);
    /// <summary>Once when training stops (after the final measurement, whether or not it was due): rows only known at the end.</summary>
    IEnumerable<ProbeRow> Finish(ProbeContext context) => [];
    void IDisposable.Dispose() { }
}

/// <summary>A probe that also leaves a table, written to DIR/<see cref="Table"/>.jsonl when training stops.</summary>
public interface IProbeTable
{
    /// <summary>The file name without .jsonl, e.g. "examples".</summary>
    string Table { get; }
    /// <summary>One object per line (keys and values as in <see cref="ProbeRow.Extras"/>).</summary>
    IEnumerable<IReadOnlyList<KeyValuePair<string, object?>>> TableRows();
}

/// <summary>Seeds of the probes' random draws, from the run seed, the probe and the step, so that reruns repeat them exactly.</summary>
public static class ProbeSeeds
{
    public static long For(long runSeed, string probe, ProbeSet set, long step)
    {
        // FNV-1a over the name, mixed with the rest by SplitMix64's finalizer.
        ulong h = 14695981039346656037UL;
        foreach (char c in probe) { h ^= c; h *= 1099511628211UL; }
        ulong z = h ^ unchecked((ulong)runSeed * 0x9E3779B97F4A7C15UL) ^ ((ulong)step << 1) ^ (ulong)set;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (long)((z ^ (z >> 31)) >> 1);
    }
}

/// <summary>Small helpers for building rows.</summary>
internal static class Keys
{
    public static KeyValuePair<string, object?> Of(string key, object? value) => new(key, value);
}
