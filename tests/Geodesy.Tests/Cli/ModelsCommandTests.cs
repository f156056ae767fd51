using Geodesy.Cli;

namespace Geodesy.Tests.Cli;

public class ModelsCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = GeodesyCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void ListsEveryFamilyWithCounts()
    {
        var (code, output, err) = Run("models");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("mlp:784-100-10", output);
        Assert.Contains("79,510", output);
        Assert.Contains("272,474", output); // resnet20 (shortcut b) on CIFAR-10
        foreach (var family in new[] { "cnn:", "nin:", "resnet20:" }) Assert.Contains(family, output);
    }

    [Fact]
    public void PrintsOneModelsParameterTable()
    {
        var (code, output, _) = Run("models", "--arch", "cnn:channels=4-8,bn=1");
        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("9.weight") && l.Contains("[10, 392]") && l.TrimEnd().EndsWith("3,920"));
        Assert.Contains(lines, l => l.StartsWith("total") && l.TrimEnd().EndsWith("4,290"));
    }

    [Fact]
    public void HonoursInputAndClasses()
    {
        var (code, output, _) = Run("models", "--arch", "mlp:20-5-3", "--input", "20", "--classes", "3");
        Assert.Equal(0, code);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("total") && l.TrimEnd().EndsWith(" 123"));
    }

    [Theory]
    [InlineData("--arch", "mlp:784-100-10", "--input", "20")]
    [InlineData("--arch", "cnn:kernel=4")]
    [InlineData("--arch", "cnn", "--input", "1x28xx28")]
    public void BadInputIsExitTwoWithOneLine(params string[] args)
    {
        var (code, output, err) = Run(["models", .. args]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.StartsWith("geodesy: error:", err);
    }
}
