using BenchmarkDotNet.Attributes;
using Geodesy.Core.Curvature;
using Geodesy.Experiments.Benchmarks;
using static TorchSharp.torch;

namespace Geodesy.Bench;

/// <summary>
/// One gradient, one Hessian-vector product (by the R-operator and by double backprop), one
/// GGN-vector product and the per-example gradient norms over a fixed batch of MNIST digits, float32, the model at its seeded initialization.
/// The same problem as `geodesy bench grad-hvp` / `per-example`, timed by BenchmarkDotNet.
/// </summary>
[MemoryDiagnoser(displayGenColumns: false)]
public class CurvatureKernels
{
    private BenchSetup? _setup;
    private CurvatureProblem? _problem;
    private Tensor? _vector;
    private HessianOperator? _hessian;
    private HessianOperator? _hessianDoubleBackprop;
    private GgnOperator? _ggn;
    private PerExampleGradients? _perExample;

    [Params("mlp:784-128-10", "cnn")]
    public string Arch { get; set; } = "mlp:784-128-10";

    [Params(1000)]
    public int Batch { get; set; } = 1000;

    [GlobalSetup]
    public void Setup()
    {
        _setup = BenchSetup.Load(new BenchModelSpec { Arch = Arch });
        (_problem, _vector) = GradHvpBenchmark.Prepare(_setup, new TimingOptions { Batch = Batch });
        _hessian = new HessianOperator(_problem, CurvatureProductMethod.ROperator);
        _hessianDoubleBackprop = new HessianOperator(_problem, CurvatureProductMethod.DoubleBackprop);
        _ggn = new GgnOperator(_problem);
        _perExample = new PerExampleGradients(_problem);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _vector?.Dispose();
        _setup?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Gradient() => _problem!.LossAndGradient().Gradient.Dispose();

    [Benchmark]
    public void HessianVectorProduct() => _hessian!.Apply(_vector!).Dispose();

    [Benchmark]
    public void HessianVectorProductDoubleBackprop() => _hessianDoubleBackprop!.Apply(_vector!).Dispose();

    [Benchmark]
    public void GgnVectorProduct() => _ggn!.Apply(_vector!).Dispose();

    [Benchmark]
    public double[] PerExampleNorms() => _perExample!.Norms();
}
