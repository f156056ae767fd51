using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Core.Data;
using Geodesy.Core.Interop;
using Geodesy.Core.Training;

namespace Geodesy.Experiments.Analyses;

/// <summary>A result of a landscape verb: its JSON keys, its CSV and its plot.</summary>
public interface ILandscapeDocument
{
    void WriteTo(JsonObject root, JsonObject cost, JsonObject provenance);
    void WriteCsv(string path);
    void WritePng(string path);
}

/// <summary>What the landscape-geometry documents (subspace, goldilocks, criticality, stiffness) share: the source keys and the training settings.</summary>
public static class LandscapeGeometry
{
    /// <summary>arch, weights, run, data, params, dtype of the model the verb worked on.</summary>
    public static void WriteSource(JsonObject root, LoadedModel loaded, long train, long test, string weightsKey = "weights")
    {
        var source = loaded.Source;
        root["arch"] = source.Arch;
        root[weightsKey] = source.Weights is null ? null : Path.GetFullPath(source.Weights);
        root["run"] = source.Run is null ? null : Path.GetFullPath(source.Run);
        root["data"] = LandscapeJson.Data(source, train, test);
        root["params"] = loaded.Parameters;
        root["dtype"] = LandscapeJson.DTypeName(source.DType);
    }

    /// <summary>The provenance keys: seed, the data's hash (with the prefixes used), the weights' hash.</summary>
    public static void WriteProvenance(JsonObject provenance, LoadedModel loaded, long seed, long train, long test)
    {
        provenance["seed"] = seed;
        provenance["data_sha256"] = LandscapeJson.DataSha256(loaded.Data, train, test);
        provenance["weights_sha256"] = loaded.Source.Weights is null ? null : Provenance.Sha256OfFile(loaded.Source.Weights);
    }

    public static JsonObject TrainingJson(TrainerOptions o) => new()
    {
        ["optimizer"] = o.Optimizer.ToString().ToLowerInvariant(),
        ["lr"] = o.LearningRate,
        ["momentum"] = o.Optimizer == OptimizerKind.Momentum ? o.Momentum : null,
        ["batch"] = o.BatchSize,
        ["epochs"] = o.Epochs,
        ["schedule"] = o.Schedule.ToString().ToLowerInvariant(),
        ["seed"] = o.Seed,
    };

    /// <summary>The first N training and test examples as a split for training (a view: it owns nothing, never dispose it).</summary>
    public static DataSplit Prefix(LoadedModel loaded, Dataset train, Dataset test) =>
        new(train, test, LandscapeJson.DataSha256(loaded.Data, train.Count, test.Count), loaded.Data.Spec);

    /// <summary>A finite list of values parsed from "a,b,c", each checked by <paramref name="check"/>; empty lists are an error.</summary>
    public static T[] NonEmpty<T>(T[] values, string option, Func<T, bool> check, string rule)
    {
        if (values.Length == 0) throw new InputException($"{option}: give at least one value");
        foreach (var v in values)
            if (!check(v)) throw new InputException($"{option}: {v} is not {rule}");
        return values;
    }
}
