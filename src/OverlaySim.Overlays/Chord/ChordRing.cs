// Chord: I. Stoica, R. Morris, D. Karger, M. F. Kaashoek, H. Balakrishnan, "Chord: A Scalable Peer-to-peer
// Lookup Service for Internet Applications", ACM SIGCOMM 2001; extended in IEEE/ACM ToN 11(1), 2003.
//
// What this model is: the converged ("static") ring. Every node's finger table, successor list of length r
// and predecessor are built from the global view exactly as a fully stabilized ring would hold them.
// Lookups are recursive: the request travels hop by hop as messages through the engine, each hop delayed
// by the latency model, and the responsible node replies straight to the origin.
//
// Routing step at node n for key k (find_successor, ToN Fig. 5, run recursively; ChordRouting.Step, shared with
// the protocol):
//   1. k in (predecessor(n), n]            -> n is responsible: reply to the origin.
//   2. k in (n, successor(n)]              -> forward to successor(n), which is responsible.
//   3. otherwise                           -> forward to closest_preceding_node(k): the farthest entry of
//                                             the finger table or successor list that lies in (n, k).
// Step 1 is not in the paper's pseudocode (which would route a lookup that starts at the owner all the way
// around the ring); every implementation has it, and it makes a lookup for a key one owns cost nothing.
//
// What the hop count counts:
//   hops       = request messages from the origin until the responsible node holds the request
//                (OverlaySim's common definition; 0 when the origin is responsible). The reply is not a hop.
//   paper_hops = request messages until the request reaches the key's predecessor, the node whose successor
//                is responsible (step 2): the "path length" of the Chord paper, whose mean is about
//                ½·log2 N (SIGCOMM Fig. 10). So hops = paper_hops + 1 except when the origin is responsible.
// Deviations from the paper: closest_preceding_node also searches the successor list (as in the ToN version;
// it shortens the last hops slightly); the finger table is stored as its distinct entries only. This model has no
// protocol and cannot follow churn: ChordProtocol.cs runs join, stabilize, fix_fingers and failures.
//
// Memory per node: 5·F bytes of finger table (F ≈ log2 N distinct fingers: ordinal and distance bit length)
// plus 9 of offset and count, 5·r of successor list, 5 of predecessor and 2 of degree: about 160 bytes at N = 10^6, r = 8.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Chord's message types, named after the paper's RPCs.</summary>
public enum ChordMessage : byte
{
    /// <summary>find_successor(k), forwarded recursively toward the key.</summary>
    FindSuccessor = 1,
    /// <summary>The responsible node's answer, sent straight back to the origin.</summary>
    FindSuccessorReply = 2,
}

/// <summary>Chord in its converged form, with recursive lookups.</summary>
public sealed class ChordRing : Overlay, IPrefetchingSink
{
    private readonly ChordOptions _options;
    private Id[] _ids = [];
    private long[] _fingerStart = [];  // fingers of node n are _fingers[_fingerStart[n] .. + _fingerCount[n])
    private byte[] _fingerCount = [];
    private int[] _fingers = [];       // distinct finger entries, in increasing clockwise distance (ring order)
    private int[] _successors = [];    // r entries per node (fewer valid when the ring is smaller), -1 = none
    private int[] _predecessor = [];
    // Bit length of the clockwise distance from the node to each routing entry. Routing compares these bytes
    // first and reads an entry's 24-byte id only on a tie: at 10^6 nodes the ids do not fit in cache, and
    // reading the id of every finger scanned was most of the cost of a hop.
    private byte[] _fingerBits = [];
    private byte[] _successorBits = [];
    private byte[] _predecessorBits = [];
    private ushort[] _degree = [];       // distinct routing entries per node, counted at build (see Degree)

    private LookupArray<int> _paperHops = null!; // per lookup: hops when the key's predecessor held it, -1 until then
    private SampleMetric _paperHopsMetric = null!;

