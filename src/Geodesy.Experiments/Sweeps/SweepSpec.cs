using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Geodesy.Core;
using Geodesy.Experiments.Specs;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Geodesy.Experiments.Sweeps;

/// <summary>One trial of a sweep: a run spec and the hyperparameter values that produced it.</summary>
public sealed record SweepTrial(RunSpec Spec, IReadOnlyDictionary<string, string> Hyperparameters)
{
    public string Id => Spec.Id();
}

/// <summary>
/// A sweep: a base run spec, a grid and/or a random search over hyperparameters, seeds, the
/// measures to compute. Hyperparameters that are run settings (lr, batch, weight_decay,
/// optimizer, label_noise, subset, ...) set them directly; any other name (width, depth) must
/// appear as a {name} template field in a string setting such as arch: "mlp:784-{width}-10".
/// </summary>
public sealed class SweepSpec
{
    public string Name { get; init; } = "sweep";
    public JsonObject Base { get; init; } = new();
    /// <summary>Grid values per hyperparameter, in the order written.</summary>
    public List<(string Name, List<JsonNode> Values)> Grid { get; init; } = [];
    public int RandomCount { get; init; }
    public long RandomSeed { get; init; }
    public List<(string Name, RandomDistribution Distribution)> Random { get; init; } = [];
    public long[] Seeds { get; init; } = [0];
    public string Measures { get; init; } = "all";
    /// <summary>Examples of the training set the measures are computed on (0 = all).</summary>
    public int MeasureExamples { get; init; }
    /// <summary>Probes recorded while training every trial (--probe values); their final and peak values become measures (<see cref="ProbeMeasures"/>).</summary>
    public string[] Probes { get; init; } = [];
    /// <summary>The probe set of <see cref="Probes"/> (--probe-examples); null: the run default.</summary>
    public int? ProbeExamples { get; init; }

    /// <summary>SHA-256 of the canonical spec: the sweep's id in the store.</summary>
    public string Id() => Provenance.Sha256Hex(Encoding.UTF8.GetBytes(ToJson().ToJsonString()));

    public JsonObject ToJson()
    {
        var o = SettingsJson();
        // Only when given, so sweeps without probes keep their ids.
        if (Probes.Length > 0) o["probes"] = new JsonArray(Probes.Select(p => (JsonNode)p).ToArray());
        if (ProbeExamples is int n) o["probe_examples"] = n;
        return o;
    }

    private JsonObject SettingsJson() => new()
    {
        ["name"] = Name,
        ["base"] = Base.DeepClone(),
        ["grid"] = new JsonObject(Grid.Select(g => KeyValuePair.Create(g.Name, (JsonNode?)new JsonArray(g.Values.Select(v => v.DeepClone()).ToArray())))),
        ["random"] = new JsonObject
        {
            ["count"] = RandomCount,
            ["seed"] = RandomSeed,
            ["params"] = new JsonObject(Random.Select(r => KeyValuePair.Create(r.Name, (JsonNode?)r.Distribution.ToJson()))),
        },
        ["seeds"] = new JsonArray(Seeds.Select(s => (JsonNode)s).ToArray()),
        ["measures"] = Measures,
        ["measure_examples"] = MeasureExamples,
    };

    /// <summary>All trials: the grid's cartesian product (times random draws) times seeds.</summary>
    public IReadOnlyList<SweepTrial> Expand()
    {
        var assignments = new List<List<(string, JsonNode)>> { new() };
        foreach (var (name, values) in Grid)
            assignments = assignments.SelectMany(a => values.Select(v => new List<(string, JsonNode)>(a) { (name, v) })).ToList();
        if (RandomCount > 0)
        {
            var rng = new Random(unchecked((int)RandomSeed));
            var drawn = new List<List<(string, JsonNode)>>();
            foreach (var a in assignments)
                for (int i = 0; i < RandomCount; i++)
                    drawn.Add(new List<(string, JsonNode)>(a).Concat(Random.Select(r => (r.Name, r.Distribution.Draw(rng)))).ToList());
            assignments = drawn;
        }
        var trials = new List<SweepTrial>();
        var seen = new HashSet<string>();
        foreach (var a in assignments)
            foreach (long seed in Seeds)
            {
                var trial = Build(a, seed);
                if (seen.Add(trial.Id)) trials.Add(trial);
            }
        return trials;
    }

