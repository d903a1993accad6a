// Pastry: A. Rowstron and P. Druschel, "Pastry: Scalable, decentralized object location and routing for large-scale
// peer-to-peer systems", IFIP/ACM Middleware 2001.
//
// What this model is: the converged ("static") network. Every node's leaf set and routing table are built from the
// global view as a network whose joins have all completed would hold them, with proximity neighbour selection.
// Lookups are recursive: the message travels hop by hop through the engine, and the node that delivers it replies
// straight to the origin.
//
// Ids of id_bits bits are read as digits of b bits, most significant first (a shorter last digit when b does not
// divide id_bits). Node n keeps:
//   - its leaf set L: the |L|/2 nodes with the next smaller and the |L|/2 with the next larger ids on the circle
//     (all other nodes when there are at most |L|);
//   - its routing table R: row i, column j holds a node whose id shares its first i digits with n's and has digit j
//     next (none when no such node exists; column n's own digit is n itself and is not stored). Rows are kept up to
//     ⌈log_{2^b} N⌉ + 1: deeper rows are almost empty, and their keys lie in the leaf set's range.
// Proximity neighbour selection: among the candidates for an entry (the ids with that prefix, a contiguous range of
// the sorted ids), the one closest to n by the latency model. The paper's joins approximate this choice; the build
// examines up to proximity_samples candidates per entry (all of them when fewer, else that many drawn uniformly
// with replacement from the node's own seeded stream), so that it stays fast at 10^6 nodes: each entry is the best
// of a sample, not the best of all (scenarios/pastry-proximity.yaml measures what a larger sample changes).
//
// Routing step at node n for key D (the paper's Table 1):
//   1. D in the leaf set's range (from its farthest smaller to its farthest larger member): deliver to the member of
//      L ∪ {n} numerically closest to D (n itself: n delivers).
//   2. else l = digits D shares with n: forward to R[l][D_l] if there is such an entry.
//   3. else, the rare case: forward to the known node (of L and R) that shares at least l digits with D and is
//      numerically closer to D than n, the closest of them; with none, n delivers.
// "Numerically closest" is on the circle of ids; of two at the same distance, the one clockwise after D.
//
// What the hop count counts: hops = route messages from the origin until the node that delivers (the numerically
// closest) holds the message, the paper's "number of routing hops"; the reply to the origin is not a hop.
// rare_hop_share: the share of all hops (of measured lookups) that took step 3. stretch: the latencies of the route's
// hops summed, over the direct latency from the origin to the node that delivered (the paper's Fig. 6 "relative
// distance"); lookups delivered at their origin have none.
// Deviations from the paper: no neighbourhood set M (the static model does not route through it; joins use it); the
// rare case takes the closest qualifying node rather than any.
//
// Memory per node: 4·2^b bytes per routing-table row kept (⌈log_{2^b} N⌉ + 1 rows) and 4·|L| of leaf set: 448 bytes at
// N = 10^6, b = 4, |L| = 16.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Pastry's message types.</summary>
public enum PastryMessage : byte
{
    /// <summary>route(msg, key), forwarded toward the numerically closest node.</summary>
    Route = 1,
    /// <summary>The delivering node's answer, sent straight back to the origin.</summary>
    RouteReply = 2,
}

/// <summary>Pastry's sizes and metrics: 20 bytes of header plus 4 per id or address, as for Chord.</summary>
internal static class PastrySizes
{
    public const int Header = 20, NodeRef = 8, Key = 4;

    /// <summary>route: the key and the origin's address.</summary>
    public const int Route = Header + Key + NodeRef;

    /// <summary>The answer: the node that delivered.</summary>
    public const int RouteReply = Header + NodeRef;

    public static readonly OverlayMetric RareHops = new("rare_hops",
        "share of all hops of the measured lookups that took the rare case (no routing-table entry for the next digit: a known node numerically closer that shares as many digits)",
        [new("rare_hop_share", MetricStat.Computed)]);

    public static readonly OverlayMetric Stretch = RouteStretch.Metric;
}

