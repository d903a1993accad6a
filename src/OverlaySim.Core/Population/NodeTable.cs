using System.Diagnostics.CodeAnalysis;

namespace OverlaySim.Core;

/// <summary>
/// Every node (incarnation) of a run, as parallel arrays indexed by node ordinal: id, epoch, liveness, the
/// machine it runs on, and the list of live ordinals (for choosing a uniformly random live node in O(1)).
/// </summary>
/// <remarks>
/// <para>An ordinal (<c>int node</c>) is an array slot; an <see cref="Id"/> is the node's overlay identifier. The
/// two are never mixed: routing state stores ordinals, routing decisions compare ids.</para>
/// <para>A machine is a physical participant (it keeps its latency coordinates); each session of a machine is
/// one or more ordinals. A machine that rejoins with a new id gets new ordinals, so that routing entries of
/// other nodes that still point at the old ordinal point at a dead node, as they would in reality. The table
/// grows by doubling when churn adds ordinals.</para>
/// <para>An overlay's heavy per-node state (routing tables, <see cref="NodeArray{T}"/>) lives in <em>state slots</em>, not
/// in ordinal-indexed arrays: each ordinal takes a slot when it is added, and gives it back when it is retired (it died
/// and will never come back, because its machine takes a new id when it returns). The next new ordinal reuses the
/// slot, so that the overlay's state follows the live nodes, not every incarnation the run has seen. A retired
/// ordinal keeps only this table's row and the slot map's entry: a tombstone of 44 bytes that still answers
/// "which id, which machine, alive?" for the routing entries that point at it.</para>
/// <para>Memory: 24 (id) + 4 (epoch) + 4 (machine) + 4 (live index) + 4 (live list) + 4 (slot) = 44 bytes per ordinal,
/// plus 4 per state slot of the free list.</para>
/// </remarks>
public sealed class NodeTable
{
    private Id[] _ids;
    private uint[] _epoch;
    private int[] _machine;
    private int[] _liveList;
    private int[] _liveIndex; // position in _liveList, or -1 when dead
    private int[] _slot;      // state slot of each ordinal, or -1 once retired
    private int[] _freeSlots = [];
    private int _freeCount;

    /// <summary>
    /// A table of <c>ids.Length</c> dead nodes, node i on machine i / <paramref name="virtualNodes"/>, with room for
    /// <paramref name="spare"/> more (an overlay's servers, added at its build) before any array grows.
    /// </summary>
    public NodeTable(Id[] ids, int virtualNodes = 1, int spare = 0)
    {
        int room = ids.Length + spare;
        if (spare > 0) Array.Resize(ref ids, room);
        _ids = ids;
        Count = room - spare;
        _epoch = LargeArray.Zeroed<uint>(room);
        _machine = LargeArray.Zeroed<int>(room);
        for (int i = 0; i < Count; i++) _machine[i] = i / virtualNodes;
        MachineIsOrdinal = virtualNodes == 1;
        _liveList = LargeArray.Zeroed<int>(room);
        _liveIndex = LargeArray.Filled(room, -1);
        _slot = LargeArray.Zeroed<int>(room);
        for (int i = 0; i < Count; i++) _slot[i] = i;
        SlotCount = Count;
        SlotCapacity = room;
    }

    /// <summary>Ordinals in use (alive or dead).</summary>
    public int Count { get; private set; }

    /// <summary>Id of each node ordinal.</summary>
    public Id[] Ids => _ids;

    /// <summary>
    /// Incarnation counter per node, bumped at every join and every death, so it is odd exactly while the node is
    /// alive. The engine drops an event stamped with an older epoch (the node died or rejoined since), or with an
    /// even one (the node was already dead when it was sent). The array is replaced when the table grows.
    /// </summary>
    public uint[] Epoch => _epoch;

    private Id[]? _sortedIds;      // the first Count ids in increasing order, with their ordinals, until the view takes them
    private int[]? _sortedOrder;

    /// <summary>
    /// Hands over the table's ids in increasing order with the ordinal of each (from the sort that made them distinct),
    /// for the global view to take once instead of sorting them again (3 s at 10^7 nodes).
    /// </summary>
    internal void OfferSortedOrder(Id[] sorted, int[] order)
    {
        if (sorted.Length != Count || order.Length != Count) throw new ArgumentException("a sorted order must cover every node");
        (_sortedIds, _sortedOrder) = (sorted, order);
    }

    /// <summary>The order offered by <see cref="OfferSortedOrder"/>, once, while it still covers every node.</summary>
    internal bool TakeSortedOrder([NotNullWhen(true)] out Id[]? sorted, [NotNullWhen(true)] out int[]? order)
    {
        (sorted, order) = (_sortedIds, _sortedOrder);
        (_sortedIds, _sortedOrder) = (null, null);
        return sorted is not null && order is not null && sorted.Length == Count;
    }

