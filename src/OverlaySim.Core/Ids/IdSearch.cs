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
}
