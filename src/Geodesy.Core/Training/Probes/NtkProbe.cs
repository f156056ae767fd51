using System.Diagnostics;
using Geodesy.Core.Curvature;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// The empirical neural tangent kernel on the first n probe examples (option examples=, default
/// 20): Θ = J Jᵀ, J [n·C, P] the Jacobian of the C logits of every example (eval mode), from the
/// per-layer closed forms of <see cref="PerExampleGradients.LogitJacobians"/>. Writes Tr Θ, its
/// top-k eigenvalues (k=) and the kernel distance S(Θ₁, Θ₂) = 1 − ⟨Θ₁, Θ₂⟩_F / (‖Θ₁‖_F ‖Θ₂‖_F)
/// of Fort et al. 2020 from the kernel at initialization and from the previous measurement.
/// </summary>
public sealed class NtkProbe(ProbeSpec spec) : IProbe
{
    public const int DefaultExamples = 20;
    private readonly int _examples = spec.Int("examples", DefaultExamples);
    private readonly int _k = spec.Int("k", 5);
    private Tensor? _init, _previous;

    public string Name => spec.Name;

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        long n = Math.Min(_examples, context.ProbeInputs.shape[0]);
        if (_init is null)
        {
            if (context.Step == 0) _init = Kernel(context, n).DetachFromDisposeScope();
            else
            {
                // The schedule skipped step 0: the kernel at the initial weights, then the weights back bit for bit.
                Tensor current;
                using (no_grad()) current = ParameterVector.Flatten(context.Model).clone();
                ParameterVector.Assign(context.Model, context.InitialWeights);
                try { _init = Kernel(context, n).DetachFromDisposeScope(); }
                finally { ParameterVector.Assign(context.Model, current); }
            }
        }
        var kernel = context.Step == 0 && _previous is null ? _init.alias() : Kernel(context, n);
        long size = kernel.shape[0];
        if (_k > size) throw new InputException($"--probe '{spec.Text}': k = {_k} is larger than the kernel's size n·C = {size}");
        double trace = kernel.trace().to_type(ScalarType.Float64).item<double>();
        var eigenvalues = linalg.eigvalsh(kernel.to_type(ScalarType.Float64)).data<double>().ToArray().Reverse().Take(_k).ToArray();
        double fromInit = Distance(kernel, _init);
        double fromPrevious = _previous is null ? double.NaN : Distance(kernel, _previous);
        _previous?.Dispose();
        _previous = kernel.clone().DetachFromDisposeScope();
        return [context.Row(Name, trace,
            Of("top_eigenvalues", eigenvalues),
            Of("distance_from_init", fromInit),
            Of("distance_from_previous", fromPrevious),
            Of("examples", n),
            Of("size", size),
            Of("matvecs", 0L),
            Of("seconds", clock.Elapsed.TotalSeconds))];
    }

    /// <summary>Θ = J Jᵀ on the first n probe examples, J the logit Jacobians flattened to [n·C, P].</summary>
    private static Tensor Kernel(ProbeContext context, long n)
    {
        var problem = context.Problem(context.ProbeInputs.narrow(0, 0, n), context.ProbeLabels.narrow(0, 0, n));
        var j = new PerExampleGradients(problem).LogitJacobians();
        var rows = j.reshape(n * j.shape[1], j.shape[2]);
        return rows.mm(rows.t());
    }

    /// <summary>Kernel distance S = 1 − ⟨A, B⟩_F / (‖A‖_F ‖B‖_F) (Fort et al. 2020): 0 for proportional kernels, 1 for orthogonal ones.</summary>
    public static double Distance(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var x = a.to_type(ScalarType.Float64);
        var y = b.to_type(ScalarType.Float64);
        double inner = x.mul(y).sum().item<double>();
        return 1 - inner / (x.norm().item<double>() * y.norm().item<double>());
    }

    public void Dispose()
    {
        _init?.Dispose();
        _previous?.Dispose();
    }
}