/// <summary>Pastry in its converged form, with recursive lookups.</summary>
public sealed class Pastry : Overlay
{
    private readonly PastryOptions _o;
    private readonly int _cols;
    private PastryGeometry _geometry;
    private int _rows;                // routing-table rows kept
    private bool _leafHoldsAll;       // at most |L| other nodes: the leaf set is everyone, every key in its range
    private Id[] _ids = [];
    private int[] _table = [];        // node n, row i, column j at (n·rows + i)·2^b + j; -1 = none
    private int[] _leaf = [];         // node n at n·|L|: the |L|/2 smaller ids nearest first, then the |L|/2 larger; -1 = none

    private PastryRouteStats _stats = null!;

    public Pastry(PastryOptions options)
    {
        _o = options;
        _cols = 1 << options.B;
    }

    public override string Name => "pastry";

    protected override void OnAttached()
    {
        _stats = new PastryRouteStats(Net);
    }

    public override GroundTruth CreateTruth(Oracle view) => new PastryTruth(view);

    /// <summary>Routing-table rows kept at <paramref name="nodes"/> nodes: ⌈log_{2^b} N⌉ + 1, at most the digits of an id.</summary>
    public static int Rows(PastryOptions options, long nodes, int idBits)
    {
        int digits = (idBits + options.B - 1) / options.B;
        int needed = (int)Math.Ceiling(Math.Log(Math.Max(2, nodes)) / Math.Log(1 << options.B) - 1e-9) + 1;
        return Math.Clamp(needed, 1, digits);
    }

    /// <summary>
    /// Estimated peak bytes per node: the routing table (4·2^b per row kept) and the leaf set (4·|L|), plus 28 bytes of
    /// temporaries while they are built (a copy of the sorted ids and ordinals).
    /// </summary>
    public static long BytesPerNode(PastryOptions options, long nodes) =>
        4L * (1 << options.B) * Rows(options, nodes, IdSpace.MaxBits) + 4L * options.LeafSet + 28;

    // ---- the converged state --------------------------------------------------------------------------------

    public override void BuildStatic(Oracle oracle)
    {
        _geometry = new PastryGeometry(Net.Space, _o.B);
        _ids = Net.Nodes.Ids;
        _rows = Rows(_o, oracle.Count, Net.Space.Bits);
        _leafHoldsAll = oracle.Count - 1 <= _o.LeafSet;
        (_leaf, _table) = new PastryConverged(Net, _o, _rows).Build(oracle);
    }

    // ---- routing -------------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        _stats.Start(lookup);
        Route(Net.Lookups[lookup].Origin, lookup);
    }

    protected override void Receive(ref Event ev)
    {
        switch ((PastryMessage)ev.Type)
        {
            case PastryMessage.Route:
                Route(ev.Dst, ev.Lookup);
                break;
            case PastryMessage.RouteReply:
                Finish(ev.Lookup, ev.Arg);
                break;
        }
    }

    private void Route(int node, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int next = NextHop(node, rec.Key, out bool rare);
        if (next < 0)
        {
            if (node == rec.Origin) Finish(lookup, node);
            else Net.Transport.Send(node, rec.Origin, new Event { Lookup = lookup, Arg = node, Sink = Sink, Type = (byte)PastryMessage.RouteReply }, PastrySizes.RouteReply);
            return;
        }
        rec.Hops++;
        _stats.Hop(lookup, node, next, rare);
        Net.Transport.Send(node, next, new Event { Lookup = lookup, Sink = Sink, Type = (byte)PastryMessage.Route }, PastrySizes.Route);
    }

    /// <summary>The next hop from <paramref name="node"/> toward <paramref name="key"/>, or -1 when the node delivers.</summary>
    public int NextHop(int node, Id key, out bool rare)
    {
        int cells = _rows * _cols;
        return _geometry.NextHop(_ids, node, key, _leaf.AsSpan(checked((int)((long)node * _o.LeafSet)), _o.LeafSet), _leafHoldsAll,
            _table.AsSpan(checked((int)((long)node * cells)), cells), _rows, [], exclude: -1, out rare);
    }

    /// <summary>The origin learns the answer (nothing else is in flight for the lookup, so it also ends).</summary>
    private void Finish(int lookup, int answer)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int origin = rec.Origin, hops = rec.Hops;
        if (Net.Lookups.Answer(lookup, answer)) _stats.Measured(lookup, origin, answer, hops);
    }

    public override int Degree(int node)
    {
        int l = _o.LeafSet, cells = _rows * _cols;
        Span<int> all = cells + l <= 1024 ? stackalloc int[cells + l] : new int[cells + l];
        int count = 0;
        foreach (int m in _leaf.AsSpan((int)((long)node * l), l)) if (m >= 0) all[count++] = m;
        foreach (int m in _table.AsSpan(checked((int)((long)node * cells)), cells)) if (m >= 0) all[count++] = m;
        return CountDistinct(all[..count], node);
    }

    // Read access for tests and invariant checks.
    public int RowsKept => _rows;
    public int Entry(int node, int row, int column) => _table[((long)node * _rows + row) * _cols + column];
    public ReadOnlySpan<int> LeafSet(int node) => _leaf.AsSpan(checked((int)((long)node * _o.LeafSet)), _o.LeafSet);
}

