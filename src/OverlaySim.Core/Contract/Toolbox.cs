namespace OverlaySim.Core;

/// <summary>
/// A per-node array of an overlay's state, <see cref="Stride"/> entries per node, that grows with the node table
/// (churn adds nodes) and fills new rows with a given value. Struct of arrays: one of these per field.
/// </summary>
/// <remarks>
/// <para>Rows are indexed by the node's state slot (<see cref="NodeTable.Slots"/>), not by its ordinal: a retired
/// ordinal's row is reset and reused by the next new node, so memory follows the live nodes. Reading a retired
/// node's row fails (its slot is -1): an overlay keeps no state of a node that has gone for good, and reads only
/// what the node table still holds of it (id, machine, liveness).</para>
/// <para>Created by <see cref="Network.NodeArray{T}"/>, which subscribes it to the node table's growth.</para>
/// </remarks>
public sealed class NodeArray<T>
{
    private readonly NodeTable _nodes;
    private T[] _items;
    private int[] _slots;

    internal NodeArray(NodeTable nodes, int stride, T fill)
    {
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride));
        _nodes = nodes;
        _slots = nodes.Slots;
        Stride = stride;
        Fill = fill;
        _items = new T[checked((long)nodes.SlotCapacity * stride)];
        if (!EqualityComparer<T>.Default.Equals(fill, default)) Array.Fill(_items, fill);
        nodes.Grown += _ => _slots = _nodes.Slots;
        nodes.SlotsGrown += Grow;
        nodes.SlotReused += slot => _items.AsSpan(checked((int)((long)slot * Stride)), Stride).Fill(Fill);
    }

    public int Stride { get; }

    /// <summary>The value of rows that were never written.</summary>
    public T Fill { get; }

    /// <summary>
    /// The backing array, row <c>Slots[node]</c> at <c>slot·Stride</c> (replaced when the table grows; do not keep it
    /// across a join). For tables that index rows themselves; the others use the node accessors below.
    /// </summary>
    public T[] Items => _items;

    /// <summary>Entry of a node (stride 1).</summary>
    public ref T this[int node] => ref _items[_slots[node]];

    /// <summary>Entry <paramref name="j"/> of node <paramref name="node"/>'s row.</summary>
    public ref T At(int node, int j) => ref _items[(long)_slots[node] * Stride + j];

    /// <summary>The row of a node.</summary>
    public Span<T> Row(int node) => _items.AsSpan(checked((int)((long)_slots[node] * Stride)), Stride);

    /// <summary>Resets a node's row to <see cref="Fill"/>.</summary>
    public void Clear(int node) => Row(node).Fill(Fill);

    /// <summary>Bytes of the rows allocated (for memory checks).</summary>
    public long AllocatedBytes => (long)_items.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();

    private void Grow(int capacity)
    {
        long n = checked((long)capacity * Stride);
        if (n <= _items.Length) return;
        int old = _items.Length;
        Array.Resize(ref _items, checked((int)n));
        if (!EqualityComparer<T>.Default.Equals(Fill, default)) Array.Fill(_items, Fill, old, _items.Length - old);
    }
}

/// <summary>
/// A per-lookup array of an overlay's state (a shortlist, a hop's token), <see cref="Stride"/> entries per lookup
/// slot, grown with the lookup table. Entries are not reset when a slot is reused: the overlay initialises them when
/// it starts a lookup.
/// </summary>
public sealed class LookupArray<T>
{
    private T[] _items;

    internal LookupArray(LookupTable table, int stride)
    {
        Stride = stride;
        _items = new T[checked((long)table.Capacity * stride)];
        table.Grown += capacity => Array.Resize(ref _items, checked(capacity * Stride));
    }

    /// <summary>
    /// An array of <paramref name="slots"/> slots of its own, tied to no lookup table and never grown: for state of
    /// lookups an overlay computes apart from the run's (<see cref="ILookupPlanner"/>), one slot per lookup at a time.
    /// </summary>
    public LookupArray(int slots, int stride)
    {
        Stride = stride;
        _items = new T[checked((long)slots * stride)];
    }

    public int Stride { get; }

    public T[] Items => _items;

    /// <summary>Entry of a lookup slot (stride 1), or entry <paramref name="index"/> of the flat array.</summary>
    public ref T this[int index] => ref _items[index];

    public ref T At(int slot, int j) => ref _items[(long)slot * Stride + j];

    public Span<T> Row(int slot) => _items.AsSpan(slot * Stride, Stride);
}
