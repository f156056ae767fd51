using Geodesy.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Curvature;

/// <summary>A Monte-Carlo estimate with its standard error.</summary>
public sealed record TraceEstimate(double Estimate, double StdErr, int SamplesPerInput, long Examples);

/// <summary>
/// Exact per-example gradients g_i = grad of CE(f(x_i), y_i) (not divided by N, no weight decay),
/// streamed in chunks of the problem's batch size so that N x P is never held unless asked.
/// For a <see cref="SequentialModel"/> whose layers are Linear, Conv2d (groups 1, zero padding),
/// BatchNorm with running statistics (eval mode) and parameter-free layers, they come from
/// per-layer closed forms after one backward pass per chunk; anything else (train-mode
/// BatchNorm, other parameterized layers, other models) falls back to one backward per example.
/// In train mode an example's gradient is that of its loss term within its mini-batch.
/// </summary>
public sealed class PerExampleGradients
{
    private readonly CurvatureProblem _problem;
    private readonly List<ClosedForm>? _plan;

    public PerExampleGradients(CurvatureProblem problem, bool forceLoop = false)
    {
        _problem = problem;
        _plan = forceLoop ? null : ClosedFormPlan(problem);
    }

    /// <summary>True when the per-layer closed forms are used, false for the per-example loop.</summary>
    public bool IsClosedForm => _plan is not null;
    public string Method => IsClosedForm ? "closed-form" : "loop";

    /// <summary>
    /// Calls <paramref name="onChunk"/>(start, G) for consecutive chunks, G [B, P] holding the
    /// gradients of examples start..start+B-1. G is disposed after the call: clone what you keep.
    /// </summary>
    public void ForEachChunk(Action<long, Tensor> onChunk) => ForEachChunk(null, onChunk);

    /// <summary>All per-example gradients as one [N, P] tensor, if it takes at most <paramref name="maxBytes"/>.</summary>
    public Tensor Materialize(long maxBytes = 1L << 30)
    {
        long bytes = _problem.Count * _problem.Dimension * (_problem.DType == ScalarType.Float64 ? 8 : 4);
        if (bytes > maxBytes)
            throw new InputException($"per-example gradients: {_problem.Count} x {_problem.Dimension} needs {bytes} bytes, more than the limit {maxBytes}; use fewer examples");
        var all = empty(_problem.Count, _problem.Dimension, dtype: _problem.DType);
        ForEachChunk((start, g) => all.narrow(0, start, g.shape[0]).copy_(g));
        return all;
    }

    /// <summary>||g_i|| for every example.</summary>
    public double[] Norms() => SquaredNorms(null).Select(Math.Sqrt).ToArray();

    /// <summary>Tr of the empirical Fisher: (1/N) sum_i ||g_i||^2.</summary>
    public double EmpiricalFisherTrace() => SquaredNorms(null).Average();

    /// <summary>Tr K = (1/N) sum_i ||g_i - g||^2 = Tr(empirical Fisher) - ||g||^2, g the mean gradient.</summary>
    public double GradientCovarianceTrace()
    {
        double fisher = EmpiricalFisherTrace();
        using var scope = NewDisposeScope();
        var mean = _problem.DataGradient();
        return fisher - mean.dot(mean).ToDouble();
    }

    /// <summary>
    /// The k largest eigenvalues (descending) of K, exactly, through the N x N centred Gram matrix
    /// (G - 1 g^T)(G - 1 g^T)^T / N, which shares K's non-zero eigenvalues. Holds G [N, P].
    /// </summary>
    public double[] GradientCovarianceTopEigenvalues(int k, long maxBytes = 1L << 30)
    {
        long rank = Math.Min(_problem.Count, _problem.Dimension);
        if (k < 1 || k > rank)
            throw new InputException($"gradient covariance: k = {k} must be between 1 and min(N, P) = {rank}");
        using var scope = NewDisposeScope();
        var g = Materialize(maxBytes);
        var centred = g.sub(g.mean([0], keepdim: true));
        var gram = centred.mm(centred.t()).div_(_problem.Count);
        var eigenvalues = linalg.eigvalsh(gram).to_type(ScalarType.Float64).data<double>().ToArray();
        return eigenvalues.Reverse().Take(k).ToArray();
    }

