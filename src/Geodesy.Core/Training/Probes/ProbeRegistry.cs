using System.Globalization;

namespace Geodesy.Core.Training.Probes;

/// <summary>A probe name with its options (each with a check returning a problem or null), what it records and its source.</summary>
public sealed record ProbeEntry(
    string Name, string Description, string Citation,
    IReadOnlyDictionary<string, Func<string, string?>> Options,
    Func<ProbeSpec, IProbe> Create);

/// <summary>Every probe <c>--probe</c> accepts (docs/probes.md has the formulas).</summary>
public static class ProbeRegistry
{
    private static readonly Dictionary<string, Func<string, string?>> NoOptions = [];

    private static string? PositiveInt(string v) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k >= 1 ? null : "must be an integer >= 1";

    private static string? Fraction(string v) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) && t > 0 && t < 1 ? null : "must be a number in (0, 1)";

    private static string? NoiseSamples(string v) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k >= Stats.ShapiroWilk.MinN && k <= Stats.ShapiroWilk.MaxN
            ? null : $"must be an integer from {Stats.ShapiroWilk.MinN} to {Stats.ShapiroWilk.MaxN} (the Shapiro-Wilk range)";

    private static string? OnWhich(string v) => v is "both" or "batch" or "probe" ? null : "must be both, batch or probe";

    public static IReadOnlyList<ProbeEntry> All { get; } =
    [
        new("fisher-trace",
            "Tr(F) = (1/n) sum_i ||grad log p(y~_i|x_i)||^2, y~_i drawn from the model, on the next mini-batch and on the probe set (on=both|batch|probe)",
            "Jastrzebski et al. 2021, Catastrophic Fisher explosion (ICML)",
            new Dictionary<string, Func<string, string?>> { ["on"] = OnWhich },
            spec => new FisherTraceProbe(spec, sampled: true)),
        new("empirical-fisher-trace",
            "Tr(empirical F) = (1/n) sum_i ||grad CE(f(x_i), y_i)||^2 with the true labels, on the next mini-batch and on the probe set (on=both|batch|probe)",
            "Kunstner, Hennig & Balles 2019, Limitations of the empirical Fisher approximation (NeurIPS)",
            new Dictionary<string, Func<string, string?>> { ["on"] = OnWhich },
            spec => new FisherTraceProbe(spec, sampled: false)),
        new("hessian-top",
            "top-k Hessian eigenvalues on the probe set by Lanczos warm-started from the previous eigenvectors (k=, tol=); also writes sharpness-ratio = lambda_max / (2/lr) and gradient-overlap = ||P_k g||^2 / ||g||^2",
            "Cohen et al. 2021, Gradient descent on neural networks typically occurs at the edge of stability (ICLR); Wu, Ma & E 2018 (NeurIPS); Gur-Ari, Roberts & Dyer 2018, Gradient descent happens in a tiny subspace",
            new Dictionary<string, Func<string, string?>> { ["k"] = PositiveInt, ["tol"] = Fraction },
            spec => new HessianTopProbe(spec)),
        new("gradient-noise",
            "Tr K, the top-k eigenvalues of the gradient covariance K = (1/n) sum_i (g_i - g)(g_i - g)^T (k=) and the gradient norm ||g||, on the probe set",
            "Jastrzebski et al. 2020, The break-even point on optimization trajectories of deep neural networks (ICLR)",
            new Dictionary<string, Func<string, string?>> { ["k"] = PositiveInt },
            spec => new GradientNoiseProbe(spec)),
        new("nc1",
            "neural collapse NC1 = Tr(Sigma_W Sigma_B^+) / C of the penultimate features on the probe set",
            "Papyan, Han & Donoho 2020, Prevalence of neural collapse during the terminal phase of deep learning training (PNAS)",
            NoOptions,
            _ => new Nc1Probe()),
        new("weights",
            "||w||, ||w - w_0|| and the norm of each parameter tensor",
            "Nagarajan & Kolter 2019 (distance from initialization); Jiang et al. 2020, Fantastic generalization measures (ICLR)",
            NoOptions,
            _ => new WeightsProbe()),
        new("sgn",
            "mini-batch gradient noise xi = g_B - g on the probe set (batches= mini-batches of batch= examples, default the training batch): tail index alpha (Mohammadi estimator, stderr) and the fraction of coordinates= coordinates and projections= random directions whose Shapiro-Wilk test rejects Gaussianity at level=",
            "Simsekli, Sagun & Gurbuzbalaban 2019, A tail-index analysis of stochastic gradient noise in deep neural networks (ICML); Mohammadi, Mohammadpour & Ogata 2015 (Metrika); Panigrahi, Somani, Goyal & Netrapalli 2019, Non-Gaussianity of stochastic gradient noise (arXiv:1910.09626)",
            new Dictionary<string, Func<string, string?>> { ["batches"] = NoiseSamples, ["batch"] = PositiveInt, ["coordinates"] = PositiveInt, ["projections"] = PositiveInt, ["level"] = Fraction },
            spec => new SgnProbe(spec)),
        new("ipr",
            "inverse participation ratio sum nu^4 / (sum nu^2)^2 of nu = |rfft| of each hidden neuron's input-embedding weights over the p tokens of each operand, averaged (modular: data)",
            "Doshi, Das, He & Gromov 2024, To grok or not to grok: disentangling generalization and memorization on corrupted algorithmic datasets (ICLR)",
            NoOptions,
            _ => new IprProbe()),
        new("examples",
            "fraction of training examples predicted with their training label, for clean vs label-flipped examples, and the fractions already learned (correct from then on); per-example learning times in DIR/examples.jsonl; rows are written when training stops",
            "Toneva et al. 2019, An empirical study of example forgetting during deep neural network learning (ICLR); Liu et al. 2020, Early-learning regularization prevents memorization of noisy labels (NeurIPS)",
            NoOptions,
            _ => new ExamplesProbe()),
        new("ntk",
            "empirical NTK Theta = J J^T of the logits on the first examples= probe examples (default 20): trace, top-k eigenvalues (k=, default 5), kernel distance 1 - <K1,K2>_F/(|K1| |K2|) from the init kernel and the previous measurement",
            "Jacot, Gabriel & Hongler 2018 (NeurIPS); Fort et al. 2020, Deep learning versus kernel learning: an empirical study of loss landscape geometry and the time evolution of the neural tangent kernel (NeurIPS)",
            new Dictionary<string, Func<string, string?>> { ["examples"] = PositiveInt, ["k"] = PositiveInt },
            spec => new NtkProbe(spec)),
    ];

    public static ProbeEntry? Find(string name) => All.FirstOrDefault(p => p.Name == name);
}
