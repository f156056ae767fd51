using System.Diagnostics;
using Geodesy.Core.Models;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>||w|| (all parameters, biases included), ||w − w_0||, and the Frobenius norm of each parameter tensor by name.</summary>
public sealed class WeightsProbe : IProbe
{
    public string Name => "weights";

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var flat = ParameterVector.Flatten(context.Model).to_type(ScalarType.Float64);
        var init = context.InitialWeights.to_type(ScalarType.Float64);
        double norm = flat.norm().item<double>();
        double distance = flat.sub(init).norm().item<double>();
        var layers = new Dictionary<string, double>();
        foreach (var (name, p) in context.Model.named_parameters())
            layers[name] = p.detach().to_type(ScalarType.Float64).norm().item<double>();
        return [context.Row(Name, norm,
            Of("distance_from_init", distance),
            Of("layer_norms", layers),
            Of("matvecs", 0L),
            Of("seconds", clock.Elapsed.TotalSeconds))];
    }
}