    private SweepTrial Build(List<(string Name, JsonNode Value)> assignment, long seed)
    {
        var json = Base.DeepClone().AsObject();
        var settings = new RunSpec().ToJson().Select(kv => kv.Key).ToHashSet();
        var hparams = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in assignment)
        {
            hparams[name] = Text(value);
            if (settings.Contains(name)) json[name] = value.DeepClone();
        }
        // Fill the {name} template fields of string settings.
        foreach (var key in json.Select(kv => kv.Key).ToList())
        {
            if (json[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Contains('{'))
            {
                foreach (var (name, value) in assignment) s = s.Replace("{" + name + "}", Text(value), StringComparison.Ordinal);
                if (s.Contains('{')) throw new InputException($"setting '{key}' = '{s}' has a template field {{...}} that no hyperparameter fills");
                json[key] = s;
            }
        }
        json["seed"] = seed;
        if (Probes.Length > 0) json["probe"] = new JsonArray(Probes.Select(p => (JsonNode)p).ToArray());
        if (ProbeExamples is int probeExamples) json["probe_examples"] = probeExamples;
        if (Seeds.Length > 1) hparams["seed"] = seed.ToString(CultureInfo.InvariantCulture);
        var spec = RunSpec.FromJson(json);
        spec.Validate();
        return new SweepTrial(spec, hparams);
    }

    private static string Text(JsonNode v) =>
        v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : v.ToJsonString();

    /// <summary>Parses a sweep spec from YAML text; errors name the file and the problem.</summary>
    public static SweepSpec Parse(string yaml, string source = "sweep spec")
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode m)
                throw new InputException($"{source}: expected a YAML mapping with base/grid/seeds");
            root = m;
        }
        catch (YamlException e)
        {
            throw new InputException($"{source}: invalid YAML at line {e.Start.Line}: {e.Message}");
        }
        var known = new HashSet<string> { "name", "base", "grid", "random", "seeds", "measures", "measure_examples", "probes", "probe_examples" };
        foreach (var key in root.Children.Keys)
            if (!known.Contains(Scalar(key, source))) throw new InputException($"{source}: unknown key '{Scalar(key, source)}' (expected {string.Join(", ", known)})");

        var baseJson = root.Children.TryGetValue(new YamlScalarNode("base"), out var b)
            ? (ToJson(b, source) as JsonObject ?? throw new InputException($"{source}: 'base' must be a mapping of run settings"))
            : new JsonObject();
        var grid = new List<(string, List<JsonNode>)>();
        if (root.Children.TryGetValue(new YamlScalarNode("grid"), out var g))
        {
            if (g is not YamlMappingNode gm) throw new InputException($"{source}: 'grid' must map hyperparameters to lists");
            foreach (var (k, v) in gm.Children)
            {
                if (ToJson(v, source) is not JsonArray arr || arr.Count == 0)
                    throw new InputException($"{source}: grid '{Scalar(k, source)}' must be a non-empty list");
                grid.Add((Scalar(k, source), arr.Select(x => x!.DeepClone()).ToList()));
            }
        }
        int randomCount = 0;
        long randomSeed = 0;
        var random = new List<(string, RandomDistribution)>();
        if (root.Children.TryGetValue(new YamlScalarNode("random"), out var r))
        {
            var ro = ToJson(r, source) as JsonObject ?? throw new InputException($"{source}: 'random' must be a mapping with count, seed, params");
            randomCount = (int?)Number(ro["count"], source, "random.count") ?? 0;
            randomSeed = (long?)Number(ro["seed"], source, "random.seed") ?? 0;
            if (randomCount < 1) throw new InputException($"{source}: random.count must be at least 1");
            if (ro["params"] is not JsonObject ps || ps.Count == 0) throw new InputException($"{source}: random.params must map hyperparameters to distributions");
            foreach (var (name, d) in ps) random.Add((name, RandomDistribution.Parse(d, $"{source}: random.params.{name}")));
        }
        long[] seeds = [0];
        if (root.Children.TryGetValue(new YamlScalarNode("seeds"), out var s))
        {
            if (ToJson(s, source) is not JsonArray sa || sa.Count == 0) throw new InputException($"{source}: 'seeds' must be a non-empty list of integers");
            seeds = sa.Select(x => (long)(Number(x, source, "seeds") ?? 0)).ToArray();
        }
        string measures = root.Children.TryGetValue(new YamlScalarNode("measures"), out var me) ? Scalar(me, source) : "all";
        int measureExamples = root.Children.TryGetValue(new YamlScalarNode("measure_examples"), out var mx)
            ? (int)(Number(ToJson(mx, source), source, "measure_examples") ?? 0) : 0;
        string[] probes = [];
        if (root.Children.TryGetValue(new YamlScalarNode("probes"), out var pr))
        {
            if (ToJson(pr, source) is not JsonArray pa || pa.Any(p => p is not JsonValue v || !v.TryGetValue<string>(out _)))
                throw new InputException($"{source}: 'probes' must be a list of probe values such as fisher-trace@every=10 (docs/probes.md)");
            probes = pa.Select(p => (string)p!).ToArray();
            if (baseJson.ContainsKey("probe")) throw new InputException($"{source}: give the probes either in 'probes' or in base.probe, not both");
        }
        int? probeExamples = root.Children.TryGetValue(new YamlScalarNode("probe_examples"), out var pe)
            ? (int)(Number(ToJson(pe, source), source, "probe_examples") ?? 0) : null;
        if (probeExamples is not null && probes.Length == 0) throw new InputException($"{source}: 'probe_examples' needs a 'probes' list");
        var spec = new SweepSpec
        {
            Name = root.Children.TryGetValue(new YamlScalarNode("name"), out var n) ? Scalar(n, source) : "sweep",
            Base = baseJson, Grid = grid, RandomCount = randomCount, RandomSeed = randomSeed, Random = random,
            Seeds = seeds, Measures = measures, MeasureExamples = measureExamples,
            Probes = probes, ProbeExamples = probeExamples,
        };
        try
        {
            if (spec.Expand().Count == 0) throw new InputException("the sweep has no trials");
        }
        catch (InputException e) when (!e.Message.StartsWith(source, StringComparison.Ordinal))
        {
            throw new InputException($"{source}: {e.Message}", e);
        }
        return spec;
    }

    public static SweepSpec Load(string path)
    {
        if (!File.Exists(path)) throw new InputException($"sweep spec '{path}' not found");
        return Parse(File.ReadAllText(path), path);
    }

    private static double? Number(JsonNode? n, string source, string what)
    {
        if (n is null) return null;
        if (n is JsonValue lv && lv.TryGetValue<long>(out var l)) return l;
        if (n is JsonValue v && v.TryGetValue<double>(out var d)) return d;
        throw new InputException($"{source}: {what} must be a number (got {n.ToJsonString()})");
    }

    private static string Scalar(YamlNode n, string source) =>
        n is YamlScalarNode s ? s.Value ?? "" : throw new InputException($"{source}: expected a plain value at line {n.Start.Line}");

    /// <summary>YAML to JSON, turning plain scalars that look like numbers or booleans into them.</summary>
    internal static JsonNode? ToJson(YamlNode node, string source) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(Scalar(kv.Key, source), ToJson(kv.Value, source)))),
        YamlSequenceNode q => new JsonArray(q.Children.Select(c => ToJson(c, source)).ToArray()),
        YamlScalarNode s when s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted => JsonValue.Create(s.Value),
        YamlScalarNode s => ScalarToJson(s.Value),
        _ => throw new InputException($"{source}: unsupported YAML at line {node.Start.Line}"),
    };

    private static JsonNode? ScalarToJson(string? v)
    {
        if (v is null || v is "~" or "null") return null;
        if (long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return JsonValue.Create(d);
        if (v is "true" or "false") return JsonValue.Create(v == "true");
        return JsonValue.Create(v);
    }
}