    public ChordRing(ChordOptions options) => _options = options;

    public override string Name => "chord";

    protected override void OnAttached()
    {
        _paperHops = Net.LookupArray<int>();
        _paperHopsMetric = Net.Lookups.Metrics.Register(ChordSizes.PaperHops);
    }

    public override GroundTruth CreateTruth(Oracle view) => new ChordTruth(view);

    /// <summary>
    /// Estimated peak bytes per node at <paramref name="nodes"/> nodes: about log2 N + 3 finger entries of
    /// 5 bytes (ordinal and distance bit length), 9 bytes of finger offset and count, 5·r of successor list,
    /// 5 of predecessor, 2 of degree, and 37 bytes of temporaries while the fingers are built (a copy of the sorted ids and
    /// ordinals, counts and offsets).
    /// </summary>
    public static long BytesPerNode(ChordOptions options, long nodes) =>
        5L * ((long)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 3) + 9 + 5L * options.Successors + 5 + 2 + 37;

    public override void BuildStatic(Oracle oracle)
    {
        NodeTable nodes = Net.Nodes;
        IdSpace space = Net.Space;
        int n = nodes.Count;
        int live = oracle.Count;
        int r = _options.Successors;
        _ids = nodes.Ids;
        _predecessor = new int[n];
        _successors = new int[(long)n * r];
        Array.Fill(_successors, -1);
        Array.Fill(_predecessor, -1);

        _successorBits = new byte[(long)n * r];
        _predecessorBits = new byte[n];
        _degree = new ushort[n];
        Id[] sorted = oracle.SortedIds.ToArray();
        int[] order = oracle.SortedNodes.ToArray();
        int succCount = Math.Min(r, live - 1);
        // Blocks of ranks write disjoint nodes: the same tables for any number of threads.
        const int Block = 1 << 14;
        Parallel.For(0, (live + Block - 1) / Block, b =>
        {
            for (int rank = b * Block; rank < Math.Min(live, (b + 1) * Block); rank++)
            {
                int node = order[rank];
                Id self = sorted[rank];
                int before = rank == 0 ? live - 1 : rank - 1;
                _predecessor[node] = order[before];
                _predecessorBits[node] = (byte)space.Distance(self, sorted[before]).BitLength;
                long at = (long)node * r;
                for (int j = 0; j < succCount; j++)
                {
                    int next = rank + 1 + j;
                    if (next >= live) next -= live;
                    _successors[at + j] = order[next];
                    _successorBits[at + j] = (byte)space.Distance(self, sorted[next]).BitLength;
                }
            }
        });

        BuildFingers(sorted, order, space, n, succCount);
    }

