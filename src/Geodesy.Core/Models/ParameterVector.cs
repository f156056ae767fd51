using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Models;

/// <summary>
/// The flat parameter vector: a model's parameters in PyTorch order (named_parameters), each
/// flattened row-major and concatenated.
/// </summary>
public static class ParameterVector
{
    public static long Count(nn.Module model) => model.parameters().Sum(p => p.numel());

    /// <summary>A detached copy of all parameters as one 1-D tensor.</summary>
    public static Tensor Flatten(nn.Module model)
    {
        using var scope = NewDisposeScope();
        var parts = model.parameters().Select(p => p.detach().reshape(-1)).ToArray();
        return torch.cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Concatenates tensors shaped like the parameters (e.g. gradients) into one vector.</summary>
    public static Tensor Concat(IEnumerable<Tensor> perParameter)
    {
        using var scope = NewDisposeScope();
        var parts = perParameter.Select(t => t.reshape(-1)).ToArray();
        return torch.cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Splits a flat vector into views shaped like the model's parameters.</summary>
    public static Tensor[] Split(nn.Module model, Tensor flat)
    {
        var ps = model.parameters().ToArray();
        long expected = ps.Sum(p => p.numel());
        if (flat.numel() != expected)
            throw new InputException($"parameter vector has {flat.numel()} entries, the model has {expected}");
        var result = new Tensor[ps.Length];
        long offset = 0;
        for (int i = 0; i < ps.Length; i++)
        {
            long n = ps[i].numel();
            result[i] = flat.narrow(0, offset, n).view(ps[i].shape);
            offset += n;
        }
        return result;
    }

    /// <summary>Overwrites the model's parameters with the values of a flat vector (no grad).</summary>
    public static void Assign(nn.Module model, Tensor flat) => Assign(model.parameters().ToArray(), flat);

    /// <summary>Overwrites these parameters, in order, with consecutive pieces of a flat vector of their total length (no grad).</summary>
    public static void Assign(IReadOnlyList<Tensor> parameters, Tensor flat)
    {
        long expected = parameters.Sum(p => p.numel());
        if (flat.numel() != expected)
            throw new InputException($"parameter vector has {flat.numel()} entries, the model has {expected}");
        using var scope = NewDisposeScope();
        using var _ = torch.no_grad();
        long offset = 0;
        foreach (var p in parameters)
        {
            long n = p.numel();
            p.copy_(flat.narrow(0, offset, n).view(p.shape));
            offset += n;
        }
    }

    /// <summary>(name, offset, length, shape) of each parameter in the flat vector.</summary>
    public static IReadOnlyList<(string Name, long Offset, long Length, long[] Shape)> Layout(nn.Module model)
    {
        var list = new List<(string, long, long, long[])>();
        long offset = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            list.Add((name, offset, p.numel(), p.shape));
            offset += p.numel();
        }
        return list;
    }
}