/// <summary>A distribution for random search: uniform, log_uniform or choice.</summary>
public sealed record RandomDistribution(string Kind, double Low, double High, JsonNode[] Choices, bool Integer)
{
    public JsonNode Draw(Random rng) => Kind switch
    {
        "choice" => Choices[rng.Next(Choices.Length)].DeepClone(),
        "log_uniform" => Round(Math.Exp(Math.Log(Low) + rng.NextDouble() * (Math.Log(High) - Math.Log(Low)))),
        _ => Round(Low + rng.NextDouble() * (High - Low)),
    };

    private JsonNode Round(double x) => Integer ? JsonValue.Create((long)Math.Round(x)) : JsonValue.Create(double.Parse(x.ToString("G6", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));

    public JsonNode ToJson() => Kind == "choice"
        ? new JsonObject { ["choice"] = new JsonArray(Choices.Select(c => c.DeepClone()).ToArray()) }
        : new JsonObject { [Kind + (Integer ? "_int" : "")] = new JsonArray(Low, High) };

    public static RandomDistribution Parse(JsonNode? node, string where)
    {
        if (node is not JsonObject o || o.Count != 1)
            throw new InputException($"{where}: expected one of {{uniform: [lo, hi]}}, {{log_uniform: [lo, hi]}}, {{uniform_int: [lo, hi]}}, {{choice: [...]}}");
        var (kind, value) = o.First();
        if (value is not JsonArray arr || arr.Count == 0) throw new InputException($"{where}: '{kind}' needs a list");
        if (kind == "choice") return new RandomDistribution("choice", 0, 0, arr.Select(a => a!.DeepClone()).ToArray(), false);
        bool integer = kind.EndsWith("_int", StringComparison.Ordinal);
        string baseKind = integer ? kind[..^4] : kind;
        if (baseKind is not ("uniform" or "log_uniform") || arr.Count != 2)
            throw new InputException($"{where}: unknown distribution '{kind}' (uniform, log_uniform, uniform_int, log_uniform_int, choice with [lo, hi])");
        double lo = ToDouble(arr[0], where), hi = ToDouble(arr[1], where);
        if (!(hi > lo) || (baseKind == "log_uniform" && lo <= 0)) throw new InputException($"{where}: need 0 < lo < hi for log_uniform, lo < hi otherwise");
        return new RandomDistribution(baseKind, lo, hi, [], integer);
    }

    private static double ToDouble(JsonNode? n, string where) => n switch
    {
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        _ => throw new InputException($"{where}: bounds must be numbers"),
    };
}
