using System.Text.Json.Nodes;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using Geodesy.Experiments.Reports;
using Geodesy.Tests.Reports;
using static Geodesy.Tests.TestSupport;

namespace Geodesy.Tests.Cli;

/// <summary>`geodesy plot` and `geodesy compare` on tiny runs; compare against a hand computation in plain doubles.</summary>
public class PlotCompareCommandTests
{
    private const string Data = "gaussian-mixture:classes=3,dim=6,sep=2,n=300";

    [Fact]
    public void LabelsNameTheDifferingSettingsAndAnOptionLeftOffReadsNone()
    {
        var plain = new JsonObject { ["lr"] = 0.1, ["elr"] = "", ["seed"] = 0 };
        var elr = new JsonObject { ["lr"] = 0.1, ["elr"] = "3", ["seed"] = 0 };
        var labels = RunPlots.Labels(["runs/plain", "runs/elr"], [plain, elr]);
        Assert.Equal(["elr=none", "elr=3"], labels);
    }

    private static string Train(TempDir tmp, string name, params string[] extra)
    {
        var args = new List<string> { "train", "--data", Data, "--epochs", "2", "--batch", "50", "--out", tmp[name] };
        if (!extra.Contains("--arch")) args.AddRange(["--arch", "mlp:6-8-3"]);
        args.AddRange(extra);
        var r = RunCli(args.ToArray());
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        return tmp[name];
    }

