namespace OverlaySim.Core;

/// <summary>
/// Which live nodes hold a copy of which of the workload's K keys, for overlays that store data: who holds a
/// key, what a node holds, and which keys have lost their last copy.
/// </summary>
/// <remarks>
/// <para>Two views kept in step: per key, up to <see cref="MaxHolders"/> holder ordinals (a fixed-stride table);
/// per node, a singly linked list of its keys in a pooled entry array. Adding a copy is O(holders); removing a
/// departed node is O(keys it held · holders). Nothing allocates once the pools have grown to their working size.
/// Holder counts are ints: a key may have as many copies as the stride allows.</para>
/// <para>A key is lost when its last holder departs; it stays lost (no copy is left to recover it from).</para>
/// <para>Memory (<see cref="BytesPerKey"/>): 4·MaxHolders + 5 bytes per key, 8·MaxHolders more when copies carry the time
/// they were stored (for expiry), 8 bytes per copy (16 while the pool has doubled), and 4 per node.</para>
/// </remarks>
public sealed class KeyStore
{
    private readonly int _stride;        // slots per key, or 0 when keys have capacities of their own (_start)
    private readonly long[]? _start;     // K + 1: first slot of each key, for per-key capacities
    private readonly int[] _holders;     // K × stride
    private readonly long[]? _storedAt;  // K × stride: when each copy was last stored (for expiry), if timed
    private readonly int[] _count;
    private readonly bool[] _lost;
    private int[] _head;                 // per node: first entry, -1 = none
    private int[] _entryKey = new int[1024];
    private int[] _entryNext = new int[1024];
    private int _entryUsed;
    private int _freeEntry = -1;

    /// <param name="timed">Whether each copy remembers when it was stored (<see cref="StoredAt"/>), for overlays whose copies expire.</param>
    public KeyStore(int keys, int maxHolders, int nodeCapacity, bool timed = false)
    {
        _stride = maxHolders;
        MaxHolders = maxHolders;
        _holders = new int[checked((long)keys * maxHolders)];
        _storedAt = timed ? new long[(long)keys * maxHolders] : null;
        _count = new int[keys];
        _lost = new bool[keys];
        _head = new int[nodeCapacity];
        Array.Fill(_head, -1);
    }

    /// <summary>
    /// A store in which key i has room for <paramref name="capacities"/>[i] copies (a replica placement that gives popular
    /// keys more copies than others): per-key slots laid end to end, 8 more bytes per key for the offsets.
    /// </summary>
    public KeyStore(ReadOnlySpan<int> capacities, int nodeCapacity)
    {
        int keys = capacities.Length;
        _start = new long[keys + 1];
        for (int k = 0; k < keys; k++)
        {
            if (capacities[k] < 0) throw new ArgumentOutOfRangeException(nameof(capacities));
            _start[k + 1] = _start[k] + capacities[k];
            MaxHolders = Math.Max(MaxHolders, capacities[k]);
        }
        _holders = new int[_start[keys]];
        _count = new int[keys];
        _lost = new bool[keys];
        _head = new int[nodeCapacity];
        Array.Fill(_head, -1);
    }

    /// <summary>The most copies any key can have.</summary>
    public int MaxHolders { get; }

    /// <summary>The most copies key <paramref name="key"/> can have.</summary>
    public int Capacity(int key) => _start is null ? _stride : (int)(_start[key + 1] - _start[key]);

    private long Base(int key) => _start is null ? (long)key * _stride : _start[key];

    /// <summary>Estimated bytes per key of a store with this stride, <paramref name="copies"/> copies per key on average.</summary>
    public static long BytesPerKey(int maxHolders, bool timed, double copies) =>
        4L * maxHolders + (timed ? 8L * maxHolders : 0) + 5 + (long)Math.Ceiling(16 * copies);

    public int Keys => _count.Length;

    /// <summary>Keys whose every copy is gone.</summary>
    public long LostCount { get; private set; }

    public void EnsureNodes(int capacity)
    {
        if (capacity <= _head.Length) return;
        int old = _head.Length;
        Array.Resize(ref _head, capacity);
        Array.Fill(_head, -1, old, capacity - old);
    }

