using System.Collections.Concurrent;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Experiments.Store;

namespace Geodesy.Tests.Store;

/// <summary>
/// The behaviour every store must have, run unchanged against SQLite (<see cref="SqliteStoreContractTests"/>)
/// and a real PostgreSQL server (<see cref="PostgresStoreContractTests"/>). Each test gets a fresh database.
/// </summary>
public abstract class StoreContractTests
{
    private const int Threads = 4;
    private static readonly TimeSpan LongLease = TimeSpan.FromMinutes(10);

    /// <summary>The URI of a new, empty store (no schema yet).</summary>
    protected abstract string NewStoreUri();

    private static TrialSpec Spec(string id, string hparams = "{}") => new(id, $"{{\"run\":\"{id}\"}}", hparams);

    private static IExperimentStore OpenWithTrials(string uri, string sweep, int count)
    {
        var store = StoreFactory.Open(uri);
        store.UpsertSweep(sweep, "{\"grid\":{}}");
        store.AddTrials(sweep, Enumerable.Range(0, count).Select(i => Spec($"{sweep}-t{i:D3}", $"{{\"i\":{i}}}")));
        return store;
    }

    [Fact]
    public void Schema_IsCreatedOnce_VersionRecorded_AndDataSurvivesReopening()
    {
        string uri = NewStoreUri();
        using (var store = StoreFactory.Open(uri))
        {
            Assert.Equal(StoreSchema.CurrentVersion, store.GetSchemaVersion());
            store.EnsureSchema();
            store.EnsureSchema();
            Assert.Equal(StoreSchema.CurrentVersion, store.GetSchemaVersion());
            store.UpsertSweep("s", "{\"a\":1}");
            store.UpsertSweep("s", "{\"a\":2}");
        }
        using var again = StoreFactory.Open(uri);
        Assert.Equal(StoreSchema.CurrentVersion, again.GetSchemaVersion());
        var sweep = Assert.Single(again.ListSweeps());
        Assert.Equal(new SweepRecord("s", "{\"a\":2}"), sweep);
    }

    [Fact]
    public void Schema_ConcurrentCreationOnAnEmptyDatabase_Succeeds()
    {
        string uri = NewStoreUri();
        using var start = new Barrier(Threads);
        var errors = new ConcurrentBag<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                using var s = StoreFactory.Open(uri);
            }
            catch (Exception e) { errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(errors);
        using var store = StoreFactory.Open(uri);
        Assert.Equal(StoreSchema.CurrentVersion, store.GetSchemaVersion());
    }

    [Fact]
    public void AddTrials_IsIdempotentByTrialId_AndSharesTrialsBetweenSweeps()
    {
        using var store = StoreFactory.Open(NewStoreUri());
        store.UpsertSweep("a", "{}");
        store.UpsertSweep("b", "{}");
        store.AddTrials("a", [Spec("t1"), Spec("t2"), Spec("t3")]);
        // Same ids again (one with a different spec, which must not replace the stored one) plus a new one.
        store.AddTrials("a", [Spec("t2"), new TrialSpec("t3", "{\"other\":1}", "{}"), Spec("t4")]);
        store.AddTrials("b", [Spec("t1"), Spec("t9")]);

        var a = store.ListTrials("a");
        Assert.Equal(["t1", "t2", "t3", "t4"], a.Select(t => t.Id));
        Assert.Equal("{\"run\":\"t3\"}", a[2].SpecJson);
        Assert.All(a, t => Assert.Equal((TrialStatus.Pending, 0), (t.Status, t.Attempts)));
        Assert.Equal(["t1", "t9"], store.ListTrials("b").Select(t => t.Id));

        // A trial shared by two sweeps is run once and counts as done in both.
        Assert.True(store.Complete("t1", "w", new TrialOutcome(TrialStatus.Completed, "{}")));
        Assert.Equal(1, store.CountByStatus("a")[TrialStatus.Completed]);
        Assert.Equal(1, store.CountByStatus("b")[TrialStatus.Completed]);
        Assert.Equal(3, store.CountByStatus("a")[TrialStatus.Pending]);
    }

    [Fact]
    public void AddTrials_ToAnUnknownSweep_IsAnInputError()
    {
        using var store = StoreFactory.Open(NewStoreUri());
        var e = Assert.Throws<InputException>(() => store.AddTrials("nope", [Spec("t1")]));
        Assert.Contains("sweep 'nope' does not exist", e.Message);
    }

