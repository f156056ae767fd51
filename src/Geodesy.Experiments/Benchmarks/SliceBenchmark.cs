using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Landscape;
using Geodesy.Experiments.Analyses;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Experiments.Benchmarks;

public sealed record SliceBenchOptions
{
    /// <summary>Digits per grid point: the first half of them from the training set, the other half from the test set (as `landscape slice --examples N/2`).</summary>
    public int Examples { get; init; } = 2000;
    /// <summary>Grid points per direction (N x N points).</summary>
    public int Grid { get; init; } = 21;
    public int Reps { get; init; } = 5;
    public int Warmup { get; init; } = 1;
    public long Seed { get; init; }

    public void Validate()
    {
        if (Examples < 2) throw new InputException($"--examples must be at least 2 (got {Examples})");
        if (Grid < 2) throw new InputException($"--grid must be at least 2 (got {Grid})");
    }
}

public sealed record SliceBenchResult(double SliceSeconds, double ForwardSeconds, double[] SliceReps, double[] ForwardReps, int Points, long ExamplesPerPoint, long Parameters,
    SliceEvaluation Evaluation, int Threads)
{
    /// <summary>The slice over the bare forward passes: 1.2 = 20% more than the forward passes alone.</summary>
    public double Ratio => SliceSeconds / ForwardSeconds;

    /// <summary>The target of the benchmark: a slice costs at most 1.2x its bare forward passes.</summary>
    public const double TargetMaxRatio = 1.2;

    public void AddTo(JsonObject root)
    {
        root["grid"] = $"{(int)Math.Sqrt(Points)}x{(int)Math.Sqrt(Points)}";
        root["points"] = Points;
        root["examples_per_point"] = ExamplesPerPoint;
        root["params"] = Parameters;
        root["slice_seconds"] = SliceSeconds;
        root["forward_seconds"] = ForwardSeconds;
        root["slice_over_forward"] = Math.Round(Ratio, 4);
        root["target_max_ratio"] = TargetMaxRatio;
        root["meets_target"] = Ratio <= TargetMaxRatio;
        root["threads"] = Threads;
        root["evaluation"] = Evaluation.ToJson();
        root["slice_seconds_reps"] = new JsonArray(SliceReps.Select(s => (JsonNode)Math.Round(s, 5)).ToArray());
        root["forward_seconds_reps"] = new JsonArray(ForwardReps.Select(s => (JsonNode)Math.Round(s, 5)).ToArray());
    }

    public string Summary() =>
        $"{Points} points x {ExamplesPerPoint} digits: slice {SliceSeconds:F3} s, {Points} forward passes {ForwardSeconds:F3} s ({Ratio:F3}x; {Evaluation.Path})";
}

/// <summary>
/// The time of a 2D slice (two filter-normalized random directions, the second orthogonalized,
/// an N x N grid, train and test loss and accuracy at every point: what `landscape slice
/// --direction2 random` does) against the time of N² bare forward passes over the same digits
/// (eval mode, no gradients, one batch, no loss). Both are timed in interleaved rounds; medians.
/// </summary>
public static class SliceBenchmark
{
    public static SliceBenchResult Run(BenchSetup setup, SliceBenchOptions options)
    {
        options.Validate();
        long half = options.Examples / 2;
        if (half > setup.Data.Train.Count || options.Examples - half > setup.Data.Test.Count)
            throw new InputException($"--examples {options.Examples}: the data has {setup.Data.Train.Count} train and {setup.Data.Test.Count} test examples");
        var model = setup.Model;
        var train = setup.Data.Train.Take(half);
        var test = setup.Data.Test.Take(options.Examples - half);
        var grid = new Grid(-1, 1, options.Grid).Values;
        using var inputs = torch.cat([train.Inputs, test.Inputs], 0).to_type(Core.Training.Evaluation.ParameterDType(model));
        int points = options.Grid * options.Grid;
        SliceEvaluation? evaluation = null;

        void Slice()
        {
            using var scope = NewDisposeScope();
            var d1 = Directions.Random(model, options.Seed, SliceAnalysis.FirstStream, DirectionNormalization.Filter);
            var d2 = Directions.Orthogonalize(Directions.Random(model, options.Seed, SliceAnalysis.SecondStream, DirectionNormalization.Filter), d1);
            using var evaluator = new LandscapeEvaluator(model, train, test, options.Examples);
            evaluation = SliceAnalysis.EvaluateGrid(evaluator, grid, d1, grid, d2).Evaluation;
        }
        void Forward()
        {
            model.eval();
            using var noGrad = torch.no_grad();
            for (int i = 0; i < points; i++) model.call(inputs).Dispose();
        }
        var series = Interleaved.Measure([new BenchCase("slice", Slice), new BenchCase("forward", Forward)], options.Warmup, options.Reps);
        var slice = series[0].Milliseconds.Select(m => m / 1000).ToArray();
        var forward = series[1].Milliseconds.Select(m => m / 1000).ToArray();
        return new SliceBenchResult(series[0].Median / 1000, series[1].Median / 1000, slice, forward, points, options.Examples, setup.Parameters,
            evaluation!, torch.get_num_threads());
    }
}
