namespace OverlaySim.Core;

/// <summary>
/// The global view of the ring: live node ids in sorted order. For metrics, tests and static builds only;
/// protocol code never reads it to make a routing decision.
/// </summary>
/// <remarks>
/// <para>Stored as sorted blocks of at most 1024 ids (a one-level B-tree), so that churn inserts and removes in
/// O(log n + 1024) instead of moving half of a flat array; static builds read a flat sorted copy through
/// <see cref="SortedIds"/> and the rank accessors, which are rebuilt lazily after a change.</para>
/// <para>Memory: about 28 bytes per live node in blocks, plus 28 for the flat copy while it is in use.</para>
/// </remarks>
public sealed class Oracle
{
    private const int BlockCapacity = 1024;

    private sealed class Block
    {
        public readonly Id[] Ids = new Id[BlockCapacity];
        public readonly int[] Nodes = new int[BlockCapacity];
        public int Count;
        public Id Last => Ids[Count - 1];
    }

    private readonly IdSpace _space;
    private readonly List<Block> _blocks = [];
    private Id[] _sorted = [];
    private int[] _order = [];
    private bool _flatValid = true;

    public Oracle(IdSpace space) => _space = space;

    public int Count { get; private set; }

    public IdSpace Space => _space;

    /// <summary>Live ids in increasing order.</summary>
    public ReadOnlySpan<Id> SortedIds
    {
        get
        {
            EnsureFlat();
            return _sorted;
        }
    }