    [Fact]
    public void PlotWritesOnePngPerProbeAndTheTrainingCurves_OverlayingRuns()
    {
        using var tmp = new TempDir();
        string[] probes = ["--probe", "hessian-top:k=2@every=4", "--probe", "weights@every=4", "--probe-examples", "30"];
        string a = Train(tmp, "a", [.. probes, "--lr", "0.02"]);
        string b = Train(tmp, "b", [.. probes, "--lr", "0.2"]);
        // An examples probe's rows (clean vs noisy learning), as that probe writes them.
        File.AppendAllLines(Path.Combine(a, "probes.jsonl"), Enumerable.Range(0, 3).Select(e =>
            $$"""{"probe":"examples","step":{{6 * e}},"epoch":{{e}},"value":{{0.3 * e}},"clean_accuracy":{{0.4 * e}},"noisy_accuracy":{{0.1 * e}},"clean_learned":{{0.3 * e}},"noisy_learned":{{0.05 * e}}}"""));
        var r = RunCli("plot", a, b, "--out", tmp["plots"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        string[] expected = ["training-loss.png", "training-accuracy.png", "probe-hessian-top.png", "probe-hessian-top-eigenvalues.png",
            "probe-sharpness-ratio.png", "probe-gradient-overlap.png", "probe-weights.png", "probe-weights-distance-from-init.png",
            "probe-weights-layer-norms.png", "probe-examples.png", "probe-examples-clean-vs-noisy.png"];
        foreach (var f in expected)
        {
            string path = Path.Combine(tmp["plots"], f);
            Assert.True(File.Exists(path), $"missing {f}; got {string.Join(", ", Directory.GetFiles(tmp["plots"]).Select(Path.GetFileName))}");
            var png = PngImage.Decode(File.ReadAllBytes(path));
            Assert.Equal(1000, png.Width);
        }
        // The four clean/noisy keys go into the one clean-vs-noisy plot, not plots of their own.
        Assert.False(File.Exists(Path.Combine(tmp["plots"], "probe-examples-clean-accuracy.png")));
        // Bookkeeping (seconds, matvecs) is not plotted.
        Assert.Empty(Directory.GetFiles(tmp["plots"], "*seconds*"));
    }

    [Fact]
    public void LegendLabelsNameTheSettingsThatDiffer()
    {
        var a = new JsonObject { ["lr"] = 0.01, ["batch"] = 64, ["probe"] = new JsonArray("weights") };
        var b = new JsonObject { ["lr"] = 0.1, ["batch"] = 64, ["probe"] = new JsonArray("nc1") };
        Assert.Equal(["lr=0.01", "lr=0.1"], RunPlots.Labels(["x/a", "x/b"], [a, b]));
        Assert.Equal(["a"], RunPlots.Labels(["x/a"], [a]));
        Assert.Equal(["a", "b"], RunPlots.Labels(["x/a", "x/b"], [a, a.DeepClone().AsObject()]));
    }

    [Fact]
    public void PlotErrorsAreOneLineWithExitCode2()
    {
        using var tmp = new TempDir();
        AssertUsageError(RunCli("plot", tmp["missing"]), "does not exist");
        Directory.CreateDirectory(tmp["empty"]);
        AssertUsageError(RunCli("plot", tmp["empty"]), "metrics.jsonl");
        Assert.False(Directory.Exists(tmp["empty/plots"]));
    }

    [Fact]
    public void CompareMatchesAHandComputation()
    {
        using var tmp = new TempDir();
        string a = Train(tmp, "a", "--seed", "1", "--lr", "0.1");
        string b = Train(tmp, "b", "--seed", "2", "--lr", "0.1");
        var r = RunCli("compare", a, b, "--json", tmp["c.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var doc = JsonNode.Parse(File.ReadAllText(tmp["c.json"]))!;
        Assert.Equal("geodesy.compare/1", (string?)doc["schema"]);
        Assert.NotNull(doc["cost"]!["seconds"]);
        Assert.Equal(64, ((string?)doc["provenance"]!["weights_sha256"])!.Length);

        // By hand: the two MLPs' forward passes, softmax, argmax and KL in plain doubles.
        var test = DataSpecs.Load(Data).Test;
        int n = (int)test.Count;
        var x = test.Inputs.to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
        var y = test.Labels.data<long>().ToArray();
        var (wa, pa) = Weights(a);
        var (wb, pb) = Weights(b);
        int disagree = 0, correctA = 0, correctB = 0;
        double klAB = 0, klBA = 0;
        for (int i = 0; i < n; i++)
        {
            var p = Probabilities(pa, x.AsSpan(6 * i, 6));
            var q = Probabilities(pb, x.AsSpan(6 * i, 6));
            int ia = Array.IndexOf(p, p.Max()), ib = Array.IndexOf(q, q.Max());
            disagree += ia != ib ? 1 : 0;
            correctA += ia == y[i] ? 1 : 0;
            correctB += ib == y[i] ? 1 : 0;
            for (int c = 0; c < 3; c++)
            {
                klAB += p[c] * Math.Log(p[c] / q[c]);
                klBA += q[c] * Math.Log(q[c] / p[c]);
            }
        }
        double distance = Math.Sqrt(wa.Zip(wb, (u, v) => (u - v) * (u - v)).Sum());
        double normA = Math.Sqrt(wa.Sum(u => u * u));
        const double tol = 1e-9;
        Assert.Equal(n, (long)doc["examples"]!);
        Assert.Equal(disagree / (double)n, (double)doc["prediction_disagreement"]!, tol);
        Assert.Equal(klAB / n, (double)doc["kl_a_b"]!, tol);
        Assert.Equal(klBA / n, (double)doc["kl_b_a"]!, tol);
        Assert.Equal((klAB + klBA) / (2 * n), (double)doc["kl_symmetric"]!, tol);
        Assert.Equal(distance, (double)doc["weight_distance"]!, tol);
        Assert.Equal(distance / normA, (double)doc["relative_weight_distance_a"]!, tol);
        Assert.Equal(correctA / (double)n, (double)doc["test_accuracy_a"]!, tol);
        Assert.Equal(correctB / (double)n, (double)doc["test_accuracy_b"]!, tol);
        Assert.True(klAB > 0 && distance > 0, "two seeds give two different models");

        // A model compared with itself: no disagreement, no divergence, no distance.
        r = RunCli("compare", a, a, "--json", tmp["self.json"]);
        var self = JsonNode.Parse(File.ReadAllText(tmp["self.json"]))!;
        Assert.Equal(0.0, (double)self["prediction_disagreement"]!);
        Assert.Equal(0.0, (double)self["kl_symmetric"]!, 1e-15);
        Assert.Equal(0.0, (double)self["weight_distance"]!);
    }

    /// <summary>The flat parameter vector (float32 values as doubles) and the layers [W1, b1, W2, b2] of mlp:6-8-3.</summary>
    private static (double[] Flat, double[][] Layers) Weights(string run)
    {
        var data = DataSpecs.Load(Data);
        using var model = ModelZoo.Create("mlp:6-8-3", data.Train.InputShape, data.Train.NumClasses, seed: 0);
        SafeTensors.LoadInto(model, Path.Combine(run, "final.safetensors"));
        var layers = model.parameters().Select(p => p.detach().to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray()).ToArray();
        return (layers.SelectMany(l => l).ToArray(), layers);
    }

    private static double[] Probabilities(double[][] w, ReadOnlySpan<double> x)
    {
        var h = new double[8];
        for (int j = 0; j < 8; j++)
        {
            double s = w[1][j];
            for (int k = 0; k < 6; k++) s += w[0][6 * j + k] * x[k];
            h[j] = Math.Max(0, s);
        }
        var z = new double[3];
        for (int c = 0; c < 3; c++)
        {
            z[c] = w[3][c];
            for (int j = 0; j < 8; j++) z[c] += w[2][8 * c + j] * h[j];
        }
        double m = z.Max(), sum = z.Sum(v => Math.Exp(v - m));
        return z.Select(v => Math.Exp(v - m) / sum).ToArray();
    }

    [Fact]
    public void CompareRefusesDifferentArchitecturesOrData()
    {
        using var tmp = new TempDir();
        string a = Train(tmp, "a");
        string b = Train(tmp, "b", "--arch", "mlp:6-4-3");
        AssertUsageError(RunCli("compare", a, b), "architecture");
        var r = RunCli("train", "--data", "gaussian-mixture:classes=3,dim=6,sep=2,n=200", "--arch", "mlp:6-8-3", "--epochs", "1", "--out", tmp["c"]);
        Assert.Equal(0, r.ExitCode);
        AssertUsageError(RunCli("compare", a, tmp["c"]), "same data");
        AssertUsageError(RunCli("compare", a, tmp["missing"]), "does not exist");
        AssertUsageError(RunCli("compare", a, a, "--json", tmp["no/such/folder/c.json"]), "--json");
    }
}
