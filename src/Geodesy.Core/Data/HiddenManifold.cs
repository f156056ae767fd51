namespace Geodesy.Core.Data;

/// <summary>
/// hidden-manifold:latent=10,dim=100,n=2000[,test=N][,act=tanh|sign|relu][,classes=2][,teacher=linear|two-layer][,seed=0]
/// (Goldt, Mézard, Krzakala, Zdeborová 2020). A fixed feature matrix C [dim, latent] with N(0,1)
/// entries; each example draws z ~ N(0, I_latent) and gets x = act(C z / √latent). The label
/// comes from a random teacher acting on z only: linear s = W z, or two-layer
/// s = V tanh(W₁ z / √latent) with latent hidden units (all weights N(0,1)). With 2 classes
/// the label is 1 when the single score s &gt; 0; with more, argmax over one score per class.
/// Train has n examples, test (default n) is drawn from another stream with the same C and teacher.
/// </summary>
internal static class HiddenManifold
{
    public static readonly string[] Keys = ["latent", "dim", "n", "test", "act", "classes", "teacher", "seed"];

    public static RawData Generate(string spec, string body)
    {
        var args = new SpecArgs(spec, "hidden-manifold", body, Keys);
        int latent = args.Int("latent", 10, 1, 10_000);
        int dim = args.Int("dim", 100, 1, 100_000);
        int n = args.Int("n", 2000, 1, 10_000_000);
        int test = args.Int("test", n, 1, 10_000_000);
        string act = args.Choice("act", "tanh", "tanh", "sign", "relu");
        int classes = args.Int("classes", 2, 2, 1000);
        string teacher = args.Choice("teacher", "linear", "linear", "two-layer");
        long seed = args.Long("seed", 0);
        Synthetic.CheckSize(args, (long)(n + test) * dim);

        var features = Gaussian(SeededRandom.Stream(seed, "hidden-manifold/features"), dim, latent);
        var teacherRandom = SeededRandom.Stream(seed, "hidden-manifold/teacher");
        int scores = classes == 2 ? 1 : classes;
        double[,]? hiddenWeights = teacher == "two-layer" ? Gaussian(teacherRandom, latent, latent) : null;
        var outputWeights = Gaussian(teacherRandom, scores, latent);
        Func<double, double> activation = act switch
        {
            "tanh" => Math.Tanh,
            "sign" => v => Math.Sign(v),
            _ => v => Math.Max(v, 0.0),
        };
        double scale = 1.0 / Math.Sqrt(latent);

        (float[] x, long[] y) Sample(int count, string stream)
        {
            var random = SeededRandom.Stream(seed, stream);
            var x = new float[(long)count * dim];
            var y = new long[count];
            var z = new double[latent];
            var teacherInput = new double[latent];
            for (int i = 0; i < count; i++)
            {
                for (int k = 0; k < latent; k++) z[k] = random.NextGaussian();
                for (int d = 0; d < dim; d++)
                {
                    double s = 0;
                    for (int k = 0; k < latent; k++) s += features[d, k] * z[k];
                    x[(long)i * dim + d] = (float)activation(s * scale);
                }
                if (hiddenWeights is null)
                    Array.Copy(z, teacherInput, latent);
                else
                    for (int h = 0; h < latent; h++)
                    {
                        double s = 0;
                        for (int k = 0; k < latent; k++) s += hiddenWeights[h, k] * z[k];
                        teacherInput[h] = Math.Tanh(s * scale);
                    }
                y[i] = Label(outputWeights, teacherInput, scores);
            }
            return (x, y);
        }

        var (trainX, trainY) = Sample(n, "hidden-manifold/train");
        var (testX, testY) = Sample(test, "hidden-manifold/test");
        return new RawData(RawData.Floats(trainX, n, dim), trainY, RawData.Floats(testX, test, dim), testY, classes,
            Synthetic.SourceSha(args));
    }

    private static long Label(double[,] weights, double[] input, int scores)
    {
        long best = 0;
        double bestScore = double.NegativeInfinity;
        for (int c = 0; c < scores; c++)
        {
            double s = 0;
            for (int k = 0; k < input.Length; k++) s += weights[c, k] * input[k];
            if (scores == 1) return s > 0 ? 1 : 0;
            if (s > bestScore) (best, bestScore) = (c, s);
        }
        return best;
    }

    private static double[,] Gaussian(SeededRandom random, int rows, int columns)
    {
        var m = new double[rows, columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                m[r, c] = random.NextGaussian();
        return m;
    }
}
