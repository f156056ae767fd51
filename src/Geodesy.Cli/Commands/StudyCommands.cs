using System.CommandLine;
using System.Globalization;
using Geodesy.Cli.Output;
using Geodesy.Core;
using Geodesy.Core.Stats;
using Geodesy.Experiments.Store;
using Geodesy.Experiments.Sweeps;
using Spectre.Console;

namespace Geodesy.Cli.Commands;

/// <summary>sweep, worker, rank, report and study: populations of models and their rankings.</summary>
public static class StudyCommands
{
    private static Option<string> StoreOption(bool required) => new("--store")
    {
        Description = "Experiment store: sqlite:PATH or postgres://user[:password]@host:port/db",
        Required = required,
    };

    private static Option<bool> IncludeUnconvergedOption() => new("--include-unconverged")
    {
        Description = "Also rank trials that stopped at max-epochs without meeting the stopping rule, and measure values whose solver or search did not converge",
    };

    private static Option<string?> SweepOption() => new("--sweep") { Description = "Sweep id (or a prefix of it); default: the newest sweep in the store" };
    private static Option<int> WorkersOption() => new("--workers") { Description = "Number of worker processes", DefaultValueFactory = _ => 1 };
    private static Option<string?> RunsOption() => new("--runs") { Description = "Folder for run folders (default: beside the store)" };

