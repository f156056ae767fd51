using System.Diagnostics;

namespace Geodesy.Core.Measures;

/// <summary>Every measure, registered once, in catalog order.</summary>
public static class MeasureRegistry
{
    public static IReadOnlyList<IMeasure> All { get; } =
    [
        // baselines
        new NumParamsMeasure(), new CrossEntropyMeasure(), new EntropyMeasure(), new TrainErrorMeasure(),
        // margins
        new MarginMeasure(), new InverseMarginMeasure(), new NormalizedMarginMeasure(), new AverageMarginMeasure(),
        // norms (Fantastic eq. 29-44)
        new SpecInitMeasure(), new SpecOrigMeasure(), new ProdOfSpecOverMarginMeasure(), new ProdOfSpecMeasure(),
        new FroOverSpecMeasure(), new SumOfSpecOverMarginMeasure(), new SumOfSpecMeasure(),
        new ProdOfFroOverMarginMeasure(), new ProdOfFroMeasure(), new SumOfFroOverMarginMeasure(), new SumOfFroMeasure(),
        new FrobDistanceMeasure(), new SpecDistMeasure(), new ParamNormMeasure(),
        new PathNormOverMarginMeasure(), new PathNormMeasure(),
        // Fisher-Rao: Fantastic's printed formula, and Liang et al.'s model-Fisher norm
        new FisherRaoMeasure(), new FisherRaoModelMeasure(),
        // PAC-Bayes and sharpness
        new PacBayesInitMeasure(), new PacBayesOrigMeasure(), new PacBayesFlatnessMeasure(),
        new PacBayesMagInitMeasure(), new PacBayesMagOrigMeasure(), new PacBayesMagFlatnessMeasure(),
        new SharpnessInitMeasure(), new SharpnessOrigMeasure(), new SharpnessFlatnessMeasure(),
        new SharpnessMagInitMeasure(), new SharpnessMagOrigMeasure(), new SharpnessMagFlatnessMeasure(),
        new EpsilonSharpnessMeasure(),
        // curvature (through Core/Curvature, in MeasureOptions.CurvatureDType)
        new HessianTopEigenvalueMeasure(), new HessianTraceMeasure(), new FisherTraceMeasure(), new TraceOverFrobeniusMeasure(),
        // flatness of the representation
        new RelativeFlatnessMeasure(),
        // module criticality (Core/Landscape/ModuleCriticality)
        new ModuleCriticalityMeasure(),
        // gradient noise and optimisation speed
        new GradNoiseFinalMeasure(), new GradientSnrMeasure(), new StepsToLossMeasure(), new StepsBetweenLossesMeasure(),
        // representation
        new Nc1Measure(), new StiffnessSameClassMeasure(), new StiffnessDiffClassMeasure(),
        // weight spectra
        new AlphaMeasure(), new AlphaWeightedMeasure(),
    ];

    /// <summary>Other names a measure is known by (Fantastic's own name where Geodesy's differs).</summary>
    public static IReadOnlyDictionary<string, string> Aliases { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["dist-spec-init"] = "spec-dist",   // Fantastic eq. 41 and the Dziugaite et al. code (DIST_SPEC_INIT)
    };

    private static readonly Dictionary<string, IMeasure> ByName = All.ToDictionary(m => m.Name, StringComparer.Ordinal);

    /// <summary>The measure of that name or alias; an InputException naming the closest names otherwise.</summary>
    public static IMeasure Get(string name)
    {
        if (ByName.TryGetValue(name.Trim(), out var m)) return m;
        if (Aliases.TryGetValue(name.Trim(), out var canonical)) return ByName[canonical];
        var close = All.Select(x => x.Name)
            .OrderBy(n => Levenshtein(n, name.Trim().ToLowerInvariant()))
            .Take(3);
        throw new InputException($"unknown measure '{name}' (closest: {string.Join(", ", close)}; `geodesy measure --list` shows all)");
    }

    /// <summary>"all" or a comma-separated list of names, in the order given, without duplicates.</summary>
    public static IReadOnlyList<IMeasure> Select(string list)
    {
        if (string.IsNullOrWhiteSpace(list)) throw new InputException("--measures is empty (give 'all' or a comma-separated list)");
        if (list.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return All;
        var result = new List<IMeasure>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = Get(part);
            if (!result.Contains(m)) result.Add(m);
        }
        if (result.Count == 0) throw new InputException($"--measures '{list}' names no measure");
        return result;
    }

    private static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}

/// <summary>The result of one measure: a value, or the reason it was skipped; with its wall time.</summary>
public sealed record MeasureOutcome(string Name, MeasureValue? Value, string? SkippedReason, double Seconds);

/// <summary>Runs measures one by one in eval mode, timing each and turning skips and failures into reasons.</summary>
public static class MeasureRunner
{
    public static IReadOnlyList<MeasureOutcome> Compute(MeasureContext ctx, IEnumerable<IMeasure> measures)
    {
        ctx.Options.Validate();
        bool modelTraining = ctx.Model.training, initTraining = ctx.InitModel?.training ?? false;
        ctx.Model.eval();
        ctx.InitModel?.eval();
        var outcomes = new List<MeasureOutcome>();
        try
        {
            foreach (var m in measures)
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    var value = m.Compute(ctx);
                    if (double.IsNaN(value.Value))
                        outcomes.Add(new MeasureOutcome(m.Name, null, "the value is not a number for this model", clock.Elapsed.TotalSeconds));
                    else
                        outcomes.Add(new MeasureOutcome(m.Name, value, null, clock.Elapsed.TotalSeconds));
                }
                catch (MeasureSkippedException e)
                {
                    outcomes.Add(new MeasureOutcome(m.Name, null, e.Message, clock.Elapsed.TotalSeconds));
                }
                catch (ComputationException e)
                {
                    outcomes.Add(new MeasureOutcome(m.Name, null, $"failed: {e.Message}", clock.Elapsed.TotalSeconds));
                }
            }
        }
        finally
        {
            if (modelTraining) ctx.Model.train();
            if (initTraining) ctx.InitModel?.train();
        }
        return outcomes;
    }
}
