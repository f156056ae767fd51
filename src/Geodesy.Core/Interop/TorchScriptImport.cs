using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Interop;

/// <summary>Weights from a TorchScript file (torch.jit.script / trace, then .save) into a Geodesy model.</summary>
public static class TorchScriptImport
{
    /// <summary>
    /// Loads the TorchScript module and copies its named parameters and buffers into the model's
    /// state_dict by name, with the same strictness as <see cref="SafeTensors.LoadInto"/>.
    /// </summary>
    public static void LoadInto(nn.Module model, string path)
    {
        if (!File.Exists(path)) throw new InputException($"TorchScript file '{path}' does not exist");
        jit.ScriptModule script;
        try
        {
            script = jit.load(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // libtorch reports a corrupt or foreign archive as a native error with a long, multi-line message.
            string first = e.Message.Split('\n', 2)[0].Trim();
            throw new InputException($"TorchScript file '{path}' cannot be loaded: {first}", e);
        }
        using (script)
        {
            // The script module hands out new tensor handles for its parameters and buffers.
            using var scope = NewDisposeScope();
            var tensors = script.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
                .Concat(script.named_buffers())
                .ToList();
            StateDictCopy.CopyStrict(model, tensors, $"TorchScript file '{path}'");
        }
    }
}
