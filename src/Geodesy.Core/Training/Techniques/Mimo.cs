using Geodesy.Core.Data;
using Geodesy.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// MIMO (Havasi et al. 2021, "Training independent subnetworks for robust prediction"): one
/// network takes M examples at once, concatenated along the channel axis (the feature axis for
/// MLPs), and has M heads, K outputs each; head m is trained on input m only. At test time the
/// same example fills all M inputs and the prediction is the mean of the M members' softmax.
/// <para>Input shapes: a member-stacked batch [N, M, ...example] (training, from <see cref="MimoBatches"/>)
/// gives logits [N, K, M] for targets [N, M], so the trainer's mean cross-entropy is the mean of the
/// member losses; a plain batch [N, ...example] gives log of the ensemble's mean probabilities [N, K],
/// so cross-entropy and argmax of the output are those of the ensemble.</para>
/// The parameters are those of the inner zoo network (M·C input channels, M·K outputs) under the
/// zoo's own names.
/// </summary>
public sealed class MimoModel : nn.Module<Tensor, Tensor>, IExtraMetrics
{
    private readonly nn.Module<Tensor, Tensor> _inner;
    private readonly int _exampleRank;

    public MimoModel(nn.Module<Tensor, Tensor> inner, int members, int numClasses, int exampleRank) : base("MimoModel")
    {
        _inner = inner;
        Members = members;
        NumClasses = numClasses;
        _exampleRank = exampleRank;
        foreach (var (name, child) in inner.named_children()) register_module(name, child);
    }

    public int Members { get; }
    public int NumClasses { get; }

    /// <summary>Builds a MIMO network of M members from a zoo spec for examples of <paramref name="inputShape"/>.</summary>
    public static MimoModel Create(string spec, long[] inputShape, int numClasses, int members, long seed, ScalarType dtype = ScalarType.Float32)
    {
        if (members < 1) throw new InputException($"--mimo must be at least 1 (got {members})");
        var stacked = inputShape.ToArray();
        stacked[0] *= members;
        var inner = ModelZoo.Create(MemberSpec(spec, members), stacked, numClasses * members, seed, dtype);
        return new MimoModel(inner, members, numClasses, inputShape.Length);
    }

    /// <summary>The zoo spec of the inner network: an mlp's input and output sizes are multiplied by M; other zoo specs take their sizes from the data.</summary>
    public static string MemberSpec(string spec, int members)
    {
        if (members == 1 || !spec.StartsWith("mlp:", StringComparison.Ordinal)) return spec;
        var parts = spec["mlp:".Length..].Split(':');
        var sizes = parts[0].Split('-');
        sizes[0] = (long.Parse(sizes[0], System.Globalization.CultureInfo.InvariantCulture) * members).ToString(System.Globalization.CultureInfo.InvariantCulture);
        sizes[^1] = (long.Parse(sizes[^1], System.Globalization.CultureInfo.InvariantCulture) * members).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "mlp:" + string.Join('-', sizes) + (parts.Length > 1 ? ":" + string.Join(':', parts[1..]) : "");
    }

    public override Tensor forward(Tensor input)
    {
        if (_inner.training != training) _inner.train(training);
        bool stacked = input.dim() == _exampleRank + 2;
        // [N, M, C, ...] -> [N, M·C, ...]: member m occupies channels m·C .. m·C + C − 1.
        using var merged = stacked
            ? input.flatten(1, 2)
            : input.unsqueeze(1).expand(ExpandShape(input)).flatten(1, 2);
        using var logits = _inner.call(merged).reshape(input.shape[0], Members, NumClasses);
        if (stacked) return logits.transpose(1, 2).contiguous(); // [N, K, M] for targets [N, M]
        return MeanProbabilityLog(logits);
    }

    /// <summary>log((1/M) Σ_m softmax(z_m)) over [N, M, K] logits, computed stably with logsumexp.</summary>
    public static Tensor MeanProbabilityLog(Tensor memberLogits)
    {
        using var logp = memberLogits.log_softmax(-1);
        return logp.logsumexp(1) - Math.Log(memberLogits.shape[1]);
    }

    /// <summary>Member logits [N, M, K] for a plain batch (every member sees the same example).</summary>
    public Tensor MemberLogits(Tensor input)
    {
        using var merged = input.unsqueeze(1).expand(ExpandShape(input)).flatten(1, 2);
        return _inner.call(merged).reshape(input.shape[0], Members, NumClasses);
    }

