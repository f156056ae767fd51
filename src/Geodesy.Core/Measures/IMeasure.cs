using Geodesy.Core.Data;
using Geodesy.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

public enum MeasureFamily
{
    Baseline, Margin, Norm, FisherRao, Sharpness, PacBayes, Curvature, Flatness,
    GradientNoise, OptimizationSpeed, Representation, WeightSpectra,
}

/// <summary>What a measure needs beyond the trained weights.</summary>
[Flags]
public enum MeasureNeeds
{
    Weights = 0,
    InitWeights = 1,
    Data = 2,
    TrainingRecord = 4,
}

/// <summary>A measure's value with its uncertainty (null when exact) and extra named numbers.</summary>
public sealed record MeasureValue(double Value, double? StdErr = null, IReadOnlyDictionary<string, double>? Details = null);

/// <summary>Thrown by a measure that cannot be computed for this input; the reason is reported.</summary>
public sealed class MeasureSkippedException(string reason) : Exception(reason);

/// <summary>
/// A generalization measure: one class each, registered once in <see cref="MeasureRegistry"/>.
/// Names are kebab-case as in the Fantastic appendix ("/" written "-over-").
/// </summary>
public interface IMeasure
{
    string Name { get; }
    MeasureFamily Family { get; }
    MeasureNeeds Needs { get; }
    /// <summary>Relative cost, 1 (a norm) to 5 (sharpness search).</summary>
    int Cost { get; }
    /// <summary>The formula in one line (plain text).</summary>
    string Formula { get; }
    string Citation { get; }
    MeasureValue Compute(MeasureContext context);
}

/// <summary>
/// Everything a measure may use: the trained model, the initial model, the data it is measured
/// on, the training record, options, a seed, and counters of the work spent (reported in JSON).
/// </summary>
public sealed class MeasureContext
{
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    public nn.Module<Tensor, Tensor>? InitModel { get; init; }
    /// <summary>The data the measure is computed on (the training set, as in Fantastic).</summary>
    public required Dataset Data { get; init; }
    public required string ArchSpec { get; init; }
    public IReadOnlyList<MetricsRow>? TrainingRecord { get; init; }
    /// <summary>The training batch size (for gradient-noise measures), if known.</summary>
    public int? TrainingBatchSize { get; init; }
    public long Seed { get; init; }
    public MeasureOptions Options { get; init; } = new();

    /// <summary>Forward passes over single examples spent so far (for expensive families).</summary>
    public long ForwardExamples { get; set; }
    public long Gradients { get; set; }
    public long Matvecs { get; set; }

    private readonly Dictionary<string, object> _cache = [];

    /// <summary>Caches a shared intermediate (margins, logits, spectral norms) across measures.</summary>
    public T Cached<T>(string key, Func<T> compute) where T : notnull
    {
        if (_cache.TryGetValue(key, out var v)) return (T)v;
        var value = compute();
        _cache[key] = value;
        return value;
    }

    public void RequireInit(string measure)
    {
        if (InitModel is null) throw new MeasureSkippedException($"{measure} needs the initial weights (--init-weights or --run)");
    }

    public IReadOnlyList<MetricsRow> RequireRecord(string measure) =>
        TrainingRecord ?? throw new MeasureSkippedException($"{measure} needs the training record (--run DIR)");
}

/// <summary>Monte-Carlo counts, search depths and tolerances, with the published defaults.</summary>
public sealed record MeasureOptions
{
    /// <summary>Examples used by the measures that evaluate the loss many times (sharpness, PAC-Bayes).</summary>
    public int SearchExamples { get; init; } = 1000;
    /// <summary>Monte-Carlo weight draws per loss estimate in the PAC-Bayes sigma search.</summary>
    public int MonteCarloDraws { get; init; } = 10;
    /// <summary>Bisection steps for sigma / alpha searches.</summary>
    public int SearchDepth { get; init; } = 20;
    /// <summary>Target deviation of the train error (Fantastic uses 0.1).</summary>
    public double TargetDeviation { get; init; } = 0.1;
    /// <summary>Bisection tolerance on the deviation.</summary>
    public double SearchTolerance { get; init; } = 1e-2;
    /// <summary>Gradient-ascent steps inside each sharpness bisection step.</summary>
    public int AscentSteps { get; init; } = 20;
    /// <summary>Magnitude-aware epsilon (Fantastic uses 1e-3).</summary>
    public double MagnitudeEpsilon { get; init; } = 1e-3;
    /// <summary>Use the exact FFT spectral norm of convolutions (Sedghi et al.) instead of the reshaped kernel.</summary>
    public bool ExactConvSpectralNorm { get; init; } = true;
}