    [Fact]
    public void Lease_ByConcurrentWorkers_GivesEachTrialToExactlyOne()
    {
        const int trials = 120;
        string uri = NewStoreUri();
        using (OpenWithTrials(uri, "s", trials)) { }
        var leased = new ConcurrentBag<(string Worker, Trial Trial)>();
        var errors = new ConcurrentBag<Exception>();
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(w => new Thread(() =>
        {
            try
            {
                using var store = StoreFactory.Open(uri); // one store per worker, as separate processes would
                start.SignalAndWait();
                while (store.TryLease("s", $"w{w}", LongLease) is { } t)
                {
                    leased.Add(($"w{w}", t));
                    Thread.Sleep(2); // a worker works between leases; without it one SQLite writer may take every lock
                }
            }
            catch (Exception e) { errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Empty(errors);
        Assert.Equal(trials, leased.Count);
        Assert.Equal(trials, leased.Select(l => l.Trial.Id).Distinct().Count());
        Assert.All(leased, l => Assert.Equal((TrialStatus.Running, l.Worker, 1), (l.Trial.Status, l.Trial.Owner, l.Trial.Attempts)));
        Assert.True(leased.Select(l => l.Worker).Distinct().Count() > 1, "the work should be spread over several workers");

        using var check = StoreFactory.Open(uri);
        Assert.Null(check.TryLease("s", "late", LongLease));
        Assert.Equal(trials, check.CountByStatus("s")[TrialStatus.Running]);
        Assert.All(check.ListTrials("s"), t => Assert.True(t.LeaseExpiresUtc > DateTime.UtcNow.AddMinutes(5)));
    }

    [Fact]
    public void Lease_TakesTrialsInOrder_AndFiltersBySweep()
    {
        using var store = StoreFactory.Open(NewStoreUri());
        store.UpsertSweep("a", "{}");
        store.UpsertSweep("b", "{}");
        store.AddTrials("a", [Spec("a1"), Spec("a2")]);
        store.AddTrials("b", [Spec("b1")]);
        Assert.Equal("b1", store.TryLease("b", "w", LongLease)?.Id);
        Assert.Null(store.TryLease("b", "w", LongLease));
        Assert.Equal("a1", store.TryLease(null, "w", LongLease)?.Id);
        Assert.Equal("a2", store.TryLease("a", "w", LongLease)?.Id);
        Assert.Null(store.TryLease(null, "w", LongLease));
    }

    [Fact]
    public void Lease_WhenExpired_GoesToAnotherWorker_WithAttemptsIncremented()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 1);
        // Generous margins: the test machine may be loaded, and a stall must not fake an expiry.
        var first = store.TryLease("s", "A", TimeSpan.FromSeconds(1.5));
        Assert.NotNull(first);
        Assert.Null(store.TryLease("s", "B", LongLease)); // still held by A
        Thread.Sleep(2000);
        var second = store.TryLease("s", "B", LongLease);
        Assert.NotNull(second);
        Assert.Equal((first.Id, "B", 2, TrialStatus.Running), (second.Id, second.Owner, second.Attempts, second.Status));
        Assert.False(store.Heartbeat(first.Id, "A", LongLease)); // A has lost it
        Assert.Null(store.TryLease("s", "C", LongLease));
    }

    [Fact]
    public void Heartbeat_ExtendsTheLease_OnlyForTheOwner()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 1);
        var t = store.TryLease("s", "A", TimeSpan.FromSeconds(1))!;
        Thread.Sleep(600);
        Assert.True(store.Heartbeat(t.Id, "A", TimeSpan.FromSeconds(6)));
        Assert.False(store.Heartbeat(t.Id, "B", TimeSpan.FromSeconds(6)));
        Thread.Sleep(700); // past the first expiry, inside the extended one
        Assert.Null(store.TryLease("s", "B", LongLease));
        var stored = store.GetTrial(t.Id)!;
        Assert.True(stored.LeaseExpiresUtc > t.LeaseExpiresUtc!.Value.AddMilliseconds(500));
        Assert.Equal(("A", 1), (stored.Owner, stored.Attempts));
    }

