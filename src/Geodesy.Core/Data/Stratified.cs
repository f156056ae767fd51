namespace Geodesy.Core.Data;

/// <summary>
/// The fixed, documented rules that split and order labelled examples by class (docs/data.md).
/// <list type="number">
/// <item>Split (no randomness): the test set gets T = round(N/5) examples. Class c with n_c
/// examples gets t_c = floor(n_c·T/N) of them, and the classes with the largest remainders
/// (n_c·T mod N; ties to the lower class) get one more each until the t_c add up to T. Within
/// class c, taken in file order, example j (0-based) goes to test when
/// floor((j+1)·t_c/n_c) &gt; floor(j·t_c/n_c): evenly spaced, roughly every fifth example.
/// For the embedded MNIST (N = 10,000) this gives 8,000 train / 2,000 test with per-digit test
/// counts 200, 225, 198, 206, 196, 173, 203, 214, 189, 196.</item>
/// <item>Order: each side is then interleaved by class: the j-th of the n_c examples of class c
/// gets the key (j + ½)/n_c and examples are sorted by (key, class). Any prefix is then
/// stratified to within one example per class.</item>
/// <item>Subset: a seeded shuffle inside each class followed by the same interleave; the first
/// k examples are the subset.</item>
/// </list>
/// </summary>
public static class Stratified
{
    /// <summary>Splits indices 0..N-1 into (train, test) by the fixed 80/20 rule; both sides interleaved by class.</summary>
    public static (int[] Train, int[] Test) Split(ReadOnlySpan<long> labels, int numClasses)
    {
        var byClass = IndicesByClass(labels, numClasses);
        long n = labels.Length;
        long testTotal = (n + 2) / 5; // round(n/5); n/5 is never exactly half-way
        var testPerClass = new long[numClasses];
        var remainders = new long[numClasses];
        long assigned = 0;
        for (int c = 0; c < numClasses; c++)
        {
            long product = byClass[c].Count * testTotal;
            testPerClass[c] = n == 0 ? 0 : product / n;
            remainders[c] = n == 0 ? 0 : product % n;
            assigned += testPerClass[c];
        }
        // Largest remainders first, lower class on ties.
        var order = Enumerable.Range(0, numClasses).OrderByDescending(c => remainders[c]).ThenBy(c => c).ToArray();
        for (int k = 0; assigned < testTotal; k++, assigned++)
            testPerClass[order[k]]++;

        var train = new List<int>[numClasses];
        var test = new List<int>[numClasses];
        for (int c = 0; c < numClasses; c++)
        {
            var members = byClass[c];
            long nc = members.Count, tc = testPerClass[c];
            train[c] = new List<int>(members.Count);
            test[c] = new List<int>((int)tc);
            for (int j = 0; j < members.Count; j++)
            {
                bool toTest = (j + 1) * tc / nc > j * tc / nc;
                (toTest ? test[c] : train[c]).Add(members[j]);
            }
        }
        return (Interleave(train), Interleave(test));
    }

    /// <summary>All indices, shuffled within each class by <paramref name="random"/> and interleaved by class.</summary>
    public static int[] Permutation(ReadOnlySpan<long> labels, int numClasses, SeededRandom random)
    {
        var byClass = IndicesByClass(labels, numClasses);
        foreach (var members in byClass)
        {
            var shuffled = members.ToArray();
            random.Shuffle(shuffled);
            members.Clear();
            members.AddRange(shuffled);
        }
        return Interleave(byClass);
    }

    private static List<int>[] IndicesByClass(ReadOnlySpan<long> labels, int numClasses)
    {
        var byClass = new List<int>[numClasses];
        for (int c = 0; c < numClasses; c++) byClass[c] = [];
        for (int i = 0; i < labels.Length; i++)
        {
            long y = labels[i];
            if (y < 0 || y >= numClasses)
                throw new InputException($"label {y} at index {i} is out of range [0, {numClasses})");
            byClass[y].Add(i);
        }
        return byClass;
    }

    /// <summary>Merges per-class lists: the j-th of n_c members of class c sorts by ((j + ½)/n_c, c).</summary>
    private static int[] Interleave(List<int>[] byClass)
    {
        var keyed = new List<(double Key, int Class, int Index)>();
        for (int c = 0; c < byClass.Length; c++)
        {
            int nc = byClass[c].Count;
            for (int j = 0; j < nc; j++)
                keyed.Add(((j + 0.5) / nc, c, byClass[c][j]));
        }
        return keyed.OrderBy(e => e.Key).ThenBy(e => e.Class).Select(e => e.Index).ToArray();
    }
}
