using System.CommandLine;
using System.Globalization;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Measures;
using Geodesy.Experiments.Analyses;
using Spectre.Console;
using static TorchSharp.torch;

namespace Geodesy.Cli.Commands;

/// <summary>
/// `geodesy measure`: the generalization measures of the catalog for one trained model (weights
/// files or a run folder), with per-measure times and work counts; `--list` prints the catalog.
/// </summary>
public static class MeasureCommand
{
    public static Command Create()
    {
        var list = new Option<bool>("--list") { Description = "Print the measure catalog (name, family, needs, relative cost, citation) and exit" };
        var source = new ModelSourceOptions("weights, init weights, the training record (metrics.jsonl) and, from run.json, defaults for --arch, --data, --subset, --label-noise, --normalize, --batch and --seed", initWeights: true, dataOptions: true);
        var measures = new Option<string>("--measures") { Description = "'all' or a comma-separated list of measure names (see --list)", DefaultValueFactory = _ => "all" };
        var seed = new Option<long?>("--seed") { Description = "Seed of every random choice of the measures (default: the run's seed, else 0)" };
        var dtype = new Option<string?>("--dtype") { Description = "float32 | float64: compute every measure in this dtype (default: the model in float32, curvature measures in float64)" };
        var examples = new Option<int?>("--examples") { Description = "Measure on the first N training examples (default: all of them; sharpness/PAC-Bayes, curvature and stiffness use seeded subsets of 1000, 1000 and 200 of these)" };
        var batch = new Option<int?>("--batch") { Description = "The model's training batch size, reported beside the gradient-noise measures (they use one fixed batch of 64 for every model; default: the run's)" };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("measure", "Compute generalization measures of a trained model (see --list and docs/measures.md).");
        Option[] options = [list, .. source.All, measures, seed, dtype, examples, batch, threads, json];
        foreach (var option in options) cmd.Options.Add(option);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(list))
            {
                PrintCatalog(output);
                return GeodesyCli.ExitOk;
            }
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            // Everything that can be checked without tensors first, so mistakes fail fast.
            var selected = MeasureRegistry.Select(parse.GetValue(measures)!);
            int? count = parse.GetValue(examples);
            if (count is < 1) throw new InputException($"--examples must be at least 1 (got {count})");
            string? dt = parse.GetValue(dtype);
            if (dt is not (null or "float32" or "float64")) throw new InputException($"--dtype must be float32 or float64 (got '{dt}')");
            int? trainingBatch = parse.GetValue(batch);
            if (trainingBatch is < 1) throw new InputException($"--batch must be at least 1 (got {trainingBatch})");
            var resolved = source.Bind(parse, dt == "float64" ? ScalarType.Float64 : ScalarType.Float32, parse.GetValue(seed)).Resolve();
            string? dest = parse.GetValue(json);
            // With the JSON on stdout, progress and the table go to stderr.
            var log = dest == "-" ? parse.InvocationConfiguration.Error : output;
            var report = new JsonReport("measure", parse.Tokens.Select(t => t.Value));

            using var loaded = resolved.Load();
            var measured = count is int n && n < loaded.Data.Train.Count ? loaded.Data.Train.Take(n) : loaded.Data.Train;
            var measureOptions = new MeasureOptions { CurvatureDType = dt == "float32" ? ScalarType.Float32 : ScalarType.Float64 };
            long measureSeed = parse.GetValue(seed) ?? resolved.RunSpec?.Seed ?? 0;
            using var session = new MeasureSession(MeasureSession.CreateContext(loaded.Model, loaded.Init, measured, resolved.Arch,
                resolved.TrainingRecord, trainingBatch ?? resolved.TrainingBatch, measureSeed, measureOptions, resolved.RunningLoss));
            log.WriteLine($"measuring {selected.Count} measure(s) of {resolved.Arch} ({loaded.Parameters:N0} parameters) on {measured.Count} examples of {resolved.DataSpec}");
            RunWithProgress(session, selected, log);

