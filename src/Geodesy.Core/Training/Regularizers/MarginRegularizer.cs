using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Margin-distribution regularization: with the output margin γᵢ = z_{i,yᵢ} − max_{k≠yᵢ} z_{i,k}
/// (the margin of the measure catalog), the penalty is X · (V · Var_B(γ) − mean_B(γ)): it raises the
/// average margin and, with V &gt; 0, shrinks the spread of margins, the large-margin-distribution
/// principle (Zhang and Zhou 2014, "Large margin distribution machine", KDD; for deep networks
/// Lv et al. 2019, "Optimal margin distribution network"). Var is the biased batch variance. V = 0
/// gives the plain average-margin term, which is unbounded below once every example is correct, so
/// V defaults to 1. Option: var=V.
/// </summary>
public sealed class MarginRegularizer(double coefficient, double varianceWeight = 1) : IRegularizer
{
    public const string RegistryName = "margin-reg";

    public static MarginRegularizer Parse(string option, string text)
    {
        var o = RegularizerOptions.Parse(option, text, ["var"]);
        return new MarginRegularizer(o.Coefficient, o.Number("var", 1, min: 0));
    }

    public string Name => RegistryName;
    public double Coefficient { get; } = coefficient;
    public double VarianceWeight { get; } = varianceWeight;

    public void Start(ObjectiveStart start) { }

    public Tensor? Penalty(StepContext step)
    {
        if (Coefficient == 0) return null;
        var margin = Margins(step.Logits, step.Labels);
        var mean = margin.mean();
        var variance = (margin - mean).pow(2).mean();
        return (variance * VarianceWeight - mean) * Coefficient;
    }

    /// <summary>γᵢ = z_{i,yᵢ} − max over the other classes.</summary>
    public static Tensor Margins(Tensor logits, Tensor labels)
    {
        var own = logits.gather(1, labels.unsqueeze(1)).squeeze(1);
        var others = logits.scatter(1, labels.unsqueeze(1), torch.full_like(own.unsqueeze(1), double.NegativeInfinity));
        return own - others.max(1).values;
    }
}
