// CAN: S. Ratnasamy, P. Francis, M. Handley, R. Karp and S. Shenker, "A Scalable Content-Addressable Network",
// ACM SIGCOMM 2001.
//
// What this model is: the network N random joins build ("static"), from the global view. Nodes join one after another
// in ordinal order; each picks a random point of the d-torus [0, 1)^d (from its own seeded stream, so a node's point
// does not depend on the others), and the zone that holds it is split in half along the next dimension of the fixed
// order, the joining node taking the half nearer its point (the one that holds it). Neighbours are then the zones that
// abut along one dimension and overlap along the other d−1 (CanZones). Lookups are recursive: the message travels
// hop by hop through the engine, and the node whose zone holds the key's point replies straight to the origin.
//
// A key's point: its d coordinates are the stream Xoshiro256 seeded by a mix of the key id and the hash function's
// index h (0 … k−1), 64-bit fixed point each; the same point in every reality.
//
// Routing step at node n toward point P (§2.1, with §3's knobs):
//   1. n's zone holds P, in any reality: n delivers (every reality stores every key; peers share their zone's keys).
//   2. else, among n's neighbours in every reality, those whose zone is strictly closer to P than n is (distance: the
//      Euclidean distance on the torus from P to the nearest point of the zone; n's own is the least over its zones):
//      the closest (greedy forwarding), or with rtt_weighted the one with the largest ratio of progress (n's distance
//      minus the neighbour's) to latency. A zone not holding P always has such a neighbour, so every hop makes
//      progress and every route ends at an owner of P.
//   The message goes to the neighbour zone's member n keeps: with max_peers > 0 the member with the lowest latency
//   to n (§3.4: a node measures the RTT to the nodes of each neighbouring zone and keeps the nearest); without peers,
//   its only member.
// Design knobs (§3): d (dimensions), r (realities), rtt_weighted, max_peers (MAXPEERS), k (hash_functions: the lookup
// is sent toward all k points at once and the first answer taken), partition: uniform (§3.7: the JOIN's zone and its
// neighbours are compared and the largest is split; the joining node becomes a peer instead when that zone has room),
// landmarks (§3.6: m landmark nodes drawn at random; a node orders them by latency and its point's first coordinate
// is drawn inside the slab [i/m!, (i+1)/m!) of its ordering i, the paper's "m! portions", the other coordinates
// uniform). partition: grid builds the complete split tree (equal zones: with N = 2^(d·j), the paper's perfect grid
// of side N^(1/d), whose mean route is (d/4)·N^(1/d) hops; a zone has 2d neighbours when every dimension is halved
// at least twice, and one across a dimension halved once, where the same zone lies across both faces).
//
// What the hop count counts: hops = route messages from the origin until a node whose zone holds the key's point
// (in any reality) holds the message; with k > 1, those of the route whose answer reached the origin first. The
// answer to the origin is not a hop. stretch: the route's one-way latencies summed over the direct latency from the
// origin to the node that delivered; hop_latency_mean_ms, path_latency_mean_ms and ip_latency_mean_ms: the route's
// latency over its hops (the paper's per-hop latency), the route's latency, and the direct latency from the origin to
// the node that answered (the paper's "CAN path latency" and "IP latency"); neighbours_mean and peers_mean: distinct
// neighbour nodes (over all realities) and other members of a node's zones, at the end (the paper's "# neighbors" and
// "# peers"; degree counts both).
// Deviations from the paper: the distance to a neighbour is the distance to the nearest point of its zone (the paper
// says "the neighbour with coordinates closest to the destination" without defining a zone's coordinates); the
// landmark portions are slabs along one dimension; with peers, a split keeps the older half of the members in one
// half and moves the newer half, with the joining node, to the other (the paper does not say how peers divide);
// keys_per_node counts, for each key, only the first member of the zone holding its first point in the first reality.
//
// Memory per node: per reality, its zone's code, split-tree node and member list (33 bytes) and its routing table
// (4 bytes of offset, 12 per entry: its own zone and each neighbour's code and node; random joins give about
// 2d·1.15 to 2d·1.3 neighbours, uniform partitioning about 2d·1.05): 167 bytes at d = 4 with 9.8 neighbours. The
// estimate (BytesPerNode) takes 2d·1.3 neighbours and 12 bytes of the build's temporaries.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>CAN's message types.</summary>
public enum CanMessage : byte
{
    /// <summary>A lookup's message, forwarded toward the key's point.</summary>
    Route = 1,
    /// <summary>The answer of the node whose zone holds the point, straight to the origin.</summary>
    RouteReply = 2,
}

