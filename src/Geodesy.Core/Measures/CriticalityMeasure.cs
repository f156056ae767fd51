using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>
/// The network criticality Σ_i μ_i of Chatterji et al. (2020) on the seeded search subset
/// (<see cref="MeasureOptions.SearchExamples"/>) on a grid coarser than the verb's default, so that it
/// costs about a hundred passes per module: ε = 0.1 train error, α ∈ {0, 0.2, ..., 1}, σ ∈ {10^-3, 10^-2.5, ..., 1}, 2 noise draws.
/// Skipped when the trained model's own error is above ε or some module has no feasible (α, σ) on the grid.
/// </summary>
public sealed class ModuleCriticalityMeasure() : Measure("module-criticality", MeasureFamily.Flatness, MeasureNeeds.InitWeights | MeasureNeeds.Data, 4,
    "sum_i min_{alpha, sigma} alpha^2 ||theta_i^F - theta_i^0||^2 / sigma^2 s.t. E_u train error(theta_i^alpha + u) <= 0.1 (grid)", Citations.Chatterji)
{
    public static CriticalityOptions Grid { get; } = new()
    {
        Epsilon = 0.1,
        Alphas = Enumerable.Range(0, 6).Select(i => i / 5.0).ToArray(),
        Sigmas = Enumerable.Range(0, 7).Select(i => Math.Pow(10, -3 + 0.5 * i)).ToArray(),
        NoiseSamples = 2,
    };

    public override MeasureValue Compute(MeasureContext c)
    {
        var init = c.RequireInit(Name);
        var set = MeasureData.Subset(c, c.Options.SearchExamples, "search");
        var options = Grid with { Seed = c.Seed, BatchSize = c.Options.EvalBatchSize };
        var examples = new Data.Dataset("module-criticality", set.Inputs, set.Labels, c.Data.NumClasses); // a view: the cached set owns the tensors
        double error = 1 - Training.Evaluation.Evaluate(c.Model, examples, options.BatchSize).Accuracy;
        if (error > options.Epsilon)
            throw new MeasureSkippedException($"{Name}: the model's train error {error:G4} on the subset is above ε = {options.Epsilon}");
        using var scope = NewDisposeScope();
        var modules = ModuleCriticality.Compute(c.Model, ParameterVector.Flatten(init), ParameterVector.Flatten(c.Model), examples, options, out long evaluations);
        c.ForwardExamples += evaluations * set.Count;
        if (modules.FirstOrDefault(m => m.Criticality is null) is { } bad)
            throw new MeasureSkippedException($"{Name}: module {bad.Module} keeps the train error <= {options.Epsilon} at no (alpha, sigma) of the grid");
        var details = modules.ToDictionary(m => $"module_{m.Module}", m => m.Criticality!.Value);
        details["examples"] = set.Count;
        return new(ModuleCriticality.Network(modules)!.Value, null, details);
    }
}
