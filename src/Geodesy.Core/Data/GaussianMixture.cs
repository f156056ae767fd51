namespace Geodesy.Core.Data;

/// <summary>
/// gaussian-mixture:classes=10,dim=20,sep=3,n=2000[,test=N][,seed=0]. Class c has mean
/// sep·u_c; the directions u_c are Gaussian vectors made orthonormal by Gram-Schmidt when
/// classes ≤ dim (every pair of means is then exactly sep·√2 apart), else only normalized.
/// x = mean_y + ε with ε ~ N(0, I). Labels are balanced: example i has class i mod classes.
/// Train (n examples) and test (test examples, default n) use the same means and different streams.
/// </summary>
internal static class GaussianMixture
{
    public static readonly string[] Keys = ["classes", "dim", "sep", "n", "test", "seed"];

    public static RawData Generate(string spec, string body)
    {
        var args = new SpecArgs(spec, "gaussian-mixture", body, Keys);
        int classes = args.Int("classes", 10, 2, 1000);
        int dim = args.Int("dim", 20, 1, 100_000);
        double sep = args.Double("sep", 3.0, 0.0, 1e6);
        int n = args.Int("n", 2000, 1, 10_000_000);
        int test = args.Int("test", n, 1, 10_000_000);
        long seed = args.Long("seed", 0);
        Synthetic.CheckSize(args, (long)(n + test) * dim);

        var means = Directions(classes, dim, SeededRandom.Stream(seed, "gaussian-mixture/means"));
        for (int c = 0; c < classes; c++)
            for (int d = 0; d < dim; d++)
                means[c][d] *= sep;

        (float[] x, long[] y) Sample(int count, string stream)
        {
            var random = SeededRandom.Stream(seed, stream);
            var x = new float[(long)count * dim];
            var y = new long[count];
            for (int i = 0; i < count; i++)
            {
                int c = i % classes;
                y[i] = c;
                for (int d = 0; d < dim; d++)
                    x[(long)i * dim + d] = (float)(means[c][d] + random.NextGaussian());
            }
            return (x, y);
        }

        var (trainX, trainY) = Sample(n, "gaussian-mixture/train");
        var (testX, testY) = Sample(test, "gaussian-mixture/test");
        return new RawData(RawData.Floats(trainX, n, dim), trainY, RawData.Floats(testX, test, dim), testY, classes,
            Synthetic.SourceSha(args));
    }

    /// <summary>Unit directions; orthonormal (Gram-Schmidt) when count ≤ dim.</summary>
    private static double[][] Directions(int count, int dim, SeededRandom random)
    {
        var u = new double[count][];
        for (int c = 0; c < count; c++)
        {
            u[c] = new double[dim];
            // Redraw in the (probability-zero) case of a degenerate vector.
            for (int attempt = 0; ; attempt++)
            {
                for (int d = 0; d < dim; d++) u[c][d] = random.NextGaussian();
                if (count <= dim)
                    for (int prev = 0; prev < c; prev++)
                    {
                        double dot = 0;
                        for (int d = 0; d < dim; d++) dot += u[c][d] * u[prev][d];
                        for (int d = 0; d < dim; d++) u[c][d] -= dot * u[prev][d];
                    }
                double norm = Math.Sqrt(u[c].Sum(v => v * v));
                if (norm > 1e-8 || attempt > 100)
                {
                    for (int d = 0; d < dim; d++) u[c][d] /= norm;
                    break;
                }
            }
        }
        return u;
    }
}
