using System.Numerics;
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
/// The ipr, ntk, examples and sgn probes against independent computations: a DFT written out as
/// a sum, logit Jacobians by one autograd call per example and logit, learning times recounted
/// from predictions recorded by a separate observer, mini-batch noise rebuilt by hand.
/// </summary>
public class DynamicsProbeTests
{
    private const string Mixture = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";

    private static object? Extra(ProbeRow row, string key) => row.Extras.Single(kv => kv.Key == key).Value;

    /// <summary>IPR of one row by the DFT as a sum over the non-negative frequencies 0..⌊p/2⌋.</summary>
    private static double NaiveIpr(double[] u)
    {
        int p = u.Length;
        var power = Enumerable.Range(0, p / 2 + 1).Select(k =>
        {
            var c = Complex.Zero;
            for (int j = 0; j < p; j++) c += u[j] * Complex.Exp(new Complex(0, -2 * Math.PI * k * j / p));
            return c.Magnitude * c.Magnitude;
        }).ToArray();
        return power.Sum(x => x * x) / Math.Pow(power.Sum(), 2);
    }

    [Fact]
    public void IprIsOneForAPureFourierModeAndOneOverNForAFlatSpectrum()
    {
        const int p = 13;
        var rows = new double[4, p];
        for (int j = 0; j < p; j++)
        {
            rows[0, j] = Math.Cos(2 * Math.PI * 3 * j / p + 0.7); // one frequency
            rows[1, j] = 2.5; // frequency 0 only
            rows[2, j] = j == 0 ? 1 : 0; // an impulse: |DFT| = 1 at every frequency
        }
        var random = new SeededRandom(4);
        for (int j = 0; j < p; j++) rows[3, j] = random.NextGaussian();
        using var t = tensor(rows.Cast<double>().ToArray(), dtype: ScalarType.Float64).reshape(4, p);
        var ipr = IprProbe.Ratio(t).data<double>().ToArray();
        Assert.Equal(1.0, ipr[0], 1e-12);
        Assert.Equal(1.0, ipr[1], 1e-12);
        Assert.Equal(1.0 / (p / 2 + 1), ipr[2], 1e-12); // n = 7 frequencies for p = 13
        var last = Enumerable.Range(0, p).Select(j => rows[3, j]).ToArray();
        Assert.Equal(NaiveIpr(last), ipr[3], 1e-12);
    }

    [Fact]
    public void IprProbeAveragesTheNeuronsOfTheEmbeddingOnModularData()
    {
        var data = DataSpecs.Load("modular:p=11,train=0.6");
        var model = ModelZoo.Create("mlp:22-6-11", data.Train.InputShape, data.Train.NumClasses, seed: 1, ScalarType.Float64);
        var rows = new List<ProbeRow>();
        using var recorder = new ProbeRecorder([ProbeSpec.Parse("ipr@epochs=0,1")], data.Train, 10, 0, rows.Add);
        var result = Trainer.Train(model, data, new TrainerOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.1 }, [recorder]);
        var final = rows.Last();
        var w = model.parameters().First().detach().data<double>().ToArray(); // 0.weight [6, 22]
        double expected = 0;
        for (int k = 0; k < 6; k++)
            for (int block = 0; block < 2; block++)
                expected += NaiveIpr(Enumerable.Range(0, 11).Select(j => w[k * 22 + block * 11 + j]).ToArray());
        Assert.Equal(expected / 12, final.Value, 1e-10);
        Assert.Equal(result.Steps, final.Step);