/// <summary>
/// The converged leaf sets and routing tables of every joined node, from the global view, with proximity neighbour
/// selection from a shared sample per (prefix, column): what the static model routes on and the protocol starts from.
/// Arrays by node ordinal: the leaf set of node n at n·|L| (the |L|/2 smaller ids nearest first, then the |L|/2 larger;
/// in a network of at most |L| + 1 nodes each side holds every other node in its direction, so a node can be on both),
/// its table at n·rows·2^b; -1 = none.
/// </summary>
internal sealed class PastryConverged(Network net, PastryOptions options, int rows)
{
    private readonly PastryGeometry _geometry = new(net.Space, options.B);
    private readonly int _cols = 1 << options.B;
    private int[] _table = [];

    public (int[] Leaf, int[] Table) Build(Oracle oracle)
    {
        int n = net.Nodes.Count, live = oracle.Count, l = options.LeafSet, half = l / 2;
        var leaf = new int[(long)n * l];
        Array.Fill(leaf, -1);
        _table = new int[checked((long)n * rows * _cols)];
        Array.Fill(_table, -1);
        if (live == 0) return (leaf, _table);

        Id[] sorted = oracle.SortedIds.ToArray();
        int[] order = oracle.SortedNodes.ToArray();
        int side = Math.Min(half, live - 1);
        for (int k = 0; k < live; k++)
        {
            long at = (long)order[k] * l;
            for (int j = 0; j < side; j++)
            {
                leaf[at + j] = order[(k - 1 - j + live) % live];
                leaf[at + half + j] = order[(k + 1 + j) % live];
            }
        }

        ulong seed = net.Streams.StreamSeed("overlay/pastry/proximity");
        const int Block = 4096;
        int blocks = (live + Block - 1) / Block;
        Parallel.For(0, blocks, b => FillTables(sorted, order, b * Block, Math.Min(live, (b + 1) * Block), seed));
        return (leaf, _table);
    }

