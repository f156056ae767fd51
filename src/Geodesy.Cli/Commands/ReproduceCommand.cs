using System.CommandLine;
using Geodesy.Core;
using Geodesy.Experiments.Reproductions;

namespace Geodesy.Cli.Commands;

/// <summary>`geodesy reproduce`: test a published claim end to end and print its verdict (docs/reproduce.md).</summary>
public static class ReproduceCommand
{
    public const string All = "all";

    public static Command Create()
    {
        var name = new Argument<string?>("recipe") { Description = "Recipe name (see --list), or 'all'", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "List every recipe with its claim, source and options" };
        var outDir = new Option<string?>("--out") { Description = "Folder for reproduce.json, plots and runs (default reproduce-NAME; with 'all' also report.html)" };
        var json = CommonOptions.Json();
        var seeds = new Option<int?>("--seeds") { Description = "Seeds per configuration (0..N-1); overrides the recipe's default" };
        var quick = new Option<bool>("--quick") { Description = "The recipe's small settings: at most about 2 minutes on 2 cores" };
        var set = new Option<string[]>("--set") { Description = "Override a recipe option, key=value (repeatable; keys in --list), e.g. --set lrs=0.02,0.2", AllowMultipleArgumentsPerToken = false };
        var threads = CommonOptions.Threads();
        var cmd = new Command("reproduce", "Test a published claim (train, probe, measure with the public commands' code), and report a verdict computed from the evidence by a criterion fixed in advance.")
        { name, list, outDir, json, seeds, quick, set, threads };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(list))
            {
                PrintList(output);
                return GeodesyCli.ExitOk;
            }
            string which = parse.GetValue(name) ?? throw new InputException("give a recipe name, 'all' or --list (see 'geodesy reproduce --list')");
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var sets = parse.GetValue(set) ?? [];
            string command = "geodesy " + string.Join(' ', parse.Tokens.Select(t => t.Value));
            string? dest = parse.GetValue(json);
            CommonOptions.CheckOutputFolder(dest is "-" ? null : dest, "--json");
            if (which == All)
            {
                if (dest is not null) throw new InputException("--json writes one recipe's document; 'all' writes DIR/NAME/reproduce.json for each recipe and DIR/report.html");
                var recipes = RecipeRegistry.All;
                foreach (string s in sets)
                    if (!recipes.Any(r => r.Options.Any(o => o.Key == Key(s))))
                        throw new InputException($"--set: no recipe has an option '{Key(s)}'");
                // Resolve every recipe's options before the first one runs, so a bad value stops at once.
                var plans = recipes.Select(r => (Recipe: r, Options: RecipeOptions.Resolve(r, parse.GetValue(quick), parse.GetValue(seeds),
                    sets.Where(s => r.Options.Any(o => o.Key == Key(s)))))).ToList();
                string dir = parse.GetValue(outDir) ?? "reproduce-all";
                var results = new List<ReproductionResult>();
                foreach (var (recipe, options) in plans)
                {
                    // One store for every population recipe: a model they share is trained once.
                    var result = Reproduction.Run(recipe, options, Path.Combine(dir, recipe.Name), command, line => output.WriteLine(line),
                        Path.Combine(dir, "study"));
                    PrintVerdict(output, result);
                    results.Add(result);
                }
                string page = ReproductionReport.Write(Path.GetFullPath(dir), results);
                output.WriteLine();
                foreach (var r in results) output.WriteLine($"  {r.Recipe.Name,-22} {r.Judgement.Verdict.Name()}");
                output.WriteLine($"report: {page}");
                return GeodesyCli.ExitOk;
            }
            var one = RecipeRegistry.Get(which);
            var resolved = RecipeOptions.Resolve(one, parse.GetValue(quick), parse.GetValue(seeds), sets);
            string target = parse.GetValue(outDir) ?? $"reproduce-{one.Name}";
            var done = Reproduction.Run(one, resolved, target, command, line => output.WriteLine(line));
            PrintVerdict(output, done);
            output.WriteLine($"evidence: {Path.Combine(done.Directory, Reproduction.DocumentFile)}");
            if (dest is not null)
            {
                if (dest == "-") output.WriteLine(done.Document.ToJsonString(Output.JsonReport.Options));
                else Reproduction.WriteJson(dest, done.Document);
            }
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static string Key(string set) => set.IndexOf('=') is > 0 and var eq ? set[..eq].Trim() : set;

    private static void PrintVerdict(TextWriter output, ReproductionResult result)
    {
        var rows = result.Recipe.Table(result.Evidence);
        int width = Math.Max(8, rows.Select(r => r.Quantity.Length).DefaultIfEmpty(0).Max());
        output.WriteLine();
        output.WriteLine($"{result.Recipe.Name}: {result.Judgement.Verdict.Name().ToUpperInvariant()}");
        output.WriteLine($"  {result.Judgement.Reason}");
        foreach (var (quantity, value) in rows) output.WriteLine($"  {quantity.PadRight(width)}  {value}");
        output.WriteLine($"  took {result.Document["cost"]?["seconds"]} s");
    }

    private static void PrintList(TextWriter output)
    {
        foreach (var r in RecipeRegistry.All)
        {
            output.WriteLine(r.Name);
            output.WriteLine($"  claim:   {r.Claim}");
            output.WriteLine($"  source:  {r.Source}");
            output.WriteLine($"  options: {string.Join(", ", r.Options.Select(o => o.Default == o.Quick ? $"{o.Key}={o.Default}" : $"{o.Key}={o.Default} (quick {o.Quick})"))}");
        }
        output.WriteLine($"{RecipeRegistry.All.Count} recipes; 'geodesy reproduce NAME [--quick]' runs one, 'geodesy reproduce all --out DIR' runs them all (docs/reproduce.md)");
    }
}
