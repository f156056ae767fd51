using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Measures;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using Spectre.Console;
using TorchSharp;
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
        var arch = CommonOptions.Arch(required: false);
        var weights = new Option<string?>("--weights") { Description = "Trained weights (safetensors); default: RUN/final.safetensors with --run" };
        var initWeights = new Option<string?>("--init-weights") { Description = "Initial weights (safetensors) for the *-init and distance measures; default: RUN/init.safetensors with --run" };
        var run = new Option<string?>("--run") { Description = "A run folder of 'geodesy train': supplies weights, init weights, the training record (metrics.jsonl) and, from run.json, defaults for --arch, --data, --subset, --batch and --seed" };
        var data = CommonOptions.Data();
        var subset = CommonOptions.Subset();
        var labelNoise = CommonOptions.LabelNoise();
        var normalize = CommonOptions.Normalize();
        var measures = new Option<string>("--measures") { Description = "'all' or a comma-separated list of measure names (see --list)", DefaultValueFactory = _ => "all" };
        var seed = new Option<long?>("--seed") { Description = "Seed of every random choice of the measures (default: the run's seed, else 0)" };
        var dtype = new Option<string?>("--dtype") { Description = "float32 | float64: compute every measure in this dtype (default: the model in float32, curvature measures in float64)" };
        var examples = new Option<int?>("--examples") { Description = "Measure on the first N training examples (default: all of them; sharpness/PAC-Bayes, curvature and stiffness use seeded subsets of 1000, 1000 and 200 of these)" };
        var batch = new Option<int?>("--batch") { Description = "The model's training batch size, reported beside the gradient-noise measures (they use one fixed batch of 64 for every model; default: the run's)" };
        var threads = CommonOptions.Threads();
        var json = CommonOptions.Json();

        var cmd = new Command("measure", "Compute generalization measures of a trained model (see --list and docs/measures.md).")
        {
            list, arch, weights, initWeights, run, data, subset, labelNoise, normalize, measures, seed, dtype, examples, batch, threads, json,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(list))
            {
                PrintCatalog(output);
                return GeodesyCli.ExitOk;
            }
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            bool Explicit(Option o) => parse.GetResult(o) is { Implicit: false };
            var request = new Request
            {
                Arch = parse.GetValue(arch),
                Weights = parse.GetValue(weights),
                InitWeights = parse.GetValue(initWeights),
                Run = parse.GetValue(run),
                Data = Explicit(data) ? parse.GetValue(data) : null,
                Subset = parse.GetValue(subset),
                LabelNoise = Explicit(labelNoise) ? parse.GetValue(labelNoise) : null,
                Normalize = Explicit(normalize) ? parse.GetValue(normalize) : null,
                Measures = parse.GetValue(measures)!,
                Seed = parse.GetValue(seed),
                DType = parse.GetValue(dtype),
                Examples = parse.GetValue(examples),
                Batch = parse.GetValue(batch),
                Json = parse.GetValue(json),
            };
            // With the JSON on stdout, progress and the table go to stderr.
            var log = request.Json == "-" ? parse.InvocationConfiguration.Error : output;
            return Execute(request, parse.Tokens.Select(t => t.Value), output, log);
        });
        return cmd;
    }

    /// <summary>The options as given (null = not given, so a run folder's value or the default applies).</summary>
    private sealed record Request
    {
        public string? Arch { get; init; }
        public string? Weights { get; init; }
        public string? InitWeights { get; init; }
        public string? Run { get; init; }
        public string? Data { get; init; }
        public int? Subset { get; init; }
        public double? LabelNoise { get; init; }
        public bool? Normalize { get; init; }
        public required string Measures { get; init; }
        public long? Seed { get; init; }
        public string? DType { get; init; }
        public int? Examples { get; init; }
        public int? Batch { get; init; }
        public string? Json { get; init; }
    }

    /// <summary>What a run folder supplies.</summary>
    private sealed record RunFolder(RunSpec Spec, string? Final, string? Init, IReadOnlyList<MetricsRow>? Record);

    private static int Execute(Request r, IEnumerable<string> tokens, TextWriter stdout, TextWriter log)
    {
        // Everything that can be checked without tensors first, so mistakes fail fast.
        var selected = MeasureRegistry.Select(r.Measures);
        if (r.Examples is < 1) throw new InputException($"--examples must be at least 1 (got {r.Examples})");
        if (r.DType is not (null or "float32" or "float64")) throw new InputException($"--dtype must be float32 or float64 (got '{r.DType}')");
        if (r.Batch is < 1) throw new InputException($"--batch must be at least 1 (got {r.Batch})");
        var folder = r.Run is null ? null : ReadRunFolder(r.Run);
        string arch = r.Arch ?? folder?.Spec.Arch ?? throw new InputException("give --arch SPEC (or --run DIR)");
        string weightsPath = r.Weights ?? folder?.Final ?? throw new InputException(folder is null
            ? "give --weights FILE (or --run DIR)" : $"run folder '{r.Run}' has no {RunFiles.FinalWeights}; give --weights FILE");
        RequireFile(weightsPath, "--weights");
        string? initPath = r.InitWeights ?? folder?.Init;
        if (r.InitWeights is not null) RequireFile(r.InitWeights, "--init-weights");
        var dataSpec = r.Data ?? folder?.Spec.Data ?? "mnist";
        var runSpec = folder?.Spec;
        var dataOptions = new DataOptions(
            r.Subset ?? runSpec?.Subset, r.LabelNoise ?? runSpec?.LabelNoise ?? 0, r.Normalize ?? runSpec?.Normalize ?? false,
            runSpec?.Seed ?? r.Seed ?? 0);
        long measureSeed = r.Seed ?? runSpec?.Seed ?? 0;
        var modelDType = r.DType == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        var options = new MeasureOptions { CurvatureDType = r.DType == "float32" ? ScalarType.Float32 : ScalarType.Float64 };

        var report = new JsonReport("measure", tokens);
        using var split = DataSpecs.Load(dataSpec, dataOptions);
        var train = split.Train;
        ModelZoo.Validate(arch, train.InputShape, train.NumClasses);
        using var model = LoadModel(arch, train, weightsPath, modelDType, "--weights");
        using var init = initPath is null ? null : LoadModel(arch, train, initPath, modelDType, "--init-weights");
        var measured = r.Examples is int n && n < train.Count ? train.Take(n) : train;

        using var ctx = new MeasureContext
        {
            Model = model,
            InitModel = init,
            Data = measured,
            ArchSpec = arch,
            TrainingRecord = folder?.Record,
            RunningLoss = r.Run is null ? null : RunFiles.ReadRunningLoss(r.Run),
            TrainingBatchSize = r.Batch ?? runSpec?.Batch,
            Seed = measureSeed,
            Options = options,
        };
        log.WriteLine($"measuring {selected.Count} measure(s) of {arch} ({ParameterVector.Count(model):N0} parameters) on {measured.Count} examples of {dataSpec}");
        var rows = RunWithProgress(ctx, selected, log);

        PrintTable(log, rows);
        if (r.Json is { } dest)
        {
            FillReport(report, rows, ctx, arch, dataSpec, weightsPath, initPath, r.Run, modelDType, options);
            report.Provenance["data_sha256"] = split.Sha256;
            report.Write(dest, stdout);
        }
        return GeodesyCli.ExitOk;
    }

    /// <summary>One measure's outcome with the work it spent (differences of the context's counters).</summary>
    /// <remarks>CpuSeconds is the process's processor time over the measure: on a shared machine it tells the work apart from waiting.</remarks>
    private sealed record Row(MeasureOutcome Outcome, long ForwardExamples, long Matvecs, long Gradients, double CpuSeconds);

    private static List<Row> RunWithProgress(MeasureContext ctx, IReadOnlyList<IMeasure> selected, TextWriter log)
    {
        var rows = new List<Row>();
        void RunOne(IMeasure m)
        {
            long f = ctx.ForwardExamples, mv = ctx.Matvecs, g = ctx.Gradients;
            var cpu = CpuTime();
            var outcome = MeasureRunner.Compute(ctx, [m]).Single();
            rows.Add(new Row(outcome, ctx.ForwardExamples - f, ctx.Matvecs - mv, ctx.Gradients - g, (CpuTime() - cpu).TotalSeconds));
        }
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
                        RunOne(m);
                        task.Increment(1);
                    }
                });
            return rows;
        }
        int width = selected.Max(m => m.Name.Length);
        for (int i = 0; i < selected.Count; i++)
        {
            RunOne(selected[i]);
            var o = rows[^1].Outcome;
            string what = o.Value is { } v ? Num(v.Value) : "skipped";
            log.WriteLine($"  [{(i + 1).ToString().PadLeft(selected.Count.ToString().Length)}/{selected.Count}] {o.Name.PadRight(width)}  {what}  ({o.Seconds:F2} s)");
        }
        return rows;
    }

    private static TimeSpan CpuTime()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static void RequireFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new InputException($"{option} '{path}' is a folder, not a safetensors file");
        if (!File.Exists(path)) throw new InputException($"{option} file '{path}' does not exist");
    }

    private static RunFolder ReadRunFolder(string dir)
    {
        var spec = RunFiles.ReadSpec(dir);
        string? Existing(string name) => File.Exists(Path.Combine(dir, name)) ? Path.Combine(dir, name) : null;
        var record = File.Exists(Path.Combine(dir, RunFiles.Metrics)) ? RunFiles.ReadMetrics(dir) : null;
        return new RunFolder(spec, Existing(RunFiles.FinalWeights), Existing(RunFiles.InitWeights), record);
    }

    private static nn.Module<Tensor, Tensor> LoadModel(string arch, Dataset train, string path, ScalarType dtype, string option)
    {
        var model = ModelZoo.Create(arch, train.InputShape, train.NumClasses, seed: 0, dtype);
        try
        {
            SafeTensors.LoadInto(model, path);
        }
        catch (InputException e)
        {
            model.Dispose();
            throw new InputException($"{option} does not fit --arch {arch}: {e.Message}", e);
        }
        model.eval();
        return model;
    }

    private static void FillReport(JsonReport report, List<Row> rows, MeasureContext ctx, string arch, string dataSpec,
        string weightsPath, string? initPath, string? run, ScalarType modelDType, MeasureOptions options)
    {
        var root = report.Root;
        root["arch"] = arch;
        root["data"] = dataSpec;
        root["run"] = run is null ? null : Path.GetFullPath(run);
        root["weights"] = Path.GetFullPath(weightsPath);
        root["init_weights"] = initPath is null ? null : Path.GetFullPath(initPath);
        root["dtype"] = DTypeName(modelDType);
        root["params"] = ParameterVector.Count(ctx.Model);
        root["examples"] = ctx.Data.Count;
        root["options"] = OptionsJson(options);
        var values = new JsonObject();
        var skipped = new JsonObject();
        foreach (var row in rows)
        {
            var o = row.Outcome;
            if (o.Value is not { } v)
            {
                skipped[o.Name] = o.SkippedReason;
                continue;
            }
            var entry = new JsonObject
            {
                ["value"] = Finite(v.Value),
                ["stderr"] = v.StdErr is double s ? Finite(s) : null,
                ["status"] = Geodesy.Core.Curvature.SolverStatusNames.ToSnakeCase(v.Status),
                ["bracket_halfwidth"] = v.BracketHalfwidth is double h ? Finite(h) : null,
                ["seconds"] = Math.Round(o.Seconds, 4),
                ["cpu_seconds"] = Math.Round(row.CpuSeconds, 4),
                ["forward_examples"] = row.ForwardExamples,
                ["matvecs"] = row.Matvecs,
                ["gradients"] = row.Gradients,
            };
            foreach (var (key, x) in v.Details ?? new Dictionary<string, double>())
                if (!entry.ContainsKey(key)) entry[key] = Finite(x);
            values[o.Name] = entry;
        }
        root["measures"] = values;
        root["skipped"] = skipped;
        report.Cost["matvecs"] = ctx.Matvecs;
        report.Cost["gradients"] = ctx.Gradients;
        report.Cost["forward_examples"] = ctx.ForwardExamples;
        report.Cost["measure_seconds"] = Math.Round(rows.Sum(x => x.Outcome.Seconds), 4);
        report.Cost["measure_cpu_seconds"] = Math.Round(rows.Sum(x => x.CpuSeconds), 4);
        report.Provenance["seed"] = ctx.Seed;
        report.Provenance["weights_sha256"] = Provenance.Sha256OfFile(weightsPath);
        report.Provenance["init_weights_sha256"] = initPath is null ? null : Provenance.Sha256OfFile(initPath);
    }

    /// <summary>The measure options used, snake_case, so a result can be reproduced.</summary>
    private static JsonObject OptionsJson(MeasureOptions options)
    {
        var o = new JsonObject();
        foreach (var p in typeof(MeasureOptions).GetProperties().OrderBy(p => p.MetadataToken))
        {
            object? v = p.GetValue(options);
            o[SnakeCase(p.Name)] = v switch
            {
                int i => i,
                double d => d,
                bool b => b,
                ScalarType t => DTypeName(t),
                _ => v?.ToString(),
            };
        }
        return o;
    }

    private static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }

    private static string DTypeName(ScalarType t) => t == ScalarType.Float64 ? "float64" : t == ScalarType.Float32 ? "float32" : t.ToString().ToLowerInvariant();

    private static double? Finite(double x) => double.IsFinite(x) ? x : null;

    private static string Num(double x) => x.ToString("G6", CultureInfo.InvariantCulture);

    private static void PrintTable(TextWriter o, List<Row> rows)
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