/// <summary>CAN's sizes and metrics: 20 bytes of header, 8 per node reference, the point's d coordinates at 8 bytes.</summary>
internal static class CanSizes
{
    public const int Header = 20, NodeRef = 8, Coordinate = 8;

    /// <summary>A route message: the key's point and the origin's address.</summary>
    public static int Route(int d) => Header + d * Coordinate + NodeRef;

    /// <summary>The answer: the node that delivered.</summary>
    public const int RouteReply = Header + NodeRef;

    public static readonly OverlayMetric RouteLatency = new("route_latency",
        "over the measured lookups: the route's latency per hop (one-way latencies of its messages, the CAN paper's per-hop latency), the route's latency (its 'CAN path latency'; the answer to the origin not included) and the direct latency from the origin to the node that answered (its 'IP latency'); 0 for a lookup answered at its origin",
        [new("hop_latency_mean_ms", MetricStat.Computed), new("path_latency_mean_ms", MetricStat.Computed), new("ip_latency_mean_ms", MetricStat.Computed)]);

    public static readonly OverlayMetric Neighbours = new("neighbours",
        "distinct nodes a live node keeps as neighbours over all realities (one per neighbouring zone), and the other members of its zones (peers), at the end: the CAN paper's # neighbors and # peers",
        [new("neighbours_mean", MetricStat.Computed), new("peers_mean", MetricStat.Computed)]);
}

/// <summary>CAN built by N random joins from the global view, with recursive lookups.</summary>
public sealed class Can : Overlay, IPrefetchingSink
{
    private readonly CanOptions _o;
    private readonly int _d;
    private CanGeometry _g = null!;
    private CanZones[] _realities = [];
    // A node's coordinate routing table in reality ρ (§2.1: each neighbour's zone and address), one row per node:
    // _table[ρ][_row[ρ][n]] is n's own zone, and the next entries its neighbours' zones, each with the node kept of
    // that zone (its only member, or with peers the nearest by latency): code and node side by side, so that a hop
    // reads one run of memory.
    private int[][] _row = [];
    private CanEntry[][] _table = [];
    private LookupArray<long> _path = null!;  // per lookup and hash function: one-way latencies of the route so far, µs
    private RouteStretch _stretch = null!;
    private long _measured, _measuredHops, _measuredPath, _measuredDirect;
    private int _portions;                // m! landmark orderings (slabs of the first dimension), 0 without landmarks

    public Can(CanOptions options)
    {
        _o = options;
        _d = options.Dimensions;
    }

    public override string Name => "can";

    public override long EventsPerLookupBound => Math.Max(8, 2L * _o.HashFunctions);

    protected override void OnAttached()
    {
        _path = Net.LookupArray<long>(_o.HashFunctions);
        _stretch = new RouteStretch(Net);
        Net.Lookups.Metrics.Register(CanSizes.RouteLatency).Computed = column => column switch
        {
            "hop_latency_mean_ms" => _measuredHops == 0 ? 0 : _measuredPath / 1000.0 / _measuredHops,
            "path_latency_mean_ms" => _measured == 0 ? 0 : _measuredPath / 1000.0 / _measured,
            _ => _measured == 0 ? 0 : _measuredDirect / 1000.0 / _measured,
        };
        Net.Lookups.Metrics.Register(CanSizes.Neighbours).Computed = column => column == "neighbours_mean" ? MeanOverLive(NeighbourCount) : MeanOverLive(PeerCount);
    }

