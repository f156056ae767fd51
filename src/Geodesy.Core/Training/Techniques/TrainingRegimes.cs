namespace Geodesy.Core.Training.Techniques;

/// <summary>
/// The "train longer" regime of Hoffer, Hubara &amp; Soudry (2017, "Train longer, generalize better"):
/// a run with batch B is compared with a reference batch B0 by scaling the learning rate with the
/// square root of the batch ratio (so the variance of the weight update matches that of the
/// small-batch run) and stretching the epochs by B/B0 (so the number of updates matches: with
/// n examples the reference takes n/B0 steps per epoch, batch B takes n/B). Together with ghost
/// batch normalization (<see cref="GhostBatchNorm"/>) these are the paper's three changes.
/// </summary>
public static class TrainingRegimes
{
    /// <summary>lr · sqrt(B/B0), or lr unchanged when no reference batch is given.</summary>
    public static double TrainLongerRate(double lr, int batch, int? referenceBatch) =>
        referenceBatch is { } b0 && b0 > 0 ? lr * Math.Sqrt(batch / (double)b0) : lr;

    /// <summary>⌈epochs · B/B0⌉ (at least the given epochs' worth of updates), or unchanged.</summary>
    public static int TrainLongerEpochs(int epochs, int batch, int? referenceBatch) =>
        referenceBatch is { } b0 && b0 > 0 ? (int)Math.Min(int.MaxValue, Math.Ceiling(epochs * (batch / (double)b0))) : epochs;
}
