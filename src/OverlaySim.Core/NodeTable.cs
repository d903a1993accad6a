namespace OverlaySim.Core;

/// <summary>
/// Every virtual node of a run, as parallel arrays indexed by node ordinal: id, epoch, liveness, and the
/// list of live ordinals (for choosing a uniformly random live node in O(1)).
/// </summary>
/// <remarks>
/// An ordinal (<c>int node</c>) is an array slot; an <see cref="Id"/> is the node's overlay identifier. The
/// two are never mixed: routing state stores ordinals, routing decisions compare ids.
/// Memory: 24 (id) + 4 (epoch) + 4 (live index) + 4 (live list) = 36 bytes per node.
/// </remarks>
public sealed class NodeTable
{
    private readonly int[] _liveList;
    private readonly int[] _liveIndex; // position in _liveList, or -1 when dead

    public NodeTable(Id[] ids)
    {
        Ids = ids;
        Epoch = new uint[ids.Length];
        _liveList = new int[ids.Length];
        _liveIndex = new int[ids.Length];
        Array.Fill(_liveIndex, -1);
    }

    public int Count => Ids.Length;

    /// <summary>Id of each node ordinal.</summary>
    public Id[] Ids { get; }

    /// <summary>
    /// Incarnation counter per node, bumped at every join and every death: an event stamped with an older
    /// epoch is stale and is dropped by the engine.
    /// </summary>
    public uint[] Epoch { get; }

    public int LiveCount { get; private set; }

    public bool IsAlive(int node) => _liveIndex[node] >= 0;

    /// <summary>The live ordinal at position <paramref name="i"/> of the live list (order is arbitrary but deterministic).</summary>
    public int LiveAt(int i) => _liveList[i];

    public void SetAlive(int node)
    {
        if (_liveIndex[node] >= 0) return;
        Epoch[node]++;
        _liveIndex[node] = LiveCount;
        _liveList[LiveCount++] = node;
    }

    public void SetDead(int node)
    {
        int i = _liveIndex[node];
        if (i < 0) return;
        Epoch[node]++;
        int last = _liveList[--LiveCount];
        _liveList[i] = last;
        _liveIndex[last] = i;
        _liveIndex[node] = -1;
    }
}
