using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>Which behaviour BatchNorm and dropout have while curvature is computed.</summary>
public enum CurvatureMode
{
    /// <summary>BatchNorm uses its running statistics, dropout is off (the default).</summary>
    Eval,
    /// <summary>
    /// BatchNorm uses the statistics of each mini-batch (so the loss depends on how the data is
    /// cut into batches) and dropout is on with masks fixed per batch (so every operator is a
    /// fixed matrix). Running statistics are restored after every pass.
    /// </summary>
    Train,
}

/// <summary>Settings of a <see cref="CurvatureProblem"/> beyond the model and the data.</summary>
public sealed record CurvatureOptions
{
    /// <summary>Examples per mini-batch when streaming over the data (memory of one batch).</summary>
    public int BatchSize { get; init; } = 1000;
    public CurvatureMode Mode { get; init; } = CurvatureMode.Eval;
    /// <summary>The weight-decay coefficient wd of the training run (L2 term wd/2 ||w||^2).</summary>
    public double WeightDecay { get; init; }
    /// <summary>
    /// When set, the loss is mean cross-entropy + wd/2 ||w||^2: the gradient gains wd w and the
    /// Hessian and GGN gain wd I. The Fisher-type matrices never include it.
    /// </summary>
    public bool IncludeWeightDecay { get; init; }
    /// <summary>Seed of the dropout masks in <see cref="CurvatureMode.Train"/> (mask of batch b uses seed + b).</summary>
    public long DropoutSeed { get; init; }
    /// <summary>
    /// Bytes of R-operator forward passes (activations, masks, softmax, per batch) kept between
    /// products on the same data and weights; batches beyond it are recomputed at every product
    /// (streaming). 0 keeps nothing. Default 256 MiB.
    /// </summary>
    public long ForwardCacheBytes { get; init; } = 256L << 20;
}

/// <summary>Loss, flat gradient and accuracy of a model over a whole data set.</summary>
public sealed record LossAndGradientResult(double Loss, Tensor Gradient, double Accuracy);

/// <summary>One mini-batch of the stream: rows [Start, Start + Count) of the data.</summary>
internal readonly record struct Batch(int Index, long Start, long Count);

/// <summary>
/// A model, a labelled data set and the loss L(w) = (1/N) sum_i CE(f(x_i; w), y_i) (plus the
/// weight-decay term if asked). Everything curvature-related is defined on this: the operators
/// stream over the data in mini-batches, weighting each batch by its size / N, so results equal
/// the full-batch values up to rounding (in eval mode). The model and the data must already have
/// the dtype wanted (float32 or float64); all checks that could otherwise reach a native autograd
/// call happen in the constructor.
/// </summary>
public sealed class CurvatureProblem
{
    private readonly Parameter[] _parameters;
    private readonly IReadOnlyList<(string Name, long Offset, long Length, long[] Shape)> _layout;

    public CurvatureProblem(nn.Module<Tensor, Tensor> model, Tensor inputs, Tensor labels, CurvatureOptions? options = null)
        : this(model, inputs, labels, options, knownClasses: null) { }

    /// <param name="knownClasses">
    /// Set only by <see cref="Checked"/>: the model and data were validated before (e.g. once per
    /// training run) and have this many outputs, so the checks (finiteness, one probe forward,
    /// label range: a dozen small ops each time) are skipped.
    /// </param>
    private CurvatureProblem(nn.Module<Tensor, Tensor> model, Tensor inputs, Tensor labels, CurvatureOptions? options, long? knownClasses)
    {
        Model = model;
        Inputs = inputs;
        Labels = labels;
        Options = options ?? new CurvatureOptions();
        _parameters = model.parameters().ToArray();
        _layout = Models.ParameterVector.Layout(model);
        if (knownClasses is null) Validate();
        DType = _parameters[0].dtype;
        Dimension = _parameters.Sum(p => p.numel());
        NumClasses = knownClasses ?? ProbeNumClasses();
        if (knownClasses is null) CheckLabels();
        // Only dropout draws random numbers in train mode; leave the global generator alone otherwise.
        _reseedsDropout = Mode == CurvatureMode.Train && model.modules().Any(m =>
            m is Dropout or Dropout1d or Dropout2d or Dropout3d or AlphaDropout or FeatureAlphaDropout);
    }