    public int HolderCount(int key) => _count[key];

    public bool IsLost(int key) => _lost[key];

    public bool Holds(int node, int key)
    {
        long b = Base(key);
        for (int i = 0; i < _count[key]; i++)
            if (_holders[b + i] == node) return true;
        return false;
    }

    /// <summary>
    /// Whether <paramref name="node"/> holds a copy of <paramref name="key"/>, by a walk of the node's own keys (the same
    /// answer as <see cref="Holds"/>, faster when an item has many copies and a node few items: a flood asks it at every node).
    /// </summary>
    public bool NodeHolds(int node, int key)
    {
        if ((uint)node >= (uint)_head.Length) return false;
        for (int e = _head[node]; e >= 0; e = _entryNext[e])
            if (_entryKey[e] == key) return true;
        return false;
    }

    /// <summary>When <paramref name="node"/>'s copy of <paramref name="key"/> was last stored, or long.MinValue if it has none (or the store is not timed).</summary>
    public long StoredAt(int node, int key)
    {
        if (_storedAt is null) return long.MinValue;
        long b = Base(key);
        for (int i = 0; i < _count[key]; i++)
            if (_holders[b + i] == node) return _storedAt[b + i];
        return long.MinValue;
    }

    /// <summary>A uniformly chosen holder of the key, or -1.</summary>
    public int AnyHolder(int key, ref Xoshiro256 rng) =>
        _count[key] == 0 ? -1 : _holders[Base(key) + rng.NextInt(_count[key])];

    /// <summary>
    /// Gives <paramref name="node"/> a copy of <paramref name="key"/> stored at time <paramref name="now"/> (an existing
    /// copy is refreshed). Returns false if it had one, the key is lost, or the key has its maximum of holders.
    /// </summary>
    public bool Add(int node, int key, long now = 0)
    {
        if (_lost[key]) return false;
        long kb = Base(key);
        for (int i = 0; i < _count[key]; i++)
        {
            if (_holders[kb + i] != node) continue;
            if (_storedAt is not null) _storedAt[kb + i] = now;
            return false;
        }
        if (_count[key] == Capacity(key)) return false;
        if (_storedAt is not null) _storedAt[kb + _count[key]] = now;
        _holders[kb + _count[key]++] = node;
        int e;
        if (_freeEntry >= 0)
        {
            e = _freeEntry;
            _freeEntry = _entryNext[e];
        }
        else
        {
            if (_entryUsed == _entryKey.Length)
            {
                Array.Resize(ref _entryKey, _entryKey.Length * 2);
                Array.Resize(ref _entryNext, _entryNext.Length * 2);
            }
            e = _entryUsed++;
        }
        _entryKey[e] = key;
        _entryNext[e] = _head[node];
        _head[node] = e;
        return true;
    }

    /// <summary>Removes every copy a departed node held; keys left with no copy become lost.</summary>
    public void RemoveNode(int node)
    {
        int e = _head[node];
        while (e >= 0)
        {
            int key = _entryKey[e];
            RemoveHolder(key, node);
            if (_count[key] == 0 && !_lost[key])
            {
                _lost[key] = true;
                LostCount++;
            }
            int next = _entryNext[e];
            _entryNext[e] = _freeEntry;
            _freeEntry = e;
            e = next;
        }
        _head[node] = -1;
    }

    /// <summary>
    /// Copies to <paramref name="to"/> every key that <paramref name="from"/> holds whose id lies in the ring
    /// interval (lo, hi] (the whole ring when lo == hi). Returns how many copies were made (keys <paramref name="to"/>
    /// lacked).
    /// </summary>
    public int CopyRange(int from, int to, Id lo, Id hi, IdSpace space, Id[] keyIds)
    {
        int copied = 0;
        for (int e = _head[from]; e >= 0; e = _entryNext[e])
        {
            int key = _entryKey[e];
            if (space.InOpenClosed(keyIds[key], lo, hi) && Add(to, key)) copied++;
        }
        return copied;
    }

