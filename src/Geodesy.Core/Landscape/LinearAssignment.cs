namespace Geodesy.Core.Landscape;

/// <summary>
/// The linear assignment problem: the permutation σ maximizing Σ_i A[i, σ(i)] of a square matrix,
/// by the Hungarian algorithm with row and column potentials (Kuhn 1955, Munkres 1957; the O(n³)
/// shortest-augmenting-path form).
/// </summary>
public static class LinearAssignment
{
    /// <summary>σ with σ[i] the column assigned to row i, maximizing the sum of the chosen entries.</summary>
    public static int[] Maximize(double[,] a)
    {
        int n = a.GetLength(0);
        if (a.GetLength(1) != n) throw new ArgumentException("the assignment matrix must be square", nameof(a));
        // Minimize the negated matrix. Rows and columns are 1-based below; index 0 is the virtual start.
        var u = new double[n + 1];
        var v = new double[n + 1];
        var rowOfColumn = new int[n + 1];
        var way = new int[n + 1];
        for (int row = 1; row <= n; row++)
        {
            rowOfColumn[0] = row;
            int column0 = 0;
            var minimum = Enumerable.Repeat(double.PositiveInfinity, n + 1).ToArray();
            var used = new bool[n + 1];
            do
            {
                used[column0] = true;
                int i0 = rowOfColumn[column0], column1 = 0;
                double delta = double.PositiveInfinity;
                for (int j = 1; j <= n; j++)
                {
                    if (used[j]) continue;
                    double reduced = -a[i0 - 1, j - 1] - u[i0] - v[j];
                    if (reduced < minimum[j])
                    {
                        minimum[j] = reduced;
                        way[j] = column0;
                    }
                    if (minimum[j] < delta)
                    {
                        delta = minimum[j];
                        column1 = j;
                    }
                }
                for (int j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[rowOfColumn[j]] += delta;
                        v[j] -= delta;
                    }
                    else minimum[j] -= delta;
                }
                column0 = column1;
            }
            while (rowOfColumn[column0] != 0);
            do
            {
                int column1 = way[column0];
                rowOfColumn[column0] = rowOfColumn[column1];
                column0 = column1;
            }
            while (column0 != 0);
        }
        var assignment = new int[n];
        for (int j = 1; j <= n; j++) assignment[rowOfColumn[j] - 1] = j - 1;
        return assignment;
    }
}