    /// <summary>
    /// Tr(F) = (1/N) sum_i E_{y~ ~ p(.|x_i)} ||grad log p(y~|x_i)||^2, estimated with
    /// <paramref name="samplesPerInput"/> labels per input drawn from the model (seeded). The
    /// standard error uses the within-example variance when S >= 2; with S = 1 it is the
    /// conservative sd/sqrt(N) (it also counts the spread between examples).
    /// </summary>
    public TraceEstimate FisherTrace(int samplesPerInput = 1, long seed = 0)
    {
        if (samplesPerInput < 1) throw new InputException($"fisher trace: samples per input must be >= 1, got {samplesPerInput}");
        long n = _problem.Count;
        var values = new double[samplesPerInput][];
        if (samplesPerInput == 1 && _plan is not null)
            values[0] = SampledSquaredNorms(seed); // one forward for both the draw and the gradients
        else
        {
            using var sampled = ModelSampling.SampleLabels(_problem, samplesPerInput, seed);
            for (int s = 0; s < samplesPerInput; s++)
            {
                using var scope = NewDisposeScope();
                var column = sampled.select(1, s).contiguous();
                values[s] = SquaredNorms(b => column.narrow(0, b.Start, b.Count));
            }
        }
        double estimate = values.Sum(v => v.Sum()) / (n * samplesPerInput);
        double stderr;
        if (samplesPerInput >= 2)
        {
            // Var(mean) = sum_i Var_i / (S N^2), Var_i estimated over the S draws of example i.
            double sumVar = 0;
            for (long i = 0; i < n; i++)
            {
                double m = 0;
                for (int s = 0; s < samplesPerInput; s++) m += values[s][i];
                m /= samplesPerInput;
                double ss = 0;
                for (int s = 0; s < samplesPerInput; s++) ss += (values[s][i] - m) * (values[s][i] - m);
                sumVar += ss / (samplesPerInput - 1);
            }
            stderr = Math.Sqrt(sumVar / samplesPerInput) / n;
        }
        else
        {
            double m = values[0].Average();
            double ss = values[0].Sum(x => (x - m) * (x - m));
            stderr = n > 1 ? Math.Sqrt(ss / (n - 1) / n) : double.NaN;
        }
        return new TraceEstimate(estimate, stderr, samplesPerInput, n);
    }

    // ---- streaming ----

    /// <summary>Labels of a batch: the problem's, or others (e.g. sampled from the model).</summary>
    private Tensor LabelsOf(Batch b, Func<Batch, Tensor>? labels) => labels is null ? _problem.BatchLabels(b) : labels(b);

    private void ForEachChunk(Func<Batch, Tensor>? labels, Action<long, Tensor> onChunk)
    {
        using (_problem.BeginPass())
        {
            foreach (var b in _problem.Batches())
            {
                using var scope = NewDisposeScope();
                var chunk = _plan is null ? LoopChunk(b, LabelsOf(b, labels)) : ClosedFormChunk(Backprop(b, LabelsOf(b, labels)));
                onChunk(b.Start, chunk);
            }
        }
        _problem.Cost.CountGradientPass();
    }

    /// <summary>||g_i||^2 for all examples (closed forms need no [B, P] matrix for Linear layers).</summary>
    private double[] SquaredNorms(Func<Batch, Tensor>? labels)
    {
        var result = new double[_problem.Count];
        if (_plan is null)
        {
            ForEachChunk(labels, (start, g) =>
            {
                using var sq = g.square().sum(1).to_type(ScalarType.Float64);
                Array.Copy(sq.data<double>().ToArray(), 0, result, start, g.shape[0]);
            });
            return result;
        }
        using (_problem.BeginPass())
        {
            foreach (var b in _problem.Batches())
            {
                using var scope = NewDisposeScope();
                var sq = zeros(b.Count, dtype: _problem.DType);
                foreach (var r in Backprop(b, LabelsOf(b, labels)))
                    sq.add_(r.Form.Derivatives.PerExampleSquaredNorms(r.Input, r.OutputGradient));
                Array.Copy(sq.to_type(ScalarType.Float64).data<double>().ToArray(), 0, result, b.Start, b.Count);
            }
        }
        _problem.Cost.CountGradientPass();
        return result;
    }

