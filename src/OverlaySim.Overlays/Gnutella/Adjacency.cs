using System.Runtime.InteropServices;
using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// The neighbour lists of an unstructured overlay: one growable row per node in one shared arena (a compressed
/// sparse row layout that can change), so that a graph of 10^6 nodes of mean degree 4 costs about 16 + 4·d bytes per
/// node whatever its largest degree.
/// </summary>
/// <remarks>
/// <para>A row that outgrows its room moves to the end of the arena with twice the room; the arena is compacted when
/// more than half of it is left behind by moves and departures. Removal swaps the last entry in, so the order of a row
/// is not kept. Rows are indexed through a per-node array (<see cref="Network.NodeArray{T}"/>), so they grow with the
/// node table and a reused slot starts empty.</para>
/// <para>A row's start, length and room sit in one 16-byte record with a tag the owner may use (Gnutella keeps there
/// how many items the node holds): a flood reads all of it for every node it reaches, and one record is one cache
/// miss where three arrays were three.</para>
/// </remarks>
public sealed class Adjacency
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Row
    {
        public int Start, Count, Room, Tag;
    }

    private readonly NodeArray<Row> _rows;
    private int[] _arena;
    private int _used;
    private long _garbage;

    public Adjacency(Network net, long expectedEntries)
    {
        _rows = net.NodeArray<Row>();
        _arena = new int[Math.Max(16, checked((int)Math.Min(Array.MaxLength, expectedEntries)))];
    }

    public int Degree(int node) => _rows[node].Count;

    /// <summary>Entries over all rows: twice the links.</summary>
    public long Entries { get; private set; }

    public ReadOnlySpan<int> Of(int node)
    {
        ref Row r = ref _rows[node];
        return _arena.AsSpan(r.Start, r.Count);
    }

    /// <summary>The neighbours of a node and its tag, read together (one record).</summary>
    public ReadOnlySpan<int> Of(int node, out int tag)
    {
        ref Row r = ref _rows[node];
        tag = r.Tag;
        return _arena.AsSpan(r.Start, r.Count);
    }

    /// <summary>The owner's integer kept with the node's row (0 for a new row; reset by <see cref="Clear"/>).</summary>
    public ref int Tag(int node) => ref _rows[node].Tag;

    public int At(int node, int i) => _arena[_rows[node].Start + i];

    public bool Contains(int node, int other)
    {
        foreach (int v in Of(node))
            if (v == other) return true;
        return false;
    }

    /// <summary>Adds <paramref name="other"/> to <paramref name="node"/>'s row (no check for a duplicate).</summary>
    public void Add(int node, int other)
    {
        ref Row r = ref _rows[node];
        if (r.Count == r.Room) Move(ref r, Math.Max(4, r.Count * 2));
        _arena[r.Start + r.Count] = other;
        r.Count++;
        Entries++;
    }

    /// <summary>Removes <paramref name="other"/> from <paramref name="node"/>'s row; false if it was not there.</summary>
    public bool Remove(int node, int other)
    {
        ref Row r = ref _rows[node];
        for (int i = 0; i < r.Count; i++)
        {
            if (_arena[r.Start + i] != other) continue;
            _arena[r.Start + i] = _arena[r.Start + r.Count - 1];
            r.Count--;
            Entries--;
            return true;
        }
        return false;
    }

    /// <summary>Empties a node's row and its tag (it has departed, or joins afresh): its room is left as garbage.</summary>
    public void Clear(int node)
    {
        ref Row r = ref _rows[node];
        _garbage += r.Room;
        Entries -= r.Count;
        r = default;
    }

    /// <summary>Reserves a row of exactly <paramref name="room"/> entries for a node that has none yet (a static build).</summary>
    public void Reserve(int node, int room)
    {
        ref Row r = ref _rows[node];
        if (r.Room != 0 || room == 0) return;
        EnsureArena(room);
        r = ref _rows[node];
        r.Start = _used;
        r.Room = room;
        _used += room;
    }

    /// <summary>Bytes of the arena and the row records (for memory checks).</summary>
    public long AllocatedBytes => 4L * _arena.Length + _rows.AllocatedBytes;

    private void Move(ref Row r, int room)
    {
        EnsureArena(room); // may compact, which moves rows but not the records
        Array.Copy(_arena, r.Start, _arena, _used, r.Count);
        _garbage += r.Room;
        r.Start = _used;
        r.Room = room;
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
        Row[] rows = _rows.Items;
        for (int slot = 0; slot < rows.Length; slot++)
        {
            if (rows[slot].Room == 0) continue;
            Array.Copy(_arena, rows[slot].Start, fresh, at, rows[slot].Room);
            rows[slot].Start = at;
            at += rows[slot].Room;
        }
        _arena = fresh;
        _used = at;
        _garbage = 0;
    }
}
