using Geodesy.Core.Interop;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Tests.Interop.InteropTestFiles;

namespace Geodesy.Tests.Interop;

/// <summary>
/// Cross-checks against PyTorch 1.13 (files from tools/golden/make_golden.py): weights saved by
/// PyTorch load into the same TorchSharp architectures and give PyTorch's logits, loss and
/// gradients; TorchScript import agrees; Geodesy's writer reproduces the PyTorch-side file.
/// </summary>
public sealed class GoldenTests : IDisposable
{
    /// <summary>float32 logits: same weights, different kernels (summation order).</summary>
    private const double Float32LogitTolerance = 1e-5;
    /// <summary>float64 loss and gradients against PyTorch's float64 reference.</summary>
    private const double Float64Tolerance = 1e-10;

    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    public static TheoryData<string> Models => new() { "mlp", "cnn" };

    private static nn.Module<Tensor, Tensor> Build(string name) => name == "mlp" ? Mlp() : Cnn();

    [Theory]
    [MemberData(nameof(Models))]
    public void StateDictNames_MatchPyTorch(string name)
    {
        using var model = Build(name);
        using var file = SafeTensors.Read(Golden($"{name}_state.safetensors"));
        Assert.Equal(file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void PyTorchWeights_GivePyTorchLogitsLossAndGradients(string name)
    {
        using var scope = NewDisposeScope();
        using var model = Build(name);
        SafeTensors.LoadInto(model, Golden($"{name}_state.safetensors"));
        model.eval();
        using var batch = SafeTensors.Read(Golden("batch.safetensors"));
        using var reference = SafeTensors.Read(Golden($"{name}_reference.safetensors"));

        using (torch.no_grad())
        {
            var logits = model.call(batch["input"]);
            Assert.True(MaxAbsDiff(logits, reference["logits_f32"]) <= Float32LogitTolerance,
                $"{name} float32 logits differ from PyTorch by {MaxAbsDiff(logits, reference["logits_f32"]):E2}");
        }

        model.to(ScalarType.Float64);
        var logits64 = model.call(batch["input"].to(ScalarType.Float64));
        var loss = nn.functional.cross_entropy(logits64, batch["labels"]);
        var parameters = model.named_parameters().ToArray();
        var grads = torch.autograd.grad([loss], parameters.Select(p => (Tensor)p.parameter).ToArray());

        Assert.True(MaxAbsDiff(logits64, reference["logits_f64"]) <= Float64Tolerance, $"{name} float64 logits differ");
        Assert.True(Math.Abs(loss.item<double>() - reference["loss_f64"].item<double>()) <= Float64Tolerance,
            $"{name} loss {loss.item<double>():R} vs PyTorch {reference["loss_f64"].item<double>():R}");
        Assert.Equal(reference.Tensors.Count(t => t.Name.StartsWith("grad.", StringComparison.Ordinal)), parameters.Length);
        for (int i = 0; i < parameters.Length; i++)
        {
            var expected = reference["grad." + parameters[i].name];
            Assert.Equal(expected.shape, grads[i].shape);
            double diff = MaxAbsDiff(grads[i], expected);
            Assert.True(diff <= Float64Tolerance, $"{name} gradient of '{parameters[i].name}' differs from PyTorch by {diff:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void TorchScriptImport_GivesTheSameWeightsAndLogits(string name)
    {
        using var scope = NewDisposeScope();
        using var fromSafetensors = Build(name);
        using var fromScript = Build(name);
        SafeTensors.LoadInto(fromSafetensors, Golden($"{name}_state.safetensors"));
        TorchScriptImport.LoadInto(fromScript, Golden($"{name}_script.pt"));

        var expected = fromSafetensors.state_dict();
        foreach (var (key, t) in fromScript.state_dict())
            Assert.True(BitEqual(expected[key], t), $"{name} '{key}' differs between the TorchScript and safetensors imports");

        fromScript.eval();
        using var batch = SafeTensors.Read(Golden("batch.safetensors"));
        using var reference = SafeTensors.Read(Golden($"{name}_reference.safetensors"));
        using var noGrad = torch.no_grad();
        Assert.True(MaxAbsDiff(fromScript.call(batch["input"]), reference["logits_f32"]) <= Float32LogitTolerance);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void SaveModelThenLoadInto_RoundTripsBitExactly_AndMatchesThePyTorchSideFile(string name)
    {
        using var scope = NewDisposeScope();
        string golden = Golden($"{name}_state.safetensors");
        using var model = Build(name);
        SafeTensors.LoadInto(model, golden);
        using var goldenFile = SafeTensors.Read(golden);
        string saved = _tmp.File($"{name}.safetensors");

        SafeTensors.SaveModel(model, saved, goldenFile.Metadata.ToDictionary());

        using var copy = Build(name);
        SafeTensors.LoadInto(copy, saved);
        var original = model.state_dict();
        foreach (var (key, t) in copy.state_dict())
            Assert.True(BitEqual(original[key], t), $"{name} '{key}' changed in the round trip");
        // Same tensors, same metadata, same layout rules: the very bytes the PyTorch-side writer produced.
        Assert.Equal(File.ReadAllBytes(golden), File.ReadAllBytes(saved));
    }
}
