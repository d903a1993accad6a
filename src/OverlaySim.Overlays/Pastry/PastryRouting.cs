using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Pastry's id geometry, shared by the converged model and the protocol: ids read as digits of b bits, shared
/// prefixes, numerical closeness on the circle, and the routing step of the paper's Table 1 over one node's state.
/// </summary>
internal readonly struct PastryGeometry(IdSpace space, int b)
{
    public IdSpace Space => space;
    public int Columns => 1 << b;

    /// <summary>
    /// Digit <paramref name="i"/> of an id (0 = the most significant b bits). When b does not divide id_bits the last
    /// digit is shorter; its bits are read as the high bits of a full digit (the id padded with zeros below).
    /// </summary>
    public int Digit(Id id, int i)
    {
        int low = space.Bits - b * (i + 1);
        ulong bits = low >= 0 ? id.BitsFrom(low) : id.BitsFrom(0) << -low;
        return (int)(bits & (ulong)((1 << b) - 1));
    }

    /// <summary>How many leading digits two ids share.</summary>
    public int SharedDigits(Id x, Id y) => (space.Bits - (x ^ y).BitLength) / b;

    /// <summary>Whether x is numerically closer to key than y (on the circle; a tie goes to the one clockwise after the key).</summary>
    public bool Closer(Id x, Id y, Id key)
    {
        Id xa = space.Distance(key, x), xb = space.Distance(x, key);
        Id ya = space.Distance(key, y), yb = space.Distance(y, key);
        bool xClockwise = xa <= xb, yClockwise = ya <= yb;
        Id dx = xClockwise ? xa : xb, dy = yClockwise ? ya : yb;
        int c = dx.CompareTo(dy);
        return c < 0 || (c == 0 && xClockwise && !yClockwise);
    }

    /// <summary>
    /// Where the keys between <paramref name="lo"/> and the next id clockwise <paramref name="hi"/> divide: keys in
    /// (lo, split] are numerically closer to lo, keys in (split, hi] to hi (a key midway goes to hi, the one clockwise
    /// after it, as <see cref="Closer"/> rules).
    /// </summary>
    public Id Split(Id lo, Id hi)
    {
        Id gap = space.Distance(lo, hi);
        Id half = (gap + Id.FromUInt64(1)).Half;   // ⌈gap / 2⌉
        return space.Add(lo, half - Id.FromUInt64(1));
    }

    /// <summary>
    /// The routing step at <paramref name="node"/> for <paramref name="key"/> (Table 1): the next hop, or -1 when the
    /// node delivers. <paramref name="leaf"/> holds |L|/2 smaller ids nearest first, then |L|/2 larger (-1 = none, at
    /// the end of a side); <paramref name="table"/> the node's rows × 2^b entries (-1 = none); <paramref name="extra"/>
    /// more known nodes for the rare case (the neighbourhood set). <paramref name="exclude"/> is never chosen (a
    /// joining node, whose own join is being routed). <paramref name="holdsAll"/>: the leaf set is every other node.
    /// </summary>
    public int NextHop(Id[] ids, int node, Id key, ReadOnlySpan<int> leaf, bool holdsAll, ReadOnlySpan<int> table, int rows,
        ReadOnlySpan<int> extra, int exclude, out bool rare)
    {
        rare = false;
        Id self = ids[node];
        if (self == key) return -1;
        int half = leaf.Length / 2;
        if (holdsAll || InLeafRange(ids, self, key, leaf, half))
        {
            int best = node;
            foreach (int m in leaf)
                if (m >= 0 && m != exclude && Closer(ids[m], ids[best], key)) best = m;
            return best == node ? -1 : best;
        }
        int cols = Columns;
        int l = SharedDigits(self, key);
        if (l < rows)
        {
            int e = table[l * cols + Digit(key, l)];
            if (e >= 0 && e != exclude) return e;
        }
        // The rare case: a known node that shares at least l digits with the key and is numerically closer.
        rare = true;
        int closest = node;
        foreach (int m in leaf) Consider(m, ref closest, ids, key, l, exclude);
        foreach (int m in table[(l * cols)..]) Consider(m, ref closest, ids, key, l, exclude); // rows above l share fewer than l digits with the key
        foreach (int m in extra) Consider(m, ref closest, ids, key, l, exclude);
        return closest == node ? -1 : closest;
    }

    private void Consider(int m, ref int closest, Id[] ids, Id key, int l, int exclude)
    {
        if (m < 0 || m == exclude || SharedDigits(ids[m], key) < l) return;
        if (Closer(ids[m], ids[closest], key)) closest = m;
    }

    /// <summary>Whether the key lies in the arc from the farthest smaller to the farthest larger member of the leaf set (an empty side reaches no further than the node).</summary>
    private bool InLeafRange(Id[] ids, Id self, Id key, ReadOnlySpan<int> leaf, int half)
    {
        Id left = self, right = self;
        for (int j = half - 1; j >= 0; j--)
            if (leaf[j] >= 0) { left = ids[leaf[j]]; break; }
        for (int j = 2 * half - 1; j >= half; j--)
            if (leaf[j] >= 0) { right = ids[leaf[j]]; break; }
        return space.Distance(left, key) <= space.Distance(left, right);
    }
}

/// <summary>
/// Pastry's route metrics, for both models: the share of rare-case hops, registered as rare_hop_share, and the stretch
/// (<see cref="RouteStretch"/>).
/// </summary>
internal sealed class PastryRouteStats
{
    private readonly Network _net;
    private readonly LookupArray<long> _path;               // per lookup: one-way latencies of its hops so far, µs
    private readonly LookupArray<byte> _rare;               // per lookup: its rare-case hops (saturating)
    private readonly RouteStretch _stretch;
    private long _measuredHops, _rareHops;

    public PastryRouteStats(Network net)
    {
        _net = net;
        _path = net.LookupArray<long>();
        _rare = net.LookupArray<byte>();
        net.Lookups.Metrics.Register(PastrySizes.RareHops).Computed = _ => _measuredHops == 0 ? 0 : (double)_rareHops / _measuredHops;
        _stretch = new RouteStretch(net);
    }

    public void Start(int lookup)
    {
        _path[lookup] = 0;
        _rare[lookup] = 0;
    }

    /// <summary>The lookup's message crossed from <paramref name="from"/> to <paramref name="to"/> (by the rare case or not).</summary>
    public void Hop(int lookup, int from, int to, bool rare)
    {
        if (rare && _rare[lookup] < byte.MaxValue) _rare[lookup]++;
        _path[lookup] += _net.Transport.OneWay(from, to);
    }

    /// <summary>A measured lookup was answered by <paramref name="answer"/> after <paramref name="hops"/> hops.</summary>
    public void Measured(int lookup, int origin, int answer, int hops)
    {
        _measuredHops += hops;
        _rareHops += _rare[lookup];
        _stretch.Add(origin, answer, _path[lookup]);
    }
}
