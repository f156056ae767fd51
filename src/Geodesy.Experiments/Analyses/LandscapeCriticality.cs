using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Interop;
using Geodesy.Core.Landscape;
using Geodesy.Core.Models;
using Geodesy.Core.Training;
using Geodesy.Experiments.Reports;
using static TorchSharp.torch;
using static Geodesy.Experiments.Analyses.JsonNumbers;

namespace Geodesy.Experiments.Analyses;

/// <summary>What `geodesy landscape criticality` computes (docs/landscape.md).</summary>
public sealed record CriticalitySettings
{
    public CriticalityOptions Options { get; init; } = new();
    /// <summary>The first N training examples (null: all of them).</summary>
    public long? Examples { get; init; }
}

/// <summary>Everything `landscape criticality` computed, and its "geodesy.landscape-criticality/1" keys.</summary>
public sealed record CriticalityResult(LoadedModel Source, CriticalitySettings Settings, double TrainError, IReadOnlyList<ModuleCriticalityResult> Modules,
    long TrainExamples, long Evaluations, double Seconds) : ILandscapeDocument
{
    public const string Definition =
        "mu_i = min over the (alpha, sigma) grid of alpha^2 ||theta_i^F - theta_i^0||^2 / sigma^2 subject to the mean train error over the noise draws " +
        "of the network with module i at (1 - alpha) theta_i^0 + alpha theta_i^F + u, u ~ N(0, sigma^2 I), being <= epsilon (Chatterji et al. 2020, Definition 3.1); " +
        "network criticality = sum_i mu_i";

    public double? Network => ModuleCriticality.Network(Modules);

    public Cost Cost => Cost.Of(0, 0, Seconds);

    public void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance)
    {
        LandscapeGeometry.WriteSource(root, Source, TrainExamples, 0);
        root["init_weights"] = Source.Source.InitWeights is null ? null : Path.GetFullPath(Source.Source.InitWeights);
        root["mode"] = "eval";
        var o = Settings.Options;
        root["epsilon"] = o.Epsilon;
        root["alphas"] = new JsonArray(o.Alphas.Select(a => (JsonNode)a).ToArray());
        root["sigmas"] = new JsonArray(o.Sigmas.Select(s => (JsonNode)s).ToArray());
        root["noise_samples"] = o.NoiseSamples;
        root["train_error"] = TrainError;
        root["definition"] = Definition;
        root["network_criticality"] = Finite(Network);
        root["status"] = Network is null ? "infeasible" : "feasible";
        root["modules"] = new JsonArray(Modules.Select(m => (JsonNode)new JsonObject
        {
            ["module"] = m.Module,
            ["params"] = m.Parameters,
            ["distance_from_init"] = m.Distance,
            ["min_alpha"] = Finite(m.MinAlpha),
            ["alpha"] = Finite(m.Alpha),
            ["sigma"] = Finite(m.Sigma),
            ["criticality"] = Finite(m.Criticality),
            ["status"] = m.Status,
            ["grid"] = new JsonArray(m.Grid.Select(p => (JsonNode)new JsonObject
            {
                ["alpha"] = p.Alpha,
                ["error"] = p.Error,
                ["sigma_max"] = Finite(p.SigmaMax),
                ["error_at_sigma_max"] = Finite(p.ErrorAtSigmaMax),
            }).ToArray()),
        }).ToArray());
        Cost.WriteTo(cost);
        cost["evaluations"] = Evaluations;
        cost["forward_examples"] = Evaluations * TrainExamples;
        LandscapeGeometry.WriteProvenance(provenance, Source, o.Seed, TrainExamples, Source.Data.Test.Count);
        provenance["init_weights_sha256"] = Source.Source.InitWeights is null ? null : Provenance.Sha256OfFile(Source.Source.InitWeights);
    }

    /// <summary>One row per module and α: module,alpha,error,sigma_max,error_at_sigma_max,ratio (atomic).</summary>
    public void WriteCsv(string path)
    {
        var text = new StringBuilder("module,alpha,error,sigma_max,error_at_sigma_max,ratio\n");
        foreach (var m in Modules)
            foreach (var p in m.Grid)
                text.Append($"{m.Module},{LandscapeJson.Num(p.Alpha)},{LandscapeJson.Num(p.Error)},{Csv(p.SigmaMax)},{Csv(p.ErrorAtSigmaMax)},{Csv(p.Ratio(m.Distance * m.Distance))}\n");
        AtomicFile.WriteAllText(path, text.ToString());
    }

    private static string Csv(double? x) => x is double v ? LandscapeJson.Num(v) : "";

    public void WritePng(string path) =>
        GeometryPlots.CriticalityPng(path,
            $"{Source.Source.Arch}: module criticality (ε = {Settings.Options.Epsilon}), network {(Network is double n ? LandscapeJson.Num(Math.Round(n, 4)) : "infeasible")}",
            Modules.Select(m => $"module {m.Module} ({m.Parameters:N0} params)").ToArray(), Modules.Select(m => m.Criticality).ToArray());
}

/// <summary>Module criticality (Chatterji et al. 2020) of a trained model against its initialization, on the training examples.</summary>
public static class CriticalityAnalysis
{
    public static CriticalityResult Run(LoadedModel loaded, CriticalitySettings settings, Action<string> log)
    {
        settings.Options.Validate();
        if (loaded.Init is null) throw new InputException("module criticality needs the initial weights: give --init-weights FILE (or --run DIR with init.safetensors)");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = loaded.FirstExamples(settings.Examples, "--examples");
        using var scope = NewDisposeScope();
        var init = ParameterVector.Flatten(loaded.Init);
        var final = ParameterVector.Flatten(loaded.Model);
        double error = 1 - Evaluation.Evaluate(loaded.Model, train, settings.Options.BatchSize).Accuracy;
        log($"module criticality of {loaded.Source.Arch} ({loaded.Parameters:N0} parameters, train error {LandscapeJson.Num(error)}) on {train.Count:N0} train examples, ε = {settings.Options.Epsilon}");
        var modules = ModuleCriticality.Compute(loaded.Model, init, final, train, settings.Options, out long evaluations);
        foreach (var m in modules)
            log($"module {m.Module} ({m.Parameters:N0} parameters, distance {LandscapeJson.Num(m.Distance)}): " +
                (m.Criticality is double c ? $"criticality {LandscapeJson.Num(c)} at α = {m.Alpha}, σ = {LandscapeJson.Num(m.Sigma!.Value)}; smallest α without noise {m.MinAlpha}" : "infeasible (no α, σ of the grid keeps the error <= ε)"));
        var result = new CriticalityResult(loaded, settings, error, modules, train.Count, evaluations, clock.Elapsed.TotalSeconds);
        log($"network criticality {(result.Network is double n ? LandscapeJson.Num(n) : "infeasible")}");
        return result;
    }
}
