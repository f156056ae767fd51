using System.Text.Json.Nodes;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Tests.Reproductions;

/// <summary>
/// `geodesy reproduce` end to end, in-process, with tiny settings (--set) so that every recipe
/// trains a few steps: the document contract of every recipe, the verdict being one of the three,
/// and the self-contained page of `all`.
/// </summary>
[Trait(TestCategory.Key, TestCategory.Slow)]
public class ReproduceEndToEndTests
{
    /// <summary>Settings that make every recipe take seconds (each key is applied to the recipes that have it).</summary>
    private static readonly string[] Tiny =
    [
        "--quick", "--seeds", "2",
        "--set", "subset=120", "--set", "lrs=0.05,0.2", "--set", "batches=32", "--set", "widths=8",
        "--set", "until_loss=1.8", "--set", "max_epochs=2", "--set", "measure_examples=60",
        "--set", "steps=8", "--set", "probe_every=4", "--set", "probe_examples=32",
        "--set", "epochs=1", "--set", "curvature_examples=60", "--set", "invariance_models=1",
        "--set", "grok_steps=60",
    ];

    private static void AssertContract(JsonObject doc, string recipe)
    {
        Assert.Equal(Reproduction.Schema, (string?)doc["schema"]);
        Assert.Equal(recipe, (string?)doc["recipe"]);
        var r = RecipeRegistry.Get(recipe);
        Assert.Equal(r.Claim, (string?)doc["claim"]);
        Assert.Equal(r.Source, (string?)doc["source"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)doc["criterion"]));
        Assert.Contains((string?)doc["verdict"], new[] { "supported", "not-supported", "inconclusive" });
        // The stored verdict is the one the criterion gives on the stored evidence.
        var options = RecipeOptions.Resolve(r, quick: true, sets: ((JsonObject)doc["options"]!).Select(kv => $"{kv.Key}={(string?)kv.Value}"));
        Assert.Equal((string?)doc["verdict"], r.Judge((JsonObject)doc["evidence"]!, options).Verdict.Name());
        Assert.IsType<JsonObject>(doc["evidence"]);
        foreach (var key in new[] { "matvecs", "gradients", "seconds", "threads" }) Assert.NotNull(doc["cost"]?[key]);
        foreach (var key in new[] { "version", "git", "seed", "command", "data_sha256", "weights_sha256" })
            Assert.True(((JsonObject)doc["provenance"]!).ContainsKey(key), key);
    }

    [Fact]
    public void OneRecipeWritesItsDocumentAndTheJsonCopy()
    {
        using var tmp = new TestSupport.TempDir();
        var r = TestSupport.RunCli("reproduce", "break-even", "--out", tmp["be"], "--json", tmp["be.json"], "--quick", "--seeds", "2",
            "--set", "subset=120", "--set", "lrs=0.05,0.2", "--set", "until_loss=1.8", "--set", "max_epochs=2",
            "--set", "probe_every=4", "--set", "probe_examples=32");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("break-even: ", r.Stdout);
        Assert.Contains("peak λmax", r.Stdout);
        var doc = JsonNode.Parse(File.ReadAllText(tmp["be/reproduce.json"]))!.AsObject();
        AssertContract(doc, "break-even");
        Assert.Equal(2, doc["evidence"]!["configurations"]!.AsArray().Count);
        Assert.Equal(doc.ToJsonString(), JsonNode.Parse(File.ReadAllText(tmp["be.json"]))!.ToJsonString());
        foreach (var plot in doc["plots"]!.AsArray()) Assert.True(File.Exists(Path.Combine(tmp["be"], (string)plot!["file"]!)));
    }

    [Fact]
    public void AllRunsEveryRecipeAndWritesOneSelfContainedPage()
    {
        using var tmp = new TestSupport.TempDir();
        var r = TestSupport.RunCli([.. new[] { "reproduce", "all", "--out", tmp["all"] }, .. Tiny]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        string html = File.ReadAllText(tmp["all/report.html"]);
        foreach (var recipe in RecipeRegistry.All)
        {
            var doc = JsonNode.Parse(File.ReadAllText(tmp[$"all/{recipe.Name}/reproduce.json"]))!.AsObject();
            AssertContract(doc, recipe.Name);
            Assert.Contains($"id=\"{recipe.Name}\"", html);
            Assert.Contains(System.Net.WebUtility.HtmlEncode(recipe.Claim), html);
        }
        // The population recipes share one store: the later ones only measure the models the first trained.
        Assert.Contains("(trained for another sweep): measured with this sweep's settings", r.Stdout);
        Assert.Contains("data:image/png;base64,", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
    }

    [Fact]
    public void BadInputIsOneLineAndExitTwo()
    {
        using var tmp = new TestSupport.TempDir();
        TestSupport.AssertUsageError(TestSupport.RunCli("reproduce", "break-even", "--set", "nope=1", "--out", tmp["x"]), "has no option 'nope'");
        TestSupport.AssertUsageError(TestSupport.RunCli("reproduce", "no-such-recipe"), "unknown recipe");
        TestSupport.AssertUsageError(TestSupport.RunCli("reproduce", "all", "--set", "nope=1"), "no recipe has an option 'nope'");
        TestSupport.AssertUsageError(TestSupport.RunCli("reproduce"), "give a recipe name");
        Assert.False(Directory.Exists(tmp["x"]));
        var list = TestSupport.RunCli("reproduce", "--list");
        Assert.Equal(0, list.ExitCode);
        foreach (var recipe in RecipeRegistry.All) Assert.Contains(recipe.Name, list.Stdout);
    }
}
