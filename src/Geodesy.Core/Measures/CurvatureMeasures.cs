using Geodesy.Core.Curvature;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>
/// The curvature problem the curvature measures share: the model in
/// <see cref="MeasureOptions.CurvatureDType"/> (a copy when the measured model has another dtype,
/// so the measured model is never changed) on a seeded subset of
/// <see cref="MeasureOptions.CurvatureExamples"/> examples, loss = mean cross-entropy, eval mode,
/// no weight decay.
/// </summary>
public sealed class CurvatureSession : IDisposable
{
    private readonly nn.Module<Tensor, Tensor>? _copy;

    private CurvatureSession(CurvatureProblem problem, nn.Module<Tensor, Tensor>? copy)
    {
        Problem = problem;
        _copy = copy;
    }

    public CurvatureProblem Problem { get; }
    public long Examples => Problem.Count;

    /// <summary>Builds the problem; the caller disposes the session (and with it any model copy).</summary>
    public static CurvatureSession Open(MeasureContext ctx, string measure)
    {
        var dtype = ctx.Options.CurvatureDType;
        var model = ctx.Model;
        nn.Module<Tensor, Tensor>? copy = null;
        if (Training.Evaluation.ParameterDType(ctx.Model) != dtype)
        {
            copy = CopyIn(ctx, dtype, measure);
            model = copy;
        }
        try
        {
            var set = MeasureData.Subset(ctx, ctx.Options.CurvatureExamples, "curvature");
            var problem = CurvatureProblem.FromData(model, set.Inputs, set.Labels,
                new CurvatureOptions { BatchSize = ctx.Options.EvalBatchSize, Mode = CurvatureMode.Eval });
            return new CurvatureSession(problem, copy);
        }
        catch
        {
            copy?.Dispose();
            throw;
        }
    }

    /// <summary>A copy of the measured model in another dtype, rebuilt from its arch spec and its state_dict.</summary>
    private static nn.Module<Tensor, Tensor> CopyIn(MeasureContext ctx, ScalarType dtype, string measure)
    {
        nn.Module<Tensor, Tensor> copy;
        try
        {
            copy = ModelZoo.Create(ctx.ArchSpec, ctx.Data.InputShape, ctx.Data.NumClasses, seed: 0, dtype);
        }
        catch (InputException e)
        {
            throw new MeasureSkippedException($"{measure} cannot rebuild the model in {dtype} from arch '{ctx.ArchSpec}' ({e.Message}); set CurvatureDType to the model's dtype");
        }
        try
        {
            var state = ctx.Model.state_dict().Select(kv => (kv.Key, kv.Value)).ToList();
            StateDictCopy.CopyStrict(copy, state, $"{measure}: copy of '{ctx.ArchSpec}' in {dtype}");
            copy.eval();
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    private CostSnapshot _charged;

    /// <summary>Adds what the problem's cost meter counted since the last charge to the context's counters.</summary>
    public void Charge(MeasureContext ctx)
    {
        var spent = Problem.Cost.Since(_charged);
        _charged = Problem.Cost.Snapshot();
        ctx.Matvecs += spent.Products;
        ctx.ForwardExamples += spent.ForwardExamples;
        ctx.Gradients += spent.GradientPasses;
    }

    public void Dispose()
    {
        Problem.ReleaseKeptForwards(); // the forwards kept between products are native memory: free them now
        _copy?.Dispose();
    }
}

/// <summary>Largest Hessian eigenvalue by Lanczos (the sharpness of the minimum in curvature terms).</summary>
public sealed class HessianTopEigenvalueMeasure() : Measure("hessian-top-eigenvalue", MeasureFamily.Curvature, MeasureNeeds.Data, 4,
    "lambda_max(H), H = Hessian of the mean cross-entropy; Lanczos top-1 to relative residual EigenTolerance",
    Citations.PyHessian)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        using var session = CurvatureSession.Open(context, Name);
        var op = new HessianOperator(session.Problem);
        var r = Lanczos.TopK(op, new EigenOptions
        {
            K = 1,
            Tol = context.Options.EigenTolerance,
            MaxMatvecs = context.Options.EigenMatvecs,
            Seed = MeasureData.SeedFor(context, Name),
        });
        session.Charge(context);
        if (r.Status == SolverStatus.Diverged || r.Eigenvalues.Length == 0)
            throw new ComputationException($"{Name}: Lanczos {r.Status.ToSnakeCase()} after {r.Matvecs} Hessian-vector products");
        // The residual bounds the distance to the nearest eigenvalue; it is not a standard error.
        return new MeasureValue(r.Eigenvalues[0], null, new Dictionary<string, double>
        {
            ["residual"] = r.Residuals[0],
            ["relative_residual"] = r.RelativeResiduals[0],
            ["examples"] = session.Examples,
        }, r.Status);
    }
}

