using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Measures;

/// <summary>#params (Fantastic eq. 20): every trainable parameter, biases and BatchNorm included.</summary>
public sealed class NumParamsMeasure() : Measure("num-params", MeasureFamily.Baseline, MeasureNeeds.Weights, 1,
    "number of trainable parameters", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context) => new(ParameterVector.Count(context.Model));
}

/// <summary>Mean cross-entropy over the measured data (Fantastic eq. 21).</summary>
public sealed class CrossEntropyMeasure() : Measure("cross-entropy", MeasureFamily.Baseline, MeasureNeeds.Data, 1,
    "(1/m) sum_i -log softmax(f(x_i))[y_i]", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        var z = MeasureData.Logits(context);
        return new(nn.functional.cross_entropy(z, context.Data.Labels).item<double>());
    }
}

/// <summary>Mean Shannon entropy (nats) of the predicted class distribution.</summary>
public sealed class EntropyMeasure() : Measure("entropy", MeasureFamily.Baseline, MeasureNeeds.Data, 1,
    "(1/m) sum_i -sum_c p_c(x_i) log p_c(x_i)", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        var logp = nn.functional.log_softmax(MeasureData.Logits(context), 1);
        return new((-(logp.exp() * logp).sum(1)).mean().item<double>());
    }
}

/// <summary>1 - accuracy on the measured data.</summary>
public sealed class TrainErrorMeasure() : Measure("train-error", MeasureFamily.Baseline, MeasureNeeds.Data, 1,
    "(1/m) sum_i 1[argmax f(x_i) != y_i]", Citations.Fantastic)
{
    public override MeasureValue Compute(MeasureContext context)
    {
        using var scope = NewDisposeScope();
        var z = MeasureData.Logits(context);
        return new(z.argmax(1).ne(context.Data.Labels).to_type(ScalarType.Float64).mean().item<double>());
    }
}
