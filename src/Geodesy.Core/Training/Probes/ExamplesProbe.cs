using System.Collections;
using System.Diagnostics;
using TorchSharp;
using static Geodesy.Core.Training.Probes.Keys;
using static TorchSharp.torch;

namespace Geodesy.Core.Training.Probes;

/// <summary>
/// Per-example learning times: at every measurement, which training examples the model (eval
/// mode) predicts with their training label; when training stops, each example's learning time is
/// the first measurement from which it stays correct to the end ("never" if it is wrong at the
/// last one). Because "stays" needs the future, the rows are written when training stops, one per
/// measurement: the fraction correct, and for clean vs label-flipped examples the fraction correct
/// and the fraction already learned. The full table goes to DIR/examples.jsonl.
/// </summary>
public sealed class ExamplesProbe : IProbe, IProbeTable
{
    private const int EvalBatch = 2000;
    private readonly List<(long Step, int Epoch, BitArray Correct, double Seconds)> _measurements = [];
    private long[] _labels = [];
    private bool[] _noisy = [];
    private int[]? _learnedAt; // index into _measurements, -1 = never

    public string Name => "examples";
    public string Table => "examples";

    public IEnumerable<ProbeRow> Measure(ProbeContext context)
    {
        var clock = Stopwatch.StartNew();
        var train = context.Train ?? throw new InvalidOperationException("the examples probe needs the training set");
        if (_noisy.Length == 0)
        {
            _labels = train.Labels.data<long>().ToArray();
            _noisy = new bool[train.Count];
            foreach (long i in context.Flipped) _noisy[i] = true;
        }
        if (_measurements.Count > 0 && _measurements[^1].Step == context.Step) return []; // already measured at these weights
        _measurements.Add((context.Step, context.Epoch, Correct(context.Model, train), clock.Elapsed.TotalSeconds));
        return [];
    }

    public IEnumerable<ProbeRow> Finish(ProbeContext context)
    {
        if (_measurements.Count == 0) return [];
        int n = _labels.Length, last = _measurements.Count - 1;
        _learnedAt = new int[n];
        for (int i = 0; i < n; i++)
        {
            int t = last;
            if (!_measurements[last].Correct[i]) { _learnedAt[i] = -1; continue; }
            while (t > 0 && _measurements[t - 1].Correct[i]) t--;
            _learnedAt[i] = t;
        }
        int noisyCount = _noisy.Count(b => b), cleanCount = n - noisyCount;
        var rows = new List<ProbeRow>();
        for (int t = 0; t <= last; t++)
        {
            var (step, epoch, correct, seconds) = _measurements[t];
            int clean = 0, noisy = 0, cleanLearned = 0, noisyLearned = 0;
            for (int i = 0; i < n; i++)
            {
                bool learned = _learnedAt[i] >= 0 && _learnedAt[i] <= t;
                if (_noisy[i]) { noisy += correct[i] ? 1 : 0; noisyLearned += learned ? 1 : 0; }
                else { clean += correct[i] ? 1 : 0; cleanLearned += learned ? 1 : 0; }
            }
            var extras = new List<KeyValuePair<string, object?>>
            {
                Of("clean_accuracy", Fraction(clean, cleanCount)),
                Of("noisy_accuracy", Fraction(noisy, noisyCount)),
                Of("clean_learned", Fraction(cleanLearned, cleanCount)),
                Of("noisy_learned", Fraction(noisyLearned, noisyCount)),
                Of("clean_examples", (long)cleanCount),
                Of("noisy_examples", (long)noisyCount),
            };
            if (t == last)
            {
                extras.Add(Of("clean_median_learned_epoch", MedianEpoch(noisy: false)));
                extras.Add(Of("noisy_median_learned_epoch", MedianEpoch(noisy: true)));
                extras.Add(Of("clean_never", Fraction(Never(false), cleanCount)));
                extras.Add(Of("noisy_never", Fraction(Never(true), noisyCount)));
            }
            extras.Add(Of("matvecs", 0L));
            extras.Add(Of("seconds", seconds));
            rows.Add(new ProbeRow(Name, step, epoch, Fraction(clean + noisy, n), extras));
        }
        return rows;
    }

    public IEnumerable<IReadOnlyList<KeyValuePair<string, object?>>> TableRows()
    {
        if (_learnedAt is null) yield break;
        for (int i = 0; i < _labels.Length; i++)
        {
            int t = _learnedAt[i];
            yield return
            [
                Of("index", (long)i),
                Of("label", _labels[i]),
                Of("noisy", _noisy[i]),
                Of("learned_epoch", t >= 0 ? (long)_measurements[t].Epoch : null),
                Of("learned_step", t >= 0 ? _measurements[t].Step : null),
                Of("correct_final", t >= 0),
            ];
        }
    }

    private static double Fraction(int count, int of) => of == 0 ? double.NaN : count / (double)of;

    private int Never(bool noisy) => Enumerable.Range(0, _labels.Length).Count(i => _noisy[i] == noisy && _learnedAt![i] < 0);

    /// <summary>The median learning epoch of the clean or noisy examples, "never" counted as later than any (NaN if more than half never learn).</summary>
    private double MedianEpoch(bool noisy)
    {
        var times = Enumerable.Range(0, _labels.Length).Where(i => _noisy[i] == noisy)
            .Select(i => _learnedAt![i] >= 0 ? _measurements[_learnedAt[i]].Epoch : int.MaxValue).Order().ToArray();
        if (times.Length == 0) return double.NaN;
        int median = times[(times.Length - 1) / 2];
        return median == int.MaxValue ? double.NaN : median;
    }

    /// <summary>Which examples the model (eval mode) predicts with their training label.</summary>
    private static BitArray Correct(nn.Module<Tensor, Tensor> model, Data.Dataset data)
    {
        bool training = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var dtype = Evaluation.ParameterDType(model);
            var hits = new bool[data.Count];
            for (long start = 0; start < data.Count; start += EvalBatch)
            {
                using var inner = NewDisposeScope();
                long len = Math.Min(EvalBatch, data.Count - start);
                var logits = model.call(data.Inputs.narrow(0, start, len).to_type(dtype));
                var ok = logits.argmax(1).eq(data.Labels.narrow(0, start, len)).data<bool>().ToArray();
                Array.Copy(ok, 0, hits, start, len);
            }
            return new BitArray(hits);
        }
        finally
        {
            if (training) model.train();
        }
    }
}
