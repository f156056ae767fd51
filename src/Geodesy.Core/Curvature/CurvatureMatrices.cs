namespace Geodesy.Core.Curvature;

/// <summary>Settings a curvature matrix may take when it is built.</summary>
public sealed record CurvatureMatrixOptions
{
    /// <summary>How products go through the model (the R-operator where the derivative table covers it, by default).</summary>
    public CurvatureProductMethod Method { get; init; } = CurvatureProductMethod.Auto;
    /// <summary>Labels drawn per input by the Monte-Carlo Fisher.</summary>
    public int FisherSamples { get; init; } = 1;
    /// <summary>Seed of the Monte-Carlo Fisher's labels.</summary>
    public long Seed { get; init; }
}

/// <summary>One curvature matrix of the registry: its name (as in --matrix and JSON), what it is, and how to build it on a problem.</summary>
public sealed record CurvatureMatrix(string Name, string Description, Func<CurvatureProblem, CurvatureMatrixOptions, CurvatureOperator> Factory)
{
    public CurvatureOperator Create(CurvatureProblem problem, CurvatureMatrixOptions? options = null) => Factory(problem, options ?? new CurvatureMatrixOptions());
}

/// <summary>
/// The registry of curvature matrices, in the order they are listed and reported. Adding a
/// matrix: its operator class (README "Adding a curvature matrix") and one entry here.
/// </summary>
public static class CurvatureMatrices
{
    public static readonly IReadOnlyList<CurvatureMatrix> All =
    [
        new("hessian", "Hessian of the loss (+ wd I when weight decay is included)", (p, o) => new HessianOperator(p, o.Method)),
        new("ggn", "generalized Gauss-Newton (1/N) sum J^T (diag p - p p^T) J = true Fisher (+ wd I)", (p, o) => new GgnOperator(p, o.Method)),
        new("fisher", "Monte-Carlo Fisher with labels drawn from the model once (FisherSamples per input, seeded)", (p, o) => new MonteCarloFisherOperator(p, o.FisherSamples, o.Seed, o.Method)),
        new("empirical-fisher", "empirical Fisher (1/N) sum g_i g_i^T", (p, o) => new EmpiricalFisherOperator(p, o.Method)),
        new("gradient-covariance", "gradient covariance (1/N) sum (g_i - g)(g_i - g)^T", (p, o) => new GradientCovarianceOperator(p, o.Method)),
    ];

    public static IReadOnlyList<string> Names { get; } = All.Select(m => m.Name).ToArray();

    /// <summary>The matrix called <paramref name="name"/>; an unknown name is an <see cref="InputException"/> listing the known ones.</summary>
    public static CurvatureMatrix Find(string name) =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new InputException($"unknown curvature matrix '{name}' (known: {string.Join(", ", Names)})");
}
