using System.Diagnostics;
using Geodesy.Core.Curvature;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// The gradient covariance K = (1/n) Σᵢ (gᵢ − ḡ)(gᵢ − ḡ)ᵀ on the probe set, from the exact
/// per-example gradients: Tr K, its top-k eigenvalues (exactly, through the n × n centred Gram
/// matrix, which holds G [n, P] in memory) and ‖ḡ‖, the quantities of the break-even point.
/// </summary>
public sealed class GradientNoiseProbe(ProbeSpec spec) : IProbe
{
    private readonly int _k = spec.Int("k", 1);

    public string Name => spec.Name;

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var problem = context.Problem(ProbeSet.Probe);
        long rank = Math.Min(problem.Count, problem.Dimension);
        if (_k > rank) throw new InputException($"--probe '{spec.Text}': k = {_k} is larger than min(examples, parameters) = {rank}");
        var perExample = new PerExampleGradients(problem);
        double fisher = perExample.EmpiricalFisherTrace();
        var mean = problem.DataGradient();
        double squaredNorm = mean.dot(mean).to_type(ScalarType.Float64).item<double>();
        double trace = fisher - squaredNorm; // Tr K = Tr F̂ − ‖ḡ‖²
        var top = perExample.GradientCovarianceTopEigenvalues(_k);
        return [context.Row(Name, trace,
            Of("top_eigenvalues", top),
            Of("gradient_norm", Math.Sqrt(squaredNorm)),
            Of("examples", problem.Count),
            Of("matvecs", 0L),
            Of("gradients", problem.Cost.GradientPasses),
            Of("seconds", clock.Elapsed.TotalSeconds))];
    }
}
