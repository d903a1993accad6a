namespace OverlaySim.Core;

/// <summary>
/// The global view of the ring: live node ids in sorted order. For metrics, tests and static builds only;
/// protocol code never reads it to make a routing decision.
/// </summary>
/// <remarks>
/// Memory: 24 + 4 bytes per live node (a sorted copy of the ids and their ordinals).
/// Queries are binary searches, O(log n).
/// </remarks>
public sealed class Oracle
{
    private readonly IdSpace _space;
    private Id[] _sorted = [];
    private int[] _order = [];

    public Oracle(IdSpace space) => _space = space;

    public int Count => _sorted.Length;

    /// <summary>Live ids in increasing order.</summary>
    public ReadOnlySpan<Id> SortedIds => _sorted;

    /// <summary>Ordinals of the live nodes, in increasing id order.</summary>
    public ReadOnlySpan<int> SortedNodes => _order;

    /// <summary>Rebuilds the view from the live nodes of <paramref name="nodes"/>. O(n log n).</summary>
    public void Rebuild(NodeTable nodes)
    {
        int n = nodes.LiveCount;
        var ids = new Id[n];
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            int node = nodes.LiveAt(i);
            order[i] = node;
            ids[i] = nodes.Ids[node];
        }
        Array.Sort(ids, order);
        _sorted = ids;
        _order = order;
    }

    /// <summary>Position in sorted order of the first live id &gt;= <paramref name="key"/>, wrapping to 0.</summary>
    public int SuccessorRank(Id key)
    {
        Id[] a = _sorted;
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < key) lo = mid + 1;
            else hi = mid;
        }
        return lo == a.Length ? 0 : lo;
    }

    /// <summary>successor(key) in Chord's sense: the first live node whose id is equal to or follows the key clockwise.</summary>
    public int Successor(Id key) => _order[SuccessorRank(key)];

    /// <summary>The node at a sorted position, wrapping around the ring.</summary>
    public int AtRank(int rank)
    {
        int n = _order.Length;
        rank %= n;
        if (rank < 0) rank += n;
        return _order[rank];
    }

    public Id IdAtRank(int rank)
    {
        int n = _sorted.Length;
        rank %= n;
        if (rank < 0) rank += n;
        return _sorted[rank];
    }

    public IdSpace Space => _space;
}
