using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// Runs the probes on their schedules as a training observer and hands each row to a sink.
/// Every measurement is taken at the weights after s steps: during training just before step s + 1
/// (so the mini-batch of that step and its learning rate are known), and once more at the end.
/// Probes read the model in eval mode with their own seeded generators: training is unchanged,
/// bit for bit, random streams included.
/// </summary>
public sealed class ProbeRecorder : ITrainingObserver, IDisposable
{
    /// <summary>Default size of the fixed probe set (--probe-examples).</summary>
    public const int DefaultExamples = 512;

    private readonly List<(ProbeSpec Spec, IProbe Probe)> _probes;
    private readonly Dataset _train;
    private readonly int _examples;
    private readonly long _seed;
    private readonly Action<ProbeRow> _sink;
    private readonly IReadOnlyList<long> _flipped;
    private Tensor? _probeInputs, _probeLabels, _init;
    private CurvatureProblem? _validated;
    private int? _epochEnded;
    private double _lastRate = double.NaN;

    /// <param name="examples">The probe set: the first this-many training examples (all if fewer).</param>
    /// <param name="flipped">Indices of the training examples with a flipped label (<see cref="DataSplit.FlippedIndices"/>).</param>
    public ProbeRecorder(IEnumerable<ProbeSpec> specs, Dataset train, int examples, long runSeed, Action<ProbeRow> sink, IReadOnlyList<long>? flipped = null)
    {
        _flipped = flipped ?? [];
        if (examples < 1) throw new InputException($"--probe-examples must be at least 1 (got {examples})");
        _probes = specs.Select(s => (s, ProbeRegistry.Find(s.Name)!.Create(s))).ToList();
        _train = train;
        _examples = (int)Math.Min(examples, train.Count);
        _seed = runSeed;
        _sink = sink;
    }

    public void OnStart(nn.Module model)
    {
        foreach (var (_, probe) in _probes) probe.Check(model);
        var dtype = model.parameters().First().dtype;
        _probeInputs = _train.Inputs.narrow(0, 0, _examples).to_type(dtype, copy: true).DetachFromDisposeScope();
        _probeLabels = _train.Labels.narrow(0, 0, _examples).clone().DetachFromDisposeScope();
        using (no_grad()) _init = ParameterVector.Flatten(model).clone().DetachFromDisposeScope();
        // Checked once here (model, dtype, labels of the training set); the probes' problems reuse it.
        var all = _train.Labels;
        _validated = CurvatureProblem.FromData((nn.Module<Tensor, Tensor>)model, _probeInputs, _probeLabels);
        using (var scope = NewDisposeScope())
            if (all.max().item<long>() >= _validated.NumClasses)
                throw new InputException($"training labels reach {all.max().item<long>()} but the model has {_validated.NumClasses} outputs");
    }

    public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
    {
        if (endOfEpoch) _epochEnded = row.Epoch;
    }

    public void OnBatch(nn.Module model, int epoch, long step, Tensor inputs, Tensor labels, double learningRate)
    {
        _lastRate = learningRate;
        Measure(model, step, epoch - 1, learningRate, inputs, labels);
    }

    public void OnFinish(nn.Module model, TrainingResult result)
    {
        // Non-finite weights: nothing meaningful to measure, but rows kept for the end still go out.
        if (result.Status != RunStatus.Diverged) Measure(model, result.Steps, result.Epochs, _lastRate, null, null);
        var context = Context(model, result.Steps, result.Epochs, _lastRate, null, null);
        foreach (var (_, probe) in _probes)
        {
            using var scope = NewDisposeScope();
            foreach (var row in probe.Finish(context)) _sink(row);
        }
    }

    /// <summary>The tables of the probes that keep one (<see cref="IProbeTable"/>), to write when training stops.</summary>
    public IEnumerable<IProbeTable> Tables() => _probes.Select(p => p.Probe).OfType<IProbeTable>();

    private void Measure(nn.Module model, long step, int completedEpochs, double rate, Tensor? inputs, Tensor? labels)
    {
        int? ended = _epochEnded;
        _epochEnded = null;
        var due = _probes.Where(p => p.Spec.Schedule.IsDue(step, ended)).ToList();
        if (due.Count == 0) return;
        var context = Context(model, step, completedEpochs, rate, inputs, labels);
        foreach (var (_, probe) in due)
        {
            using var scope = NewDisposeScope();
            foreach (var row in probe.Measure(context)) _sink(row);
        }
    }

    private ProbeContext Context(nn.Module model, long step, int completedEpochs, double rate, Tensor? inputs, Tensor? labels) =>
        new()
        {
            Model = (nn.Module<Tensor, Tensor>)model,
            Step = step,
            Epoch = completedEpochs,
            LearningRate = rate,
            ProbeInputs = _probeInputs!,
            ProbeLabels = _probeLabels!,
            BatchInputs = inputs,
            BatchLabels = labels,
            InitialWeights = _init!,
            RunSeed = _seed,
            Train = _train,
            Flipped = _flipped,
            Validated = _validated,
        };

    public void Dispose()
    {
        foreach (var (_, probe) in _probes) probe.Dispose();
        _probeInputs?.Dispose();
        _probeLabels?.Dispose();
        _init?.Dispose();
    }
}
