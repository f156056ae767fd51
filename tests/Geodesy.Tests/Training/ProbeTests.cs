using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Curvature;
using Geodesy.Core.Data;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Core.Training.Probes;
using Geodesy.Experiments.Runs;
using Geodesy.Experiments.Specs;
using TorchSharp;
using static Geodesy.Tests.TestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Training;

/// <summary>
/// Probes against independent references computed offline at the same weights: per-example
/// gradients by one autograd call per example, the dense Hessian by a double-backprop loop, norms
/// by hand; and the guarantee that probes never change training.
/// </summary>
public class ProbeTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";
    private const double Float64Tol = 1e-6;

    /// <summary>Keeps the weights (and the mini-batch) at chosen steps, as the trainer passes them before each step.</summary>
    private sealed class Snapshots(params long[] steps) : ITrainingObserver
    {
        public Tensor? Init;
        public readonly Dictionary<long, (Tensor Weights, Tensor X, Tensor Y)> At = [];
        public void OnStart(nn.Module model) { using (no_grad()) Init = ParameterVector.Flatten(model).clone().DetachFromDisposeScope(); }
        public void OnBatch(nn.Module model, int epoch, long step, Tensor inputs, Tensor labels, double learningRate)
        {
            if (!steps.Contains(step)) return;
            using (no_grad())
                At[step] = (ParameterVector.Flatten(model).clone().DetachFromDisposeScope(),
                    inputs.clone().DetachFromDisposeScope(), labels.clone().DetachFromDisposeScope());
        }
    }

    private static (List<ProbeRow> Rows, Snapshots Snap, nn.Module<Tensor, Tensor> Model, DataSplit Data) Train(
        string arch, ScalarType dtype, int probeExamples, TrainerOptions options, long[] snapshotSteps, params string[] probes)
    {
        var data = DataSpecs.Load(Mixture);
        var model = ModelZoo.Create(arch, data.Train.InputShape, data.Train.NumClasses, seed: 3, dtype);
        var rows = new List<ProbeRow>();
        var snap = new Snapshots(snapshotSteps);
        using var recorder = new ProbeRecorder(probes.Select(ProbeSpec.Parse), data.Train, probeExamples, options.Seed, rows.Add);
        Trainer.Train(model, data, options, [snap, recorder]);
        return (rows, snap, model, data);
    }

    /// <summary>grad CE(f(x_i), y_i) of every example as rows [n, P], one autograd call each.</summary>
    private static Tensor GradientRows(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        var ps = model.parameters().ToArray();
        var rows = zeros(x.shape[0], ps.Sum(p => p.numel()), dtype: ScalarType.Float64);
        for (long i = 0; i < x.shape[0]; i++)
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.call(x.narrow(0, i, 1)), y.narrow(0, i, 1));
            rows[i].copy_(torch.cat(torch.autograd.grad([loss], ps).Select(g => g.reshape(-1)).ToArray(), 0));
        }
        return rows;
    }

    private static double[] SquaredGradientNorms(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        using var g = GradientRows(model, x, y);
        return g.pow(2).sum([1]).data<double>().ToArray();
    }

    /// <summary>The Hessian of the mean cross-entropy, row by row by double backprop.</summary>
    private static Tensor DenseHessian(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        var ps = model.parameters().ToArray();
        long p = ps.Sum(t => t.numel());
        var h = zeros(p, p, dtype: ScalarType.Float64);
        using var scope = NewDisposeScope();
        var loss = nn.functional.cross_entropy(model.call(x), y);
        var g = torch.cat(torch.autograd.grad([loss], ps, retain_graph: true, create_graph: true).Select(t => t.reshape(-1)).ToArray(), 0);
        for (long i = 0; i < p; i++)
        {
            using var rowScope = NewDisposeScope();
            var row = torch.autograd.grad([g[i]], ps, retain_graph: true);
            h[i].copy_(torch.cat(row.Select(t => t.reshape(-1)).ToArray(), 0));
        }
        return h;
    }

    private static object? Extra(ProbeRow row, string key) => row.Extras.Single(kv => kv.Key == key).Value;

    [Fact]
    public void EachProbeEqualsTheOfflineComputationAtTheSameWeights()
    {
        const int examples = 50;
        const long at = 4;
        var options = new TrainerOptions { Epochs = 1, LearningRate = 0.1, BatchSize = 32, Seed = 5 };
        var (rows, snap, model, data) = Train("mlp:6-5-3", ScalarType.Float64, examples, options, [at],
            "fisher-trace@steps=4", "empirical-fisher-trace@steps=4", "hessian-top:k=2,tol=1e-10@steps=4", "weights@steps=4", "gradient-noise:k=2@steps=4", "nc1@steps=4");
        Assert.All(rows, r => Assert.Equal(at, r.Step));
        Assert.All(rows, r => Assert.Equal(0, r.Epoch));

        var (weights, bx, by) = snap.At[at];
        ParameterVector.Assign(model, weights);
        var px = data.Train.Inputs.narrow(0, 0, examples).to_type(ScalarType.Float64);
        var py = data.Train.Labels.narrow(0, 0, examples);
        ProbeRow Row(string probe, string? set = null) =>
            rows.Single(r => r.Probe == probe && (set is null || (string?)Extra(r, "set") == set));

        // Empirical Fisher: the true labels.
        Assert.Equal(SquaredGradientNorms(model, px, py).Average(), Row("empirical-fisher-trace", "probe").Value, Float64Tol);
        Assert.Equal(SquaredGradientNorms(model, bx, by).Average(), Row("empirical-fisher-trace", "batch").Value, Float64Tol);

        // Fisher: one label per input drawn from softmax(f(x)) with the probe's documented seed.
        foreach (var (set, x) in new[] { (ProbeSet.Probe, px), (ProbeSet.Batch, bx) })
        {
            using var generator = new Generator((ulong)ProbeSeeds.For(options.Seed, "fisher-trace", set, at));
            Tensor sampled;
            using (no_grad()) sampled = nn.functional.softmax(model.call(x), 1).multinomial(1, replacement: true, generator: generator).reshape(-1);
            var norms = SquaredGradientNorms(model, x, sampled);
            double mean = norms.Average();
            double stderr = Math.Sqrt(norms.Sum(v => (v - mean) * (v - mean)) / (norms.Length - 1) / norms.Length);
            var row = Row("fisher-trace", set == ProbeSet.Batch ? "batch" : "probe");
            Assert.Equal(mean, row.Value, Float64Tol);
            Assert.Equal(stderr, (double)Extra(row, "stderr")!, Float64Tol);
        }

        // Hessian: the dense matrix's top two eigenvalues.
        using var h = DenseHessian(model, px, py);
        var eig = linalg.eigvalsh(h).data<double>().ToArray();
        var top = Row("hessian-top");
        var found = (double[])Extra(top, "eigenvalues")!;
        Assert.Equal("converged", Extra(top, "status"));
        Assert.Equal(eig[^1], found[0], Float64Tol);
        Assert.Equal(eig[^2], found[1], Float64Tol);
        Assert.Equal(eig[^1] * options.LearningRate / 2, Row("sharpness-ratio").Value, Float64Tol);
        // Gradient overlap with the dense top-2 eigenvectors.
        var (_, vectors) = linalg.eigh(h);
        using (var g = GradientRows(model, px, py).mean([0]))
        {
            var top2 = vectors.narrow(1, vectors.shape[1] - 2, 2);
            double expected = top2.t().mv(g).pow(2).sum().item<double>() / g.dot(g).item<double>();
            Assert.Equal(expected, Row("gradient-overlap").Value, Float64Tol);
        }

        // Gradient noise: K from the explicit gradient rows, its eigenvalues by a dense solver.
        using (var g = GradientRows(model, px, py))
        {
            var centred = g - g.mean([0], keepdim: true);
            using var k = centred.t().mm(centred) / examples;
            var kEig = linalg.eigvalsh(k).data<double>().ToArray();
            var noise = Row("gradient-noise");
            Assert.Equal(k.trace().item<double>(), noise.Value, Float64Tol);
            var kTop = (double[])Extra(noise, "top_eigenvalues")!;
            Assert.Equal(kEig[^1], kTop[0], Float64Tol);
            Assert.Equal(kEig[^2], kTop[1], Float64Tol);
            Assert.Equal(g.mean([0]).norm().item<double>(), (double)Extra(noise, "gradient_norm")!, Float64Tol);
        }

        // NC1 from penultimate features computed by hand: relu(x W0^T + b0) of mlp:6-5-3.
        using (no_grad())
        {
            var firstWeight = weights.narrow(0, 0, 30).reshape(5, 6);
            var firstBias = weights.narrow(0, 30, 5);
            var feat = px.mm(firstWeight.t()).add(firstBias).relu();
            var mu = feat.mean([0]);
            var sigmaW = zeros(5, 5, dtype: ScalarType.Float64);
            var sigmaB = zeros(5, 5, dtype: ScalarType.Float64);
            int classes = 0;
            for (int c = 0; c < 3; c++)
            {
                var members = Enumerable.Range(0, examples).Where(i => py[i].item<long>() == c).Select(i => (long)i).ToArray();
                if (members.Length == 0) continue;
                classes++;
                var hc = feat.index_select(0, tensor(members));
                var muC = hc.mean([0]);
                var d = hc - muC;
                sigmaW += d.t().mm(d);
                var m = (muC - mu).unsqueeze(1);
                sigmaB += m.mm(m.t());
            }
            sigmaW /= examples;
            sigmaB /= classes;
            double expected = sigmaW.mm(linalg.pinv(sigmaB, hermitian: true)).trace().item<double>() / classes;
            Assert.Equal(expected, Row("nc1").Value, Float64Tol);
        }

        // Weights: norms by hand.
        var w = weights.data<double>().ToArray();
        var w0 = snap.Init!.data<double>().ToArray();
        var weightsRow = Row("weights");
        Assert.Equal(Math.Sqrt(w.Sum(v => v * v)), weightsRow.Value, Float64Tol);
        Assert.Equal(Math.Sqrt(w.Zip(w0, (a, b) => (a - b) * (a - b)).Sum()), (double)Extra(weightsRow, "distance_from_init")!, Float64Tol);
        var layers = (IReadOnlyDictionary<string, double>)Extra(weightsRow, "layer_norms")!;
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], layers.Keys);
        Assert.Equal(Math.Sqrt(w.Take(30).Sum(v => v * v)), layers["0.weight"], Float64Tol); // 0.weight [5, 6] comes first
    }

    [Fact]
    public void WarmStartedTopEigenvaluesEqualAColdLanczosSolve()
    {
        const int examples = 120;
        long[] steps = [0, 2, 4, 6];
        var options = new TrainerOptions { Epochs = 1, LearningRate = 0.1, BatchSize = 32, Seed = 1 };
        var (rows, snap, model, data) = Train("mlp:6-16-3", ScalarType.Float64, examples, options, steps, "hessian-top:k=3@every=2");
        var tracked = rows.Where(r => r.Probe == "hessian-top").ToList();
        Assert.Equal(steps, tracked.Select(r => r.Step).Take(steps.Length)); // every 2 steps
        Assert.False((bool)Extra(tracked[0], "warm_start")!);
        Assert.Equal("gradient", Extra(tracked[0], "start")); // no previous eigenvectors: the probe-set gradient
        Assert.All(tracked.Skip(1), r => Assert.True((bool)Extra(r, "warm_start")!));
        Assert.All(tracked.Skip(1), r => Assert.Equal("previous", Extra(r, "start")));

        var px = data.Train.Inputs.narrow(0, 0, examples).to_type(ScalarType.Float64);
        var py = data.Train.Labels.narrow(0, 0, examples);
        foreach (var row in tracked.Where(r => steps.Contains(r.Step)))
        {
            ParameterVector.Assign(model, snap.At[row.Step].Weights);
            var problem = CurvatureProblem.FromData(model, px, py);
            var cold = Lanczos.TopK(new HessianOperator(problem), new EigenOptions { K = 3, Tol = HessianTopProbe.DefaultTol, Seed = 99 });
            var warm = (double[])Extra(row, "eigenvalues")!;
            // And against the dense Hessian's eigendecomposition, independent of Lanczos and its starts.
            using var dense = linalg.eigvalsh(DenseHessian(model, px, py));
            var top = dense.data<double>().Reverse().Take(3).ToArray();
            for (int i = 0; i < 3; i++)
            {
                Assert.True(Math.Abs(warm[i] - cold.Eigenvalues[i]) <= 2 * HessianTopProbe.DefaultTol * Math.Abs(cold.Eigenvalues[i]),
                    $"step {row.Step}: eigenvalue {i} warm {warm[i]} vs cold {cold.Eigenvalues[i]}");
                Assert.True(Math.Abs(warm[i] - top[i]) <= HessianTopProbe.DefaultTol * Math.Abs(top[i]),
                    $"step {row.Step}: eigenvalue {i} warm {warm[i]} vs dense {top[i]}");
            }
        }
    }

    [Fact]
    public void LanczosFromAStartVectorFindsTheSameEigenvalues()
    {
        // diag(1..40): the top eigenvector is e_40, so a start at it converges in one product.
        using var matrix = diag(arange(1, 41, dtype: ScalarType.Float64));
        using var op = new DenseOperator(matrix);
        var cold = Lanczos.TopK(op, new EigenOptions { K = 2, Tol = 1e-10, Seed = 4 });
        using var nearTop = zeros(40, dtype: ScalarType.Float64);
        nearTop[39] = 3.0; nearTop[38] = 1.0; nearTop[0] = 1e-3;
        var warm = Lanczos.TopK(op, new EigenOptions { K = 2, Tol = 1e-10, Start = nearTop });
        Assert.Equal([40.0, 39.0], cold.Eigenvalues.Select(v => Math.Round(v, 8)));
        Assert.Equal(cold.Eigenvalues[0], warm.Eigenvalues[0], 1e-8);
        Assert.Equal(cold.Eigenvalues[1], warm.Eigenvalues[1], 1e-8);
        Assert.Equal(3.0, nearTop[39].item<double>()); // the caller's vector is not modified
        using var exact = zeros(40, dtype: ScalarType.Float64);
        exact[39] = 1.0;
        var one = Lanczos.TopK(op, new EigenOptions { K = 1, Tol = 1e-10, Start = exact });
        Assert.Equal(1, one.Matvecs);
        Assert.Equal(40.0, one.Eigenvalues[0], 1e-12);
        using var wrong = zeros(7, dtype: ScalarType.Float64);
        Assert.Throws<InputException>(() => Lanczos.TopK(op, new EigenOptions { Start = wrong }));
        using var zero = zeros(40, dtype: ScalarType.Float64);
        Assert.Throws<InputException>(() => Lanczos.TopK(op, new EigenOptions { Start = zero }));
    }

    [Theory]
    [InlineData("fisher-trace", ProbeSchedule.Kind.EachEpoch)]
    [InlineData("fisher-trace@every=10", ProbeSchedule.Kind.Every)]
    [InlineData("hessian-top:k=3,tol=1e-4@steps=0,10,5", ProbeSchedule.Kind.Steps)]
    [InlineData("weights@epochs=0,2", ProbeSchedule.Kind.Epochs)]
    public void GoodProbeValuesParse(string text, ProbeSchedule.Kind kind) => Assert.Equal(kind, ProbeSpec.Parse(text).Schedule.When);

    [Fact]
    public void Nc1RefusesAModelWithoutAPenultimateLayerBeforeTraining()
    {
        using var plain = nn.Sequential(nn.Linear(6, 3));
        var e = Assert.Throws<InputException>(() => new Nc1Probe().Check(plain));
        Assert.StartsWith("--probe nc1:", e.Message);
    }

    [Fact]
    public void SchedulesAreDueWhereTheySay()
    {
        var steps = ProbeSpec.Parse("weights@steps=10,0,5").Schedule;
        Assert.Equal([0L, 5, 10], steps.Steps);
        Assert.True(steps.IsDue(5, null));
        Assert.False(steps.IsDue(6, 1));
        var every = ProbeSpec.Parse("weights@every=4").Schedule;
        Assert.True(every.IsDue(0, 0) && every.IsDue(8, null) && !every.IsDue(6, null));
        var epochs = ProbeSpec.Parse("weights@epochs=2").Schedule;
        Assert.True(epochs.IsDue(40, 2) && !epochs.IsDue(40, null) && !epochs.IsDue(20, 1));
        Assert.True(ProbeSpec.Parse("weights").Schedule.IsDue(0, 0));
        Assert.Equal(3, ProbeSpec.Parse("hessian-top:k=3").Int("k", 1));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("nope", "unknown probe 'nope'")]
    [InlineData("weights@every=0", "@every: '0' is not an integer >= 1")]
    [InlineData("weights@every=2,3", "@every takes one integer")]
    [InlineData("weights@steps=1,x", "'x' is not an integer")]
    [InlineData("weights@epochs=-1", "'-1' is not an integer")]
    [InlineData("weights@daily=1", "unknown schedule '@daily'")]
    [InlineData("weights@every", "must be @every=K")]
    [InlineData("weights:k=2", "takes no options")]
    [InlineData("hessian-top:q=2", "has no option 'q'")]
    [InlineData("hessian-top:k=0", "k=0: must be an integer >= 1")]
    [InlineData("hessian-top:k", "is not key=value")]
    [InlineData("hessian-top:k=2,k=3", "given twice")]
    [InlineData("hessian-top:tol=2", "must be a number in (0, 1)")]
    [InlineData("fisher-trace:on=test", "must be both, batch or probe")]
    [InlineData("sgn:batches=2", "from 3 to 5000")]
    [InlineData("sgn:level=0.5x", "must be a number in (0, 1)")]
    [InlineData("ntk:examples=0", "examples=0: must be an integer >= 1")]
    [InlineData("ipr:k=1", "takes no options")]
    public void BadProbeValuesAreOneLineErrors(string text, string fragment)
    {
        var e = Assert.Throws<InputException>(() => ProbeSpec.Parse(text));
        Assert.Contains(fragment, e.Message);
        Assert.StartsWith($"--probe '{text}'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void BadProbeOnTheCommandLineIsAUsageError()
    {
        using var tmp = new TempDir();
        AssertUsageError(RunCli("train", "--data", Mixture, "--arch", "mlp:6-8-3", "--probe", "weights@every=0", "--out", tmp["run"]), "--probe 'weights@every=0'");
        AssertUsageError(RunCli("train", "--data", Mixture, "--arch", "mlp:6-8-3", "--probe", "weights", "--probe-examples", "0", "--out", tmp["run"]), "--probe-examples");
        // Known only with the model, yet refused before the first step, leaving no folder.
        AssertUsageError(RunCli("train", "--data", Mixture, "--arch", "mlp:6-8-3", "--probe", "hessian-top:k=100", "--out", tmp["run"]), "k = 100 is larger than the 83 parameters");
        Assert.False(Directory.Exists(tmp["run"]));
        Assert.Empty(Directory.GetDirectories(tmp.Path, "*.partial-*"));
    }

    [Fact]
    public void ProbeSettingsEnterTheRunIdOnlyWhenGiven()
    {
        var plain = new RunSpec { Arch = "mlp:6-8-3" };
        Assert.DoesNotContain("probe", plain.CanonicalJson());
        var probed = plain with { Probe = ["weights@every=5"] };
        Assert.NotEqual(plain.Id(), probed.Id());
        Assert.Equal("""{"arch":"mlp:6-8-3","probe":["weights@every=5"]}""", probed.CanonicalJson());
        Assert.Equal(probed.Probe, RunSpec.FromJson(probed.ToJson()).Probe);
        Assert.NotEqual(probed.Id(), (probed with { ProbeExamples = 100 }).Id());
    }

    [Fact]
    public void TrainWritesProbeRowsIncrementallyToProbesJsonl()
    {
        using var tmp = new TempDir();
        string dir = tmp["run"];
        var spec = new RunSpec
        {
            Data = Mixture, Arch = "mlp:6-8-3", Epochs = 2, Lr = 0.1,
            Probe = ["fisher-trace:on=probe@every=4", "weights@epochs=1"], ProbeExamples = 40,
        };
        var seenDuringTraining = new List<int>();
        var outcome = RunExecutor.Execute(spec, dir, overwrite: false, [new FileWatcher(dir + ".partial-" + Environment.ProcessId, seenDuringTraining)]);
        Assert.Equal(RunStatus.Completed, outcome.Training.Status);
        var lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Probes)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        long steps = outcome.Training.Steps; // 10
        var fisher = lines.Where(l => (string?)l["probe"] == "fisher-trace").ToList();
        Assert.Equal(Enumerable.Range(0, (int)(steps / 4) + 1).Select(i => 4L * i), fisher.Select(l => (long)l["step"]!));
        Assert.All(fisher, l => Assert.Equal(40, (long)l["examples"]!));
        Assert.All(fisher, l => Assert.True((double)l["stderr"]! > 0));
        var weights = lines.Single(l => (string?)l["probe"] == "weights");
        Assert.Equal(1, (int)weights["epoch"]!);
        foreach (var key in new[] { "probe", "step", "epoch", "value", "matvecs", "seconds" })
            Assert.All(lines, l => Assert.True(l.ContainsKey(key), $"row without '{key}': {l.ToJsonString()}"));
        Assert.True(seenDuringTraining.Max() > 0, "no probe row was on disk before training ended");
    }

    /// <summary>Counts the probe rows already on disk at each epoch end.</summary>
    private sealed class FileWatcher(string partialDir, List<int> counts) : ITrainingObserver
    {
        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
        {
            string path = Path.Combine(partialDir, RunFiles.Probes);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            counts.Add(reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
    }
}

/// <summary>Runs alone (no other test may draw from the process-wide generator meanwhile).</summary>
[Collection(nameof(Geodesy.Tests.Curvature.GlobalRandomState))]
public class ProbeTrainingInvarianceTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    [Fact]
    public void ProbesDoNotChangeTrainingNorAnyRandomStream()
    {
        var options = new TrainerOptions { Epochs = 2, LearningRate = 0.05, BatchSize = 32, Seed = 11, LogEverySteps = 3 };
        (Tensor Weights, double[] Losses, Tensor Draw) Run(bool withProbes)
        {
            var data = DataSpecs.Load(Mixture);
            var model = ModelZoo.Create("mlp:6-16-3", data.Train.InputShape, data.Train.NumClasses, seed: 2);
            var log = new List<double>();
            var observers = new List<ITrainingObserver> { new LossLog(log) };
            using var recorder = new ProbeRecorder(
                new[] { "fisher-trace@every=2", "empirical-fisher-trace", "hessian-top:k=2@every=3", "gradient-noise@every=4", "nc1@every=5", "weights@steps=0,5", "sgn:batches=10,coordinates=20,projections=5@every=5", "ntk:examples=4@steps=3,9", "examples" }.Select(ProbeSpec.Parse),
                data.Train, 64, options.Seed, _ => { });
            if (withProbes) observers.Add(recorder);
            torch.random.manual_seed(1234);
            Trainer.Train(model, data, options, observers);
            var draw = torch.rand(8); // the global stream after training
            return (ParameterVector.Flatten(model), log.ToArray(), draw);
        }
        var plain = Run(false);
        var probed = Run(true);
        Assert.True(plain.Weights.eq(probed.Weights).all().item<bool>(), "probes changed the weights");
        Assert.Equal(plain.Losses, probed.Losses);
        Assert.True(plain.Draw.eq(probed.Draw).all().item<bool>(), "probes moved the global random stream");
    }

    private sealed class LossLog(List<double> losses) : ITrainingObserver
    {
        public void OnStep(nn.Module model, int epoch, long step, double batchLoss) => losses.Add(batchLoss);
        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch) => losses.Add(row.TrainLoss);
    }
}
