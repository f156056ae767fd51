using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Models;
using TorchSharp;
using static Geodesy.Tests.TestSupport;
using static TorchSharp.torch;

namespace Geodesy.Tests.Cli;

/// <summary>
/// A tiny tanh MLP (83 parameters) trained once, and its dense float64 Hessian built by an
/// explicit double-backward loop (never through the code under test).
/// </summary>
public sealed class TinyCurvatureModel : IDisposable
{
    public const string Spec = "gaussian-mixture:classes=3,dim=6,sep=4,n=300";
    public const string Arch = "mlp:6-8-3:tanh";
    public const int Params = 6 * 8 + 8 + 8 * 3 + 3;
    public const int TrainExamples = 300;

    private readonly TempDir _dir = new();

    public TinyCurvatureModel()
    {
        var r = RunCli("train", "--data", Spec, "--arch", Arch, "--epochs", "5", "--lr", "0.1", "--out", RunDir, "--threads", "1");
        if (r.ExitCode != 0) throw new InvalidOperationException("training the test model failed: " + r.Stderr + r.Stdout);
        Hessian = DenseHessian(TrainExamples);
    }

    public string RunDir => _dir["run"];
    public string Weights => Path.Combine(RunDir, "final.safetensors");
    public string Temp(string name) => _dir[name];
    /// <summary>The Hessian of the mean cross-entropy over the whole training set, [83, 83] row-major.</summary>
    public double[,] Hessian { get; }

    /// <summary>The float64 model with the trained weights, in eval mode, and the first n training examples.</summary>
    public (nn.Module<Tensor, Tensor> Model, Tensor Inputs, Tensor Labels) Load(long n)
    {
        using var split = DataSpecs.Load(Spec);
        var model = ModelZoo.Create(Arch, split.Train.InputShape, split.Train.NumClasses, seed: 0, ScalarType.Float64);
        SafeTensors.LoadInto(model, Weights);
        model.eval();
        var x = split.Train.Inputs.narrow(0, 0, n).to_type(ScalarType.Float64).DetachFromDisposeScope();
        var y = split.Train.Labels.narrow(0, 0, n).clone().DetachFromDisposeScope();
        return (model, x, y);
    }

    public static Tensor Flat(IEnumerable<Tensor> parts) => cat(parts.Select(t => t.flatten()).ToArray());

    /// <summary>Dense Hessian of the mean cross-entropy over the first n examples: one second backward per gradient entry.</summary>
    public double[,] DenseHessian(long n)
    {
        var (model, x, y) = Load(n);
        using (model)
        using (var scope = NewDisposeScope())
        {
            var ps = model.parameters().ToArray();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            var g = Flat(autograd.grad([loss], ps, create_graph: true, retain_graph: true));
            var h = new double[g.shape[0], g.shape[0]];
            for (long j = 0; j < g.shape[0]; j++)
            {
                var row = Flat(autograd.grad([g[j]], ps, retain_graph: true)).data<double>().ToArray();
                for (int i = 0; i < row.Length; i++) h[j, i] = row[i];
            }
            return h;
        }
    }

    /// <summary>Eigenvalues of the symmetric block [from, to) x [from, to) of m, descending.</summary>
    public static double[] EigenvaluesDescending(double[,] m, int from = 0, int to = -1)
    {
        if (to < 0) to = m.GetLength(0);
        using var scope = NewDisposeScope();
        var block = tensor(m).narrow(0, from, to - from).narrow(1, from, to - from);
        var symmetric = block.add(block.t()).mul(0.5);
        return linalg.eigvalsh(symmetric).data<double>().ToArray().OrderByDescending(v => v).ToArray();
    }

    public static double Trace(double[,] m, int from = 0, int to = -1)
    {
        if (to < 0) to = m.GetLength(0);
        double t = 0;
        for (int i = from; i < to; i++) t += m[i, i];
        return t;
    }

    public void Dispose() => _dir.Dispose();
}