        var other = ModelZoo.Create("mlp:8-5-3", [8], 3, seed: 1);
        var e = Assert.Throws<InputException>(() => new IprProbe().Check(other));
        Assert.Contains("modular", e.Message);
    }

    /// <summary>J [n·C, P]: the gradient of every logit of every example, one autograd call each.</summary>
    private static Tensor BruteForceJacobian(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        var ps = model.parameters().ToArray();
        long c = model.call(x.narrow(0, 0, 1)).shape[1];
        var rows = zeros(x.shape[0] * c, ps.Sum(p => p.numel()), dtype: ScalarType.Float64);
        for (long i = 0; i < x.shape[0]; i++)
            for (long k = 0; k < c; k++)
            {
                using var scope = NewDisposeScope();
                var logit = model.call(x.narrow(0, i, 1))[0, k];
                rows[i * c + k].copy_(cat(autograd.grad([logit], ps).Select(g => g.reshape(-1)).ToArray(), 0));
            }
        return rows;
    }

    [Fact]
    public void LogitJacobiansFromTheClosedFormsEqualAutogradAndTheLoop()
    {
        var data = DataSpecs.Load(Mixture);
        var model = ModelZoo.Create("mlp:6-5-4-3", data.Train.InputShape, data.Train.NumClasses, seed: 2, ScalarType.Float64);
        var x = data.Train.Inputs.narrow(0, 0, 7).to_type(ScalarType.Float64);
        var problem = CurvatureProblem.FromData(model, x, data.Train.Labels.narrow(0, 0, 7), new CurvatureOptions { BatchSize = 3 });
        var closed = new PerExampleGradients(problem);
        Assert.True(closed.IsClosedForm);
        var j = closed.LogitJacobians().reshape(21, -1);
        var reference = BruteForceJacobian(model, x);
        Assert.True(j.allclose(reference, rtol: 0, atol: 1e-12), "closed-form logit Jacobians differ from autograd");
        var loop = new PerExampleGradients(problem, forceLoop: true).LogitJacobians().reshape(21, -1);
        Assert.True(loop.allclose(reference, rtol: 0, atol: 1e-12), "loop logit Jacobians differ from autograd");
    }

    [Fact]
    public void NtkTraceIsTheSumOfSquaredJacobianNormsAndDistancesAreFortsFormula()
    {
        const int n = 6;
        var data = DataSpecs.Load(Mixture);
        var model = ModelZoo.Create("mlp:6-5-3", data.Train.InputShape, data.Train.NumClasses, seed: 3, ScalarType.Float64);
        var rows = new List<ProbeRow>();
        var snap = new WeightSnapshots();
        using var recorder = new ProbeRecorder([ProbeSpec.Parse($"ntk:examples={n},k=3@steps=2,5")], data.Train, 50, 0, rows.Add);
        Trainer.Train(model, data, new TrainerOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.2 }, [snap, recorder]);
        Assert.Equal([2L, 5L], rows.Select(r => r.Step));
        var x = data.Train.Inputs.narrow(0, 0, n).to_type(ScalarType.Float64);
        Tensor KernelAt(Tensor weights)
        {
            ParameterVector.Assign(model, weights);
            var j = BruteForceJacobian(model, x);
            return j.mm(j.t());
        }
        var k0 = KernelAt(snap.Init!);
        var k2 = KernelAt(snap.At[2]);
        var k5 = KernelAt(snap.At[5]);
        double Cosine(Tensor a, Tensor b) => a.mul(b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
        var jj = BruteForceJacobian(model, x); // at step 5 (last assigned)
        Assert.Equal(jj.square().sum().item<double>(), rows[1].Value, 1e-9); // Tr = sum of squared Jacobian norms
        Assert.Equal(k2.trace().item<double>(), rows[0].Value, 1e-9);
        var top = linalg.eigvalsh(k5).data<double>().Reverse().Take(3).ToArray();
        Assert.Equal(top, (double[])Extra(rows[1], "top_eigenvalues")!, new ToleranceComparer(1e-9));
        Assert.Equal(1 - Cosine(k2, k0), (double)Extra(rows[0], "distance_from_init")!, 1e-10);
        Assert.Equal(1 - Cosine(k5, k0), (double)Extra(rows[1], "distance_from_init")!, 1e-10);
        Assert.Equal(1 - Cosine(k5, k2), (double)Extra(rows[1], "distance_from_previous")!, 1e-10);
        Assert.True(double.IsNaN((double)Extra(rows[0], "distance_from_previous")!));
        Assert.Equal(0, NtkProbe.Distance(k5, k5), 1e-14);
        Assert.Equal(0, NtkProbe.Distance(k5, k5.mul(3)), 1e-14);
        // The probe put the weights back after measuring the init kernel off-schedule.
        Assert.True(snap.At[5].eq(snap.At[5]).all().item<bool>());
    }

    private sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(a));
        public int GetHashCode(double x) => 0;
    }

    /// <summary>The weights at the start and before chosen steps.</summary>
    private sealed class WeightSnapshots : ITrainingObserver
    {
        public Tensor? Init;
        public readonly Dictionary<long, Tensor> At = [];
        public void OnStart(nn.Module model) { using (no_grad()) Init = ParameterVector.Flatten(model).clone().DetachFromDisposeScope(); }
        public void OnBatch(nn.Module model, int epoch, long step, Tensor inputs, Tensor labels, double learningRate)
        {
            using (no_grad()) At[step] = ParameterVector.Flatten(model).clone().DetachFromDisposeScope();
        }
    }

    /// <summary>Which training examples are predicted with their label after each epoch (and at the start).</summary>
    private sealed class Predictions(Dataset train) : ITrainingObserver
    {
        public readonly List<bool[]> Correct = [];
        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
        {
            if (!endOfEpoch) return;
            var m = (nn.Module<Tensor, Tensor>)model;
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            m.eval();
            Correct.Add(m.call(train.Inputs).argmax(1).eq(train.Labels).data<bool>().ToArray());
            m.train();
        }
    }

    [Fact]
    public void ExamplesProbeCountsLearningTimesOfCleanAndFlippedExamples()
    {
        using var tmp = new TempDir();
        string dir = tmp["run"];
        var spec = new RunSpec { Data = Mixture, Arch = "mlp:6-8-3", Epochs = 4, Lr = 0.1, LabelNoise = 0.3, Probe = ["examples"] };
        var data = DataSpecs.Load(Mixture, spec.DataOptions);
        var predictions = new Predictions(data.Train);
        var outcome = RunExecutor.Execute(spec, data, dir, overwrite: false, [predictions], null, default);
        Assert.Equal(RunStatus.Completed, outcome.Training.Status);
        var flipped = data.FlippedIndices.ToHashSet();
        Assert.NotEmpty(flipped);

        // Learning time by hand: one after the last epoch at which the example was wrong.
        int epochs = predictions.Correct.Count, n = (int)data.Train.Count;
        var learned = new int?[n];
        for (int i = 0; i < n; i++)
        {
            int lastWrong = -1;
            for (int e = 0; e < epochs; e++) if (!predictions.Correct[e][i]) lastWrong = e;
            learned[i] = lastWrong == epochs - 1 ? null : lastWrong + 1;
        }
        var rows = File.ReadAllLines(Path.Combine(dir, RunFiles.Probes)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(Enumerable.Range(0, epochs), rows.Select(r => (int)r["epoch"]!));
        for (int e = 0; e < epochs; e++)
        {
            double Frac(Func<int, bool> which, Func<int, bool> count)
            {
                var set = Enumerable.Range(0, n).Where(which).ToArray();
                return set.Count(count) / (double)set.Length;
            }
            var row = rows[e];
            Assert.Equal(Frac(_ => true, i => predictions.Correct[e][i]), (double)row["value"]!, 1e-12);
            Assert.Equal(Frac(i => !flipped.Contains(i), i => predictions.Correct[e][i]), (double)row["clean_accuracy"]!, 1e-12);
            Assert.Equal(Frac(i => flipped.Contains(i), i => predictions.Correct[e][i]), (double)row["noisy_accuracy"]!, 1e-12);
            Assert.Equal(Frac(i => !flipped.Contains(i), i => learned[i] <= e), (double)row["clean_learned"]!, 1e-12);
            Assert.Equal(Frac(i => flipped.Contains(i), i => learned[i] <= e), (double)row["noisy_learned"]!, 1e-12);
        }
        var table = File.ReadAllLines(Path.Combine(dir, "examples.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(n, table.Count);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(i, (long)table[i]["index"]!);
            Assert.Equal(flipped.Contains(i), (bool)table[i]["noisy"]!);
            Assert.Equal(learned[i], (int?)table[i]["learned_epoch"]);
        }
    }

    [Fact]
    public void SgnProbeAnalyzesTheMiniBatchNoiseOfTheProbeSet()
    {
        const int examples = 40, batches = 30, batch = 8;
        var data = DataSpecs.Load(Mixture);
        var model = ModelZoo.Create("mlp:6-5-3", data.Train.InputShape, data.Train.NumClasses, seed: 3, ScalarType.Float64);
        var rows = new List<ProbeRow>();
        var snap = new WeightSnapshots();
        using var recorder = new ProbeRecorder([ProbeSpec.Parse($"sgn:batches={batches},batch={batch},coordinates=20,projections=15@steps=3")], data.Train, examples, 5, rows.Add);
        Trainer.Train(model, data, new TrainerOptions { Epochs = 1, BatchSize = 32, LearningRate = 0.1, Seed = 5 }, [snap, recorder]);
        var row = Assert.Single(rows);

        // The noise by hand: each mini-batch gradient of the mean loss by autograd, minus the probe-set gradient.
        ParameterVector.Assign(model, snap.At[3]);
        var x = data.Train.Inputs.narrow(0, 0, examples).to_type(ScalarType.Float64);
        var y = data.Train.Labels.narrow(0, 0, examples);
        var ps = model.parameters().ToArray();
        Tensor Gradient(Tensor xs, Tensor ys) =>
            cat(autograd.grad([nn.functional.cross_entropy(model.call(xs), ys)], ps).Select(g => g.reshape(-1)).ToArray(), 0);
        var full = Gradient(x, y);
        using var generator = new Generator((ulong)ProbeSeeds.For(5, "sgn", ProbeSet.Probe, 3));
        var noise = zeros(batches, full.shape[0], dtype: ScalarType.Float64);
        for (int j = 0; j < batches; j++)
        {
            var idx = randperm(examples, generator: generator).narrow(0, 0, batch);
            noise[j].copy_(Gradient(x.index_select(0, idx), y.index_select(0, idx)).sub(full));
        }
        var expected = SgnProbe.Analyze(noise, 20, 15, 0.05, generator);
        Assert.Equal(expected.TailIndex.Alpha, row.Value, 1e-6);
        Assert.Equal(expected.TailIndex.StdErr, (double)Extra(row, "stderr")!, 1e-6);
        Assert.Equal(expected.CoordinatesRejected, (double)Extra(row, "coordinates_rejected")!, 1e-12);
        Assert.Equal(expected.ProjectionsRejected, (double)Extra(row, "projections_rejected")!, 1e-12);
        Assert.Equal((long)batch, Extra(row, "batch"));
    }
}