    /// <summary>
    /// Fingers: entry i (0-based) of node n is successor(n + 2^i); only the distinct entries are kept, in
    /// increasing distance, stopping at the first that would be n itself.
    /// </summary>
    /// <remarks>
    /// <para>Let g be the smallest gap between neighbouring ids. For every i with 2^i ≤ g, n + 2^i lies in
    /// (n, successor(n)], so those fingers are all the successor; only the levels i = bitlength(g) .. m-1 need a
    /// search. The smallest of N random gaps is about 2^m / N², so that is about 2·log2 N levels (47 at N = 10^7).</para>
    /// <para>For one level i, the targets id_k + 2^i of consecutive ranks k increase, so their successors'
    /// ranks do too: one pointer sweeping the sorted ring forward finds them all in O(N), reading ids in
    /// order (cache-friendly) instead of one binary search per node and level. The ring is unrolled to 2N
    /// virtual ranks (rank v ≥ N has id sorted[v − N] + 2^m) so that targets past 2^m need no special case.</para>
    /// <para>Blocks of ranks are independent (each starts its pointers with one binary search), so blocks run
    /// in parallel; a first pass counts each node's fingers and a second writes them into one array at
    /// prefix-sum offsets, so the result is the same for any number of threads and the table is never held
    /// twice. O(N · levels) time; 5 bytes per finger entry.</para>
    /// </remarks>
    private void BuildFingers(Id[] sorted, int[] order, IdSpace space, int n, int succCount)
    {
        int live = sorted.Length;
        _fingerStart = new long[n];
        _fingerCount = new byte[n];
        if (live < 2)
        {
            _fingers = [];
            _fingerBits = [];
            return;
        }

        Id minGap = space.Distance(sorted[live - 1], sorted[0]);
        for (int k = 0; k + 1 < live; k++)
        {
            Id gap = sorted[k + 1] - sorted[k];
            if (gap < minGap) minGap = gap;
        }
        int firstLevel = minGap.BitLength;           // levels below it all give the successor
        int levels = Math.Max(0, space.Bits - firstLevel);

        const int Block = 2048;
        int blocks = (live + Block - 1) / Block;
        var counts = new byte[live];

        // Pass 1: count. Pass 2: write at the offsets. Both run the same deterministic sweep per block.
        Parallel.For(0, blocks, () => new int[Block * Math.Max(1, levels)], (b, _, scratch) =>
        {
            Sweep(b * Block, Math.Min(live, (b + 1) * Block), scratch);
            for (int k = b * Block; k < Math.Min(live, (b + 1) * Block); k++)
                counts[k] = (byte)Emit(k, scratch, (k - b * Block) * levels, null, 0);
            return scratch;
        }, _ => { });

        long total = 0;
        var offsets = new long[live];
        for (int k = 0; k < live; k++)
        {
            offsets[k] = total;
            total += counts[k];
        }
        if (total > Array.MaxLength) throw new InsufficientMemoryException("Chord finger tables exceed the largest array .NET can hold; use fewer nodes");
        _fingers = new int[total];
        _fingerBits = new byte[total];

        Parallel.For(0, blocks, () => new int[Block * Math.Max(1, levels)], (b, _, scratch) =>
        {
            Sweep(b * Block, Math.Min(live, (b + 1) * Block), scratch);
            for (int k = b * Block; k < Math.Min(live, (b + 1) * Block); k++)
            {
                int node = order[k];
                _fingerStart[node] = offsets[k];
                _fingerCount[node] = counts[k];
                Emit(k, scratch, (k - b * Block) * levels, _fingers, offsets[k]);
            }
            return scratch;
        }, _ => { });

        // Rank of successor(id_k + 2^i) for k in [from, to) and each level, into scratch[(k - from) * levels + level].
        void Sweep(int from, int to, int[] scratch)
        {
            Id wrap = Id.Pow2(space.Bits);
            for (int level = 0; level < levels; level++)
            {
                Id step = Id.Pow2(firstLevel + level);
                Id target = sorted[from] + step;                  // unwrapped: may exceed 2^m
                long v = target < wrap ? IdSearch.LowerBound(sorted, target) : live + IdSearch.LowerBound(sorted, target - wrap);
                for (int k = from; k < to; k++)
                {
                    target = sorted[k] + step;
                    while (Virtual(v) < target) v++;
                    scratch[(k - from) * levels + level] = (int)(v % live);
                }
            }

            Id Virtual(long v) => v < live ? sorted[v] : sorted[v - live] + wrap;
        }

        // The distinct fingers of rank k in increasing distance: the successor, then each level's entry until one is
        // k itself. Writes them (as ordinals, with their distance bit lengths) when into is not null, and the node's
        // degree; returns the count.
        int Emit(int k, int[] scratch, int at, int[]? into, long offset)
        {
            Id self = sorted[k];
            int count = 0;
            int beyondSuccessors = 0;       // fingers that are not in the successor list (rank distance > succCount)
            bool predecessorIsFinger = false;
            int last = (k + 1) % live;
            Put(last);
            for (int level = 0; level < levels; level++)
            {
                int f = scratch[at + level];
                if (f == k) break;  // n + 2^i lies in (predecessor, n]: every higher finger is n itself
                if (f == last) continue;
                Put(f);
                last = f;
            }
            if (into is not null)
            {
                bool predecessorIsSuccessor = live - 1 <= succCount;
                _degree[order[k]] = (ushort)(succCount + beyondSuccessors + (predecessorIsSuccessor || predecessorIsFinger ? 0 : 1));
            }
            return count;

            void Put(int rank)
            {
                if (into is not null)
                {
                    into[offset + count] = order[rank];
                    _fingerBits[offset + count] = (byte)space.Distance(self, sorted[rank]).BitLength;
                    int d = rank - k;
                    if (d < 0) d += live;
                    if (d > succCount) beyondSuccessors++;
                    if (d == live - 1) predecessorIsFinger = true;
                }
                count++;
            }
        }
    }