public class CurvatureCommandTests(TinyCurvatureModel tiny) : IClassFixture<TinyCurvatureModel>
{
    /// <summary>Relative agreement of two float32 runs of the same computation (a few ulps).</summary>
    private const double Float32Agreement = 1e-5;

    /// <summary>Lanczos with --tol 1e-10 in float64 on an 83-dimensional operator: eigenvalues to rounding.</summary>
    private const double EigenTolerance = 1e-7;
    /// <summary>Hutch++ with a sketch spanning the whole space is exact up to rounding.</summary>
    private const double ExactTraceTolerance = 1e-8;
    /// <summary>A randomized estimate must be within this many standard errors (plus rounding) of the truth.</summary>
    private const double StdErrs = 4;

    private string[] Args(params string[] extra) => ArgsWith(extra, new Dictionary<string, string>());

    /// <summary>The curvature command on the tiny model; <paramref name="replace"/> swaps the values of --arch, --weights or --data.</summary>
    private string[] ArgsWith(string[] extra, IReadOnlyDictionary<string, string> replace)
    {
        var basics = new Dictionary<string, string> { ["--arch"] = TinyCurvatureModel.Arch, ["--weights"] = tiny.Weights, ["--data"] = TinyCurvatureModel.Spec };
        foreach (var (key, value) in replace) basics[key] = value;
        return ["curvature", .. basics.SelectMany(kv => new[] { kv.Key, kv.Value }), "--threads", "1", .. extra];
    }

    private static JsonNode Ok(CliResult r, string json)
    {
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        return JsonNode.Parse(File.ReadAllText(json))!;
    }

    private static double[] Doubles(JsonNode? array) => array!.AsArray().Select(v => (double)v!).ToArray();

    [Fact]
    public void JsonHasTheDocumentedKeysAndProvenance()
    {
        string json = tiny.Temp("keys.json");
        var doc = Ok(RunCli(Args("--top-k", "2", "--trace", "--overlap", "--json", json)), json);
        Assert.Equal("geodesy.curvature/1", (string?)doc["schema"]);
        Assert.Equal(TinyCurvatureModel.Params, (long)doc["params"]!);
        Assert.Equal(TinyCurvatureModel.TrainExamples, (long)doc["examples"]!);
        Assert.InRange((double)doc["loss"]!, 0, 2);
        Assert.InRange((double)doc["accuracy"]!, 0.5, 1);
        Assert.True((double)doc["gradient_norm"]! > 0);
        Assert.Equal("float32", (string?)doc["dtype"]);

        var h = doc["matrices"]!["hessian"]!;
        var top = Doubles(h["top_eigenvalues"]);
        Assert.Equal(2, top.Length);
        Assert.True(top[0] >= top[1]);
        Assert.Equal(2, Doubles(h["residuals"]).Length);
        Assert.Equal("hutch++", (string?)h["trace"]!["method"]);
        Assert.NotNull(h["trace"]!["estimate"]);
        Assert.NotNull(h["trace"]!["stderr"]);
        Assert.Equal("converged", (string?)h["status"]);
        Assert.InRange((double)h["gradient_overlap"]!, 0, 1);
        long matvecs = (long)h["matvecs"]!;
        Assert.True(matvecs > 0);
        Assert.True((double)h["seconds"]! >= 0);

        Assert.Equal(matvecs, (long)doc["cost"]!["matvecs"]!);
        Assert.Equal(1, (int)doc["cost"]!["threads"]!);
        Assert.Equal(0, (long)doc["provenance"]!["seed"]!);
        Assert.Equal(Provenance.Sha256OfFile(tiny.Weights), (string?)doc["provenance"]!["weights_sha256"]);
        using (var split = DataSpecs.Load(TinyCurvatureModel.Spec))
            Assert.Equal(split.Sha256, (string?)doc["provenance"]!["data_sha256"]);

        // The run folder gives the same model, data and numbers.
        string fromRun = tiny.Temp("keys-run.json");
        var viaRun = Ok(RunCli("curvature", "--run", tiny.RunDir, "--top-k", "2", "--threads", "1", "--json", fromRun), fromRun);
        // Two float32 computations: oneDNN may pick kernels by memory alignment, so the last bit can differ.
        var topViaRun = Doubles(viaRun["matrices"]!["hessian"]!["top_eigenvalues"]);
        Assert.Equal(top.Length, topViaRun.Length);
        for (int i = 0; i < top.Length; i++) Assert.Equal(top[i], topViaRun[i], Float32Agreement * Math.Abs(top[i]));
    }

