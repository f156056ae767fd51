using Geodesy.Core.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Geodesy.Cli.Output;

/// <summary>
/// Shows training progress: a Spectre.Console bar on a terminal; plain lines otherwise (Spectre
/// prints nothing when output is redirected), one per epoch and at most one every 10 s within.
/// </summary>
public static class TrainingProgress
{
    public static bool IsInteractive(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null;

    public static T Run<T>(TextWriter output, string title, long totalSteps, Func<ITrainingObserver, T> work)
    {
        if (!IsInteractive(output)) return work(new PlainLines(output, totalSteps));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, totalSteps));
                var result = work(new Bar(task, title));
                task.Value = task.MaxValue;
                return result;
            });
    }

    public static string Describe(MetricsRow r) =>
        $"epoch {r.Epoch} step {r.Step}: train loss {r.TrainLoss:F4} acc {r.TrainAccuracy:P2} | test loss {r.TestLoss:F4} acc {r.TestAccuracy:P2} | {r.Seconds:F1} s";

    private sealed class PlainLines(TextWriter output, long totalSteps) : ITrainingObserver
    {
        private DateTime _lastLine = DateTime.UtcNow;

        public void OnStep(nn.Module model, int epoch, long step, double batchLoss)
        {
            if ((DateTime.UtcNow - _lastLine).TotalSeconds < 10) return;
            _lastLine = DateTime.UtcNow;
            output.WriteLine($"  epoch {epoch} step {step}/{totalSteps}: batch loss {batchLoss:F4}");
        }

        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch)
        {
            _lastLine = DateTime.UtcNow;
            output.WriteLine("  " + Describe(row));
        }
    }

    private sealed class Bar(ProgressTask task, string title) : ITrainingObserver
    {
        public void OnStep(nn.Module model, int epoch, long step, double batchLoss) => task.Value = step;

        public void OnMetrics(nn.Module model, MetricsRow row, bool endOfEpoch) =>
            task.Description = Markup.Escape($"{title} epoch {row.Epoch}: train {row.TrainLoss:F3}/{row.TrainAccuracy:P1} test {row.TestLoss:F3}/{row.TestAccuracy:P1}");
    }
}
