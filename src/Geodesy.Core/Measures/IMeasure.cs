using Geodesy.Core.Curvature;
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

/// <summary>
/// A measure's value with its standard error (null when exact or when no standard error exists),
/// extra named numbers, how its solver or search stopped, and, for values found by bisection, the
/// half-width of the final bracket (which is not a standard error and is never reported as one).
/// A value whose <see cref="Status"/> is not <see cref="SolverStatus.Converged"/> is stored with
/// that status and left out of rankings by default.
/// </summary>
public sealed record MeasureValue(double Value, double? StdErr = null, IReadOnlyDictionary<string, double>? Details = null,
    SolverStatus Status = SolverStatus.Converged, double? BracketHalfwidth = null);

/// <summary>A cached value that owns tensors (kept alive by <see cref="MeasureContext.Cached"/>).</summary>
public interface ITensorHolder
{
    IEnumerable<Tensor> Tensors { get; }
}

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
public sealed class MeasureContext : IDisposable
{
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    public nn.Module<Tensor, Tensor>? InitModel { get; init; }
    /// <summary>The data the measure is computed on (the training set, as in Fantastic).</summary>
    public required Dataset Data { get; init; }
    public required string ArchSpec { get; init; }
    public IReadOnlyList<MetricsRow>? TrainingRecord { get; init; }
    /// <summary>The trainer's running means of the mini-batch loss (metrics.jsonl lines with "running_train_loss"), if recorded.</summary>
    public IReadOnlyList<RunningLossRow>? RunningLoss { get; init; }
    /// <summary>
    /// The training batch size, if known. Reported, never used by a measure: the gradient-noise measures use
    /// <see cref="MeasureOptions.GradientNoiseBatchSize"/> for every model.
    /// </summary>
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
        T value;
        // Cached tensors outlive the measure that computed them: keep them out of any dispose scope.
        using (var scope = torch.NewDisposeScope())
        {
            value = compute();
            var tensors = value switch
            {
                Tensor t => [t],
                ITensorHolder h => h.Tensors.ToArray(),
                _ => Array.Empty<Tensor>(),
            };
            if (tensors.Length > 0) scope.Detach(tensors.Cast<IDisposable>());
        }
        _cache[key] = value;
        return value;
    }

    public nn.Module<Tensor, Tensor> RequireInit(string measure) =>
        InitModel ?? throw new MeasureSkippedException($"{measure} needs the initial weights (--init-weights or --run)");

    /// <summary>Disposes cached tensors (and anything else disposable the measures cached).</summary>
    public void Dispose()
    {
        foreach (var v in _cache.Values)
        {
            if (v is IDisposable d) d.Dispose();
            else if (v is System.Collections.IEnumerable items and not string)
                foreach (var item in items) if (item is IDisposable di) di.Dispose();
        }
        _cache.Clear();
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
    /// <summary>The confidence parameter delta the appendix leaves symbolic in the magnitude-aware sharpness bounds.</summary>
    public double Delta { get; init; } = 0.05;
    /// <summary>Box half-width factor of Keskar et al.'s epsilon-sharpness: |u_i| &lt;= eps (|w_i| + 1).</summary>
    public double SharpnessEpsilon { get; init; } = 1e-3;
    /// <summary>Random mini-batches drawn for the gradient-noise measures.</summary>
    public int GradientNoiseBatches { get; init; } = 32;
    /// <summary>
    /// Mini-batch size of the gradient-noise measures, the same for every model (not each model's training
    /// batch: a sweep over batch sizes would otherwise move the noise by construction). 64 by default.
    /// </summary>
    public int GradientNoiseBatchSize { get; init; } = 64;
    /// <summary>Examples (seeded subset) whose pairwise gradient cosines give stiffness.</summary>
    public int StiffnessExamples { get; init; } = 200;
    /// <summary>Layers whose ESD has fewer eigenvalues than this get no power-law fit (WeightWatcher's min_evals = 10).</summary>
    public int MinSpectrumSize { get; init; } = 10;
    /// <summary>Smallest tail (eigenvalues >= xmin) a power-law fit may use (2 = WeightWatcher: every value but the largest is a candidate xmin).</summary>
    public int MinTailSize { get; init; } = 2;
    /// <summary>Examples per forward batch (memory bound, not a statistical choice).</summary>
    public int EvalBatchSize { get; init; } = 2000;
    /// <summary>
    /// The dtype the curvature measures compute in: a copy of the model in this dtype is made when the
    /// model has another (the measured model itself is never changed). float64 by default, as for every curvature computation (docs/curvature.md).
    /// </summary>
    public ScalarType CurvatureDType { get; init; } = ScalarType.Float64;
    /// <summary>Examples (seeded subset of the measured data) the curvature measures use; all of them when larger.</summary>
    public int CurvatureExamples { get; init; } = 1000;
    /// <summary>Relative residual at which Lanczos accepts the top Hessian eigenvalue.</summary>
    public double EigenTolerance { get; init; } = 1e-3;
    /// <summary>Budget of Hessian-vector products for the top eigenvalue (Lanczos usually needs 20-40).</summary>
    public int EigenMatvecs { get; init; } = 100;
    /// <summary>Budget of Hessian-vector products for each randomized trace estimate (Hutch++, Tr/||.||_F).</summary>
    public int TraceMatvecs { get; init; } = 60;
    /// <summary>Labels drawn from the model per input for Tr(F) (2 or more give the within-example standard error).</summary>
    public int FisherSamples { get; init; } = 4;

    /// <summary>Rejects values that make no sense, naming the option.</summary>
    public void Validate()
    {
        static void Positive(string name, double v) { if (!(v > 0)) throw new InputException($"measure option {name} must be positive (got {v})"); }
        Positive(nameof(SearchExamples), SearchExamples);
        Positive(nameof(MonteCarloDraws), MonteCarloDraws);
        Positive(nameof(SearchDepth), SearchDepth);
        Positive(nameof(TargetDeviation), TargetDeviation);
        Positive(nameof(SearchTolerance), SearchTolerance);
        Positive(nameof(AscentSteps), AscentSteps);
        Positive(nameof(MagnitudeEpsilon), MagnitudeEpsilon);
        Positive(nameof(Delta), Delta);
        Positive(nameof(SharpnessEpsilon), SharpnessEpsilon);
        Positive(nameof(GradientNoiseBatches), GradientNoiseBatches);
        Positive(nameof(GradientNoiseBatchSize), GradientNoiseBatchSize);
        Positive(nameof(StiffnessExamples), StiffnessExamples);
        Positive(nameof(MinSpectrumSize), MinSpectrumSize);
        Positive(nameof(MinTailSize), MinTailSize);
        Positive(nameof(EvalBatchSize), EvalBatchSize);
        Positive(nameof(CurvatureExamples), CurvatureExamples);
        Positive(nameof(EigenMatvecs), EigenMatvecs);
        Positive(nameof(FisherSamples), FisherSamples);
        if (!(EigenTolerance > 0 && EigenTolerance < 1)) throw new InputException($"measure option EigenTolerance must be in (0, 1) (got {EigenTolerance})");
        if (TraceMatvecs < 6) throw new InputException($"measure option TraceMatvecs must be at least 6 (got {TraceMatvecs})");
        if (CurvatureDType != ScalarType.Float32 && CurvatureDType != ScalarType.Float64)
            throw new InputException($"measure option CurvatureDType must be float32 or float64 (got {CurvatureDType})");
        if (TargetDeviation >= 1) throw new InputException($"measure option TargetDeviation must be below 1 (got {TargetDeviation})");
        if (MinTailSize < 2) throw new InputException($"measure option MinTailSize must be at least 2 (got {MinTailSize})");
    }
}