    public override GroundTruth CreateTruth(Oracle view) => new CanTruth(_realities, _o.HashFunctions);

    /// <summary>Estimated peak bytes per node at <paramref name="nodes"/> nodes (see the file header), plus the build's temporaries.</summary>
    public static long BytesPerNode(CanOptions o, long nodes)
    {
        long neighbours = (long)Math.Ceiling(2 * o.Dimensions * 1.3);
        long perReality = CanZones.BytesPerNode + 4 + 12 * (1 + neighbours) + 4;
        return o.Realities * perReality + 8;
    }

    // ---- the network of N joins -----------------------------------------------------------------------------

    public override void BuildStatic(Oracle oracle)
    {
        int n = Net.Nodes.Count;
        int[] joined = oracle.SortedNodes.ToArray();
        Array.Sort(joined);   // join order: by ordinal
        int[] ordering = LandmarkOrderings(joined);
        ulong seed = Net.Streams.StreamSeed("overlay/can/points");
        _g = new CanGeometry(_d);
        _realities = new CanZones[_o.Realities];
        _row = new int[_o.Realities][];
        _table = new CanEntry[_o.Realities][];
        Span<ulong> point = stackalloc ulong[_d];
        var scratch = new List<int>();
        for (int r = 0; r < _o.Realities; r++)
        {
            var zones = new CanZones(_g, n);
            _realities[r] = zones;
            if (_o.Partition == CanPartition.Grid) BuildGrid(zones, joined, r);
            else
                for (int i = 0; i < joined.Length; i++)
                {
                    int node = joined[i];
                    JoinPoint(seed, node, r, ordering.Length == 0 ? -1 : ordering[node], point);
                    if (i == 0) zones.PlaceFirst(node);
                    else Join(zones, node, point, scratch);
                }
            BuildTables(r);
        }
    }

    /// <summary>A JOIN for <paramref name="point"/>: a peer of the zone chosen if it has room, else that zone split.</summary>
    private void Join(CanZones zones, int node, ReadOnlySpan<ulong> point, List<int> scratch)
    {
        int zone = zones.Locate(point);
        if (_o.Partition == CanPartition.Uniform)
        {
            zones.FindNeighbours(zone, scratch);
            int chosen = zone;
            foreach (int z in scratch)
                if (zones.Depth(z) < zones.Depth(chosen)) chosen = z;
            zone = chosen;
        }
        if (zones.Members(zone) <= _o.MaxPeers) zones.AddPeer(zone, node);
        else zones.Split(zone, node, point);
    }