    [Fact]
    public void TopAndBottomEigenvaluesEqualTheDenseHessianOfTheSubset()
    {
        const int subset = 200;
        var dense = TinyCurvatureModel.EigenvaluesDescending(tiny.DenseHessian(subset));
        string json = tiny.Temp("eig.json");
        var doc = Ok(RunCli(Args("--subset", subset.ToString(), "--top-k", "5", "--bottom-k", "2", "--tol", "1e-10",
            "--max-matvecs", "2000", "--dtype", "float64", "--json", json)), json);
        Assert.Equal(subset, (long)doc["examples"]!);
        var h = doc["matrices"]!["hessian"]!;
        double scale = dense[0];
        var top = Doubles(h["top_eigenvalues"]);
        Assert.Equal(5, top.Length);
        for (int i = 0; i < top.Length; i++) Assert.True(Math.Abs(top[i] - dense[i]) <= EigenTolerance * scale, $"top {i}: {top[i]} vs {dense[i]}");
        var bottom = Doubles(h["bottom_eigenvalues"]);
        Assert.Equal(2, bottom.Length);
        for (int i = 0; i < bottom.Length; i++)
            Assert.True(Math.Abs(bottom[i] - dense[^(i + 1)]) <= EigenTolerance * scale, $"bottom {i}: {bottom[i]} vs {dense[^(i + 1)]}");
    }

    [Fact]
    public void TraceIsWithinAFewStandardErrorsOfTheExactTrace()
    {
        double exact = TinyCurvatureModel.Trace(tiny.Hessian);
        string json = tiny.Temp("trace.json");
        var doc = Ok(RunCli(Args("--top-k", "0", "--trace", "--trace-matvecs", "60", "--dtype", "float64", "--seed", "3", "--json", json)), json);
        var trace = doc["matrices"]!["hessian"]!["trace"]!;
        double estimate = (double)trace["estimate"]!, stderr = (double)trace["stderr"]!;
        Assert.True(stderr > 0, "a 20-vector sketch of an 83-dimensional Hessian leaves a random part");
        Assert.True(Math.Abs(estimate - exact) <= StdErrs * stderr + 1e-10, $"trace {estimate} ± {stderr}, exact {exact}");
        Assert.Equal(60, (long)trace["matvecs"]!);
        Assert.Null(doc["matrices"]!["hessian"]!["top_eigenvalues"]);
    }

    [Fact]
    public void PerLayerResultsEqualTheDiagonalBlocks()
    {
        string json = tiny.Temp("layers.json");
        // 249 = 3·83 products: the Hutch++ sketch spans each block, so the traces are exact.
        var doc = Ok(RunCli(Args("--per-layer", "--trace", "--trace-matvecs", "249", "--tol", "1e-10", "--dtype", "float64", "--json", json)), json);
        var layers = doc["matrices"]!["hessian"]!["per_layer"]!.AsArray();
        Assert.Equal(["0", "2"], layers.Select(l => (string)l!["layer"]!).ToArray());
        int offset = 0;
        foreach (var layer in layers)
        {
            int size = (int)layer!["params"]!;
            double top = TinyCurvatureModel.EigenvaluesDescending(tiny.Hessian, offset, offset + size)[0];
            double trace = TinyCurvatureModel.Trace(tiny.Hessian, offset, offset + size);
            Assert.True(Math.Abs((double)layer["top_eigenvalue"]! - top) <= EigenTolerance * Math.Abs(top), $"layer {layer["layer"]} top");
            Assert.True(Math.Abs((double)layer["trace"]!["estimate"]! - trace) <= ExactTraceTolerance * Math.Abs(trace), $"layer {layer["layer"]} trace");
            offset += size;
        }
        Assert.Equal(TinyCurvatureModel.Params, offset);
    }