    /// <summary>The machine each ordinal runs on (what the latency model is indexed by).</summary>
    public int[] Machine => _machine;

    /// <summary>
    /// Whether every ordinal runs on the machine of its own number (one node per machine, and every node added since on
    /// the machine of its ordinal): <see cref="Machine"/> is then the identity, and the transport skips reading it, a
    /// likely cache miss per message at 10^6 nodes.
    /// </summary>
    public bool MachineIsOrdinal { get; private set; }

    public int LiveCount { get; private set; }

    /// <summary>Raised after the arrays grew, with the new capacity (overlays grow their per-node arrays then).</summary>
    public event Action<int>? Grown;

    public int Capacity => _ids.Length;

    /// <summary>State slots handed out so far (in use or free): what per-node state arrays must hold.</summary>
    public int SlotCount { get; private set; }

    /// <summary>Rows the per-node state arrays hold (grown by doubling, like the table).</summary>
    public int SlotCapacity { get; private set; }

    /// <summary>Raised after <see cref="SlotCapacity"/> grew, with the new capacity.</summary>
    public event Action<int>? SlotsGrown;

    /// <summary>Raised when a new ordinal takes a retired one's slot: per-node arrays reset the row, so that a new node starts from a blank row as before.</summary>
    public event Action<int>? SlotReused;

    /// <summary>The state slot of each ordinal, -1 for a retired one (replaced when the table grows).</summary>
    public int[] Slots => _slot;

    /// <summary>Ordinals retired so far.</summary>
    public int Retired { get; private set; }

    public bool IsAlive(int node) => _liveIndex[node] >= 0;

    /// <summary>The live ordinal at position <paramref name="i"/> of the live list (order is arbitrary but deterministic).</summary>
    public int LiveAt(int i) => _liveList[i];

    /// <summary>Adds a new (dead) ordinal with the given id on the given machine, growing the arrays if needed.</summary>
    public int Add(Id id, int machine)
    {
        EpochChanging?.Invoke();   // a dead node appears: events can be stale from now on
        if (Count == _ids.Length)
        {
            int n = Math.Max(16, _ids.Length * 2);
            Array.Resize(ref _ids, n);
            Array.Resize(ref _epoch, n);
            Array.Resize(ref _machine, n);
            Array.Resize(ref _liveList, n);
            int old = _liveIndex.Length;
            Array.Resize(ref _liveIndex, n);
            Array.Fill(_liveIndex, -1, old, n - old);
            Array.Resize(ref _slot, n);
            Grown?.Invoke(n);
        }
        int node = Count++;
        _ids[node] = id;
        _machine[node] = machine;
        if (machine != node) MachineIsOrdinal = false;
        if (_freeCount > 0)
        {
            _slot[node] = _freeSlots[--_freeCount];
            SlotReused?.Invoke(_slot[node]);
        }
        else
        {
            if (SlotCount == SlotCapacity)
            {
                SlotCapacity = Math.Max(16, SlotCapacity * 2);
                SlotsGrown?.Invoke(SlotCapacity);
            }
            _slot[node] = SlotCount++;
        }
        return node;
    }

    /// <summary>
    /// Gives a dead ordinal's state slot back for reuse: the node will never be alive again. The overlay must have
    /// let go of the node's state (it is told by its departure hook, which runs before this).
    /// </summary>
    public void Retire(int node)
    {
        if (_liveIndex[node] >= 0) throw new InvalidOperationException($"node {node} is alive and cannot be retired");
        int slot = _slot[node];
        if (slot < 0) return;
        _slot[node] = -1;
        if (_freeCount == _freeSlots.Length) Array.Resize(ref _freeSlots, Math.Max(16, _freeSlots.Length * 2));
        _freeSlots[_freeCount++] = slot;
        Retired++;
    }

    /// <summary>Whether the ordinal's state slot was given back (it is a tombstone).</summary>
    public bool IsRetired(int node) => _slot[node] < 0;

    /// <summary>Raised before any node's epoch changes (a join or a death): the engine stops skipping epoch checks.</summary>
    public event Action? EpochChanging;

    public void SetAlive(int node)
    {
        if (_liveIndex[node] >= 0) return;
        EpochChanging?.Invoke();
        _epoch[node]++;
        _liveIndex[node] = LiveCount;
        _liveList[LiveCount++] = node;
    }

    public void SetDead(int node)
    {
        int i = _liveIndex[node];
        if (i < 0) return;
        EpochChanging?.Invoke();
        _epoch[node]++;
        int last = _liveList[--LiveCount];
        _liveList[i] = last;
        _liveIndex[last] = i;
        _liveIndex[node] = -1;
    }
}