    /// <summary>Ordinals of the live nodes, in increasing id order.</summary>
    public ReadOnlySpan<int> SortedNodes
    {
        get
        {
            EnsureFlat();
            return _order;
        }
    }

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
        _blocks.Clear();
        for (int start = 0; start < n; start += BlockCapacity / 2)
        {
            var b = new Block { Count = Math.Min(BlockCapacity / 2, n - start) };
            Array.Copy(ids, start, b.Ids, 0, b.Count);
            Array.Copy(order, start, b.Nodes, 0, b.Count);
            _blocks.Add(b);
        }
        Count = n;
        _sorted = ids;
        _order = order;
        _flatValid = true;
    }

    /// <summary>Adds a live node. Its id must not be in the view already.</summary>
    public void Insert(Id id, int node)
    {
        _flatValid = false;
        Count++;
        if (_blocks.Count == 0)
        {
            var first = new Block { Count = 1 };
            first.Ids[0] = id;
            first.Nodes[0] = node;
            _blocks.Add(first);
            return;
        }
        int bi = BlockFor(id);
        if (bi == _blocks.Count) bi--; // larger than every id: append to the last block
        Block b = _blocks[bi];
        int pos = LowerBound(b, id);
        Array.Copy(b.Ids, pos, b.Ids, pos + 1, b.Count - pos);
        Array.Copy(b.Nodes, pos, b.Nodes, pos + 1, b.Count - pos);
        b.Ids[pos] = id;
        b.Nodes[pos] = node;
        b.Count++;
        if (b.Count == BlockCapacity)
        {
            var right = new Block { Count = BlockCapacity / 2 };
            Array.Copy(b.Ids, BlockCapacity / 2, right.Ids, 0, right.Count);
            Array.Copy(b.Nodes, BlockCapacity / 2, right.Nodes, 0, right.Count);
            b.Count = BlockCapacity / 2;
            _blocks.Insert(bi + 1, right);
        }
    }

    /// <summary>Removes a node's id from the view; returns false if it was not there.</summary>
    public bool Remove(Id id)
    {
        int bi = BlockFor(id);
        if (bi == _blocks.Count) return false;
        Block b = _blocks[bi];
        int pos = LowerBound(b, id);
        if (pos == b.Count || b.Ids[pos] != id) return false;
        _flatValid = false;
        Array.Copy(b.Ids, pos + 1, b.Ids, pos, b.Count - pos - 1);
        Array.Copy(b.Nodes, pos + 1, b.Nodes, pos, b.Count - pos - 1);
        b.Count--;
        if (b.Count == 0) _blocks.RemoveAt(bi);
        Count--;
        return true;
    }

    /// <summary>successor(key) in Chord's sense: the first live node whose id is equal to or follows the key clockwise.</summary>
    public int Successor(Id key)
    {
        if (Count == 0) return -1;
        int bi = BlockFor(key);
        if (bi == _blocks.Count) return _blocks[0].Nodes[0];
        Block b = _blocks[bi];
        return b.Nodes[LowerBound(b, key)];
    }

    /// <summary>The live node that precedes <paramref name="key"/> strictly, counter-clockwise.</summary>
    public int Predecessor(Id key)
    {
        if (Count == 0) return -1;
        int bi = BlockFor(key);
        if (bi == _blocks.Count) return _blocks[^1].Nodes[_blocks[^1].Count - 1];
        Block b = _blocks[bi];
        int pos = LowerBound(b, key);
        if (pos > 0) return b.Nodes[pos - 1];
        Block prev = _blocks[bi == 0 ? _blocks.Count - 1 : bi - 1];
        return prev.Nodes[prev.Count - 1];
    }

    /// <summary>The first live node whose id is &gt;= <paramref name="value"/>, without wrapping around; -1 if none.</summary>
    public int FirstAtOrAfter(Id value, out Id id)
    {
        id = default;
        int bi = BlockFor(value);
        if (bi == _blocks.Count) return -1;
        Block b = _blocks[bi];
        int pos = LowerBound(b, value);
        id = b.Ids[pos];
        return b.Nodes[pos];
    }

    /// <summary>
    /// The live node whose id is closest to <paramref name="key"/> in the XOR metric (Kademlia's responsible node).
    /// </summary>
    /// <remarks>
    /// Walks down the bits of the id space: the live ids that share the current prefix with the key form one value
    /// range; its lower and upper halves (by the next bit) are probed with <see cref="FirstAtOrAfter"/>, and the half
    /// that agrees with the key's bit is kept when it holds any id. It stops as soon as the range holds a single id,
    /// which is after about log2 N bits: O(log² N) comparisons, on the blocked list as well as on a flat one.
    /// </remarks>
    public int XorClosest(Id key)
    {
        if (Count == 0) return -1;
        int bits = _space.Bits;
        Id lo = Id.Zero;                       // the current prefix range is [lo, lo + 2^(b+1))
        for (int b = bits - 1; b >= 0; b--)
        {
            Id width = Id.Pow2(b + 1);
            Id mid = lo + Id.Pow2(b);
            Id end = lo + width;
            int first = FirstAtOrAfter(lo, out Id firstId);
            // A single id left in the range: it is the answer.
            if (first >= 0 && firstId < end)
            {
                Id next = firstId + Id.FromUInt64(1);
                int second = FirstAtOrAfter(next, out Id secondId);
                if (second < 0 || !(secondId < end)) return first;
            }
            int upper = FirstAtOrAfter(mid, out Id upperId);
            bool upperHas = upper >= 0 && upperId < end;
            bool lowerHas = first >= 0 && firstId < mid;
            bool wantUpper = key.Bit(b) == 1;
            if (wantUpper ? upperHas : !lowerHas) lo = mid;
        }
        return FirstAtOrAfter(lo, out _);
    }

    /// <summary>Position in sorted order of the first live id &gt;= <paramref name="key"/>, wrapping to 0.</summary>
    public int SuccessorRank(Id key)
    {
        EnsureFlat();
        int lo = LowerBound(_sorted, key);
        return lo == _sorted.Length ? 0 : lo;
    }

    /// <summary>Index of the first element of <paramref name="sorted"/> that is &gt;= <paramref name="key"/> (its length if none).</summary>
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

    /// <summary>The node at a sorted position, wrapping around the ring.</summary>
    public int AtRank(int rank)
    {
        EnsureFlat();
        int n = _order.Length;
        rank %= n;
        if (rank < 0) rank += n;
        return _order[rank];
    }

    public Id IdAtRank(int rank)
    {
        EnsureFlat();
        int n = _sorted.Length;
        rank %= n;
        if (rank < 0) rank += n;
        return _sorted[rank];
    }

    /// <summary>Index of the first block whose last id is &gt;= key, or the block count if none.</summary>
    private int BlockFor(Id key)
    {
        int lo = 0, hi = _blocks.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_blocks[mid].Last < key) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static int LowerBound(Block b, Id key)
    {
        int lo = 0, hi = b.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (b.Ids[mid] < key) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private void EnsureFlat()
    {
        if (_flatValid) return;
        _sorted = new Id[Count];
        _order = new int[Count];
        int at = 0;
        foreach (Block b in _blocks)
        {
            Array.Copy(b.Ids, 0, _sorted, at, b.Count);
            Array.Copy(b.Nodes, 0, _order, at, b.Count);
            at += b.Count;
        }
        _flatValid = true;
    }
}