    [Fact]
    public void SeveralMatricesInOneCallAgreeWithExactTraces()
    {
        string json = tiny.Temp("many.json");
        var doc = Ok(RunCli(Args("--matrix", "gradient-covariance,hessian,ggn,fisher,empirical-fisher", "--top-k", "2",
            "--trace", "--trace-matvecs", "249", "--dtype", "float64", "--json", json)), json);
        var matrices = doc["matrices"]!.AsObject();
        Assert.Equal(["hessian", "ggn", "fisher", "empirical-fisher", "gradient-covariance"], matrices.Select(kv => kv.Key).ToArray());
        long total = 0;
        foreach (var (name, m) in matrices)
        {
            var top = Doubles(m!["top_eigenvalues"]);
            Assert.Equal(2, top.Length);
            Assert.True(top[0] >= top[1], name);
            if (name != "hessian") Assert.True(top[1] >= -1e-10, $"{name} is positive semi-definite");
            Assert.Equal("converged", (string?)m["status"]);
            total += (long)m["matvecs"]!;
        }
        Assert.Equal(total, (long)doc["cost"]!["matvecs"]!);

        double Trace(string name) => (double)matrices[name]!["trace"]!["estimate"]!;
        Assert.True(Math.Abs(Trace("hessian") - TinyCurvatureModel.Trace(tiny.Hessian)) <= ExactTraceTolerance * Math.Abs(Trace("hessian")));
        // Empirical Fisher trace = mean squared per-example gradient norm, from a per-example loop here.
        double efTrace = MeanSquaredPerExampleGradientNorm();
        Assert.True(Math.Abs(Trace("empirical-fisher") - efTrace) <= ExactTraceTolerance * efTrace, $"{Trace("empirical-fisher")} vs {efTrace}");
        // Gradient covariance = empirical Fisher - g g^T.
        double g = (double)doc["gradient_norm"]!;
        Assert.True(Math.Abs(Trace("gradient-covariance") - (efTrace - g * g)) <= ExactTraceTolerance * efTrace);
    }

    private double MeanSquaredPerExampleGradientNorm()
    {
        var (model, x, y) = tiny.Load(TinyCurvatureModel.TrainExamples);
        using (model)
        using (var scope = NewDisposeScope())
        {
            var ps = model.parameters().ToArray();
            double sum = 0;
            for (long i = 0; i < x.shape[0]; i++)
            {
                using var inner = NewDisposeScope();
                var loss = nn.functional.cross_entropy(model.call(x.narrow(0, i, 1)), y.narrow(0, i, 1));
                var gi = TinyCurvatureModel.Flat(autograd.grad([loss], ps));
                sum += gi.dot(gi).ToDouble();
            }
            return sum / x.shape[0];
        }
    }

    [Fact]
    public void DensityMatchesTheExactMeanEigenvalueAndThePlotIsWritten()
    {
        string json = tiny.Temp("density.json"), png = tiny.Temp("density.png");
        var doc = Ok(RunCli(Args("--top-k", "0", "--plot", png, "--slq-runs", "6", "--slq-steps", "30", "--dtype", "float64", "--json", json)), json);
        var density = doc["matrices"]!["hessian"]!["density"]!;
        var grid = Doubles(density["grid"]);
        var values = Doubles(density["density"]);
        Assert.Equal(grid.Length, values.Length);
        double integral = 0;
        for (int i = 1; i < grid.Length; i++) integral += 0.5 * (values[i] + values[i - 1]) * (grid[i] - grid[i - 1]);
        Assert.Equal(1.0, integral, 1e-6);
        double mean = Doubles(density["moments"])[0], stderr = Doubles(density["moments_stderr"])[0];
        double exactMean = TinyCurvatureModel.Trace(tiny.Hessian) / TinyCurvatureModel.Params;
        Assert.True(Math.Abs(mean - exactMean) <= StdErrs * stderr + 1e-12, $"E[λ] {mean} ± {stderr} vs {exactMean}");

        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
    }

