using System.Text.Json.Nodes;

namespace Geodesy.Experiments.Analyses;

/// <summary>
/// What a computation spent, as in the "cost" object of every JSON document: curvature products
/// (matvecs), gradient passes, wall seconds and the libtorch threads it ran on. Results carry one;
/// commands add extra keys (e.g. forward_examples) beside it.
/// </summary>
public sealed record Cost(long Matvecs, long Gradients, double Seconds, int Threads)
{
    public static Cost Zero { get; } = new(0, 0, 0, 0);

    /// <summary>A cost measured now, on the current number of libtorch threads.</summary>
    public static Cost Of(long matvecs, long gradients, double seconds) => new(matvecs, gradients, seconds, TorchSharp.torch.get_num_threads());

    public Cost Plus(Cost other) => new(Matvecs + other.Matvecs, Gradients + other.Gradients, Seconds + other.Seconds, Math.Max(Threads, other.Threads));

    /// <summary>Writes matvecs, gradients, seconds and threads into <paramref name="cost"/> (other keys are kept).</summary>
    public void WriteTo(JsonObject cost)
    {
        cost["matvecs"] = Matvecs;
        cost["gradients"] = Gradients;
        cost["seconds"] = Math.Round(Seconds, 4);
        cost["threads"] = Threads;
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject();
        WriteTo(o);
        return o;
    }
}
