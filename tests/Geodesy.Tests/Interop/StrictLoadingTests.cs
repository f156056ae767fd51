using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;
using static Geodesy.Tests.Interop.InteropTestFiles;

namespace Geodesy.Tests.Interop;

/// <summary>LoadInto (safetensors and TorchScript) accepts exactly the model's names and shapes.</summary>
public sealed class StrictLoadingTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static SequentialModel Tiny(int inputs = 4) =>
        new($"mlp:{inputs}-3-2", [nn.Linear(inputs, 3), nn.ReLU(), nn.Linear(3, 2)], flattenInput: true);

    private string SaveTiny(string file, Func<Dictionary<string, Tensor>, IEnumerable<KeyValuePair<string, Tensor>>> edit, int inputs = 4)
    {
        using var model = Tiny(inputs);
        string path = _tmp.File(file);
        SafeTensors.Write(path, edit(model.state_dict()));
        return path;
    }

    private static void AssertUnchangedAfterFailure(SequentialModel model, Action load, string expected)
    {
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var e = Assert.Throws<InputException>(load);
        Assert.Equal(expected, e.Message);
        foreach (var (key, t) in model.state_dict())
            Assert.True(BitEqual(before[key], t), $"'{key}' changed although loading failed");
    }

    [Fact]
    public void MissingTensor_IsNamed()
    {
        using var scope = NewDisposeScope();
        string path = SaveTiny("missing.safetensors", sd => sd.Where(kv => kv.Key != "2.weight"));
        using var model = Tiny();
        AssertUnchangedAfterFailure(model, () => SafeTensors.LoadInto(model, path), $"weights file '{path}': missing tensor '2.weight'");
    }

    [Fact]
    public void UnexpectedTensor_IsNamed()
    {
        using var scope = NewDisposeScope();
        string path = SaveTiny("extra.safetensors", sd => sd.Append(new("x", torch.ones(1))));
        using var model = Tiny();
        AssertUnchangedAfterFailure(model, () => SafeTensors.LoadInto(model, path), $"weights file '{path}': unexpected tensor 'x'");
    }

    [Fact]
    public void ShapeMismatch_IsNamedWithBothShapes()
    {
        using var scope = NewDisposeScope();
        string path = SaveTiny("wide.safetensors", sd => sd, inputs: 5);
        using var model = Tiny(4);
        AssertUnchangedAfterFailure(model, () => SafeTensors.LoadInto(model, path), $"weights file '{path}': '0.weight' has shape [3,5] in file, [3,4] in model");
    }

    [Fact]
    public void GoldenMlpIntoWiderModel_NamesTheShapes()
    {
        string path = Golden("mlp_state.safetensors");
        using var model = Mlp(hidden: 16);
        var e = Assert.Throws<InputException>(() => SafeTensors.LoadInto(model, path));
        Assert.Equal($"weights file '{path}': '0.weight' has shape [8,784] in file, [16,784] in model", e.Message);
    }

    [Fact]
    public void ValuesAreConvertedToTheModelsDtype()
    {
        using var scope = NewDisposeScope();
        using var source = Tiny();
        source.to(ScalarType.Float64);
        string path = _tmp.File("f64.safetensors");
        SafeTensors.SaveModel(source, path);

        using var model = Tiny();
        SafeTensors.LoadInto(model, path);
        var expected = source.state_dict();
        foreach (var (key, t) in model.state_dict())
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(BitEqual(expected[key].to(ScalarType.Float32), t), $"'{key}' is not the float32 rounding of the file's value");
        }
    }

    [Fact]
    public void LoadedParametersStillTrain()
    {
        using var scope = NewDisposeScope();
        string path = SaveTiny("train.safetensors", sd => sd);
        using var model = Tiny();
        SafeTensors.LoadInto(model, path);
        var loss = model.call(torch.ones(2, 4)).sum();
        loss.backward();
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad && p.grad is not null));
    }

    [Fact]
    public void TorchScript_StrictNamesAndShapes()
    {
        string mlpScript = Golden("mlp_script.pt");
        using var wide = Mlp(hidden: 16);
        var e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(wide, mlpScript));
        Assert.Equal($"TorchScript file '{mlpScript}': '0.weight' has shape [8,784] in file, [16,784] in model", e.Message);

        string cnnScript = Golden("cnn_script.pt");
        using var mlp = Mlp();
        e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(mlp, cnnScript));
        Assert.Equal($"TorchScript file '{cnnScript}': missing tensor '2.weight'", e.Message);

        using var cnn = Cnn();
        e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(cnn, mlpScript));
        Assert.StartsWith($"TorchScript file '{mlpScript}': missing tensor '", e.Message);
    }

    [Fact]
    public void TorchScript_MissingOrCorruptFile()
    {
        using var model = Tiny();
        string absent = _tmp.File("absent.pt");
        var e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(model, absent));
        Assert.Equal($"TorchScript file '{absent}' does not exist", e.Message);

        string corrupt = _tmp.File("corrupt.pt");
        File.WriteAllBytes(corrupt, [.. "PK\u0003\u0004 definitely not a TorchScript archive"u8]);
        e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(model, corrupt));
        Assert.StartsWith($"TorchScript file '{corrupt}' cannot be loaded: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        // A safetensors file is not TorchScript either.
        e = Assert.Throws<InputException>(() => TorchScriptImport.LoadInto(model, Golden("batch.safetensors")));
        Assert.Contains("cannot be loaded", e.Message);
    }
}
