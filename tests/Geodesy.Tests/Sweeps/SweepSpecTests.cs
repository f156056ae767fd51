using Geodesy.Core;
using Geodesy.Experiments.Sweeps;

namespace Geodesy.Tests.Sweeps;

public class SweepSpecTests
{
    private const string Yaml = """
        name: t
        base:
          data: "gaussian-mixture:classes=3,dim=6,sep=4,n=300"
          arch: "mlp:6-{width}-3"
          epochs: 2
        grid:
          lr: [0.05, 0.1]
          width: [4, 8, 16]
        seeds: [0, 1]
        measures: "cross-entropy,param-norm"
        """;

    [Fact]
    public void GridTimesSeedsExpandsWithTemplateFieldsFilled()
    {
        var spec = SweepSpec.Parse(Yaml);
        var trials = spec.Expand();
        Assert.Equal(2 * 3 * 2, trials.Count);
        Assert.Equal(trials.Count, trials.Select(t => t.Id).Distinct().Count());
        Assert.Contains(trials, t => t.Spec.Arch == "mlp:6-16-3" && t.Spec.Lr == 0.1 && t.Spec.Seed == 1);
        Assert.All(trials, t => Assert.Equal(["lr", "seed", "width"], t.Hyperparameters.Keys.ToArray()));
        Assert.Equal(spec.Id(), SweepSpec.Parse(Yaml).Id());
    }

    [Fact]
    public void RandomSearchIsSeededAndWithinBounds()
    {
        const string yaml = """
            base: { data: mnist, arch: "mlp:784-{width}-10" }
            random:
              count: 5
              seed: 3
              params:
                lr: { log_uniform: [0.001, 0.1] }
                width: { choice: [16, 32] }
                batch: { uniform_int: [16, 128] }
            """;
        var a = SweepSpec.Parse(yaml).Expand();
        var b = SweepSpec.Parse(yaml).Expand();
        Assert.Equal(5, a.Count);
        Assert.Equal(a.Select(t => t.Id), b.Select(t => t.Id));
        Assert.All(a, t => Assert.InRange(t.Spec.Lr, 0.001, 0.1));
        Assert.All(a, t => Assert.InRange(t.Spec.Batch, 16, 128));
        Assert.All(a, t => Assert.Contains(t.Spec.Arch, new[] { "mlp:784-16-10", "mlp:784-32-10" }));
    }

    [Theory]
    [InlineData("base: [1, 2", "invalid YAML")]
    [InlineData("bogus: 1", "unknown key 'bogus'")]
    [InlineData("base: { arch: \"mlp:784-{depth}-10\" }\ngrid: { lr: [0.1] }", "template field")]
    [InlineData("grid: { lr: [] }", "non-empty list")]
    [InlineData("base: { lr: -1 }", "--lr")]
    [InlineData("random: { count: 2, params: { lr: { gaussian: [0, 1] } } }", "unknown distribution")]
    [InlineData("probes: weights", "list of probe values")]
    [InlineData("probes: [\"bogus\"]", "unknown probe 'bogus'")]
    [InlineData("probe_examples: 10", "needs a 'probes' list")]
    [InlineData("base: { probe: [\"nc1\"] }\nprobes: [\"weights\"]", "not both")]
    public void MalformedSpecsGiveClearErrors(string yaml, string expected)
    {
        var e = Assert.Throws<InputException>(() => SweepSpec.Parse(yaml, "s.yaml"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("s.yaml", e.Message);
    }

    [Fact]
    public void DefaultStudyHas81ModelsOverFourHyperparametersWithThreeValuesEach()
    {
        var spec = SweepSpec.Parse(StudyPipeline.DefaultSpecYaml("mnist"));
        Assert.Equal(81, spec.Expand().Count);
        Assert.Equal(["lr", "batch", "width", "weight_decay"], spec.Grid.Select(g => g.Name));
        Assert.All(spec.Grid, g => Assert.Equal(3, g.Values.Count));
        Assert.All(spec.Expand(), t => Assert.Equal(0.01, t.Spec.UntilLoss));
    }
}

public class SlurmScriptTests
{
    [Fact]
    public void SlurmWritesAJobArrayOfWorkersWithoutRunningAnything()
    {
        using var tmp = new TestSupport.TempDir();
        File.WriteAllText(tmp["s.yaml"], "base: { data: \"gaussian-mixture:classes=3,dim=6,n=300\", arch: \"mlp:6-8-3\", epochs: 1 }\ngrid: { lr: [0.1, 0.2] }\n");
        var r = TestSupport.RunCli("sweep", "--spec", tmp["s.yaml"], "--store", "sqlite:" + tmp["s.db"], "--slurm", tmp["job.sh"], "--slurm-tasks", "4");
        Assert.True(r.ExitCode == 0, r.Stderr);
        string script = File.ReadAllText(tmp["job.sh"]);
        Assert.StartsWith("#!/bin/bash", script);
        Assert.Contains("#SBATCH --array=0-3", script);
        Assert.Contains("geodesy worker --store 'sqlite:" + tmp["s.db"] + "' --sweep ", script);
        using var store = Geodesy.Experiments.Store.StoreFactory.Open("sqlite:" + tmp["s.db"]);
        var counts = store.CountByStatus(store.ListSweeps()[0].Id);
        Assert.Equal(2, counts[Geodesy.Experiments.Store.TrialStatus.Pending]);
        Assert.False(Directory.Exists(tmp["runs"]));
    }
}