    /// <summary>
    /// Equal zones: the complete split tree, each round halving every zone once. In the first reality the i-th joined
    /// node takes zone i; in the others the nodes are taken in an order drawn from the reality's own stream, so that
    /// realities are independent layouts as with random joins.
    /// </summary>
    private void BuildGrid(CanZones zones, int[] joined, int reality)
    {
        if (joined.Length == 0) return;
        int[] order = (int[])joined.Clone();
        if (reality > 0)
        {
            var rng = Net.Streams.Stream($"overlay/can/grid/{reality}");
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        zones.PlaceFirst(order[0]);
        // Any point will do: the grid depends only on which zone is split, and each split makes one new zone.
        Span<ulong> point = stackalloc ulong[zones.Geometry.D];
        for (int i = 1; i < order.Length; i++)
            zones.Split(i - (1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)i))), order[i], point);
    }

    /// <summary>The point node <paramref name="node"/> joins at in reality <paramref name="reality"/>: uniform, or in its landmark ordering's slab.</summary>
    private void JoinPoint(ulong seed, int node, int reality, int ordering, Span<ulong> into)
    {
        RandomPoint(seed, node, reality, into);
        if (ordering < 0) return;
        UInt128 portions = (UInt128)_portions;
        UInt128 lo = ((UInt128)(ulong)ordering << 64) / portions, hi = ((UInt128)(ulong)(ordering + 1) << 64) / portions;
        into[0] = (ulong)(lo + (((hi - lo) * into[0]) >> 64));
    }

    /// <summary>Node <paramref name="node"/>'s random join point in reality <paramref name="reality"/>, from the stream seed of "overlay/can/points".</summary>
    internal static void RandomPoint(ulong seed, int node, int reality, Span<ulong> into)
    {
        var rng = new Xoshiro256(Xoshiro256.Mix(Xoshiro256.Mix(seed, (ulong)node), (ulong)reality));
        for (int j = 0; j < into.Length; j++) into[j] = rng.NextUInt64();
    }

    private static int Factorial(int m)
    {
        int f = 1;
        for (int i = 2; i <= m; i++) f *= i;
        return f;
    }

    /// <summary>
    /// §3.6: m landmarks drawn among the joined nodes; each node's ordering of them by latency (nearest first, ties by
    /// the landmark's index) as its rank among the m! permutations. Empty without landmarks.
    /// </summary>
    private int[] LandmarkOrderings(int[] joined)
    {
        int m = _o.Landmarks;
        if (m == 0 || joined.Length == 0) return [];
        var rng = Net.Streams.Stream("overlay/can/landmarks");
        var landmarks = new List<int>();
        while (landmarks.Count < Math.Min(m, joined.Length))
        {
            int pick = joined[rng.NextInt(joined.Length)];
            if (!landmarks.Contains(pick)) landmarks.Add(pick);
        }
        _portions = Factorial(landmarks.Count);
        var ordering = new int[Net.Nodes.Count];
        Span<long> latency = stackalloc long[m];
        Span<int> order = stackalloc int[m];
        foreach (int node in joined)
        {
            for (int i = 0; i < landmarks.Count; i++)
            {
                latency[i] = Net.Transport.OneWay(node, landmarks[i]);
                order[i] = i;
            }
            for (int i = 1; i < landmarks.Count; i++)   // insertion sort: by latency, then index
                for (int j = i; j > 0 && (latency[order[j]] < latency[order[j - 1]]); j--)
                    (order[j], order[j - 1]) = (order[j - 1], order[j]);
            // The permutation's rank (Lehmer code): landmarks after position i that come before order[i] in index order.
            int rank = 0;
            for (int i = 0; i < landmarks.Count; i++)
            {
                int smaller = 0;
                for (int j = i + 1; j < landmarks.Count; j++)
                    if (order[j] < order[i]) smaller++;
                rank = rank * (landmarks.Count - i) + smaller;
            }
            ordering[node] = rank;
        }
        return ordering;
    }

    /// <summary>
    /// Every joined node's routing table in reality <paramref name="reality"/>: its zone, then each neighbouring zone
    /// with the node kept of it (its only member; with peers the member with the lowest latency, ties the lower ordinal).
    /// Two passes over the zones, on the thread pool: one counts each zone's neighbours (which sizes every member's row),
    /// the other finds them again and writes the rows, so that no zone-level copy of the lists is held beside them.
    /// </summary>
    private void BuildTables(int reality)
    {
        CanZones zones = _realities[reality];
        int count = zones.Count;
        var neighbours = new int[count];
        zones.ForEachZone((z, list) => neighbours[z] = list.Count);
        int nodes = Net.Nodes.Count;
        var row = new int[nodes + 1];
        long total = 0;
        for (int node = 0; node < nodes; node++)
        {
            row[node] = checked((int)total);
            int zone = zones.ZoneOf(node);
            if (zone >= 0) total += 1 + neighbours[zone];
        }
        row[nodes] = checked((int)total);
        var entries = new CanEntry[total];
        zones.ForEachZone((zone, list) =>
        {
            for (int node = zones.FirstMember(zone); node >= 0; node = zones.NextMember(node))
            {
                int at = row[node];
                entries[at++] = new CanEntry(zones.Code(zone), node);
                foreach (int z in list)
                {
                    int best = zones.FirstMember(z);
                    if (_o.MaxPeers > 0)
                    {
                        long bestLatency = long.MaxValue;
                        for (int m = best; m >= 0; m = zones.NextMember(m))
                        {
                            long l = Net.Transport.OneWay(node, m);
                            if (l < bestLatency || (l == bestLatency && m < best))
                            {
                                bestLatency = l;
                                best = m;
                            }
                        }
                    }
                    entries[at++] = new CanEntry(zones.Code(z), best);
                }
            }
        });
        _row[reality] = row;
        _table[reality] = entries;
    }

    // ---- routing -------------------------------------------------------------------------------------------

    /// <summary>Key <paramref name="key"/>'s point under hash function <paramref name="h"/>.</summary>
    internal static void KeyPoint(Id key, int h, Span<ulong> into)
    {
        var rng = new Xoshiro256(Xoshiro256.Mix(Xoshiro256.Mix(Xoshiro256.Mix(key.Hi, key.Mid), key.Lo), (ulong)h));
        for (int j = 0; j < into.Length; j++) into[j] = rng.NextUInt64();
    }

    public override void StartLookup(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int origin = rec.Origin;
        Span<ulong> point = stackalloc ulong[_d];
        for (int h = 0; h < _o.HashFunctions; h++)
        {
            KeyPoint(rec.Key, h, point);
            if (Holds(origin, point))
            {
                if (Net.Lookups.Answer(lookup, origin)) _measured++;
                return;
            }
        }
        for (int h = 0; h < _o.HashFunctions; h++)
        {
            _path.At(lookup, h) = 0;
            KeyPoint(rec.Key, h, point);
            Forward(origin, lookup, h, 0, point);
        }
    }

    protected override void Receive(ref Event ev)
    {
        switch ((CanMessage)ev.Type)
        {
            case CanMessage.Route:
                Span<ulong> point = stackalloc ulong[_d];
                KeyPoint(Net.Lookups[ev.Lookup].Key, ev.Aux, point);
                Forward(ev.Dst, ev.Lookup, ev.Aux, ev.Arg, point);
                break;
            case CanMessage.RouteReply:
                Finish(ev.Lookup, ev.Src, ev.Aux, ev.Arg);
                break;
        }
    }

    // A hop reads the target's row offsets, then its run of entries: two dependent reads of a random node's memory.
    // The engine names the events due next, so the offsets of the one after next and the entries of the next are
    // fetched while the current hop is handled; only in networks whose tables outgrow the caches.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        if (ev.Type != (byte)CanMessage.Route) return;
        for (int r = 0; r < _row.Length; r++) CacheHint.Prefetch(in _row[r][ev.Dst]);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        if (ev.Type != (byte)CanMessage.Route) return;
        for (int r = 0; r < _row.Length; r++)
        {
            int[] row = _row[r];
            int from = row[ev.Dst], count = row[ev.Dst + 1] - from;
            if (count > 0) CacheHint.Prefetch(in _table[r][from], count);
        }
    }

    /// <summary>The message of route <paramref name="h"/> is at <paramref name="node"/> after <paramref name="hops"/> hops: forward it or answer.</summary>
    private void Forward(int node, int lookup, int h, int hops, ReadOnlySpan<ulong> point)
    {
        int next = NextHop(node, point);
        if (next < 0)
        {
            Net.Transport.Send(node, Net.Lookups[lookup].Origin,
                new Event { Lookup = lookup, Arg = hops, Aux = (ushort)h, Sink = Sink, Type = (byte)CanMessage.RouteReply }, CanSizes.RouteReply);
            return;
        }
        _path.At(lookup, h) += Net.Transport.OneWay(node, next);
        Net.Transport.Send(node, next, new Event { Lookup = lookup, Arg = hops + 1, Aux = (ushort)h, Sink = Sink, Type = (byte)CanMessage.Route },
            CanSizes.Route(_d));
    }

    /// <summary>The first answer to reach the origin answers the lookup; later ones (other hash functions) are ignored.</summary>
    private void Finish(int lookup, int answer, int h, int hops)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Answered) return;
        rec.Hops = hops;
        int origin = rec.Origin;
        if (!Net.Lookups.Answer(lookup, answer)) return;
        long path = _path.At(lookup, h);
        _measured++;
        _measuredHops += hops;
        _measuredPath += path;
        _measuredDirect += Net.Transport.OneWay(origin, answer);
        _stretch.Add(origin, answer, path);
    }

    /// <summary>Whether <paramref name="node"/>'s zone holds the point in some reality.</summary>
    public bool Holds(int node, ReadOnlySpan<ulong> point)
    {
        for (int r = 0; r < _realities.Length; r++)
        {
            int[] row = _row[r];
            if (row[node] < row[node + 1] && _g.Distance2(_table[r][row[node]].Code, point) == 0) return true;
        }
        return false;
    }

    /// <summary>
    /// The next hop from <paramref name="node"/> toward <paramref name="point"/> (see the file header), or -1 when the
    /// node's zone holds it. A node with no neighbour closer (which geometry rules out) delivers, and the ground truth
    /// counts the answer wrong.
    /// </summary>
    public int NextHop(int node, ReadOnlySpan<ulong> point)
    {
        double own = double.PositiveInfinity;
        for (int r = 0; r < _realities.Length; r++)
        {
            if (_row[r][node] == _row[r][node + 1]) continue;   // no zone in this reality (a node that never joined)
            double d2 = _g.Distance2(_table[r][_row[r][node]].Code, point);
            if (d2 == 0) return -1;
            own = Math.Min(own, d2);
        }
        int best = -1, closest = -1;
        double bestD2 = own, bestScore = 0, ownDistance = _o.RttWeighted ? Math.Sqrt(own) : 0;
        for (int r = 0; r < _realities.Length; r++)
        {
            int from = _row[r][node] + 1, to = _row[r][node + 1];   // empty without a zone
            CanEntry[] table = _table[r];
            for (int e = from; e < to; e++)
            {
                ref readonly CanEntry entry = ref table[e];
                double d2 = _g.Distance2(entry.Code, point, own);
                if (d2 >= own) continue;
                int member = entry.Node;
                if (d2 < bestD2)
                {
                    bestD2 = d2;
                    closest = member;
                }
                if (_o.RttWeighted)
                {
                    double score = (ownDistance - Math.Sqrt(d2)) / Math.Max(1, Net.Transport.OneWay(node, member));
                    if (score > bestScore)
                    {
                        bestScore = score;
                        best = member;
                    }
                }
            }
        }
        // Greedy: the closest. RTT-weighted: the best ratio, or the closest where rounding left no progress to weigh.
        return best >= 0 ? best : closest;
    }

    public override int Degree(int node) => Known(node, neighbours: true, peers: true);

    private int NeighbourCount(int node) => Known(node, neighbours: true, peers: false);

    private int PeerCount(int node) => Known(node, neighbours: false, peers: true);

    /// <summary>Distinct other nodes among a node's neighbours (the members it keeps) and peers, over all realities.</summary>
    private int Known(int node, bool neighbours, bool peers)
    {
        int size = 0;
        for (int r = 0; r < _realities.Length; r++)
        {
            int zone = _realities[r].ZoneOf(node);
            if (zone < 0) continue;
            if (peers) size += _realities[r].Members(zone);
            if (neighbours) size += _row[r][node + 1] - _row[r][node];
        }
        Span<int> all = size <= 512 ? stackalloc int[size] : new int[size];
        int count = 0;
        for (int r = 0; r < _realities.Length; r++)
        {
            CanZones zones = _realities[r];
            int zone = zones.ZoneOf(node);
            if (zone < 0) continue;
            if (peers)
                for (int m = zones.FirstMember(zone); m >= 0; m = zones.NextMember(m)) all[count++] = m;
            if (neighbours)
                for (int e = _row[r][node] + 1; e < _row[r][node + 1]; e++) all[count++] = _table[r][e].Node;
        }
        return CountDistinct(all[..count], node);
    }

    private double MeanOverLive(Func<int, int> count)
    {
        int live = Net.Nodes.LiveCount;
        long sum = 0;
        for (int i = 0; i < live; i++) sum += count(Net.Nodes.LiveAt(i));
        return live == 0 ? 0 : (double)sum / live;
    }

    public override string MessageName(byte type) => ((CanMessage)type).ToString();

    /// <summary>Zones of every reality by volume: a zone of depth t has volume 2^-t, counted as 2^k·V_T/N with k = round(log2 N) − t (exact when N is a power of two).</summary>
    public override IReadOnlyList<ZoneVolumeBin>? ZoneVolumes()
    {
        int scale = (int)Math.Round(Math.Log2(Math.Max(1, Net.Nodes.LiveCount)));
        var zones = new SortedDictionary<int, (long Zones, long Nodes)>();
        foreach (CanZones reality in _realities)
            for (int z = 0; z < reality.Count; z++)
            {
                if (reality.Members(z) == 0) continue;
                int k = scale - reality.Depth(z);
                var (count, nodes) = zones.GetValueOrDefault(k);
                zones[k] = (count + 1, nodes + reality.Members(z));
            }
        return zones.Select(kv => new ZoneVolumeBin(kv.Key, kv.Value.Zones, kv.Value.Nodes)).ToList();
    }

    // Read access for tests and the zone-volume summary.
    internal IReadOnlyList<CanZones> Realities => _realities;

    /// <summary>Node n's routing table in a reality: its zone's code first, then each neighbour's zone code with the node kept of it.</summary>
    internal (ReadOnlyMemory<ulong> Codes, ReadOnlyMemory<int> Nodes) Table(int node, int reality)
    {
        int from = _row[reality][node], length = _row[reality][node + 1] - from;
        CanEntry[] slice = _table[reality][from..(from + length)];
        return (slice.Select(e => e.Code).ToArray(), slice.Select(e => e.Node).ToArray());
    }
}

