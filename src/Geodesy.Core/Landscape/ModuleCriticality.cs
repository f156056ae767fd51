using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Landscape;

/// <summary>The search grid and threshold of <see cref="ModuleCriticality"/>.</summary>
public sealed record CriticalityOptions
{
    /// <summary>ε: the largest train error (0-1) allowed on the valley.</summary>
    public double Epsilon { get; init; } = 0.1;
    /// <summary>The α grid in [0, 1] (0 = the module at its initial value, 1 = trained).</summary>
    public double[] Alphas { get; init; } = Enumerable.Range(0, 11).Select(i => i / 10.0).ToArray();
    /// <summary>The σ grid in (0, 1], the standard deviation of the Gaussian noise on each of the module's parameters.</summary>
    public double[] Sigmas { get; init; } = Enumerable.Range(0, 13).Select(i => Math.Pow(10, -3 + i * 0.25)).ToArray();
    /// <summary>Noise draws averaged for the expected error at each (α, σ).</summary>
    public int NoiseSamples { get; init; } = 4;
    public long Seed { get; init; }
    public int BatchSize { get; init; } = 2000;

    public void Validate()
    {
        if (!(Epsilon > 0 && Epsilon <= 1)) throw new InputException($"--epsilon must be in (0, 1] (got {Epsilon})");
        CheckGrid(Alphas, "--alphas", allowZero: true);
        CheckGrid(Sigmas, "--sigmas", allowZero: false);
        if (NoiseSamples < 1) throw new InputException($"--noise-samples must be at least 1 (got {NoiseSamples})");
        if (BatchSize < 1) throw new InputException($"--stream-batch must be at least 1 (got {BatchSize})");
    }

    private static void CheckGrid(double[] values, string option, bool allowZero)
    {
        if (values.Length == 0) throw new InputException($"{option}: give at least one value");
        foreach (double v in values)
            if (!double.IsFinite(v) || v > 1 || (allowZero ? v < 0 : v <= 0))
                throw new InputException($"{option}: {v} is outside {(allowZero ? "[0, 1]" : "(0, 1]")}");
    }
}

/// <summary>At one α of a module: the train error without noise and the largest σ of the grid whose expected error stays ≤ ε.</summary>
public sealed record CriticalityPoint(double Alpha, double Error, double? SigmaMax, double? ErrorAtSigmaMax)
{
    /// <summary>α²‖θ_F − θ_0‖² / σ², or null when no σ > 0 is feasible at this α.</summary>
    public double? Ratio(double distanceSquared) => SigmaMax is double s ? Alpha * Alpha * distanceSquared / (s * s) : null;
}

/// <summary>One module's criticality and the point of the grid attaining it.</summary>
public sealed record ModuleCriticalityResult(string Module, long Parameters, double Distance, double? MinAlpha, double? Alpha, double? Sigma,
    double? Criticality, IReadOnlyList<CriticalityPoint> Grid)
{
    /// <summary>"feasible", or "infeasible" when no (α, σ) of the grid keeps the expected error ≤ ε.</summary>
    public string Status => Criticality is null ? "infeasible" : "feasible";
}

/// <summary>
/// Module criticality (Chatterji, Neyshabur, Sedghi 2020, "The intriguing role of module criticality in
/// the generalization of deep networks", Definition 3.1). For module i with initial and final values
/// θ_i^0, θ_i^F and θ_i^α = (1 − α)θ_i^0 + αθ_i^F, with the other modules at their final values,
///   μ_i = min over 0 ≤ α, σ ≤ 1 of α²‖θ_i^F − θ_i^0‖²_F / σ²  subject to  E_{u ~ N(0, σ²I)} train error(θ_i^α + u) ≤ ε,
/// and the network criticality is Σ_i μ_i. The minimum is taken on a grid of α and σ: at each α the
/// largest feasible σ is found (scanning σ upwards, common noise draws for every σ), and the expectation
/// is the mean over <see cref="CriticalityOptions.NoiseSamples"/> seeded draws. A module is the set of
/// parameters of one layer (e.g. "0" = 0.weight and 0.bias). A module that never moved from its
/// initialization has criticality 0; so does one that can be rewound to init (α = 0) with some noise.
/// </summary>
public static class ModuleCriticality
{
    /// <summary>The modules of a model: its parameters grouped by layer name, in parameter order.</summary>
    public static IReadOnlyList<(string Name, long Offset, long Length)> Modules(nn.Module model)
    {
        var groups = new List<(string Name, long Offset, long Length)>();
        foreach (var (name, offset, length, _) in ParameterVector.Layout(model))
        {
            int dot = name.LastIndexOf('.');
            string module = dot < 0 ? name : name[..dot];
            if (groups.Count > 0 && groups[^1].Name == module && groups[^1].Offset + groups[^1].Length == offset)
                groups[^1] = (module, groups[^1].Offset, groups[^1].Length + length);
            else groups.Add((module, offset, length));
        }
        return groups;
    }