    public override void StartLookup(int lookup)
    {
        _paperHops[lookup] = -1;
        Route(Net.Lookups[lookup].Origin, lookup);
    }

    protected override void Receive(ref Event ev)
    {
        switch ((ChordMessage)ev.Type)
        {
            case ChordMessage.FindSuccessor:
                Route(ev.Dst, ev.Lookup);
                break;
            case ChordMessage.FindSuccessorReply:
                Finish(ev.Lookup, ev.Arg);
                break;
        }
    }

    // A hop reads about eight arrays at a random node (its id, first successor, predecessor bits, finger offset and
    // count, then the run of finger bits and fingers, found through the offset): each a likely cache miss at 10^6
    // nodes. The engine names the events due next, so the per-node fields of the one after next and the finger run
    // of the next are fetched while the current hop is handled, in networks whose tables outgrow the caches.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        if (ev.Type != (byte)ChordMessage.FindSuccessor) return;
        int n = ev.Dst;
        long first = (long)n * _options.Successors;
        CacheHint.Prefetch(in _ids[n]);
        CacheHint.Prefetch(in _successors[first]);
        CacheHint.Prefetch(in _successorBits[first]);
        CacheHint.Prefetch(in _predecessorBits[n]);
        CacheHint.Prefetch(in _fingerStart[n]);
        CacheHint.Prefetch(in _fingerCount[n]);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        if (ev.Type != (byte)ChordMessage.FindSuccessor) return;
        int n = ev.Dst;
        long start = _fingerStart[n];
        int count = _fingerCount[n];
        if (count == 0) return;
        CacheHint.Prefetch(in _fingerBits[start], count);
        CacheHint.Prefetch(in _fingers[start], count);
    }

    /// <summary>The origin learns the answer (nothing else is in flight for the lookup, so it also ends).</summary>
    private void Finish(int lookup, int answer)
    {
        if (Net.Lookups.Answer(lookup, answer)) _paperHopsMetric.Add(_paperHops[lookup]);
    }

    private void Route(int node, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        var table = new ConvergedTable(this);
        switch (ChordRouting.Step(ref table, Net.Space, _ids, node, rec.Key, out int next))
        {
            case ChordStep.ToSuccessor:
                // This node is the key's predecessor, where the paper's path ends.
                _paperHops[lookup] = rec.Hops;
                Forward(node, next, lookup, ref rec);
                return;
            case ChordStep.Forward:
                Forward(node, next, lookup, ref rec);
                return;
            default:
                // Responsible (or a ring of one): answer.
                if (_paperHops[lookup] < 0) _paperHops[lookup] = rec.Hops;
                if (node == rec.Origin) Finish(lookup, node);
                else Net.Transport.Send(node, rec.Origin, new Event { Lookup = lookup, Arg = node, Sink = Sink, Type = (byte)ChordMessage.FindSuccessorReply }, ChordSizes.FindSuccessorReply);
                return;
        }
    }

    private void Forward(int node, int next, int lookup, ref LookupRecord rec)
    {
        rec.Hops++;
        Net.Transport.Send(node, next, new Event { Lookup = lookup, Sink = Sink, Type = (byte)ChordMessage.FindSuccessor }, ChordSizes.FindSuccessor);
    }

    /// <summary>
    /// The converged routing table as the step reads it. Every test compares distance bit lengths (one byte per entry,
    /// stored beside it) before reading an entry's 24-byte id: at 10^6 nodes the ids do not fit in cache, and reading
    /// the id of every entry scanned was most of the cost of a hop.
    /// </summary>
    private readonly struct ConvergedTable(ChordRing ring) : IChordRoutingTable
    {
        /// <summary>The first successor; a ring of one (no successor stored) is its own.</summary>
        public int Successor(int n)
        {
            int s = ring._successors[(long)n * ring._options.Successors];
            return s >= 0 ? s : n;
        }

        public bool InOwnRange(int n, in ChordQuery q) =>
            q.ToKey.IsZero || (q.Bits >= ring._predecessorBits[n] && q.ToKey > ring.Net.Space.Distance(q.Self, ring._ids[ring._predecessor[n]]));

        public bool InSuccessorRange(int n, int successor, in ChordQuery q) =>
            q.Bits <= ring._successorBits[(long)n * ring._options.Successors] && !q.ToKey.IsZero && q.ToKey <= ring.Net.Space.Distance(q.Self, ring._ids[successor]);

        public int ClosestPreceding(int n, in ChordQuery q) => ring.ClosestPrecedingNode(n, q.Self, q.ToKey, q.Bits);
    }

    /// <summary>
    /// closest_preceding_node: the entry of the finger table or successor list farthest along the ring that
    /// still precedes the key, i.e. with clockwise distance from the node below <paramref name="toKey"/>
    /// (whose bit length is <paramref name="bits"/>). Entries are scanned from the farthest; an entry whose
    /// distance has more bits than the key's is too far, one with fewer bits precedes it, and only an equal bit
    /// length needs the exact comparison.
    /// </summary>
    private int ClosestPrecedingNode(int node, Id self, Id toKey, int bits)
    {
        IdSpace space = Net.Space;
        int best = -1, bestBits = 0;
        for (long j = _fingerStart[node] + _fingerCount[node] - 1; j >= _fingerStart[node]; j--)
        {
            int b = _fingerBits[j];
            if (b > bits || (b == bits && space.Distance(self, _ids[_fingers[j]]) >= toKey)) continue;
            best = _fingers[j];
            bestBits = b;
            break;
        }
        int r = _options.Successors;
        long first = (long)node * r;
        for (int j = r - 1; j >= 0; j--)
        {
            int s = _successors[first + j];
            if (s < 0) continue;
            int b = _successorBits[first + j];
            if (b > bits || (b == bits && space.Distance(self, _ids[s]) >= toKey)) continue;
            // s precedes the key; it beats the finger only if it is farther along the ring.
            if (best < 0 || b > bestBits || (b == bestBits && space.Distance(self, _ids[s]) > space.Distance(self, _ids[best]))) best = s;
            break;
        }
        return best >= 0 ? best : _successors[first];
    }

    /// <summary>
    /// Distinct entries of the finger table, successor list and predecessor, the node itself excluded: counted while
    /// the fingers are built, from ranks (successor j is the node j + 1 ranks on, so a finger is in the list when it is
    /// at most r ranks on), and stored, 2 bytes a node. The converged tables never change, and reading each node's
    /// tables again at the end cost 5 s at 10^7 nodes.
    /// </summary>
    public override int Degree(int node) => _degree[node];

    // Read access for tests and invariant checks.
    public int Predecessor(int node) => _predecessor[node];
    public int Successor(int node) => _successors[(long)node * _options.Successors];
    public ReadOnlySpan<int> Fingers(int node) => _fingers.AsSpan((int)_fingerStart[node], _fingerCount[node]);
}
