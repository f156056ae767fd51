using Geodesy.Core.Data;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Landscape;

public sealed class LandscapeLeakTests
{
    [Fact]
    public void DirectionsEvaluationAndWeightMatchingLeaveNoLiveTensors()
    {
        const string arch = "mlp:4-5-3-3";
        using var model = ModelZoo.Create(arch, [4], 3, seed: 1, ScalarType.Float64);
        using var data = new Dataset("d", torch.randn(20, 4, generator: new Generator(3)), torch.arange(20L) % 3, 3);
        DisposeScopeManager.Statistics.Reset();
        using (var d1 = Directions.Random(model, 1, "one", DirectionNormalization.Filter))
        using (var raw = Directions.Random(model, 1, "two", DirectionNormalization.Layer))
        using (var d2 = Directions.Orthogonalize(raw, d1))
        using (var toward = Directions.Toward(model, model))
        using (var flat = ParameterVector.Flatten(model))
        {
            Directions.Cosine(d1, d2);
            using (var evaluator = new LandscapeEvaluator(model, data, data, batchSize: 7))
            {
                evaluator.At(0.5, d1);
                evaluator.At(0.5, d1, -0.5, d2);
                evaluator.AtOffset(toward);
            }
            WeightMatching.Align(model, arch, flat, flat, seed: 0).AlignedB.Dispose();
        }
        Assert.Equal(0, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
