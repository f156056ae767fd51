using System.CommandLine;
using System.Globalization;
using Geodesy.Core;
using Geodesy.Core.Models;

namespace Geodesy.Cli.Commands;

/// <summary>`geodesy models`: the model zoo, or one model's parameter table with --arch.</summary>
public static class ModelsCommand
{
    private static readonly long[] MnistShape = [1, 28, 28], CifarShape = [3, 32, 32];
    private const int TenClasses = 10;

    public static Command Create()
    {
        var arch = new Option<string?>("--arch") { Description = "Print this model's parameters (name, shape, count), e.g. mlp:784-100-10" };
        var input = new Option<string>("--input") { Description = "Shape of one input example, e.g. 1x28x28 (MNIST) or 3x32x32 (CIFAR)", DefaultValueFactory = _ => "1x28x28" };
        var classes = new Option<int>("--classes") { Description = "Number of classes", DefaultValueFactory = _ => TenClasses };
        var cmd = new Command("models", "List the model zoo (arch specs and parameter counts), or with --arch print one model's parameter table.");
        cmd.Options.Add(arch);
        cmd.Options.Add(input);
        cmd.Options.Add(classes);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string? spec = parse.GetValue(arch);
            if (spec == null) PrintCatalog(output);
            else PrintModel(output, spec, ParseShape(parse.GetValue(input)!), parse.GetValue(classes));
            return 0;
        });
        return cmd;
    }

    /// <summary>"1x28x28" -> [1, 28, 28]; positive integers only.</summary>
    public static long[] ParseShape(string text)
    {
        var parts = text.Split('x');
        var shape = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]) || shape[i] <= 0)
                throw new InputException($"--input '{text}': expected positive sizes separated by 'x', e.g. 1x28x28");
        return shape;
    }

    private static void PrintCatalog(TextWriter o)
    {
        o.WriteLine($"{"name",-9} {"example",-22} {"MNIST 1x28x28",14} {"CIFAR 3x32x32",14}  description");
        foreach (var (name, example, description) in ModelZoo.Catalog)
            o.WriteLine($"{name,-9} {example,-22} {Count(example, MnistShape),14} {Count(example, CifarShape),14}  {description}");
        o.WriteLine();
        o.WriteLine("Parameter counts are for 10 classes; '-' means the example spec does not fit that input.");
        o.WriteLine("Details: geodesy models --arch SPEC [--input 3x32x32] [--classes 10]; docs/models.md.");
    }

    private static string Count(string spec, long[] shape)
    {
        try
        {
            return N(ModelZoo.CountParameters(spec, shape, TenClasses));
        }
        catch (InputException)
        {
            return "-";
        }
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static void PrintModel(TextWriter o, string spec, long[] shape, int numClasses)
    {
        ModelZoo.Validate(spec, shape, numClasses);
        using var model = ModelZoo.Create(spec, shape, numClasses, seed: 0);
        var layout = ParameterVector.Layout(model);
        int width = Math.Max(4, layout.Max(p => p.Name.Length));
        o.WriteLine($"{spec} on input [{string.Join(", ", shape)}], {numClasses} classes");
        o.WriteLine($"{"name".PadRight(width)}  {"shape",-18} {"count",12}");
        foreach (var (name, _, length, pshape) in layout)
            o.WriteLine($"{name.PadRight(width)}  {"[" + string.Join(", ", pshape) + "]",-18} {N(length),12}");
        o.WriteLine($"{"total".PadRight(width)}  {"",-18} {N(layout.Sum(p => p.Length)),12}");
    }
}
