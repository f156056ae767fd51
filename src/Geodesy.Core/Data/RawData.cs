using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Core.Data;

/// <summary>
/// What a source hands to <see cref="DataSpecs"/> before options are applied: float32 inputs,
/// labels as arrays (cheap to subset and corrupt), and the SHA-256 of the source.
/// <see cref="CleanTrainLabels"/> is set when the source itself corrupted some train labels.
/// </summary>
internal sealed record RawData(Tensor TrainInputs, long[] TrainLabels, Tensor TestInputs, long[] TestLabels, int NumClasses, string SourceSha256)
{
    public long[]? CleanTrainLabels { get; init; }

    /// <summary>Images as float32 [N, C, H, W] = byte/255 from the records of <paramref name="pixels"/> at <paramref name="indices"/> (all if null).</summary>
    public static Tensor Images(byte[] pixels, int channels, int rows, int columns, int[]? indices = null)
    {
        int size = channels * rows * columns;
        byte[] selected = pixels;
        if (indices is not null)
        {
            selected = new byte[(long)indices.Length * size];
            for (int i = 0; i < indices.Length; i++)
                Array.Copy(pixels, (long)indices[i] * size, selected, (long)i * size, size);
        }
        long count = selected.LongLength / size;
        using var bytes = torch.tensor(selected, [count, channels, rows, columns], dtype: ScalarType.Byte);
        return bytes.to_type(ScalarType.Float32).div_(255f);
    }

    public static long[] Labels(byte[] labels, int[]? indices = null) =>
        indices is null ? labels.Select(b => (long)b).ToArray() : indices.Select(i => (long)labels[i]).ToArray();

    /// <summary>Float32 [N, ...shape] from a row-major array.</summary>
    public static Tensor Floats(float[] values, params long[] shape) => torch.tensor(values, shape, dtype: ScalarType.Float32);
}
