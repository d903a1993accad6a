namespace OverlaySim.Core;

/// <summary>
/// The global view: the ids of the joined nodes in sorted order, with their ordinals. It holds only what every
/// overlay shares (who is part of the overlay, sorted ranks); each overlay's own rule for who is responsible for a
/// key (Chord's successor, Kademlia's XOR-closest) is in its <see cref="GroundTruth"/>, built on these queries.
/// </summary>
/// <remarks>
/// <para>Who can read it: a static build (<see cref="Overlay.BuildStatic"/> receives it), the ground truth
/// (<see cref="Overlay.CreateTruth"/>), the metrics and the tests. Overlays are never handed it otherwise: the
/// <see cref="Network"/> an overlay is attached to does not expose it, so protocol code cannot base a routing
/// decision on it.</para>
/// <para>Stored as sorted blocks of at most 1024 ids (a one-level B-tree), so that churn inserts and removes in
/// O(log n + 1024) instead of moving half of a flat array; static builds read a flat sorted copy through
/// <see cref="SortedIds"/> and the rank accessors, which are rebuilt lazily after a change. The blocks are made from
/// the flat copy at the first change only: a network without churn never has them.</para>
/// <para>Memory: 28 bytes per live node for the flat copy while it is in use, about 28 in blocks once there has been a
/// change (56 when made, blocks half full), 4 per node ordinal for the rank map of <see cref="IsNextOnRing"/> on an unchanged view, and at most 2 per live node
/// for the bucket index of <see cref="FirstAtOrAfter"/> on an unchanged view.</para>
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
    private readonly List<Block> _blockList = [];
    private bool _blocksValid = true;   // false after Rebuild until the first change (the flat copy is valid then)
    private Id[] _sorted = [];
    private int[] _order = [];
    private bool _flatValid = true;
    private int[]? _rank;      // per node ordinal: its position in _sorted, -1 if not joined; built with a valid flat copy
    private int[]? _bucket;    // 2^k + 1 entries: the rank of the first id whose top k bits are >= b; built with a valid flat copy

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

    /// <summary>
    /// <see cref="SortedIds"/> as memory, for a static build that reads it from parallel code (which cannot capture a
    /// span). Not a copy: valid until the view changes.
    /// </summary>
    public ReadOnlyMemory<Id> SortedIdMemory
    {
        get
        {
            EnsureFlat();
            return _sorted;
        }
    }

    /// <summary><see cref="SortedNodes"/> as memory (see <see cref="SortedIdMemory"/>).</summary>
    public ReadOnlyMemory<int> SortedNodeMemory
    {
        get
        {
            EnsureFlat();
            return _order;
        }
    }

    /// <summary>
    /// For a static build (see <see cref="SortedIdMemory"/>): each node ordinal's position in <see cref="SortedIds"/>, -1
    /// for one that has not joined; made now if it is not yet. Not a copy: valid until the view changes.
    /// </summary>
    public ReadOnlyMemory<int> RankMemory
    {
        get
        {
            EnsureFlat();
            return _rank ??= RankMap();
        }
    }

    /// <summary>
    /// For a static build (see <see cref="SortedIdMemory"/>): the bucket index <see cref="FirstAtOrAfter"/> searches by,
    /// over the ids' top <paramref name="bits"/> bits (<see cref="IdSearch.PrefixIndex"/>); empty, with bits 0, for a
    /// view too small to be indexed (a binary search of the sorted ids is as fast). Not a copy: valid until the view changes.
    /// </summary>
    public ReadOnlyMemory<int> BucketIndexMemory(out int bits)
    {
        EnsureFlat();
        bits = 0;
        if (Count < MinIndexed) return ReadOnlyMemory<int>.Empty;
        int[] bucket = _bucket ??= BucketIndex();
        bits = System.Numerics.BitOperations.Log2((uint)(bucket.Length - 1));
        return bucket;
    }

    /// <summary>Rebuilds the view from the live nodes of <paramref name="nodes"/>: O(n) with the table's sorted order or uniform ids, O(n log n) otherwise.</summary>
    internal void Rebuild(NodeTable nodes)
    {
        int n = nodes.LiveCount;
        // Every node live: the order the ids were made distinct in, when the table still has it, or a sort of them all.
        if (!nodes.TakeSortedOrder(out Id[]? ids, out int[]? order) || n != nodes.Count)
        {
            ids = new Id[n];
            order = new int[n];
            if (n == nodes.Count) IdSort.SortIndicesInto(nodes.Ids.AsSpan(0, n), ids, order, _space);   // ordinals 0 .. n-1
            else
            {
                for (int i = 0; i < n; i++)
                {
                    int node = nodes.LiveAt(i);
                    order[i] = node;
                    ids[i] = nodes.Ids[node];
                }
                Array.Sort(ids, order);
            }
        }
        _blockList.Clear();
        _blocksValid = false;
        Count = n;
        _sorted = ids;
        _order = order;
        _flatValid = true;
        _rank = null;
        _bucket = null;
    }

    /// <summary>The blocks, made from the flat copy if there has been no change since <see cref="Rebuild"/>.</summary>
    private List<Block> Blocks
    {
        get
        {
            if (_blocksValid) return _blockList;
            for (int start = 0; start < Count; start += BlockCapacity / 2)
            {
                var b = new Block { Count = Math.Min(BlockCapacity / 2, Count - start) };
                Array.Copy(_sorted, start, b.Ids, 0, b.Count);
                Array.Copy(_order, start, b.Nodes, 0, b.Count);
                _blockList.Add(b);
            }
            _blocksValid = true;
            return _blockList;
        }
    }

    /// <summary>Adds a live node. Its id must not be in the view already.</summary>
    internal void Insert(Id id, int node)
    {
        _ = Blocks;   // made from the flat copy before it goes out of date
        _flatValid = false;
        _rank = null;
        _bucket = null;
        Count++;
        if (Blocks.Count == 0)
        {
            var first = new Block { Count = 1 };
            first.Ids[0] = id;
            first.Nodes[0] = node;
            Blocks.Add(first);
            return;
        }
        int bi = BlockFor(id);
        if (bi == Blocks.Count) bi--; // larger than every id: append to the last block
        Block b = Blocks[bi];
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
            Blocks.Insert(bi + 1, right);
        }
    }

    /// <summary>Removes a node's id from the view; returns false if it was not there.</summary>
    internal bool Remove(Id id)
    {
        int bi = BlockFor(id);
        if (bi == Blocks.Count) return false;
        Block b = Blocks[bi];
        int pos = LowerBound(b, id);
        if (pos == b.Count || b.Ids[pos] != id) return false;
        _flatValid = false;
        _rank = null;
        _bucket = null;
        Array.Copy(b.Ids, pos + 1, b.Ids, pos, b.Count - pos - 1);
        Array.Copy(b.Nodes, pos + 1, b.Nodes, pos, b.Count - pos - 1);
        b.Count--;
        if (b.Count == 0) Blocks.RemoveAt(bi);
        Count--;
        return true;
    }

    /// <summary>The joined node with the smallest id, or -1 when there is none.</summary>
    public int First(out Id id)
    {
        id = default;
        if (Count == 0) return -1;
        if (_flatValid)
        {
            id = _sorted[0];
            return _order[0];
        }
        id = Blocks[0].Ids[0];
        return Blocks[0].Nodes[0];
    }

    /// <summary>The joined node with the largest id, or -1 when there is none.</summary>
    public int Last(out Id id)
    {
        id = default;
        if (Count == 0) return -1;
        if (_flatValid)
        {
            id = _sorted[Count - 1];
            return _order[Count - 1];
        }
        Block b = Blocks[^1];
        id = b.Ids[b.Count - 1];
        return b.Nodes[b.Count - 1];
    }

    /// <summary>The joined node whose id is the first &gt;= <paramref name="value"/>, without wrapping around; -1 if none.</summary>
    /// <remarks>
    /// While the view has not changed since it was last flattened (a network without churn), the top bits of the value
    /// pick a bucket of about two ids and the search runs inside it: two or three reads instead of a search of O(log N)
    /// whose last steps each miss the cache at 10^6 nodes (the ground truth of every lookup and key goes through here).
    /// After a change, until the view is flattened again, it searches the blocks.
    /// </remarks>
    public int FirstAtOrAfter(Id value, out Id id)
    {
        id = default;
        if (TryRankUnchanged(value, out int rank))
        {
            if (rank == Count) return -1;
            id = _sorted[rank];
            return _order[rank];
        }
        int bi = BlockFor(value);
        if (bi == Blocks.Count) return -1;
        Block b = Blocks[bi];
        int pos = LowerBound(b, value);
        id = b.Ids[pos];
        return b.Nodes[pos];
    }

    /// <summary>The joined node whose id is the last &lt; <paramref name="value"/>, without wrapping around; -1 if none.</summary>
    public int LastBefore(Id value, out Id id)
    {
        id = default;
        if (Count == 0) return -1;
        if (TryRankUnchanged(value, out int rank))
        {
            if (rank == 0) return -1;
            id = _sorted[rank - 1];
            return _order[rank - 1];
        }
        int bi = BlockFor(value);
        Block b;
        int pos;
        if (bi == Blocks.Count)
        {
            b = Blocks[^1];
            pos = b.Count;
        }
        else
        {
            b = Blocks[bi];
            pos = LowerBound(b, value);
        }
        if (pos == 0)
        {
            if (bi == 0) return -1;
            b = Blocks[bi - 1];
            pos = b.Count;
        }
        id = b.Ids[pos - 1];
        return b.Nodes[pos - 1];
    }

    /// <summary>
    /// Whether <paramref name="node"/> is the next joined node at or after <paramref name="key"/> going round the ring
    /// (wrapping past the top of the id space): whether key lies in (id of its predecessor, id of node].
    /// </summary>
    /// <remarks>
    /// While the view has not changed since it was last flattened (a network without churn), this reads the node's rank
    /// and the ids at that rank and the one before: O(1), three reads, instead of a search of O(log N) reads whose last
    /// steps each miss the cache at 10^6 nodes. After a change it searches the blocks.
    /// </remarks>
    /// <example>Joined ids {10, 20, 30} (m = 8): IsNextOnRing(15, node of 20) is true, IsNextOnRing(31, node of 10) true, IsNextOnRing(20, node of 30) false.</example>
    public bool IsNextOnRing(Id key, int node)
    {
        if (_flatValid && Count > 0)
        {
            int[] rank = _rank ??= RankMap();
            if ((uint)node >= (uint)rank.Length || rank[node] < 0) return false;
            if (Count == 1) return true;
            int r = rank[node];
            return _space.InOpenClosed(key, _sorted[r == 0 ? Count - 1 : r - 1], _sorted[r]);
        }
        int next = FirstAtOrAfter(key, out _);
        return (next >= 0 ? next : First(out _)) == node;
    }

    /// <summary>
    /// On a view unchanged since it was last flattened (see <see cref="SortedIds"/>, which it then is without copying):
    /// the sorted position of the first id &gt;= <paramref name="value"/> (Count if none), found in the bucket of the
    /// value's top bits. False, and no work, after a change: the caller searches another way rather than flatten.
    /// </summary>
    public bool TryRankUnchanged(Id value, out int rank)
    {
        rank = 0;
        if (!_flatValid) return false;
        if (Count < MinIndexed)
        {
            rank = IdSearch.LowerBound(_sorted, value);
            return true;
        }
        if (value.BitLength > _space.Bits)   // above every id
        {
            rank = Count;
            return true;
        }
        int[] bucket = _bucket ??= BucketIndex();
        int bits = System.Numerics.BitOperations.Log2((uint)(bucket.Length - 1));
        int top = (int)_space.Prefix(value, bits);
        int lo = bucket[top], hi = bucket[top + 1];
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_sorted[mid] < value) lo = mid + 1;
            else hi = mid;
        }
        rank = lo;
        return true;
    }

    private const int MinIndexed = 64;

    // Buckets by the top k bits of the id, k = log2(Count) - 1 (about two ids a bucket when ids are uniform; any
    // placement stays correct, only slower), at most 24 bits and the width of the id space.
    private int[] BucketIndex()
    {
        int bits = Math.Min(Math.Min(24, _space.Bits), Math.Max(1, System.Numerics.BitOperations.Log2((uint)Count) - 1));
        return IdSearch.PrefixIndex(_sorted, _space, bits);
    }

    private int[] RankMap()
    {
        int max = -1;
        foreach (int n in _order) max = Math.Max(max, n);
        int[] rank = LargeArray.Filled(max + 1, -1);
        for (int i = 0; i < _order.Length; i++) rank[_order[i]] = i;
        return rank;
    }

    /// <summary>The number of joined ids &lt; <paramref name="value"/>: the sorted position of the first id &gt;= it (Count if none).</summary>
    public int RankOf(Id value)
    {
        EnsureFlat();
        return IdSearch.LowerBound(_sorted, value);
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
        int lo = 0, hi = Blocks.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Blocks[mid].Last < key) lo = mid + 1;
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
        foreach (Block b in Blocks)
        {
            Array.Copy(b.Ids, 0, _sorted, at, b.Count);
            Array.Copy(b.Nodes, 0, _order, at, b.Count);
            at += b.Count;
        }
        _flatValid = true;
    }
}
