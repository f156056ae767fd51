using TorchSharp;
using Geodesy.Core;
using Geodesy.Core.Data;

namespace Geodesy.Tests.Data;

public class Cifar10Tests : IDisposable
{
    private readonly DataTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private void WriteAll(int perBatch, int testCount)
    {
        for (int b = 0; b < 5; b++)
            _files.Write($"data_batch_{b + 1}.bin", DataTestFiles.CifarBatch(perBatch, offset: b * perBatch));
        _files.Write("test_batch.bin", DataTestFiles.CifarBatch(testCount, offset: 1000));
    }

    [Fact]
    public void LoadsSmallSyntheticBatches()
    {
        using var scope = torch.NewDisposeScope();
        WriteAll(perBatch: 4, testCount: 3);

        using var split = DataSpecs.Load($"cifar10:{_files.Directory}");

        Assert.Equal([20L, 3, 32, 32], split.Train.Inputs.shape);
        Assert.Equal([3L, 3, 32, 32], split.Test.Inputs.shape);
        Assert.Equal(10, split.Train.NumClasses);
        // Train record i (across batches in order) has label i mod 10 and byte k = (i + k) mod 256;
        // byte k = channel·1024 + row·32 + column.
        int i = 13, channel = 2, row = 5, column = 9;
        int k = channel * 1024 + row * 32 + column;
        Assert.Equal((long)(i % 10), split.Train.Labels[i].item<long>());
        Assert.Equal((byte)((i + k) % 256) / 255f, split.Train.Inputs[i, channel, row, column].item<float>());
        Assert.Equal((long)(1002 % 10), split.Test.Labels[2].item<long>());
    }

    [Fact]
    public void MissingBatchIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        WriteAll(perBatch: 2, testCount: 2);
        File.Delete(Path.Combine(_files.Directory, "data_batch_3.bin"));
        var e = Assert.Throws<InputException>(() => DataSpecs.Load($"cifar10:{_files.Directory}"));
        Assert.Contains("data_batch_3.bin", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void MissingDirectoryIsNamed()
    {
        using var scope = torch.NewDisposeScope();
        string dir = Path.Combine(_files.Directory, "absent");
        var e = Assert.Throws<InputException>(() => DataSpecs.Load($"cifar10:{dir}"));
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void TruncatedBatchIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        WriteAll(perBatch: 2, testCount: 2);
        var bytes = DataTestFiles.CifarBatch(2, 0)[..^100];
        string path = _files.Write("test_batch.bin", bytes);
        var e = Assert.Throws<InputException>(() => DataSpecs.Load($"cifar10:{_files.Directory}"));
        Assert.Contains(path, e.Message);
        Assert.Contains("3073-byte records", e.Message);
    }

    [Fact]
    public void LabelOutOfRangeIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        WriteAll(perBatch: 2, testCount: 2);
        var bytes = DataTestFiles.CifarBatch(2, 0);
        bytes[3073] = 10; // label of record 1
        _files.Write("data_batch_5.bin", bytes);
        var e = Assert.Throws<InputException>(() => DataSpecs.Load($"cifar10:{_files.Directory}"));
        Assert.Contains("data_batch_5.bin", e.Message);
        Assert.Contains("label 10 of record 1", e.Message);
    }

    [Fact]
    public void EmptyBatchIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        WriteAll(perBatch: 2, testCount: 2);
        _files.Write("data_batch_1.bin", []);
        var e = Assert.Throws<InputException>(() => DataSpecs.Load($"cifar10:{_files.Directory}"));
        Assert.Contains("empty", e.Message);
    }
}
