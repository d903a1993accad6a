namespace OverlaySim.Core;

/// <summary>Binary search over ids sorted in increasing order.</summary>
public static class IdSearch
{
    /// <summary>Index of the first element of <paramref name="sorted"/> that is &gt;= <paramref name="key"/> (its length if none).</summary>
    /// <example>[3, 5, 5, 9]: key 5 gives 1, key 6 gives 3, key 10 gives 4, key 0 gives 0.</example>
    public static int LowerBound(ReadOnlySpan<Id> sorted, Id key)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < key) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// The index of a sorted run of ids by their top <paramref name="bits"/> bits in <paramref name="space"/>: entry v
    /// (0 … 2^bits) is the position of the first id whose top bits are &gt;= v, so the ids with top bits v are
    /// [index[v], index[v + 1]), and index[2^bits] is the length. O(n + 2^bits).
    /// </summary>
    /// <example>Ids [1, 2, 9, 12] of a 4-bit space, bits = 2: top bits 0, 0, 2, 3, so the index is [0, 2, 2, 3, 4].</example>
    public static int[] PrefixIndex(ReadOnlySpan<Id> sorted, IdSpace space, int bits)
    {
        int[] index = LargeArray.Zeroed<int>((1 << bits) + 1);
        int rank = 0;
        for (int v = 0; v <= 1 << bits; v++)
        {
            while (rank < sorted.Length && (long)space.Prefix(sorted[rank], bits) < v) rank++;
            index[v] = rank;
        }
        return index;
    }
}