    /// <summary>How many keys <paramref name="node"/> holds whose id lies in (lo, hi] (the whole ring when lo == hi).</summary>
    public int CountRange(int node, Id lo, Id hi, IdSpace space, Id[] keyIds)
    {
        int count = 0;
        for (int e = _head[node]; e >= 0; e = _entryNext[e])
            if (space.InOpenClosed(keyIds[_entryKey[e]], lo, hi)) count++;
        return count;
    }

    /// <summary>
    /// Like <see cref="CopyRange"/> to several receivers at once, reading each key of <paramref name="from"/> once:
    /// <paramref name="copied"/>[i] receives how many copies <paramref name="targets"/>[i] got.
    /// </summary>
    public void CopyRangeToMany(int from, ReadOnlySpan<int> targets, Id lo, Id hi, IdSpace space, Id[] keyIds, Span<int> copied)
    {
        copied.Clear();
        for (int e = _head[from]; e >= 0; e = _entryNext[e])
        {
            int key = _entryKey[e];
            if (!space.InOpenClosed(keyIds[key], lo, hi)) continue;
            for (int t = 0; t < targets.Length; t++)
                if (Add(targets[t], key)) copied[t]++;
        }
    }

    /// <summary>
    /// Copies to <paramref name="to"/> every key <paramref name="from"/> holds that is closer to <paramref name="toId"/>
    /// than to <paramref name="fromId"/> in the XOR metric (Kademlia's transfer to a newly learned node), stored at
    /// <paramref name="now"/>. Returns how many copies were made.
    /// </summary>
    public int CopyCloserByXor(int from, int to, Id fromId, Id toId, Id[] keyIds, long now)
    {
        int copied = 0;
        for (int e = _head[from]; e >= 0; e = _entryNext[e])
        {
            int key = _entryKey[e];
            if ((keyIds[key] ^ toId) < (keyIds[key] ^ fromId) && Add(to, key, now)) copied++;
        }
        return copied;
    }

    /// <summary>
    /// Moves to <paramref name="to"/> every key <paramref name="from"/> holds for which <paramref name="match"/> is true
    /// (an owner handing over part of what it is responsible for): <paramref name="from"/>'s copy is removed, and
    /// <paramref name="to"/> gets one (unless <paramref name="to"/> is -1: the keys are dropped, and lost if that was
    /// their last copy). Returns how many keys matched.
    /// </summary>
    public int MoveWhere<TState>(int from, int to, Func<int, TState, bool> match, TState state)
    {
        if (to == from) throw new ArgumentException("a node cannot hand keys to itself", nameof(to));
        int moved = 0, prev = -1;
        for (int e = _head[from]; e >= 0;)
        {
            int key = _entryKey[e], next = _entryNext[e];
            if (!match(key, state))
            {
                prev = e;
                e = next;
                continue;
            }
            moved++;
            if (prev < 0) _head[from] = next;
            else _entryNext[prev] = next;
            _entryNext[e] = _freeEntry;
            _freeEntry = e;
            RemoveHolder(key, from);
            if (to >= 0) Add(to, key);
            if (_count[key] == 0 && !_lost[key])
            {
                _lost[key] = true;
                LostCount++;
            }
            e = next;
        }
        return moved;
    }

    /// <summary>Takes <paramref name="node"/> out of the key's holders (the last holder fills its place), if it is one.</summary>
    private void RemoveHolder(int key, int node)
    {
        long b = Base(key);
        int c = _count[key];
        for (int i = 0; i < c; i++)
        {
            if (_holders[b + i] != node) continue;
            _holders[b + i] = _holders[b + c - 1];
            if (_storedAt is not null) _storedAt[b + i] = _storedAt[b + c - 1];
            _count[key] = c - 1;
            return;
        }
    }

    /// <summary>The keys a node holds (for tests and invariant checks).</summary>
    public List<int> KeysOf(int node)
    {
        var keys = new List<int>();
        for (int e = _head[node]; e >= 0; e = _entryNext[e]) keys.Add(_entryKey[e]);
        return keys;
    }
}