    [Fact]
    public void ComparePowerReportsBothSolversAndTheirRatios()
    {
        string json = tiny.Temp("compare.json");
        var doc = Ok(RunCli(Args("--top-k", "3", "--compare-power", "--dtype", "float64", "--json", json)), json);
        var c = doc["comparison"]!;
        Assert.Equal("hessian", (string?)c["matrix"]);
        long lanczos = (long)c["lanczos_matvecs"]!, power = (long)c["power_matvecs"]!;
        Assert.True(lanczos > 0 && power > 0);
        Assert.Equal((double)power / lanczos, (double)c["matvec_ratio"]!, 1e-12);
        // The seconds in the JSON are rounded; on this tiny model they are milliseconds, so the
        // ratio recomputed from them agrees only to the rounding's relative size.
        double fromRounded = (double)c["power_seconds"]! / (double)c["lanczos_seconds"]!;
        Assert.InRange((double)c["time_ratio"]!, fromRounded * 0.8, fromRounded * 1.25);
        Assert.InRange((double)c["max_relative_difference"]!, 0, 0.05);
        var dense = TinyCurvatureModel.EigenvaluesDescending(tiny.Hessian);
        var fromLanczos = Doubles(c["lanczos_eigenvalues"]);
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(fromLanczos[i] - dense[i]) <= 1e-3 * dense[0], $"lanczos {i}");
        // Warm-up + both solves, all on the one operator.
        Assert.Equal(1 + lanczos + power, (long)doc["matrices"]!["hessian"]!["matvecs"]!);

        string powerJson = tiny.Temp("power.json");
        var byPower = Ok(RunCli(Args("--top-k", "3", "--method", "power", "--dtype", "float64", "--json", powerJson)), powerJson);
        Assert.Equal("power", (string?)byPower["matrices"]!["hessian"]!["eigen_method"]);
        var powerHere = Doubles(c["power_eigenvalues"]);
        var powerAlone = Doubles(byPower["matrices"]!["hessian"]!["top_eigenvalues"]);
        Assert.Equal(powerHere.Length, powerAlone.Length);
        for (int i = 0; i < powerHere.Length; i++) Assert.Equal(powerHere[i], powerAlone[i], Float32Agreement * Math.Abs(powerHere[i]));
    }

    public static TheoryData<string, string[]> BadInputs => new()
    {
        { "larger than the number of parameters", ["--top-k", "84"] },
        { "unknown matrix 'curvy'", ["--matrix", "hessian,curvy"] },
        { "expects 5 inputs but the data has 6", ["--arch", "mlp:5-8-3:tanh"] },
        { "expects 4 classes", ["--arch", "mlp:6-8-4:tanh"] },
        { "does not exist", ["--weights", "/nonexistent/final.safetensors"] },
        { "--overlap needs", ["--overlap", "--top-k", "0"] },
        { "--subset 301 is outside", ["--subset", "301"] },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputsAreOneLineUsageErrorsWithoutJson(string fragment, string[] bad)
    {
        string json = tiny.Temp($"bad-{Guid.NewGuid():N}.json");
        var replace = new Dictionary<string, string>();
        var extra = new List<string> { "--json", json };
        if (bad[0] is "--arch" or "--weights" or "--data") replace[bad[0]] = bad[1];
        else extra.AddRange(bad);
        var r = RunCli(ArgsWith([.. extra], replace));
        AssertUsageError(r, fragment);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void NonFiniteWeightsAreRefused()
    {
        string bad = tiny.Temp("nan.safetensors"), json = tiny.Temp("nan.json");
        var (model, _, _) = tiny.Load(1);
        using (model)
        {
            using (no_grad()) model.parameters().First()[0, 0] = tensor(double.NaN, dtype: ScalarType.Float64);
            SafeTensors.SaveModel(model, bad);
        }
        var r = RunCli("curvature", "--arch", TinyCurvatureModel.Arch, "--weights", bad, "--data", TinyCurvatureModel.Spec, "--json", json);
        AssertUsageError(r, "non-finite");
        Assert.False(File.Exists(json));
    }
}
