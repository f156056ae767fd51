using System.Diagnostics;
using Geodesy.Core.Curvature;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// Tr(F) with one label per input drawn from the model (<c>fisher-trace</c>) or Tr of the
/// empirical Fisher with the true labels (<c>empirical-fisher-trace</c>), from the exact
/// per-example gradients of <see cref="PerExampleGradients"/> (per-layer closed forms where the
/// model allows, otherwise one backward per example). Eval mode; no weight decay.
/// </summary>
public sealed class FisherTraceProbe(ProbeSpec spec, bool sampled) : IProbe
{
    private readonly string _on = spec.String("on", "both");

    public string Name => spec.Name;

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var rows = new List<ProbeRow>();
        if (_on != "probe" && context.BatchInputs is not null) rows.Add(On(context, ProbeSet.Batch));
        if (_on != "batch") rows.Add(On(context, ProbeSet.Probe));
        return rows;
    }

    private ProbeRow On(ProbeContext context, ProbeSet set)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var problem = context.Problem(set);
        var perExample = new PerExampleGradients(problem);
        double value, stderr = double.NaN;
        if (sampled)
        {
            var r = perExample.FisherTrace(1, ProbeSeeds.For(context.RunSeed, Name, set, context.Step));
            value = r.Estimate;
            stderr = r.StdErr;
        }
        else value = perExample.EmpiricalFisherTrace();
        return context.Row(Name, value,
            Of("set", set == ProbeSet.Batch ? "batch" : "probe"),
            Of("stderr", sampled ? stderr : null),
            Of("examples", problem.Count),
            Of("matvecs", 0L),
            Of("gradients", problem.Cost.GradientPasses),
            Of("seconds", clock.Elapsed.TotalSeconds));
    }
}