            PrintTable(log, session.Rows);
            if (dest is not null)
            {
                var root = report.Root;
                root["arch"] = resolved.Arch;
                root["data"] = resolved.DataSpec;
                root["run"] = resolved.Run is null ? null : Path.GetFullPath(resolved.Run);
                root["weights"] = Path.GetFullPath(resolved.Weights!);
                root["init_weights"] = resolved.InitWeights is null ? null : Path.GetFullPath(resolved.InitWeights);
                root["dtype"] = MeasureSession.DTypeName(resolved.DType);
                session.WriteTo(root, report.Cost);
                report.Provenance["seed"] = measureSeed;
                report.Provenance["data_sha256"] = loaded.Data.Sha256;
                report.Provenance["weights_sha256"] = Provenance.Sha256OfFile(resolved.Weights!);
                report.Provenance["init_weights_sha256"] = resolved.InitWeights is null ? null : Provenance.Sha256OfFile(resolved.InitWeights);
                report.Write(dest, output);
            }
            return GeodesyCli.ExitOk;
        });
        return cmd;
    }

    private static void RunWithProgress(MeasureSession session, IReadOnlyList<IMeasure> selected, TextWriter log)
    {
        if (TrainingProgress.IsInteractive(log))
        {
            AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask("measures", maxValue: selected.Count);
                    foreach (var m in selected)
                    {
                        task.Description = Markup.Escape(m.Name);
                        session.Compute(m);
                        task.Increment(1);
                    }
                });
            return;
        }
        int width = selected.Max(m => m.Name.Length);
        for (int i = 0; i < selected.Count; i++)
        {
            var o = session.Compute(selected[i]).Outcome;
            string what = o.Value is { } v ? Num(v.Value) : "skipped";
            log.WriteLine($"  [{(i + 1).ToString().PadLeft(selected.Count.ToString().Length)}/{selected.Count}] {o.Name.PadRight(width)}  {what}  ({o.Seconds:F2} s)");
        }
    }

    private static string Num(double x) => x.ToString("G6", CultureInfo.InvariantCulture);

    private static void PrintTable(TextWriter o, IReadOnlyList<MeasureRow> rows)
    {
        var computed = rows.Where(r => r.Outcome.Value is not null).ToList();
        if (computed.Count > 0)
        {
            int width = Math.Max(4, computed.Max(r => r.Outcome.Name.Length));
            o.WriteLine();
            o.WriteLine($"{"name".PadRight(width)}  {"value",14}  {"stderr",12}  {"seconds",8}  {"cpu s",8}");
            foreach (var r in computed)
            {
                var v = r.Outcome.Value!;
                string err = v.StdErr is double s ? Num(s) : "-";
                o.WriteLine($"{r.Outcome.Name.PadRight(width)}  {Num(v.Value),14}  {err,12}  {r.Outcome.Seconds,8:F2}  {r.CpuSeconds,8:F2}");
            }
        }
        var skipped = rows.Where(r => r.Outcome.Value is null).ToList();
        if (skipped.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("skipped:");
            foreach (var r in skipped) o.WriteLine(r.Outcome.SkippedReason is { } why && why.StartsWith(r.Outcome.Name, StringComparison.Ordinal) ? $"  {why}" : $"  {r.Outcome.Name}: {r.Outcome.SkippedReason}");
        }
        o.WriteLine($"total {rows.Sum(r => r.Outcome.Seconds):F1} s ({rows.Sum(r => r.CpuSeconds):F1} s of processor time)");
    }

    /// <summary>"weights", "weights, init", "data", "record" ...</summary>
    public static string NeedsText(MeasureNeeds needs)
    {
        var parts = new List<string> { "weights" };
        if (needs.HasFlag(MeasureNeeds.InitWeights)) parts.Add("init");
        if (needs.HasFlag(MeasureNeeds.Data)) parts.Add("data");
        if (needs.HasFlag(MeasureNeeds.TrainingRecord)) parts.Add("record");
        return string.Join(",", parts);
    }

    private static void PrintCatalog(TextWriter o)
    {
        var all = MeasureRegistry.All;
        if (TrainingProgress.IsInteractive(o))
        {
            // Only the citation wraps: the other columns keep their width on narrow terminals.
            var table = new Table().Border(TableBorder.Simple).AddColumns(
                new TableColumn("name").NoWrap(), new TableColumn("family").NoWrap(), new TableColumn("needs").NoWrap(),
                new TableColumn("cost").NoWrap().RightAligned(), new TableColumn("citation"));
            foreach (var m in all)
                table.AddRow(Markup.Escape(m.Name), m.Family.ToString(), NeedsText(m.Needs), m.Cost.ToString(CultureInfo.InvariantCulture), Markup.Escape(m.Citation));
            AnsiConsole.Write(table);
        }
        else
        {
            int name = all.Max(m => m.Name.Length), family = all.Max(m => m.Family.ToString().Length), needs = all.Max(m => NeedsText(m.Needs).Length);
            o.WriteLine($"{"name".PadRight(name)}  {"family".PadRight(family)}  {"needs".PadRight(needs)}  cost  citation");
            foreach (var m in all)
                o.WriteLine($"{m.Name.PadRight(name)}  {m.Family.ToString().PadRight(family)}  {NeedsText(m.Needs).PadRight(needs)}  {m.Cost,4}  {m.Citation}");
        }
        o.WriteLine($"{all.Count} measures; formulas and notes in docs/measures.md");
    }
}