    [Fact]
    public void Release_MakesTheTrialPendingAgain_OnlyForTheOwner()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 1);
        var t = store.TryLease("s", "A", LongLease)!;
        Assert.False(store.Release(t.Id, "B"));
        Assert.True(store.Release(t.Id, "A"));
        Assert.Equal(TrialStatus.Pending, store.GetTrial(t.Id)!.Status);
        Assert.Equal(2, store.TryLease("s", "B", LongLease)!.Attempts);
    }

    [Fact]
    public void Complete_IsRecordedExactlyOnce_FirstCompletionWins()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 2);
        var t = store.TryLease("s", "A", TimeSpan.FromMilliseconds(200))!;
        Thread.Sleep(500);
        Assert.Equal(t.Id, store.TryLease("s", "B", LongLease)!.Id); // A's lease expired, B re-runs the trial

        var metricsA = new Dictionary<string, double> { ["train_accuracy"] = 0.9, ["test_accuracy"] = 0.8 };
        Assert.True(store.Complete(t.Id, "A", new TrialOutcome(TrialStatus.Completed, "{\"by\":\"A\"}", metricsA, "runs/a")));
        Assert.False(store.Complete(t.Id, "B", new TrialOutcome(TrialStatus.Failed, "{\"by\":\"B\"}", null, "runs/b")));
        Assert.False(store.Complete(t.Id, "A", new TrialOutcome(TrialStatus.Completed, "{\"by\":\"A2\"}")));
        Assert.False(store.Heartbeat(t.Id, "B", LongLease));

        var stored = store.GetTrial(t.Id)!;
        Assert.Equal((TrialStatus.Completed, "{\"by\":\"A\"}", "runs/a", "A"),
            (stored.Status, stored.ResultJson, stored.ArtifactsPath, stored.CompletedBy));
        Assert.Equal(metricsA, stored.Metrics);
        Assert.NotNull(stored.CompletedAtUtc);
        Assert.Null(stored.LeaseExpiresUtc);

        // A final trial is never leased again: only the other trial is left.
        var other = store.TryLease("s", "C", LongLease);
        Assert.NotEqual(t.Id, other?.Id);
        Assert.Null(store.TryLease("s", "C", LongLease));
        Assert.Throws<InputException>(() => store.Complete("missing", "A", new TrialOutcome(TrialStatus.Completed, "{}")));
        Assert.Throws<ArgumentException>(() => store.Complete(other!.Id, "C", new TrialOutcome(TrialStatus.Running, "{}")));
    }

    [Fact]
    public void Complete_AsDiverged_KeepsNaNMetricsAndCounts()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 3);
        var t = store.TryLease("s", "A", LongLease)!;
        Assert.True(store.Complete(t.Id, "A",
            new TrialOutcome(TrialStatus.Diverged, "{\"reason\":\"nan loss\"}", new Dictionary<string, double> { ["train_loss"] = double.NaN })));
        var stored = store.GetTrial(t.Id)!;
        Assert.Equal(TrialStatus.Diverged, stored.Status);
        Assert.True(double.IsNaN(stored.Metrics!["train_loss"]));
        var counts = store.CountByStatus("s");
        Assert.Equal(Enum.GetValues<TrialStatus>().Length, counts.Count);
        Assert.Equal((2, 0, 1), (counts[TrialStatus.Pending], counts[TrialStatus.Running], counts[TrialStatus.Diverged]));
    }

    [Fact]
    public void Measures_AndMetricRows_AreIdempotentUpserts()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 2);
        var ids = store.ListTrials("s").Select(t => t.Id).ToArray();
        store.RecordMeasures(ids[0], "spec-a",
        [
            new MeasureRecord("param-norm", 3.5, null, 0.01),
            new MeasureRecord("hessian-trace", 12.0, 0.5, 2.0),
            new MeasureRecord("fisher-rao", double.NaN, null, 0.1),
        ]);
        store.RecordMeasures(ids[0], "spec-a", [new MeasureRecord("hessian-trace", 11.0, 0.25, 3.0, SolverStatus.BudgetExhausted)]);
        store.RecordMeasures(ids[1], "spec-a", [new MeasureRecord("param-norm", double.PositiveInfinity, null, 0)]);

        var m = store.GetMeasures(ids[0], "spec-a");
        Assert.Equal(3, m.Count);
        Assert.Equal(new MeasureRecord("hessian-trace", 11.0, 0.25, 3.0, SolverStatus.BudgetExhausted), m["hessian-trace"]);
        Assert.Equal(new MeasureRecord("param-norm", 3.5, null, 0.01), m["param-norm"]);
        Assert.Null(m["fisher-rao"].Value);
        var all = store.GetSweepMeasures("s", "spec-a");
        Assert.Equal(4, all.Count);
        Assert.Equal(double.PositiveInfinity, all.Single(x => x.TrialId == ids[1]).Measure.Value);
        Assert.Empty(store.GetSweepMeasures("s", "spec-b"));

        store.AddMetricRows(ids[0], [new MetricRow(0, 0, 2.3, 0.1, 2.3, 0.1), new MetricRow(100, 1, 0.5, 0.8, 0.6, 0.75)]);
        store.AddMetricRows(ids[0], [new MetricRow(100, 1, 0.4, 0.85, 0.6, 0.76), new MetricRow(200, 2, double.NaN, null, null, null)]);
        Assert.Equal(
            [new MetricRow(0, 0, 2.3, 0.1, 2.3, 0.1), new MetricRow(100, 1, 0.4, 0.85, 0.6, 0.76), new MetricRow(200, 2, null, null, null, null)],
            store.GetMetricRows(ids[0]));
        Assert.Empty(store.GetMetricRows(ids[1]));
        Assert.Throws<InputException>(() => store.AddMetricRows("missing", [new MetricRow(0, 0, 1, 1, 1, 1)]));
    }

    [Fact]
    public void ConcurrentWriters_OfMetricsAndMeasures_AllRowsLand()
    {
        const int steps = 40;
        string uri = NewStoreUri();
        string[] ids;
        using (var setup = OpenWithTrials(uri, "s", Threads)) ids = setup.ListTrials("s").Select(t => t.Id).ToArray();
        var errors = new ConcurrentBag<Exception>();
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(w => new Thread(() =>
        {
            try
            {
                using var store = StoreFactory.Open(uri);
                start.SignalAndWait();
                for (int step = 0; step < steps; step++)
                {
                    // Each writer writes its own trial and also overwrites a shared row, to collide on purpose.
                    store.AddMetricRows(ids[w], [new MetricRow(step, step / 10, 1.0 / (step + 1), step / (double)steps, 1, 0.5)]);
                    store.RecordMeasures(ids[w], "spec", [new MeasureRecord($"m{step}", step, null, 0.001)]);
                    store.RecordMeasures(ids[0], "spec", [new MeasureRecord("shared", w, null, 0)]);
                }
            }
            catch (Exception e) { errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Empty(errors);
        using var check = StoreFactory.Open(uri);
        for (int w = 0; w < Threads; w++)
        {
            var rows = check.GetMetricRows(ids[w]);
            Assert.Equal(Enumerable.Range(0, steps).Select(s => (long)s), rows.Select(r => r.Step));
            Assert.Equal(steps + (w == 0 ? 1 : 0), check.GetMeasures(ids[w], "spec").Count);
        }
        Assert.InRange(check.GetMeasures(ids[0], "spec")["shared"].Value!.Value, 0, Threads - 1);
    }

    [Fact]
    public void Measures_KeepStatusBracketAndSkipReason_AndOneTrialKeepsTheMeasuresOfTwoSpecs()
    {
        using var store = OpenWithTrials(NewStoreUri(), "s", 1);
        string id = store.ListTrials("s")[0].Id;
        store.RecordMeasures(id, "first",
        [
            new MeasureRecord("pacbayes-sigma", 0.02, null, 1.5, SolverStatus.BudgetExhausted, BracketHalfwidth: 0.001),
            new MeasureRecord("path-norm", null, null, 0.0, Status: null, SkipReason: "not defined with BatchNorm"),
        ]);
        store.RecordMeasures(id, "second", [new MeasureRecord("pacbayes-sigma", 0.03, null, 2.5, SolverStatus.Converged, BracketHalfwidth: 1e-4)]);

        var first = store.GetMeasures(id, "first");
        Assert.Equal(new MeasureRecord("pacbayes-sigma", 0.02, null, 1.5, SolverStatus.BudgetExhausted, 0.001), first["pacbayes-sigma"]);
        Assert.Equal("budget_exhausted", first["pacbayes-sigma"].StatusName);
        Assert.Equal(new MeasureRecord("path-norm", null, null, 0.0, null, null, "not defined with BatchNorm"), first["path-norm"]);
        Assert.Equal("skipped", first["path-norm"].StatusName);
        var second = store.GetMeasures(id, "second");
        Assert.Equal(0.03, Assert.Single(second).Value.Value);
        Assert.Equal(["first", "first", "second"], store.GetSweepMeasures("s", "first").Concat(store.GetSweepMeasures("s", "second")).Select(m => m.MeasureSpecHash));
    }
}
