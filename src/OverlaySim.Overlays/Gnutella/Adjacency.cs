using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// The neighbour lists of an unstructured overlay: one growable row per node in one shared arena (a compressed
/// sparse row layout that can change), so that a graph of 10^6 nodes of mean degree 4 costs about 12 + 4·d bytes per
/// node whatever its largest degree.
/// </summary>
/// <remarks>
/// A row that outgrows its room moves to the end of the arena with twice the room; the arena is compacted when more
/// than half of it is left behind by moves and departures. Removal swaps the last entry in, so the order of a row
/// is not kept. Rows are indexed through per-node arrays (<see cref="Network.NodeArray{T}"/>), so they grow with the
/// node table and a reused slot starts empty.
/// </remarks>
public sealed class Adjacency
{
    private readonly NodeArray<int> _start, _count, _room;
    private int[] _arena;
    private int _used;
    private long _garbage;

    public Adjacency(Network net, long expectedEntries)
    {
        _start = net.NodeArray<int>();
        _count = net.NodeArray<int>();
        _room = net.NodeArray<int>();
        _arena = new int[Math.Max(16, checked((int)Math.Min(Array.MaxLength, expectedEntries)))];
    }

    public int Degree(int node) => _count[node];

    /// <summary>Entries over all rows: twice the links.</summary>
    public long Entries { get; private set; }

    public ReadOnlySpan<int> Of(int node) => _arena.AsSpan(_start[node], _count[node]);

    public int At(int node, int i) => _arena[_start[node] + i];

    public bool Contains(int node, int other)
    {
        foreach (int v in Of(node))
            if (v == other) return true;
        return false;
    }

    /// <summary>Adds <paramref name="other"/> to <paramref name="node"/>'s row (no check for a duplicate).</summary>
    public void Add(int node, int other)
    {
        int count = _count[node];
        if (count == _room[node]) Move(node, Math.Max(4, count * 2));
        _arena[_start[node] + count] = other;
        _count[node] = count + 1;
        Entries++;
    }

    /// <summary>Removes <paramref name="other"/> from <paramref name="node"/>'s row; false if it was not there.</summary>
    public bool Remove(int node, int other)
    {
        int s = _start[node], count = _count[node];
        for (int i = 0; i < count; i++)
        {
            if (_arena[s + i] != other) continue;
            _arena[s + i] = _arena[s + count - 1];
            _count[node] = count - 1;
            Entries--;
            return true;
        }
        return false;
    }

    /// <summary>Empties a node's row (it has departed): its room is left as garbage.</summary>
    public void Clear(int node)
    {
        _garbage += _room[node];
        Entries -= _count[node];
        _count[node] = 0;
        _room[node] = 0;
        _start[node] = 0;
    }

    /// <summary>Reserves a row of exactly <paramref name="room"/> entries for a node that has none yet (a static build).</summary>
    public void Reserve(int node, int room)
    {
        if (_room[node] != 0 || room == 0) return;
        EnsureArena(room);
        _start[node] = _used;
        _room[node] = room;
        _used += room;
    }

    /// <summary>Bytes of the arena (for memory checks).</summary>
    public long AllocatedBytes => 4L * _arena.Length + _start.AllocatedBytes * 3;

    private void Move(int node, int room)
    {
        EnsureArena(room);
        int s = _start[node], count = _count[node];
        Array.Copy(_arena, s, _arena, _used, count);
        _garbage += _room[node];
        _start[node] = _used;
        _room[node] = room;
        _used += room;
    }

    private void EnsureArena(int room)
    {
        if (_used + (long)room <= _arena.Length) return;
        if (_garbage * 2 > _used) Compact();
        if (_used + (long)room <= _arena.Length) return;
        long size = Math.Max(_used + (long)room, _arena.Length * 2L);
        if (size > Array.MaxLength) throw new InsufficientMemoryException("the neighbour lists need more than 2^31 entries");
        Array.Resize(ref _arena, (int)size);
    }

    /// <summary>Packs the rows to the front of a new arena, in slot order (deterministic).</summary>
    private void Compact()
    {
        var fresh = new int[_arena.Length];
        int at = 0;
        int[] start = _start.Items, room = _room.Items;
        for (int slot = 0; slot < start.Length; slot++)
        {
            if (room[slot] == 0) continue;
            Array.Copy(_arena, start[slot], fresh, at, room[slot]);
            start[slot] = at;
            at += room[slot];
        }
        _arena = fresh;
        _used = at;
        _garbage = 0;
    }
}