/// <summary>Trace of the Hessian by Hutch++.</summary>
public sealed class HessianTraceMeasure() : Measure("hessian-trace", MeasureFamily.Curvature, MeasureNeeds.Data, 4,
    "Tr(H), H = Hessian of the mean cross-entropy; Hutch++ with TraceMatvecs products (stderr of its Hutchinson part)",
    Citations.HutchPlusPlus)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        using var session = CurvatureSession.Open(context, Name);
        var r = TraceEstimators.HutchPlusPlus(new HessianOperator(session.Problem), new TraceOptions
        {
            MaxMatvecs = context.Options.TraceMatvecs,
            Seed = MeasureData.SeedFor(context, Name),
        });
        session.Charge(context);
        if (r.Status == SolverStatus.Diverged) throw new ComputationException($"{Name}: the Hessian-vector products were not finite");
        return new MeasureValue(r.Estimate, r.StdErr, new Dictionary<string, double>
        {
            ["sketch_size"] = r.SketchSize,
            ["probes"] = r.Probes,
            ["examples"] = session.Examples,
        }, r.Status);
    }
}

/// <summary>Trace of the (true) Fisher with labels sampled from the model.</summary>
public sealed class FisherTraceMeasure() : Measure("fisher-trace", MeasureFamily.Curvature, MeasureNeeds.Data, 2,
    "Tr(F) = (1/m) sum_i E_{y~p(.|x_i)} ||grad_w log p(y|x_i)||^2, FisherSamples labels drawn per input",
    Citations.FisherTrace)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        using var session = CurvatureSession.Open(context, Name);
        var perExample = new PerExampleGradients(session.Problem);
        int samples = context.Options.FisherSamples;
        var r = perExample.FisherTrace(samples, MeasureData.SeedFor(context, Name));
        session.Charge(context);
        if (!double.IsFinite(r.Estimate)) throw new ComputationException($"{Name}: the per-example gradients were not finite");
        return new MeasureValue(r.Estimate, double.IsFinite(r.StdErr) ? r.StdErr : null, new Dictionary<string, double>
        {
            ["samples_per_input"] = r.SamplesPerInput,
            ["examples"] = r.Examples,
            ["closed_form"] = perExample.IsClosedForm ? 1 : 0,
        });
    }
}

/// <summary>Tr(H) / ||H||_F, the Goldilocks-zone statistic, from shared Hutchinson probes.</summary>
public sealed class TraceOverFrobeniusMeasure() : Measure("trace-over-frobenius", MeasureFamily.Curvature, MeasureNeeds.Data, 4,
    "Tr(H) / ||H||_F with z^T H z and ||H z||^2 from the same TraceMatvecs Rademacher probes (delta-method stderr)",
    Citations.Goldilocks)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        using var session = CurvatureSession.Open(context, Name);
        var r = FrobeniusEstimator.TraceOverFrobenius(new HessianOperator(session.Problem), new TraceOptions
        {
            MaxMatvecs = context.Options.TraceMatvecs,
            Seed = MeasureData.SeedFor(context, Name),
        });
        session.Charge(context);
        if (r.Status == SolverStatus.Diverged || double.IsNaN(r.Estimate))
            throw new ComputationException($"{Name}: the Hessian-vector products were not finite or all zero");
        return new MeasureValue(r.Estimate, double.IsFinite(r.StdErr) ? r.StdErr : null, new Dictionary<string, double>
        {
            ["trace"] = r.Trace,
            ["trace_stderr"] = r.TraceStdErr,
            ["frobenius_norm"] = r.FrobeniusNorm,
            ["frobenius_norm_stderr"] = r.FrobeniusNormStdErr,
            ["probes"] = r.Probes,
            ["examples"] = session.Examples,
        }, r.Status);
    }
}
