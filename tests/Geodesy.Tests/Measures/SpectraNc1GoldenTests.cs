using System.Text.Json.Nodes;
using Geodesy.Core.Interop;
using Geodesy.Core.Measures;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Tests.Measures;

/// <summary>
/// WeightWatcher alpha and NC1 against brute-force numpy golden values
/// (tools/golden/make_spectra_nc1_golden.py writes Golden/spectra_nc1.{safetensors,json}).
/// </summary>
public class SpectraNc1GoldenTests
{
    private const double Tight = 1e-9;
    /// <summary>How far a 100-eigenvalue fit may land from the Pareto exponent the matrix was built with.</summary>
    private const double SamplingTolerance = 0.4;

    private static string Golden(string name) => Path.Combine(AppContext.BaseDirectory, "Golden", name);
    private static JsonNode Expected() => JsonNode.Parse(File.ReadAllText(Golden("spectra_nc1.json")))!;

    [Theory]
    [InlineData("linear")]
    [InlineData("conv")]
    public void AlphaOfAMatrixWithAPowerLawSpectrumMatchesTheBruteForceFit(string layer)
    {
        using var file = SafeTensors.Read(Golden("spectra_nc1.safetensors"));
        var expected = Expected()["layers"]![layer]!;
        var ev = WeightSpectra.Eigenvalues(file[layer]);
        Assert.Equal((int)expected["eigenvalues"]!, ev.Length);
        Assert.Equal((double)expected["lambda_max"]!, ev[^1], Tight);

        var fit = PowerLaw.Fit(ev, new MeasureOptions().MinTailSize);
        Assert.Equal((double)expected["alpha"]!, fit.Alpha, Tight);
        Assert.Equal((double)expected["xmin"]!, fit.XMin, Tight);
        Assert.Equal((double)expected["ks"]!, fit.KsDistance, Tight);
        Assert.Equal((int)expected["tail"]!, fit.TailCount);
        double truth = (double)expected["true_alpha"]!;
        Assert.InRange(fit.Alpha, truth - SamplingTolerance, truth + SamplingTolerance);
    }

    [Fact]
    public void Nc1UsesTheGlobalMeanOnImbalancedClasses()
    {
        using var file = SafeTensors.Read(Golden("spectra_nc1.safetensors"));
        var root = Expected();
        using var labels = file["labels"].to_type(ScalarType.Int64);
        double nc1 = NeuralCollapse.Nc1(file["features"], labels, 3);
        Assert.Equal((double)root["nc1"]!, nc1, Tight);
        // the mean of the class means would give another value on these 60/25/8 classes
        Assert.True(Math.Abs((double)root["nc1_mean_of_class_means"]! - nc1) > 1e-3);
    }
}