    /// <summary>
    /// Fills the routing tables of ranks [from, to). The candidates for row i, column j of the node at rank k are the
    /// ranks whose ids share its first i digits and have digit j next: one contiguous range per column, the ranges of a
    /// row splitting the range of the node's i-digit prefix. Consecutive ranks share their prefixes, so each row's
    /// split is computed once per prefix (by binary searches on digit i) and reused while the ranks stay inside it.
    /// </summary>
    /// <remarks>
    /// Proximity: each (prefix, column) has one sample of up to proximity_samples candidates, drawn uniformly with
    /// replacement from a stream seeded by the run, the row, the prefix's first rank and the column, so that it does not
    /// depend on how the ranks are divided among threads; every node of the prefix takes the sample's member closest to
    /// it. Ids are independent of positions, so for each node the sample is a uniform sample of the candidates, as if
    /// drawn for it alone; sharing it keeps the candidates' latency data in cache while the prefix's nodes are filled,
    /// which is what makes the build fast.
    /// </remarks>
    private void FillTables(Id[] sorted, int[] order, int from, int to, ulong seed)
    {
        int cols = _cols, live = sorted.Length;
        int samples = Math.Clamp(options.ProximitySamples, 1, live);
        var bounds = new int[rows * (cols + 1)];   // row i: column j's candidates are ranks bounds[i][j] .. bounds[i][j+1] - 1
        var groupEnd = new int[rows];              // row i's split holds for ranks below this
        var poolNode = new int[rows * cols * samples];
        var poolMachine = new int[rows * cols * samples];
        var poolCount = new int[rows * cols];
        int valid = 0;                              // rows 0 .. valid-1 hold the current ranks' splits and samples
        int[] machines = net.Nodes.Machine;
        LatencyModel latency = net.Transport.Latency;
        for (int k = from; k < to; k++)
        {
            Id self = sorted[k];
            int node = order[k];
            for (int i = 0; i < rows; i++)
            {
                if (i < valid && k < groupEnd[i]) continue;
                int lo, hi;
                if (i == 0) (lo, hi) = (0, live);
                else
                {
                    int d = _geometry.Digit(self, i - 1);
                    (lo, hi) = (bounds[(i - 1) * (cols + 1) + d], bounds[(i - 1) * (cols + 1) + d + 1]);
                }
                int row = i * (cols + 1);
                bounds[row] = lo;
                for (int j = 1; j < cols; j++) bounds[row + j] = FirstWithDigitAtLeast(sorted, bounds[row + j - 1], hi, i, j);
                bounds[row + cols] = hi;
                groupEnd[i] = hi;
                for (int j = 0; j < cols; j++) Sample(i, j, bounds[row + j], bounds[row + j + 1]);
                valid = i + 1;
            }
            long at = (long)node * rows * cols;
            int machine = machines[node];
            for (int i = 0; i < rows; i++)
            {
                int own = _geometry.Digit(self, i);
                for (int j = 0; j < cols; j++)
                {
                    int cell = i * cols + j, count = poolCount[cell];
                    if (j == own || count == 0) continue;
                    int first = cell * samples, best = poolNode[first];
                    if (options.ProximitySamples > 0 && count > 1)
                    {
                        long bestLatency = long.MaxValue;
                        for (int p = first; p < first + count; p++)
                        {
                            long l = latency.OneWay(machine, poolMachine[p]);
                            if (l < bestLatency)
                            {
                                bestLatency = l;
                                best = poolNode[p];
                            }
                        }
                    }
                    _table[at + cell] = best;
                }
            }
        }

        // The sample of row i, column j, whose candidates are ranks [lo, hi): all of them when they are few, the first
        // one alone without proximity.
        void Sample(int i, int j, int lo, int hi)
        {
            int cell = i * cols + j, first = cell * samples, count = hi - lo;
            if (options.ProximitySamples == 0 || count <= samples)
            {
                int take = options.ProximitySamples == 0 ? Math.Min(1, count) : count;
                for (int p = 0; p < take; p++) Put(first + p, order[lo + p]);
                poolCount[cell] = take;
                return;
            }
            var rng = new Xoshiro256(Xoshiro256.Mix(Xoshiro256.Mix(seed, (ulong)lo), (ulong)(i * cols + j)));
            for (int p = 0; p < samples; p++) Put(first + p, order[lo + rng.NextInt(count)]);
            poolCount[cell] = samples;
        }

        void Put(int slot, int candidate)
        {
            poolNode[slot] = candidate;
            poolMachine[slot] = machines[candidate];
        }
    }

    /// <summary>The first rank in [lo, hi) whose id has digit <paramref name="i"/> ≥ <paramref name="j"/> (hi if none); the ids in the range share digits 0 … i-1.</summary>
    private int FirstWithDigitAtLeast(Id[] sorted, int lo, int hi, int i, int j)
    {
        while (lo < hi)
        {
            int mid = (int)(((uint)lo + (uint)hi) >> 1);
            if (_geometry.Digit(sorted[mid], i) < j) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

}
