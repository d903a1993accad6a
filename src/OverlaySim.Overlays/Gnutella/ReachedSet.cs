using System.Numerics;

namespace OverlaySim.Overlays;

/// <summary>
/// The nodes a query has reached, each with the neighbour it first heard the query from (its reverse path): an
/// open-addressing hash table with linear probing over one array of (node, parent) pairs, so that a lookup is one
/// cache miss (a <see cref="Dictionary{TKey,TValue}"/> takes two: bucket, then entry). Kept in a pool and cleared
/// between queries.
/// </summary>
public sealed class ReachedSet
{
    private long[] _slots = new long[64]; // (node + 1) << 32 | (uint)parent; 0 = empty
    private int _shift = 64 - 6;

    public int Count { get; private set; }

    /// <summary>Adds <paramref name="node"/> with its parent; false (and nothing changed) if it is already there.</summary>
    public bool TryAdd(int node, int parent)
    {
        if ((Count + 1) * 2 > _slots.Length) Grow();
        long key = (long)(node + 1) << 32;
        int mask = _slots.Length - 1;
        for (int i = Index(node); ; i = (i + 1) & mask)
        {
            long s = _slots[i];
            if (s == 0)
            {
                _slots[i] = key | (uint)parent;
                Count++;
                return true;
            }
            if ((s & ~0xFFFF_FFFFL) == key) return false;
        }
    }

    /// <summary>The parent <paramref name="node"/> was reached from (-1 for the origin), or false when it was not reached.</summary>
    public bool TryGetParent(int node, out int parent)
    {
        long key = (long)(node + 1) << 32;
        int mask = _slots.Length - 1;
        for (int i = Index(node); ; i = (i + 1) & mask)
        {
            long s = _slots[i];
            if (s == 0) break;
            if ((s & ~0xFFFF_FFFFL) == key)
            {
                parent = (int)s;
                return true;
            }
        }
        parent = -1;
        return false;
    }

    /// <summary>Empties the set; a table far larger than this query needed (one flood reached 10^6 nodes) is given back.</summary>
    public void Clear()
    {
        int fit = (int)Math.Max(64, BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, 2 * Count)));
        if (_slots.Length > 4 * fit)
        {
            _slots = new long[fit];
            _shift = 64 - BitOperations.Log2((uint)fit);
        }
        else if (Count > 0) Array.Clear(_slots);
        Count = 0;
    }

    // Fibonacci hashing: the top bits of node · 2^64/φ.
    private int Index(int node) => (int)(((ulong)(uint)node * 0x9E37_79B9_7F4A_7C15UL) >> _shift);

    private void Grow()
    {
        long[] old = _slots;
        _slots = new long[old.Length * 2];
        _shift = 64 - BitOperations.Log2((uint)_slots.Length);
        int mask = _slots.Length - 1;
        foreach (long s in old)
        {
            if (s == 0) continue;
            int node = (int)(s >> 32) - 1;
            int i = Index(node);
            while (_slots[i] != 0) i = (i + 1) & mask;
            _slots[i] = s;
        }
    }
}