    private readonly bool _reseedsDropout;

    public nn.Module<Tensor, Tensor> Model { get; }
    /// <summary>[N, ...], the model's dtype.</summary>
    public Tensor Inputs { get; }
    /// <summary>int64 [N].</summary>
    public Tensor Labels { get; }
    public CurvatureOptions Options { get; }
    public long Count => Inputs.shape[0];
    /// <summary>Number of parameters P (length of the flat parameter vector).</summary>
    public long Dimension { get; }
    public ScalarType DType { get; }
    /// <summary>Number of model outputs (classes), found by one forward pass on the first examples.</summary>
    public long NumClasses { get; }
    public CurvatureMode Mode => Options.Mode;
    /// <summary>The weight decay that enters the loss: wd when included, otherwise 0.</summary>
    public double EffectiveWeightDecay => Options.IncludeWeightDecay ? Options.WeightDecay : 0.0;
    /// <summary>What every computation on this problem cost (products, gradient passes, forwards).</summary>
    public CostMeter Cost { get; } = new();

    private PearlmutterPlan? _plan;
    private bool _planned;

    /// <summary>The R-operator plan of the model (shared by every operator, with its kept forwards), or null when unsupported.</summary>
    internal PearlmutterPlan? Plan
    {
        get
        {
            if (!_planned) { _plan = PearlmutterPlan.TryCreate(this); _planned = true; }
            return _plan;
        }
    }

    internal IReadOnlyList<Parameter> Parameters => _parameters;
    internal IReadOnlyList<(string Name, long Offset, long Length, long[] Shape)> Layout => _layout;

    /// <summary>
    /// Builds a problem from float data, converting the inputs to the model's dtype (a copy when
    /// the dtypes differ). Convert the model first (e.g. <c>model.to(ScalarType.Float64)</c>).
    /// </summary>
    public static CurvatureProblem FromData(nn.Module<Tensor, Tensor> model, Tensor inputs, Tensor labels, CurvatureOptions? options = null)
    {
        var ps = model.parameters().ToArray();
        if (ps.Length == 0) throw new InputException("curvature: the model has no parameters");
        var x = inputs.dtype == ps[0].dtype ? inputs : inputs.to_type(ps[0].dtype);
        return new CurvatureProblem(model, x, labels, options);
    }

    /// <summary>
    /// A problem on a model and data of the same kind as <paramref name="validated"/> (same model,
    /// inputs of its dtype and shape, labels in range), without repeating its checks: for probes,
    /// which build one per measurement on the trainer's own, already checked, data.
    /// </summary>
    internal static CurvatureProblem Checked(CurvatureProblem validated, Tensor inputs, Tensor labels) =>
        new(validated.Model, inputs, labels, validated.Options, validated.NumClasses);

    private void Validate()
    {
        if (_parameters.Length == 0) throw new InputException("curvature: the model has no parameters");
        var dtype = _parameters[0].dtype;
        if (dtype != ScalarType.Float32 && dtype != ScalarType.Float64)
            throw new InputException($"curvature: model parameters are {dtype}; use float32 or float64");
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            string name = _layout[i].Name;
            if (p.dtype != dtype) throw new InputException($"curvature: parameter {name} is {p.dtype} but {_layout[0].Name} is {dtype}; convert the whole model");
            if (!p.requires_grad) throw new InputException($"curvature: parameter {name} does not require grad");
            if (!AllFinite(p)) throw new InputException($"curvature: parameter {name} has non-finite values (NaN or Inf)");
        }
        foreach (var (name, buffer) in Model.named_buffers())
            if (buffer.is_floating_point() && !AllFinite(buffer))
                throw new InputException($"curvature: buffer {name} has non-finite values (NaN or Inf)");