    /// <summary>
    /// Every module's criticality for the model with final weights <paramref name="final"/> and initial
    /// weights <paramref name="init"/> (flat), the error measured on <paramref name="examples"/> in eval mode; the model is left at <paramref name="final"/>.
    /// <paramref name="evaluations"/> counts the passes over the examples.
    /// </summary>
    public static IReadOnlyList<ModuleCriticalityResult> Compute(nn.Module<Tensor, Tensor> model, Tensor init, Tensor final, Data.Dataset examples,
        CriticalityOptions options, out long evaluations)
    {
        options.Validate();
        if (init.numel() != final.numel()) throw new InputException($"the initial and final weights have {init.numel()} and {final.numel()} parameters");
        long count = 0;
        double Error(Tensor weights)
        {
            count++;
            ParameterVector.Assign(model, weights);
            return 1 - Training.Evaluation.Evaluate(model, examples, options.BatchSize).Accuracy;
        }
        var results = new List<ModuleCriticalityResult>();
        var alphas = options.Alphas.Distinct().Order().ToArray();
        var sigmas = options.Sigmas.Distinct().Order().ToArray();
        try
        {
            foreach (var (name, offset, length) in Modules(model))
            {
                using var scope = NewDisposeScope();
                var theta0 = init.narrow(0, offset, length);
                var thetaF = final.narrow(0, offset, length);
                double distanceSquared = (thetaF - theta0).square().sum().ToDouble();
                // Common random numbers: the same unit draws ξ_s for every α and σ of this module, u = σ ξ_s.
                using var generator = SubspaceProjections.Generator(options.Seed, $"criticality:{name}");
                var draws = Enumerable.Range(0, options.NoiseSamples)
                    .Select(_ => torch.randn(length, dtype: ScalarType.Float64, generator: generator).to_type(final.dtype)).ToArray();
                var grid = new List<CriticalityPoint>();
                foreach (double alpha in alphas)
                {
                    using var step = NewDisposeScope();
                    var moduleAt = theta0 * (1 - alpha) + thetaF * alpha;
                    var weights = final.clone();
                    weights.narrow(0, offset, length).copy_(moduleAt);
                    double error = Error(weights);
                    double? sigmaMax = null, errorAtMax = null;
                    if (error <= options.Epsilon)
                        foreach (double sigma in sigmas)
                        {
                            double mean = draws.Average(xi =>
                            {
                                using var noisy = weights.clone();
                                noisy.narrow(0, offset, length).add_(xi * sigma);
                                return Error(noisy);
                            });
                            if (mean > options.Epsilon) break;
                            (sigmaMax, errorAtMax) = (sigma, mean);
                        }
                    grid.Add(new CriticalityPoint(alpha, error, sigmaMax, errorAtMax));
                }
                foreach (var d in draws) d.Dispose();
                var feasible = grid.Where(p => p.SigmaMax is not null).ToArray();
                double? minAlpha = grid.Where(p => p.Error <= options.Epsilon).Select(p => (double?)p.Alpha).FirstOrDefault();
                var best = feasible.MinBy(p => p.Ratio(distanceSquared)!.Value);
                results.Add(new ModuleCriticalityResult(name, length, Math.Sqrt(distanceSquared), minAlpha, best?.Alpha, best?.SigmaMax,
                    best?.Ratio(distanceSquared), grid));
            }
        }
        finally
        {
            ParameterVector.Assign(model, final);
        }
        evaluations = count;
        return results;
    }

    /// <summary>Σ_i μ_i, or null when a module is infeasible.</summary>
    public static double? Network(IEnumerable<ModuleCriticalityResult> modules) =>
        modules.Aggregate((double?)0, (sum, m) => sum is double s && m.Criticality is double c ? s + c : null);
}
