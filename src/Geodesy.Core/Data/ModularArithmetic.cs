namespace Geodesy.Core.Data;

/// <summary>
/// modular:p=97,op=add|sub|mul|div[,train=0.5][,corrupt=0][,seed=0]: the grokking task (Power et
/// al. 2022). Every pair (a, b) in [0, p)² (b ≠ 0 for div) is one example with input the one-hot
/// concatenation [onehot_p(a), onehot_p(b)] (float32 [N, 2p]) and label (a op b) mod p; div is
/// a·b⁻¹ mod p and needs p prime. A seeded shuffle puts round(train·N) pairs in train and the rest
/// in test. corrupt = f replaces the labels of exactly round(f·n_train) train examples (seeded)
/// by a uniformly random different class; test labels stay clean.
/// </summary>
internal static class ModularArithmetic
{
    public static readonly string[] Keys = ["p", "op", "train", "corrupt", "seed"];
    /// <summary>p ≤ 400 keeps the one-hot inputs under 512 MB.</summary>
    public const int MaxModulus = 400;

    public static RawData Generate(string spec, string body)
    {
        var args = new SpecArgs(spec, "modular", body, Keys);
        int p = args.Int("p", 97, 2, MaxModulus);
        string op = args.Choice("op", "add", "add", "sub", "mul", "div");
        double trainFraction = args.Double("train", 0.5, 0.0, 1.0, maxExclusive: true);
        double corrupt = args.Double("corrupt", 0.0, 0.0, 1.0, maxExclusive: true);
        long seed = args.Long("seed", 0);
        if (op == "div" && !IsPrime(p))
            throw args.Error($"p={p} is not prime, so division mod p is not defined for every b ≠ 0");

        var pairs = new List<(int A, int B)>();
        for (int a = 0; a < p; a++)
            for (int b = op == "div" ? 1 : 0; b < p; b++)
                pairs.Add((a, b));
        int total = pairs.Count;
        int trainCount = (int)Math.Round(trainFraction * total, MidpointRounding.AwayFromZero);
        if (trainCount < 1 || trainCount > total - 1)
            throw args.Error($"train={trainFraction} leaves {trainCount} of {total} pairs for training; both train and test need at least one");

        var order = Enumerable.Range(0, total).ToArray();
        SeededRandom.Stream(seed, "modular/split").Shuffle(order);
        var trainPairs = order[..trainCount].Select(i => pairs[i]).ToArray();
        var testPairs = order[trainCount..].Select(i => pairs[i]).ToArray();

        var cleanTrain = trainPairs.Select(q => (long)Apply(op, q.A, q.B, p)).ToArray();
        var trainLabels = (long[])cleanTrain.Clone();
        int corrupted = (int)Math.Round(corrupt * trainCount, MidpointRounding.AwayFromZero);
        if (corrupted > 0)
        {
            var random = SeededRandom.Stream(seed, "modular/corrupt");
            var positions = Enumerable.Range(0, trainCount).ToArray();
            random.Shuffle(positions);
            foreach (int i in positions[..corrupted])
                trainLabels[i] = random.OtherClass(cleanTrain[i], p);
        }

        return new RawData(OneHot(trainPairs, p), trainLabels, OneHot(testPairs, p),
            testPairs.Select(q => (long)Apply(op, q.A, q.B, p)).ToArray(), p, Synthetic.SourceSha(args))
        {
            CleanTrainLabels = cleanTrain,
        };
    }

    /// <summary>(a op b) mod p in [0, p); div multiplies by the inverse b^(p-2) mod p (Fermat).</summary>
    public static int Apply(string op, int a, int b, int p) => op switch
    {
        "add" => (a + b) % p,
        "sub" => ((a - b) % p + p) % p,
        "mul" => (int)((long)a * b % p),
        "div" => (int)((long)a * PowMod(b, p - 2, p) % p),
        _ => throw new ArgumentException($"unknown op {op}", nameof(op)),
    };

    public static bool IsPrime(int p)
    {
        if (p < 2) return false;
        for (int d = 2; (long)d * d <= p; d++)
            if (p % d == 0) return false;
        return true;
    }

    private static long PowMod(long b, int e, int p)
    {
        long result = 1;
        b %= p;
        while (e > 0)
        {
            if ((e & 1) == 1) result = result * b % p;
            b = b * b % p;
            e >>= 1;
        }
        return result;
    }

    private static TorchSharp.torch.Tensor OneHot((int A, int B)[] pairs, int p)
    {
        var x = new float[(long)pairs.Length * 2 * p];
        for (int i = 0; i < pairs.Length; i++)
        {
            x[(long)i * 2 * p + pairs[i].A] = 1f;
            x[(long)i * 2 * p + p + pairs[i].B] = 1f;
        }
        return RawData.Floats(x, pairs.Length, 2 * p);
    }
}
