using System.CommandLine;
using Geodesy.Experiments.Analyses;

namespace Geodesy.Cli.Commands.Landscape;

/// <summary>`--reset-bn [--reset-bn-examples N]` of the landscape verbs that evaluate many points.</summary>
internal sealed class BatchNormResetOptions
{
    public Option<bool> Reset { get; } = new("--reset-bn")
    {
        Description = "Re-estimate BatchNorm running statistics at every point from training examples (train-mode forward passes without gradients), instead of using fixed ones",
    };
    public Option<long?> Examples { get; } = new("--reset-bn-examples")
    {
        Description = "With --reset-bn: the first N training examples of the evaluation set (default: all of them)",
    };

    public IEnumerable<Option> All => [Reset, Examples];

    public BatchNormReset Read(ParseResult parse) => new(parse.GetValue(Reset), parse.GetValue(Examples));
}
