using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// The top-k Hessian eigenvalues on the probe set by Lanczos (eval mode, no weight decay), each
/// call started from the sum of the previous call's eigenvectors: the weights move little between
/// calls, so the start already lies near the top eigenspace and few products are needed. The
/// first call has no previous vectors and starts from the probe-set gradient, which it needs
/// for the overlap anyway and which lies largely in the top eigenspace (Gur-Ari et al. 2018):
/// on mlp:784-100-10 at initialization 14 products instead of 17 from a random vector. Also
/// writes <c>sharpness-ratio</c> = λmax / (2/η), η the learning rate of the next step (the
/// stability threshold of gradient descent on a quadratic; momentum moves it, see docs/probes.md)
/// and <c>gradient-overlap</c> = ||P_k g||² / ||g||², the share of the probe-set gradient g in the
/// top-k eigenspace (one more gradient pass).
/// </summary>
public sealed class HessianTopProbe(ProbeSpec spec) : IProbe
{
    public const double DefaultTol = 1e-3;
    public const long MaxMatvecs = 1000;
    private readonly int _k = spec.Int("k", 1);
    private readonly double _tol = spec.Double("tol", DefaultTol);
    private Tensor? _start;

    public string Name => spec.Name;

    public void Check(nn.Module model)
    {
        long dimension = ParameterVector.Count(model);
        if (_k > dimension) throw new InputException($"--probe '{spec.Text}': k = {_k} is larger than the {dimension} parameters");
    }

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var problem = context.Problem(ProbeSet.Probe);
        var op = new HessianOperator(problem);
        var gradient = problem.DataGradient();
        double squaredNorm = gradient.dot(gradient).to_type(ScalarType.Float64).item<double>();
        bool usableGradient = double.IsFinite(squaredNorm) && squaredNorm > 0;
        bool warm = _start is not null;
        string start = warm ? "previous" : usableGradient ? "gradient" : "random";
        var result = Lanczos.TopK(op, new EigenOptions
        {
            K = _k,
            Tol = _tol,
            MaxMatvecs = MaxMatvecs,
            Seed = ProbeSeeds.For(context.RunSeed, Name, ProbeSet.Probe, context.Step),
            ReturnVectors = true,
            Start = _start ?? (usableGradient ? gradient : null),
        });
        double overlap = double.NaN;
        if (result.Eigenvectors is { } vectors && result.Status != SolverStatus.Diverged)
        {
            _start?.Dispose();
            _start = vectors.sum(0L).DetachFromDisposeScope(); // kept across calls, outside every step's scope
            // ||P_k g||^2 / ||g||^2, P_k the projection on the (orthonormal) Ritz vectors.
            overlap = vectors.mv(gradient).pow(2).sum().to_type(ScalarType.Float64).item<double>() / squaredNorm;
        }
        result.Eigenvectors?.Dispose();
        double top = result.Eigenvalues.Length > 0 ? result.Eigenvalues[0] : double.NaN;
        string status = result.Status.ToSnakeCase();
        var hessian = context.Row(Name, top,
            Of("eigenvalues", result.Eigenvalues),
            Of("residuals", result.Residuals),
            Of("status", status),
            Of("warm_start", warm),
            Of("start", start),
            Of("k", (long)_k),
            Of("tol", _tol),
            Of("examples", problem.Count),
            Of("matvecs", result.Matvecs),
            Of("seconds", clock.Elapsed.TotalSeconds)); // Lanczos and the overlap's gradient
        var ratio = context.Row("sharpness-ratio", top * context.LearningRate / 2,
            Of("lambda_max", top),
            Of("lr", context.LearningRate),
            Of("status", status));
        var subspace = context.Row("gradient-overlap", overlap,
            Of("k", (long)_k),
            Of("status", status));
        return [hessian, ratio, subspace];
    }

    public void Dispose() => _start?.Dispose();
}
