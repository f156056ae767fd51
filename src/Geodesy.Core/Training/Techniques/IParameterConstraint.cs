using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// A rule on which parameters training may change and how: the trainer gives the optimizer only
/// <see cref="Trainable"/>, and calls <see cref="Project"/> once before the first step and after
/// every optimizer step (e.g. to hold pruned weights at exactly zero whatever momentum and weight
/// decay did). Unlike probes, constraints change training on purpose.
/// </summary>
public interface IParameterConstraint
{
    /// <summary>The parameters the optimizer may update, a subset of <paramref name="model"/>'s, in their order.</summary>
    IEnumerable<Parameter> Trainable(nn.Module model);

    /// <summary>Restores the constraint on the weights in place (called without gradient tracking).</summary>
    void Project(nn.Module model);
}

/// <summary>Composition of constraints: the intersection of their trainable sets, projections in order.</summary>
public static class ParameterConstraints
{
    public static IEnumerable<Parameter> Trainable(nn.Module model, IReadOnlyList<IParameterConstraint> constraints)
    {
        var parameters = model.parameters().ToList();
        foreach (var c in constraints)
        {
            var allowed = new HashSet<IntPtr>(c.Trainable(model).Select(p => p.Handle));
            parameters = parameters.Where(p => allowed.Contains(p.Handle)).ToList();
        }
        return parameters;
    }

    public static void Project(nn.Module model, IReadOnlyList<IParameterConstraint> constraints)
    {
        if (constraints.Count == 0) return;
        using var noGrad = torch.no_grad();
        foreach (var c in constraints) c.Project(model);
    }
}