    private long[] ExpandShape(Tensor input)
    {
        var shape = new long[input.dim() + 1];
        shape[0] = input.shape[0];
        shape[1] = Members;
        for (int i = 1; i < input.dim(); i++) shape[i + 1] = input.shape[i];
        return shape;
    }

    /// <summary>
    /// On the test set: each member's accuracy (mimo_member_accuracy_m), their mean, the ensemble's
    /// accuracy (argmax of the mean softmax) and the mean pairwise disagreement (fraction of test
    /// examples on which two members' argmax differ, averaged over pairs; 0 when M = 1).
    /// </summary>
    public IReadOnlyDictionary<string, double> Evaluate(DataSplit data, int batchSize)
    {
        var test = data.Test;
        var result = new Dictionary<string, double>();
        if (test.Count == 0) return result;
        bool wasTraining = training;
        eval();
        try
        {
            using var noGrad = torch.no_grad();
            var memberCorrect = new long[Members];
            long ensembleCorrect = 0, disagreements = 0;
            for (long start = 0; start < test.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(batchSize, test.Count - start);
                var x = test.Inputs.narrow(0, start, len).to_type(Evaluation.ParameterDType(this));
                var y = test.Labels.narrow(0, start, len);
                var logits = MemberLogits(x);
                var votes = logits.argmax(2); // [N, M]
                for (int m = 0; m < Members; m++) memberCorrect[m] += votes.select(1, m).eq(y).sum().item<long>();
                ensembleCorrect += MeanProbabilityLog(logits).argmax(1).eq(y).sum().item<long>();
                for (int a = 0; a < Members; a++)
                    for (int b = a + 1; b < Members; b++) disagreements += votes.select(1, a).ne(votes.select(1, b)).sum().item<long>();
            }
            double n = test.Count;
            for (int m = 0; m < Members; m++) result[$"mimo_member_accuracy_{m}"] = memberCorrect[m] / n;
            result["mimo_member_accuracy_mean"] = memberCorrect.Average() / n;
            result["mimo_ensemble_accuracy"] = ensembleCorrect / n;
            long pairs = Members * (Members - 1L) / 2;
            result["mimo_disagreement"] = pairs == 0 ? 0 : disagreements / (n * pairs);
            return result;
        }
        finally
        {
            if (wasTraining) train();
        }
    }
}

/// <summary>
/// The MIMO training batch of Havasi et al. (their batch- and input-repetition settings): the
/// trainer's mini-batch of B examples is tiled r times and shuffled; a fraction ρ of the positions
/// (the tail) is shared by all members, the rest is shuffled independently for each member, so each
/// head sees its own independently ordered examples. With M = 1, r = 1 the batch is passed through
/// unchanged, so a one-member MIMO model trains exactly like the plain model.
/// </summary>
public sealed class MimoBatches(int members, int batchRepetitions, double inputRepetition, long seed) : IBatchTransform
{
    private readonly torch.Generator _random = new((ulong)seed ^ 0x4D494D4FUL); // "MIMO": its own stream, the trainer's shuffle is untouched

    public (Tensor Inputs, Tensor Labels) Apply(Tensor x, Tensor y)
    {
        if (members == 1 && batchRepetitions == 1) return (x.unsqueeze(1), y.unsqueeze(1));
        long b = x.shape[0];
        var tiled = torch.arange(b).repeat(batchRepetitions);
        var main = tiled.index_select(0, torch.randperm(tiled.shape[0], generator: _random));
        long toShuffle = (long)Math.Floor(main.shape[0] * (1 - inputRepetition));
        var perMember = new Tensor[members];
        for (int m = 0; m < members; m++)
        {
            var head = main.narrow(0, 0, toShuffle);
            var shuffled = head.index_select(0, torch.randperm(toShuffle, generator: _random));
            var idx = torch.cat([shuffled, main.narrow(0, toShuffle, main.shape[0] - toShuffle)], 0);
            perMember[m] = idx;
        }
        var index = torch.stack(perMember, 1); // [B·r, M]
        var inputs = x.index_select(0, index.flatten()).reshape([index.shape[0], members, .. x.shape.Skip(1)]);
        var labels = y.index_select(0, index.flatten()).reshape(index.shape[0], members);
        return (inputs, labels);
    }
}
