using System.Diagnostics;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// Neural collapse NC1 = Tr(Σ_W Σ_B⁺) / C of the penultimate features on the probe set, in eval
/// mode (the formula of the <c>nc1</c> measure, <see cref="NeuralCollapse.Nc1"/>). Needs a layer
/// chain whose last layer is Linear; other models are refused before training starts.
/// </summary>
public sealed class Nc1Probe : IProbe
{
    public string Name => "nc1";

    public void Check(nn.Module model)
    {
        try { Penultimate.LastLinear(model, Name); }
        catch (MeasureSkippedException e) { throw new InputException($"--probe nc1: {e.Message}"); }
    }

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        var model = (SequentialModel)context.Model;
        bool training = model.training;
        model.eval();
        try
        {
            var features = Penultimate.Features(model, context.ProbeInputs, (int)context.ProbeInputs.shape[0]);
            int classes = (int)Penultimate.LastLinear(model, Name).weight!.shape[0];
            double value;
            try { value = NeuralCollapse.Nc1(features, context.ProbeLabels, classes); }
            catch (MeasureSkippedException e)
            {
                return [context.Row(Name, double.NaN, Of("skipped", e.Message), Of("matvecs", 0L), Of("seconds", clock.Elapsed.TotalSeconds))];
            }
            return [context.Row(Name, value,
                Of("feature_dim", features.shape[1]),
                Of("examples", context.ProbeInputs.shape[0]),
                Of("matvecs", 0L),
                Of("seconds", clock.Elapsed.TotalSeconds))];
        }
        finally
        {
            if (training) model.train();
        }
    }
}