        if (Options.ForwardCacheBytes < 0) throw new InputException($"curvature: the forward cache size must be >= 0 bytes, got {Options.ForwardCacheBytes}");
        if (Options.BatchSize < 1) throw new InputException($"curvature: batch size must be >= 1, got {Options.BatchSize}");
        if (!double.IsFinite(Options.WeightDecay) || Options.WeightDecay < 0)
            throw new InputException($"curvature: weight decay must be finite and >= 0, got {Options.WeightDecay}");
        if (Inputs.dim() < 2) throw new InputException($"curvature: inputs must be [N, ...], got shape [{string.Join(",", Inputs.shape)}]");
        if (Labels.dim() != 1) throw new InputException($"curvature: labels must be 1-D [N], got shape [{string.Join(",", Labels.shape)}]");
        if (Labels.dtype != ScalarType.Int64) throw new InputException($"curvature: labels must be int64, got {Labels.dtype}");
        if (Inputs.shape[0] != Labels.shape[0])
            throw new InputException($"curvature: {Inputs.shape[0]} inputs but {Labels.shape[0]} labels");
        if (Inputs.shape[0] == 0) throw new InputException("curvature: the data set is empty");
        if (Inputs.dtype != dtype)
            throw new InputException($"curvature: inputs are {Inputs.dtype} but the model is {dtype}; convert one of them");
        if (!AllFinite(Inputs)) throw new InputException("curvature: inputs have non-finite values (NaN or Inf)");
    }

    private static bool AllFinite(Tensor t)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return t.isfinite().all().item<bool>();
    }

    private long ProbeNumClasses()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        bool wasTraining = Model.training;
        long n = Math.Min(2, Count);
        Tensor output;
        try
        {
            Model.eval();
            output = Model.call(Inputs.narrow(0, 0, n));
        }
        catch (Exception e) when (e is not InputException)
        {
            string shape = string.Join(",", Inputs.shape.Skip(1));
            throw new InputException($"curvature: the model cannot take inputs of shape [{shape}] ({FirstLine(e.Message)})", e);
        }
        finally
        {
            Model.train(wasTraining);
        }
        if (output.dim() != 2 || output.shape[0] != n)
            throw new InputException($"curvature: the model must output [N, classes] logits, got shape [{string.Join(",", output.shape)}] for {n} examples");
        if (output.dtype != DType)
            throw new InputException($"curvature: the model outputs {output.dtype} but its parameters are {DType}");
        return output.shape[1];
    }

    private void CheckLabels()
    {
        using var scope = NewDisposeScope();
        long min = Labels.min().item<long>(), max = Labels.max().item<long>();
        if (min < 0) throw new InputException($"curvature: label {min} is negative");
        if (max >= NumClasses) throw new InputException($"curvature: label {max} is out of range for a model with {NumClasses} outputs");
    }

    private static string FirstLine(string s)
    {
        int i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }

    /// <summary>The mini-batches of one pass, in order.</summary>
    internal IEnumerable<Batch> Batches()
    {
        int index = 0;
        for (long start = 0; start < Count; start += Options.BatchSize)
            yield return new Batch(index++, start, Math.Min(Options.BatchSize, Count - start));
    }

    internal Tensor BatchInputs(Batch b) => Inputs.narrow(0, b.Start, b.Count);
    internal Tensor BatchLabels(Batch b) => Labels.narrow(0, b.Start, b.Count);
    /// <summary>The weight of a batch-mean quantity in the data mean.</summary>
    internal double Weight(Batch b) => (double)b.Count / Count;

    /// <summary>
    /// Starts a pass over the data: sets the mode and, in train mode, saves the running statistics
    /// and the global random state, which are restored when the pass is disposed (after every
    /// graph of the pass is gone).
    /// </summary>
    internal Pass BeginPass() => new(this);

    /// <summary>Call before the forward of a batch inside a pass (fixes the dropout masks).</summary>
    internal void PrepareBatch(Batch b)
    {
        if (_reseedsDropout) torch.random.manual_seed(Options.DropoutSeed + b.Index).Dispose();
    }

    /// <summary>Logits of a batch, with the autograd graph (inside a pass).</summary>
    internal Tensor Forward(Batch b)
    {
        PrepareBatch(b);
        Cost.CountForward(b.Count);
        return Model.call(BatchInputs(b));
    }

    internal sealed class Pass : IDisposable
    {
        private readonly CurvatureProblem _problem;
        private readonly bool _wasTraining;
        private readonly Tensor[] _savedBuffers = [];
        private readonly Tensor? _rngState;
        private readonly IDisposable _gradMode;

        public Pass(CurvatureProblem problem)
        {
            _problem = problem;
            _wasTraining = problem.Model.training;
            _gradMode = enable_grad();
            if (problem.Mode == CurvatureMode.Train)
            {
                using (no_grad()) _savedBuffers = problem.Model.buffers().Select(b => b.clone().DetachFromDisposeScope()).ToArray();
                if (problem._reseedsDropout)
                {
                    using var gen = Generator.Default;
                    _rngState = gen.get_state().DetachFromDisposeScope();
                }
                problem.Model.train();
            }
            else
            {
                problem.Model.eval();
            }
        }

        public void Dispose()
        {
            if (_problem.Mode == CurvatureMode.Train)
            {
                using (no_grad())
                {
                    var buffers = _problem.Model.buffers().ToArray();
                    for (int i = 0; i < buffers.Length; i++) buffers[i].copy_(_savedBuffers[i]);
                }
                foreach (var t in _savedBuffers) t.Dispose();
                if (_rngState is not null)
                {
                    using var gen = Generator.Default;
                    gen.set_state(_rngState);
                    _rngState.Dispose();
                }
            }
            _problem.Model.train(_wasTraining);
            _gradMode.Dispose();
        }
    }

    /// <summary>
    /// The loss (mean cross-entropy, plus wd/2 ||w||^2 when weight decay is included), its flat
    /// gradient (a new tensor the caller owns) and the accuracy, streamed over mini-batches.
    /// </summary>
    public LossAndGradientResult LossAndGradient() => LossAndGradient(EffectiveWeightDecay);

    /// <summary>Drops the forwards kept between products (they are also dropped when the weights change).</summary>
    public void ReleaseKeptForwards() => _plan?.Cache.Clear();

    /// <summary>The gradient of the mean cross-entropy alone (no weight decay).</summary>
    internal Tensor DataGradient()
    {
        var r = LossAndGradient(0.0);
        return r.Gradient;
    }

    private LossAndGradientResult LossAndGradient(double weightDecay)
    {
        using var scope = NewDisposeScope();
        Tensor? gradient = null;
        double loss = 0;
        long correct = 0;
        using (BeginPass())
        {
            foreach (var b in Batches())
            {
                using var batchScope = NewDisposeScope();
                var logits = Forward(b);
                var y = BatchLabels(b);
                // A single batch has weight exactly 1: no scaling node in the graph (x * 1 == x).
                double weight = Weight(b);
                var batchLoss = nn.functional.cross_entropy(logits, y);
                if (weight != 1.0) batchLoss = batchLoss.mul(weight);
                var grads = Autograd.Grad(batchLoss, _parameters);
                var flat = Models.ParameterVector.Concat(grads);
                // The first batch's gradient is the running sum itself (0 + g == g), later ones add to it.
                if (gradient is null) gradient = flat.MoveToOuterDisposeScope();
                else gradient.add_(flat);
                loss += batchLoss.ToDouble();
                correct += logits.detach().argmax(1).eq(y).sum().item<long>();
            }
        }
        gradient ??= zeros(Dimension, dtype: DType);
        if (weightDecay > 0)
        {
            using var w = Models.ParameterVector.Flatten(Model);
            loss += 0.5 * weightDecay * w.dot(w).ToDouble();
            gradient.add_(w, alpha: weightDecay);
        }
        Cost.CountGradientPass();
        return new LossAndGradientResult(loss, gradient.MoveToOuterDisposeScope(), (double)correct / Count);
    }

    /// <summary>Throws <see cref="InputException"/> unless v is a 1-D vector of this problem's length and dtype.</summary>
    internal static void CheckVector(Tensor v, long dimension, ScalarType dtype, string who)
    {
        if (v.dim() != 1 || v.shape[0] != dimension)
            throw new InputException($"{who}: vector must have shape [{dimension}], got [{string.Join(",", v.shape)}]");
        if (v.dtype != dtype)
            throw new InputException($"{who}: vector is {v.dtype} but the operator is {dtype}");
    }
}