/// <summary>An entry of a CAN node's routing table: a zone's code and the node kept of it, 12 bytes.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 4)]
internal readonly struct CanEntry(ulong code, int node)
{
    public readonly ulong Code = code;
    public readonly int Node = node;
}

/// <summary>
/// CAN's ground truth: a lookup's correct answers are the nodes whose zone, in any reality, holds one of the key's k
/// points (every member of such a zone: peers share their zone's keys). Read from the zones as the build left them.
/// </summary>
internal sealed class CanTruth(CanZones[] realities, int hashFunctions) : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup)
    {
        if (answer < 0) return false;
        Span<ulong> point = stackalloc ulong[realities.Length == 0 ? 1 : realities[0].Geometry.D];
        for (int h = 0; h < hashFunctions; h++)
        {
            Can.KeyPoint(lookup.Key, h, point);
            foreach (CanZones zones in realities)
                if (zones.ZoneOf(answer) == zones.Locate(point)) return true;
        }
        return false;
    }

    /// <summary>The first member of the zone holding the key's first point in the first reality.</summary>
    public override int Responsible(Id key, int keyIndex)
    {
        if (realities.Length == 0) return -1;
        CanZones zones = realities[0];
        Span<ulong> point = stackalloc ulong[zones.Geometry.D];
        Can.KeyPoint(key, 0, point);
        return zones.FirstMember(zones.Locate(point));
    }
}