    /// <summary>
    /// ||grad log p(y~_i|x_i)||^2 with one label per input drawn from softmax(f(x_i)) by the closed
    /// forms, sampling from the logits of the same forward: the labels, drawn batch by batch from
    /// one generator seeded by <paramref name="seed"/>, are those of <see cref="ModelSampling.SampleLabels"/>.
    /// </summary>
    private double[] SampledSquaredNorms(long seed)
    {
        var result = new double[_problem.Count];
        using var generator = new Generator(unchecked((ulong)seed));
        using (_problem.BeginPass())
        {
            foreach (var b in _problem.Batches())
            {
                using var scope = NewDisposeScope();
                var records = ForwardRecords(b, out var logits);
                Tensor labels;
                using (no_grad()) labels = nn.functional.softmax(logits.detach(), 1).multinomial(1, replacement: true, generator: generator).reshape(-1);
                var losses = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None);
                var grads = Autograd.Grad(losses.sum(), records.Select(r => r.Output).ToList());
                var sq = zeros(b.Count, dtype: _problem.DType);
                for (int i = 0; i < records.Count; i++)
                    sq.add_(records[i].Form.Derivatives.PerExampleSquaredNorms(records[i].Input, grads[i]));
                Array.Copy(sq.to_type(ScalarType.Float64).data<double>().ToArray(), 0, result, b.Start, b.Count);
            }
        }
        _problem.Cost.CountGradientPass();
        return result;
    }

    // ---- loop fallback ----

    private Tensor LoopChunk(Batch b, Tensor labels)
    {
        var parameters = _problem.Parameters;
        var rows = empty(b.Count, _problem.Dimension, dtype: _problem.DType);
        if (ExamplesIndependent(_problem))
        {
            // Each example alone: B small passes instead of B backward passes through the whole batch.
            var x = _problem.BatchInputs(b);
            _problem.Cost.CountForward(b.Count);
            for (long i = 0; i < b.Count; i++)
            {
                using var scope = NewDisposeScope();
                var loss = nn.functional.cross_entropy(_problem.Model.call(x.narrow(0, i, 1)), labels.narrow(0, i, 1));
                rows[i].copy_(ParameterVector.Concat(Autograd.Grad(loss, parameters)));
            }
        }
        else
        {
            var losses = nn.functional.cross_entropy(_problem.Forward(b), labels, reduction: nn.Reduction.None);
            for (long i = 0; i < b.Count; i++)
            {
                using var scope = NewDisposeScope();
                var g = Autograd.Grad(losses[i], parameters, retainGraph: i < b.Count - 1);
                rows[i].copy_(ParameterVector.Concat(g));
            }
        }
        return rows;
    }

    /// <summary>Eval mode and no BatchNorm that normalizes with batch statistics even in eval.</summary>
    private static bool ExamplesIndependent(CurvatureProblem problem) =>
        problem.Mode == CurvatureMode.Eval &&
        problem.Model.modules().OfType<BatchNorm>().All(bn => bn.track_running_stats && bn.running_mean is not null);

    // ---- closed forms ----

    private sealed record LayerRecord(ClosedForm Form, Tensor Input, Tensor Output)
    {
        public Tensor OutputGradient { get; set; } = null!;
    }

    /// <summary>
    /// One forward through the layers keeping each parameterized layer's input and output, then
    /// one backward of the summed per-example losses to those outputs. Because examples do not
    /// interact, row i of each output gradient is d loss_i / d output_i.
    /// </summary>
    private List<LayerRecord> Backprop(Batch b, Tensor labels)
    {
        var records = ForwardRecords(b, out var logits);
        var losses = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None);
        var grads = Autograd.Grad(losses.sum(), records.Select(r => r.Output).ToList());
        for (int i = 0; i < records.Count; i++) records[i].OutputGradient = grads[i];
        return records;
    }

    /// <summary>One forward through the layers keeping each parameterized layer's input and output.</summary>
    private List<LayerRecord> ForwardRecords(Batch b, out Tensor logits)
    {
        var model = (SequentialModel)_problem.Model;
        _problem.PrepareBatch(b);
        _problem.Cost.CountForward(b.Count);
        var input = _problem.BatchInputs(b);
        var x = model.FlattenInput ? input.reshape(input.shape[0], -1) : input;
        var records = new List<LayerRecord>();
        int next = 0;
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var z = model.Layers[i].call(x);
            if (next < _plan!.Count && _plan[next].LayerIndex == i)
                records.Add(new LayerRecord(_plan[next++], x.detach(), z));
            x = z;
        }
        logits = x;
        return records;
    }

    /// <summary>
    /// The Jacobians of the logits, J [N, C, P] with J[i, c] = ∂f_c(x_i)/∂w: with the closed forms,
    /// one forward per chunk and C backward passes to the layer outputs (row i of the gradient of
    /// Σᵢ f_c(x_i) is example i's); otherwise one backward per example and logit.
    /// </summary>
    public Tensor LogitJacobians(long maxBytes = 1L << 30)
    {
        long c = _problem.NumClasses, bytes = _problem.Count * c * _problem.Dimension * (_problem.DType == ScalarType.Float64 ? 8 : 4);
        if (bytes > maxBytes)
            throw new InputException($"logit Jacobians: {_problem.Count} x {c} x {_problem.Dimension} needs {bytes} bytes, more than the limit {maxBytes}; use fewer examples");
        var all = empty(_problem.Count, c, _problem.Dimension, dtype: _problem.DType);
        using (_problem.BeginPass())
        {
            foreach (var b in _problem.Batches())
            {
                using var scope = NewDisposeScope();
                var target = all.narrow(0, b.Start, b.Count);
                if (_plan is null)
                {
                    var logits = _problem.Forward(b);
                    for (long i = 0; i < b.Count; i++)
                        for (long k = 0; k < c; k++)
                        {
                            using var inner = NewDisposeScope();
                            bool more = i < b.Count - 1 || k < c - 1;
                            target[i, k].copy_(ParameterVector.Concat(Autograd.Grad(logits[i, k], _problem.Parameters, retainGraph: more)));
                        }
                    continue;
                }
                var records = ForwardRecords(b, out var output);
                for (long k = 0; k < c; k++)
                {
                    using var inner = NewDisposeScope();
                    var grads = Autograd.Grad(output.select(1, k).sum(), records.Select(r => r.Output).ToList(), retainGraph: k < c - 1);
                    for (int i = 0; i < records.Count; i++) records[i].OutputGradient = grads[i];
                    target.select(1, k).copy_(ClosedFormChunk(records));
                }
            }
        }
        _problem.Cost.CountGradientPass();
        return all;
    }

    private Tensor ClosedFormChunk(List<LayerRecord> records)
    {
        long rows = records[0].Input.shape[0];
        var result = empty(rows, _problem.Dimension, dtype: _problem.DType);
        foreach (var r in records)
        {
            var (weight, bias) = r.Form.Derivatives.PerExampleGradients(r.Input, r.OutputGradient);
            var parameters = r.Form.Derivatives.Parameters;
            result.narrow(1, parameters.Weight!.Offset, weight.shape[1]).copy_(weight);
            if (bias is not null) result.narrow(1, parameters.Bias!.Offset, bias.shape[1]).copy_(bias);
        }
        return result;
    }

    /// <summary>A parameterized layer of the model and its entry in the derivative table.</summary>
    private sealed record ClosedForm(int LayerIndex, LayerDerivatives Derivatives);

    /// <summary>
    /// The parameterized layers with their derivatives, or null when some layer has none or makes
    /// examples interact (BatchNorm with batch statistics). Parameter-free layers need no entry:
    /// the backward to the layer outputs goes through libtorch's autograd.
    /// </summary>
    private static List<ClosedForm>? ClosedFormPlan(CurvatureProblem problem)
    {
        if (problem.Model is not SequentialModel model) return null;
        var plan = new List<ClosedForm>();
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            if (layer is BatchNorm bn && !ClosedFormLayers.IsFixedAffine(bn, problem.Mode)) return null;
            if (!layer.parameters().Any()) continue;
            if (LayerDerivatives.For(problem, i, layer) is not { HasParameters: true } derivatives) return null;
            plan.Add(new ClosedForm(i, derivatives));
        }
        // Every parameter must belong to a layer with a closed form.
        return LayerParameters.CoverAll(problem, plan.Select(f => f.Derivatives.Parameters).ToList()) ? plan : null;
    }
}
