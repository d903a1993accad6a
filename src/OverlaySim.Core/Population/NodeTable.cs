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
/// <para>Memory: 24 (id) + 4 (epoch) + 4 (machine) + 4 (live index) + 4 (live list) = 40 bytes per ordinal.</para>
/// </remarks>
public sealed class NodeTable
{
    private Id[] _ids;
    private uint[] _epoch;
    private int[] _machine;
    private int[] _liveList;
    private int[] _liveIndex; // position in _liveList, or -1 when dead

    /// <summary>A table of <c>ids.Length</c> dead nodes, node i on machine i / <paramref name="virtualNodes"/>.</summary>
    public NodeTable(Id[] ids, int virtualNodes = 1)
    {
        _ids = ids;
        Count = ids.Length;
        _epoch = new uint[ids.Length];
        _machine = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++) _machine[i] = i / virtualNodes;
        _liveList = new int[ids.Length];
        _liveIndex = new int[ids.Length];
        Array.Fill(_liveIndex, -1);
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

    /// <summary>The machine each ordinal runs on (what the latency model is indexed by).</summary>
    public int[] Machine => _machine;

    public int LiveCount { get; private set; }

    /// <summary>Raised after the arrays grew, with the new capacity (overlays grow their per-node arrays then).</summary>
    public event Action<int>? Grown;

    public int Capacity => _ids.Length;

    public bool IsAlive(int node) => _liveIndex[node] >= 0;

    /// <summary>The live ordinal at position <paramref name="i"/> of the live list (order is arbitrary but deterministic).</summary>
    public int LiveAt(int i) => _liveList[i];

    /// <summary>Adds a new (dead) ordinal with the given id on the given machine, growing the arrays if needed.</summary>
    public int Add(Id id, int machine)
    {
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
            Grown?.Invoke(n);
        }
        int node = Count++;
        _ids[node] = id;
        _machine[node] = machine;
        return node;
    }

    public void SetAlive(int node)
    {
        if (_liveIndex[node] >= 0) return;
        _epoch[node]++;
        _liveIndex[node] = LiveCount;
        _liveList[LiveCount++] = node;
    }

    public void SetDead(int node)
    {
        int i = _liveIndex[node];
        if (i < 0) return;
        _epoch[node]++;
        int last = _liveList[--LiveCount];
        _liveList[i] = last;
        _liveIndex[last] = i;
        _liveIndex[node] = -1;
    }
}