    public static Command Sweep()
    {
        var spec = new Option<string>("--spec") { Description = "Sweep spec (YAML): base run settings, grid/random search, seeds, measures", Required = true };
        var store = StoreOption(false);
        store.DefaultValueFactory = _ => "sqlite:sweep.db";
        var workers = WorkersOption();
        var runs = RunsOption();
        var slurm = new Option<string?>("--slurm") { Description = "Write an sbatch job-array script FILE whose tasks run 'geodesy worker' against the store (use a PostgreSQL store), then exit" };
        var tasks = new Option<int>("--slurm-tasks") { Description = "Array size for --slurm", DefaultValueFactory = _ => 8 };
        var threads = CommonOptions.Threads();
        var cmd = new Command("sweep", "Register a sweep of training runs in a store and run workers on it until every trial is done (re-running resumes).")
        { spec, store, workers, runs, slurm, tasks, threads };
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var output = parse.InvocationConfiguration.Output;
            var sweep = SweepSpec.Load(parse.GetValue(spec)!);
            string uri = parse.GetValue(store)!;
            using var s = StoreFactory.Open(uri);
            var (id, count) = SweepRunner.Register(s, sweep);
            string runsDir = StudyPipeline.RunsFolderFor(parse.GetValue(runs), uri);
            output.WriteLine($"sweep {id[..12]} '{sweep.Name}': {count} trials in {s.Description}");
            if (parse.GetValue(slurm) is { } script)
            {
                SlurmScript.Write(script, uri, id, runsDir, parse.GetValue(tasks));
                output.WriteLine($"wrote {script}: submit with 'sbatch {script}'");
                return 0;
            }
            RunWithProgress(output, s, uri, id, runsDir, parse.GetValue(workers));
            PrintCounts(output, s, id);
            return 0;
        });
        return cmd;
    }

    public static Command Worker()
    {
        var store = StoreOption(true);
        var sweep = SweepOption();
        var runs = RunsOption();
        var threads = CommonOptions.Threads();
        var name = new Option<string?>("--name") { Description = "Worker name recorded with its leases (default host-pid)" };
        var max = new Option<int>("--max-trials") { Description = "Stop after N trials (default: until none is left)" };
        var lease = new Option<double>("--lease") { Description = "Lease length in seconds: a trial whose worker stops heart-beating is re-run after this", DefaultValueFactory = _ => 60 };
        var cmd = new Command("worker", "Join a sweep as one more worker: lease trials from the store, train, measure, record.")
        { store, sweep, runs, threads, name, max, lease };
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var output = parse.InvocationConfiguration.Output;
            string uri = parse.GetValue(store)!;
            using var s = StoreFactory.Open(uri);
            string id = Experiments.Reports.Population.FindSweep(s, parse.GetValue(sweep)).Id;
            string worker = parse.GetValue(name) ?? $"{Environment.MachineName}-{Environment.ProcessId}";
            var w = new SweepWorker(s, id, StudyPipeline.RunsFolderFor(parse.GetValue(runs), uri), worker,
                WorkerOptions.ForLease(parse.GetValue(lease)) with { MaxTrials = parse.GetValue(max) }, line => output.WriteLine(line));
            int done = w.Run();
            output.WriteLine($"[{worker}] done: {done} trial(s) recorded");
            return 0;
        });
        return cmd;
    }

    public static Command Rank()
    {
        var store = StoreOption(true);
        var sweep = SweepOption();
        var measures = new Option<string?>("--measures") { Description = "Rank only these measures (comma-separated); default all" };
        var seed = CommonOptions.Seed();
        var json = CommonOptions.Json();
        var unconverged = IncludeUnconvergedOption();
        var psi = new Option<string>("--psi")
        {
            Description = "Definition of the granulated Psi: fantastic (Jiang et al. 2020, default) or tau-b-defined-cells (the earlier Geodesy variant; see docs/ranking.md)",
            DefaultValueFactory = _ => "fantastic",
        };
        var cmd = new Command("rank", "Rank every measure of a sweep's converged models against the generalization gap: Kendall tau with bootstrap CI, granulated Psi, CMI, with oracle and canonical baselines.")
        { store, sweep, measures, seed, json, unconverged, psi };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var s = StoreFactory.Open(parse.GetValue(store)!);
            var list = parse.GetValue(measures)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var definition = Ranking.ParsePsi(parse.GetValue(psi)!);
            var (doc, table, pop) = StudyPipeline.Rank(s, parse.GetValue(sweep), list, parse.GetValue(seed),
                new Experiments.Reports.PopulationOptions(parse.GetValue(unconverged)), definition);
            PrintRanking(output, table, pop);
            if (parse.GetValue(json) is { } dest)
            {
                WriteRankDocument(doc, parse.Tokens.Select(t => t.Value), dest, output, parse.GetValue(seed));
            }
            return 0;
        });
        return cmd;
    }

    public static Command Report()
    {
        var store = StoreOption(true);
        var sweep = SweepOption();
        var outDir = new Option<string>("--out") { Description = "Folder for report.html and its PNG plots", Required = true };
        var unconverged = IncludeUnconvergedOption();
        var cmd = new Command("report", "Write an HTML report (ranking table, tau/Psi/CMI bar charts, scatter plots, training curves, models) with PNG plots.")
        { store, sweep, outDir, unconverged };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var s = StoreFactory.Open(parse.GetValue(store)!);
            var (doc, table, pop) = StudyPipeline.Rank(s, parse.GetValue(sweep), populationOptions: new Experiments.Reports.PopulationOptions(parse.GetValue(unconverged)));
            string dir = parse.GetValue(outDir)!;
            var files = StudyPipeline.Report(dir, pop, table, "Geodesy report", StudyPipeline.Summary(s, pop));
            output.WriteLine($"wrote {Path.Combine(dir, files[0])} and {files.Count - 1} plots");
            return 0;
        });
        return cmd;
    }

    public static Command Export()
    {
        var store = StoreOption(true);
        var sweep = SweepOption();
        var csv = new Option<string>("--csv") { Description = "CSV file to write: one row per trial with its status, hyperparameters, accuracies, losses, gap, and every measure with its status", Required = true };
        var cmd = new Command("export", "Export a sweep's population as a CSV table for pandas or R (every trial, whatever its status).")
        { store, sweep, csv };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var s = StoreFactory.Open(parse.GetValue(store)!);
            string file = parse.GetValue(csv)!;
            var (rows, measures) = Experiments.Reports.PopulationExport.WriteCsv(s, parse.GetValue(sweep), file);
            output.WriteLine($"wrote {file}: {rows} trials, {measures} measures");
            return 0;
        });
        return cmd;
    }

    public static Command Study()
    {
        var data = CommonOptions.Data();
        var outDir = new Option<string>("--out") { Description = "Study folder: report.html, ranking.json, study.db, runs/", DefaultValueFactory = _ => "study" };
        var store = StoreOption(false);
        var spec = new Option<string?>("--spec") { Description = "Sweep spec (YAML) instead of the default 81-model study (docs/studies.md)" };
        var workers = WorkersOption();
        workers.DefaultValueFactory = _ => Math.Clamp(Environment.ProcessorCount, 1, 2);
        workers.Description = "Number of worker processes (default: 2 on a machine with 2 or more cores, each with its share of the threads)";
        var threads = CommonOptions.Threads();
        var unconverged = IncludeUnconvergedOption();
        var cmd = new Command("study", "The main job: train a population of models, compute every measure on each, rank the measures against the generalization gap, and write the report. Re-running continues where it stopped.")
        { data, outDir, store, spec, workers, threads, unconverged };
        cmd.SetAction(parse =>
        {
            CommonOptions.ApplyThreads(parse.GetValue(threads));
            var output = parse.InvocationConfiguration.Output;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string dir = Path.GetFullPath(parse.GetValue(outDir)!);
            Directory.CreateDirectory(dir);
            string uri = parse.GetValue(store) ?? "sqlite:" + Path.Combine(dir, StudyPipeline.DatabaseFile);
            SweepSpec sweep;
            if (parse.GetValue(spec) is { } file) sweep = SweepSpec.Load(file);
            else
            {
                string yaml = StudyPipeline.DefaultSpecYaml(parse.GetValue(data)!);
                sweep = SweepSpec.Parse(yaml, "default study");
                Core.Interop.AtomicFile.WriteAllText(Path.Combine(dir, StudyPipeline.SpecFile), yaml + "\n");
            }
            using var s = StoreFactory.Open(uri);
            var (id, count) = SweepRunner.Register(s, sweep);
            output.WriteLine($"study '{sweep.Name}': {count} models, store {s.Description}, folder {dir}");
            RunWithProgress(output, s, uri, id, Path.Combine(dir, StudyPipeline.RunsFolder), parse.GetValue(workers));
            var (doc, table, pop) = StudyPipeline.Rank(s, id, populationOptions: new Experiments.Reports.PopulationOptions(parse.GetValue(unconverged)));
            WriteRankDocument(doc, parse.Tokens.Select(t => t.Value), Path.Combine(dir, StudyPipeline.RankingFile), output);
            var summary = StudyPipeline.Summary(s, pop);
            summary["wall time"] = $"{clock.Elapsed.TotalSeconds:F0} s (this invocation)";
            StudyPipeline.Report(dir, pop, table, $"Geodesy study: {sweep.Name}", summary);
            PrintRanking(output, table, pop, top: 12);
            output.WriteLine($"report:  {Path.Combine(dir, "report.html")}");
            output.WriteLine($"ranking: {Path.Combine(dir, StudyPipeline.RankingFile)}");
            output.WriteLine($"store:   {s.Description}");
            output.WriteLine($"took {clock.Elapsed.TotalSeconds:F0} s");
            return 0;
        });
        return cmd;
    }

    /// <summary>Runs workers while showing how many trials are done (bar on a terminal, lines otherwise).</summary>
    private static void RunWithProgress(TextWriter output, IExperimentStore s, string uri, string id, string runsDir, int workers)
    {
        int total = s.CountByStatus(id).Values.Sum();
        int Done() => s.CountByStatus(id).Where(kv => kv.Key is not (TrialStatus.Pending or TrialStatus.Running)).Sum(kv => kv.Value);
        output.WriteLine($"{Done()} of {total} trials already done; running {workers} worker(s)");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        void Log(string line) { lock (output) output.WriteLine($"  [{clock.Elapsed.TotalSeconds,6:F0} s] {Done()}/{total} {line}"); }
        SweepRunner.RunWorkers(s, uri, id, runsDir, workers, SweepRunner.SelfCommand(), Log);
    }

    /// <summary>The rank document with the command's cost and provenance (geodesy.rank/1), written atomically.</summary>
    private static void WriteRankDocument(System.Text.Json.Nodes.JsonObject doc, IEnumerable<string> tokens, string destination, TextWriter output, long? seed = null)
    {
        var report = new JsonReport("rank", tokens);
        foreach (var (k, v) in doc) if (k != "schema") report.Root[k] = v?.DeepClone();
        if (seed is long given) report.Provenance["seed"] = given;
        report.Write(destination, output);
    }

    private static void PrintCounts(TextWriter output, IExperimentStore s, string id) =>
        output.WriteLine(string.Join(", ", s.CountByStatus(id).Select(kv => $"{kv.Value} {kv.Key.ToString().ToLowerInvariant()}")));

    private static void PrintRanking(TextWriter output, RankingTable table, Experiments.Reports.Population pop, int top = int.MaxValue)
    {
        output.WriteLine($"ranking over {table.Models} models (tau: Kendall tau-b with the gap; [95% bootstrap CI]; Psi: granulated, {table.PsiName}; CMI):");
        output.WriteLine($"  {"measure",-32} {"tau",7} {"tau CI",17} {"Psi",7} {"CMI",7} {"n",4}");
        var rows = table.Rows.Where(r => r.Kind == RowKind.Measure).Take(top).Concat(table.Rows.Where(r => r.Kind == RowKind.Baseline));
        foreach (var r in rows) PrintRow(output, r);
        if (table.Partial.Count > 0)
        {
            output.WriteLine($"partial ranking: measures missing on some models, each ranked on its own models (not comparable with the table above):");
            foreach (var r in table.Partial.Take(top)) PrintRow(output, r);
        }
        if (pop.Excluded.Count > 0)
            output.WriteLine($"excluded {pop.Excluded.Count} trial(s): " +
                string.Join(", ", pop.Excluded.GroupBy(e => e.Status).Select(g => $"{g.Count()} {g.Key}")) +
                (pop.Options.IncludeUnconverged ? "" : " (--include-unconverged ranks max-epochs trials too)"));
    }

    private static void PrintRow(TextWriter output, RankingRow r) =>
        output.WriteLine($"  {(r.Kind == RowKind.Baseline ? "(baseline) " : "") + r.Measure,-32} {F(r.KendallTau),7} [{F(r.TauCi.Lower),6},{F(r.TauCi.Upper),7}] {F(r.Psi),7} {F(r.Cmi),7} {r.N,4}");

    private static string F(double x) => double.IsFinite(x) ? x.ToString("F3", CultureInfo.InvariantCulture) : "-";
}
