// Chord: I. Stoica, R. Morris, D. Karger, M. F. Kaashoek, H. Balakrishnan, "Chord: A Scalable Peer-to-peer
// Lookup Service for Internet Applications", ACM SIGCOMM 2001; extended in IEEE/ACM ToN 11(1), 2003.
//
// What this model is: the converged ("static") ring. Every node's finger table, successor list of length r
// and predecessor are built from the global view exactly as a fully stabilized ring would hold them.
// Lookups are recursive: the request travels hop by hop as messages through the engine, each hop delayed
// by the latency model, and the responsible node replies straight to the origin. In a run where nothing can change
// the ring or a delay while a lookup is in flight (Network.RoutesAhead: no churn, fixed pair delays, no deadline, no
// end), the hops are computed before the lookup begins and only the reply is an event, arriving when it would have:
// the same hops, messages, bytes, loads, latencies and answer times, fewer events (see "lookups routed before they
// begin" below; RouteAheadTests compares every result file of the two ways).
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
// Memory per node: 6·F bytes of finger table (F ≈ log2 N distinct fingers: ordinal and 16-bit distance rank), a
// 16-byte record of what every hop reads (finger offset and count, first successor, three distance ranks), 6·r of
// successor list, 4 of predecessor and 2 of degree: about 200 bytes at N = 10^6, r = 8.

using System.Runtime.CompilerServices;
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
public sealed class ChordRing : Overlay, IPrefetchingSink, ILookupPlanner
{
    private readonly ChordOptions _options;
    private Id[] _ids = [];
    private NodeState[] _state = [];   // what every hop reads of its node, in one 16-byte record
    private Entry[] _fingers = [];     // distinct finger entries of each node, in increasing clockwise distance (ring order)
    private int[] _successors = [];    // r entries per node (fewer valid when the ring is smaller), -1 = none
    private int[] _predecessor = [];
    // The clockwise distance from the node to each routing entry rounded down to 16 bits (ChordQuery.DistanceRank: its
    // bit length and the 8 bits after its leading one). Routing compares these first and reads an entry's 24-byte id
    // only when the ranks are equal: at 10^6 nodes the ids do not fit in cache. With the bit length alone, the finger
    // whose distance has the key's bit length needed its id at almost every hop; with the 8 more bits, about one in 256.
    private ushort[] _successorBits = [];

    /// <summary>
    /// A node's fields that a hop reads, together: where its fingers are (<see cref="_fingers"/>[FingerStart ..
    /// + FingerCount)), its first successor, and the distance ranks of its predecessor, its first successor and its
    /// farthest successor (past which no successor-list entry can beat a finger, so the list is read only when the key
    /// is that close). One cache line per hop instead of one per array.
    /// </summary>
    private struct NodeState
    {
        public int FingerStart;
        public int Successor;           // -1 in a ring of one
        public ushort PredecessorRank;
        public ushort SuccessorRank;
        public ushort LastSuccessorRank;
        public byte FingerCount;
    }

    /// <summary>A finger: the node and the rank of its clockwise distance, 6 bytes, read together.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 2)]
    private struct Entry
    {
        public int Node;
        public ushort Rank;
    }
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
    /// Estimated peak bytes per node at <paramref name="nodes"/> nodes: log2 N + 1 finger entries of
    /// 6 bytes (ordinal and distance rank), the 16-byte record a hop reads, 6·r of successor list, 4 of predecessor, 2
    /// of degree (the build reads the global view's sorted ids in place; the finger table's room covers about log2 N + 1
    /// entries a node, of which about log2 N are used).
    /// </summary>
    public static long BytesPerNode(ChordOptions options, long nodes) =>
        6L * ((long)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 1) + 16 + 6L * options.Successors + 4 + 2;

    /// <summary>
    /// How many ranks ahead the build fetches the state of the node it will write: ranks are walked in order but a
    /// rank's node is anywhere in the per-node arrays, and at 10^7 nodes each write would otherwise wait for its line
    /// (the successor lists took 1.29 s without, 0.62-0.68 s with; the finger walk 3.1 s and 2.7 s).
    /// </summary>
    private const int Ahead = 16;

    public override void BuildStatic(Oracle oracle)
    {
        NodeTable nodes = Net.Nodes;
        IdSpace space = Net.Space;
        int n = nodes.Count;
        int live = oracle.Count;
        int r = _options.Successors;
        _ids = nodes.Ids;
        _predecessor = LargeArray.Filled(n, -1);
        _successors = LargeArray.Filled((long)n * r, -1);
        _successorBits = LargeArray.Zeroed<ushort>((long)n * r);
        _state = LargeArray.Zeroed<NodeState>(n);
        for (int i = 0; i < n; i++) _state[i].Successor = -1;
        _degree = LargeArray.Zeroed<ushort>(n);
        // The view's own arrays (the build reads them in parallel blocks, which cannot capture a span; nothing keeps them).
        Id[] sorted = ArrayOf(oracle.SortedIdMemory);
        int[] order = ArrayOf(oracle.SortedNodeMemory);
        int succCount = Math.Min(r, live - 1);
        // Blocks of ranks write disjoint nodes: the same tables for any number of threads.
        const int Block = 1 << 14;
        Parallel.For(0, (live + Block - 1) / Block, b =>
        {
            int end = Math.Min(live, (b + 1) * Block);
            for (int rank = b * Block; rank < end; rank++)
            {
                if (rank + Ahead < end)
                {
                    int later = order[rank + Ahead];
                    CacheHint.Prefetch(in _predecessor[later]);
                    CacheHint.Prefetch(in _state[later]);
                    CacheHint.Prefetch(in _successors[(long)later * r], r);
                    CacheHint.Prefetch(in _successorBits[(long)later * r], r);
                }
                int node = order[rank];
                Id self = sorted[rank];
                int before = rank == 0 ? live - 1 : rank - 1;
                _predecessor[node] = order[before];
                ref NodeState state = ref _state[node];
                state.PredecessorRank = ChordQuery.DistanceRank(space.Distance(self, sorted[before]));
                long at = (long)node * r;
                for (int j = 0; j < succCount; j++)
                {
                    int next = rank + 1 + j;
                    if (next >= live) next -= live;
                    _successors[at + j] = order[next];
                    _successorBits[at + j] = ChordQuery.DistanceRank(space.Distance(self, sorted[next]));
                    if (j == 0)
                    {
                        state.Successor = _successors[at];
                        state.SuccessorRank = _successorBits[at];
                    }
                    state.LastSuccessorRank = _successorBits[at + j];
                }
            }
        });

        BuildFingers(sorted, order, space, n, succCount);
    }

    private static T[] ArrayOf<T>(ReadOnlyMemory<T> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(memory, out ArraySegment<T> a) && a.Offset == 0 && a.Count == a.Array!.Length ? a.Array : memory.ToArray();

    /// <summary>
    /// Fingers: entry i (0-based) of node n is successor(n + 2^i); only the distinct entries are kept, in
    /// increasing distance, stopping at the first that would be n itself.
    /// </summary>
    /// <remarks>
    /// <para>Let g be the gap from n to its successor. For every i with 2^i ≤ g, n + 2^i lies in (n, successor(n)], so
    /// those fingers are all the successor; only the levels from bitlength(g) on need a search, about log2 N of them for
    /// a typical gap (the smallest of N random gaps, about 2^m / N², bounds the levels any node needs: about 2·log2 N,
    /// 47 at N = 10^7).</para>
    /// <para>For one level i, the targets id_k + 2^i of consecutive ranks k increase, so their successors' ranks do too:
    /// one pointer per level, only ever moved forward, finds them all in O(N) over the sorted ring, reading ids in order
    /// (cache-friendly) instead of one binary search per node and level. The ranks are walked in order and each rank
    /// moves the pointers of its own levels: the working set is one position per level, and a node's fingers come out
    /// in increasing distance, ready to be written. A level a rank skips (below its gap) keeps its pointer behind, which
    /// the next rank that needs it moves on from. The ring is unrolled to 2N virtual ranks (rank v ≥ N has id
    /// sorted[v − N] + 2^m) so that targets past 2^m need no special case.</para>
    /// <para>Blocks of ranks are independent (each starts its pointers with one binary search per level), so blocks run
    /// in parallel, each writing its nodes' fingers into its own room of one array: room for one entry per level a rank
    /// searches and one for its successor, known from the gaps before any search, so the table is never held twice and
    /// is the same for any number of threads. Entries a rank's levels repeat (two levels with the same finger) leave
    /// room unused at the end of its block: about one entry per node. O(N · log N) time; 6 bytes per finger entry.</para>
    /// </remarks>
    private void BuildFingers(Id[] sorted, int[] order, IdSpace space, int n, int succCount)
    {
        int live = sorted.Length;
        if (live < 2)
        {
            _fingers = [];
            return;
        }

        Id minGap = space.Distance(sorted[live - 1], sorted[0]);
        for (int k = 0; k + 1 < live; k++)
        {
            Id gap = sorted[k + 1] - sorted[k];
            if (gap < minGap) minGap = gap;
        }
        int firstLevel = minGap.BitLength;           // levels below it give every node its successor
        int levels = Math.Max(0, space.Bits - firstLevel);
        var steps = new Id[levels];
        for (int l = 0; l < levels; l++) steps[l] = Id.Pow2(firstLevel + l);
        Id wrap = Id.Pow2(space.Bits);

        const int Block = 1 << 15;
        int blocks = (live + Block - 1) / Block;
        // Room for each block: at most one entry per level a rank searches (those from its gap's bit length on) and one
        // for its successor, known from the gaps alone; a block's fingers are written from the start of its room.
        var room = new long[blocks + 1];
        Parallel.For(0, blocks, b =>
        {
            long bound = 0;
            for (int k = b * Block; k < Math.Min(live, (b + 1) * Block); k++)
                bound += 1 + levels - Math.Max(0, space.Distance(sorted[k], sorted[k + 1 == live ? 0 : k + 1]).BitLength - firstLevel);
            room[b + 1] = bound;
        });
        for (int b = 0; b < blocks; b++) room[b + 1] += room[b];
        if (room[blocks] > Array.MaxLength) throw new InsufficientMemoryException("Chord finger tables exceed the largest array .NET can hold; use fewer nodes");
        _fingers = LargeArray.Zeroed<Entry>(room[blocks]);
        Parallel.For(0, blocks, Walk);

        // The fingers of the ranks of block b, written from the start of its room, with each node's finger offset,
        // count and degree.
        void Walk(int b)
        {
            long offset = room[b];
            int from = b * Block, to = Math.Min(live, from + Block);
            var next = new long[levels];   // per level: the pointer, at or before the answer for the current rank
            for (int l = 0; l < levels; l++)
            {
                Id target = sorted[from] + steps[l];                  // unwrapped: may exceed 2^m
                next[l] = target < wrap ? IdSearch.LowerBound(sorted, target) : live + IdSearch.LowerBound(sorted, target - wrap);
            }
            for (int k = from; k < to; k++)
            {
                if (k + Ahead < to)
                {
                    int later = order[k + Ahead];
                    CacheHint.Prefetch(in _state[later]);
                    CacheHint.Prefetch(in _degree[later]);
                }
                Id self = sorted[k];
                int succ = k + 1 == live ? 0 : k + 1;
                Id gap = space.Distance(self, sorted[succ]);
                int count = 0;
                int beyondSuccessors = 0;       // fingers that are not in the successor list (rank distance > succCount)
                bool predecessorIsFinger = false;
                Put(succ, gap);
                int last = succ;
                for (int l = Math.Max(0, gap.BitLength - firstLevel); l < levels; l++)
                {
                    Id target = self + steps[l];
                    long v = Math.Max(next[l], k + 1);   // the answer lies past k
                    while (Virtual(v) < target) v++;
                    // Each level's pointer reads its own stretch of the sorted ids and ordinals, more streams than the
                    // processor follows on its own: fetched a few ranks ahead (the walk at 10^7 nodes: 2.25-2.33 s
                    // against 2.58 s).
                    long ahead = v + 8 < live ? v + 8 : v + 8 - live;
                    if (ahead < live)
                    {
                        CacheHint.Prefetch(in sorted[ahead]);
                        CacheHint.Prefetch(in order[ahead]);
                    }
                    next[l] = v;
                    int rank = (int)(v % live);
                    if (rank == k) break;  // n + 2^i lies in (predecessor, n]: every higher finger is n itself
                    if (rank == last) continue;
                    Put(rank, Virtual(v) - self);
                    last = rank;
                }
                int node = order[k];
                _state[node].FingerStart = (int)offset;
                _state[node].FingerCount = (byte)count;
                offset += count;
                bool predecessorIsSuccessor = live - 1 <= succCount;
                _degree[node] = (ushort)(succCount + beyondSuccessors + (predecessorIsSuccessor || predecessorIsFinger ? 0 : 1));

                void Put(int rank, Id distance)
                {
                    _fingers[offset + count] = new Entry { Node = order[rank], Rank = ChordQuery.DistanceRank(distance) };
                    int d = rank - k;
                    if (d < 0) d += live;
                    if (d > succCount) beyondSuccessors++;
                    if (d == live - 1) predecessorIsFinger = true;
                    count++;
                }
            }
        }

        Id Virtual(long v) => v < live ? sorted[v] : sorted[v - live] + wrap;
    }

    public override void StartLookup(int lookup)
    {
        _paperHops[lookup] = -1;
        if (_ahead is { Pending: > 0 }) BeginPlanned(lookup);
        else Route(Net.Lookups[lookup].Origin, lookup);
    }

    // ---- lookups routed before they begin (Network.RoutesAhead) ----------------------------------------------------
    //
    // Where nothing can change the ring or a delay while a lookup is in flight, the workload tells the ring of its next
    // lookups before they begin (ILookupPlanner), and the ring routes them there and then: every hop of each, side by
    // side in Lanes lanes. A lane's hop first asks for the current node's state (PrefetchNode, PrefetchRun), then yields
    // to the other lanes, and reads it on its next turn, by which time it has come: at 10^6 nodes a hop waits for a few
    // random reads of memory, and the waits of one lane overlap with the work of the others. When a lookup begins, its
    // route is applied: its requests are counted (their loads were added as its batch began) and only its reply is
    // simulated, sent at once to arrive when it would have, after every hop's delay and its own. The same hops,
    // messages, bytes, load, latency and answer time as routing it hop by hop (Route), with one event instead of one
    // per hop; RouteAheadTests compares every result file of the two. With a second core the next batch is routed on
    // another thread while this one is simulated (AheadBatches); the results are the same bytes with one core or two
    // (DeterminismTests.TheNumberOfCoresDoesNotChangeTheResults).

    /// <summary>Lookups routed side by side.</summary>
    private const int Lanes = 16;

    /// <summary>A route found before its lookup began: where it ends, after how many hops, and when its reply arrives (the sum of the hops' delays and the reply's).</summary>
    private struct PlannedRoute
    {
        public int Answer;
        public int Hops;
        public int PaperHops;
        public long Elapsed;
    }

    private struct Lane
    {
        public Id Key;
        public int Node;       // where the request is; -1 for an idle lane
        public int Previous;   // the node it came from, whose hop's delay is added on the next turn (-1: none)
        public int Index;      // of the lookup in the batch being planned
        public int Hops;
        public int PaperHops;
        public long Elapsed;
        public bool Measured;
        public bool Fetched;   // the node's finger run has been asked for: the hop can be taken
    }

    private AheadBatches<PlannedRoute>? _ahead;
    private readonly Lane[] _lanes = new Lane[Lanes];       // the simulating thread's
    private readonly Lane[] _otherLanes = new Lane[Lanes];  // the other thread's

    void ILookupPlanner.Plan(ReadOnlySpan<PlannedLookup> upcoming) => (_ahead ??= new AheadBatches<PlannedRoute>(RouteChunk)).Plan(upcoming);

    private void RouteChunk(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads, int worker)
    {
        if (Net.Nodes.Count < CacheHint.WorthFromNodes) PlanInTurn(batch, from, to, loads);
        else PlanSideBySide(batch, from, to, loads, worker == 0 ? _lanes : _otherLanes);
    }

    /// <summary>In a network whose tables fit in the caches, one lookup after the other: lanes and hints would cost more than they save.</summary>
    private void PlanInTurn(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads)
    {
        var table = new ConvergedTable(this);
        Transport transport = Net.Transport;
        IdSpace space = Net.Space;
        for (int i = from; i < to; i++)
        {
            ref readonly PlannedLookup lookup = ref batch.Lookups[i];
            int node = lookup.Origin, hops = 0, paperHops = -1;
            long elapsed = 0;
            while (true)
            {
                ChordStep step = ChordRouting.Step(ref table, space, _ids, node, lookup.Key, out int next);
                if (step is not (ChordStep.ToSuccessor or ChordStep.Forward)) break;
                if (step == ChordStep.ToSuccessor) paperHops = hops;
                hops++;
                elapsed += PlanHop(loads, transport, node, next, lookup.Measured);
                node = next;
            }
            batch.Route(i) = Found(in lookup, node, hops, paperHops, elapsed);
        }
    }

    private void PlanSideBySide(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads, Lane[] lanes)
    {
        var table = new ConvergedTable(this);
        Transport transport = Net.Transport;
        IdSpace space = Net.Space;
        ReadOnlySpan<PlannedLookup> upcoming = batch.Lookups[..to];
        int entered = from, active = 0;
        for (int l = 0; l < Lanes; l++)
        {
            lanes[l].Node = -1;
            if (entered < upcoming.Length)
            {
                Enter(ref lanes[l], upcoming[entered], entered);
                entered++;
                active++;
            }
        }
        while (active > 0)
        {
            for (int l = 0; l < Lanes; l++)
            {
                ref Lane lane = ref lanes[l];
                int node = lane.Node;
                if (node < 0) continue;
                if (!lane.Fetched)
                {
                    PrefetchRun(node);
                    if (ChordQuery.DistanceRank(space.Distance(_ids[node], lane.Key)) <= _state[node].LastSuccessorRank) PrefetchSuccessors(node);
                    transport.PrefetchLatency(node);
                    lane.Fetched = true;
                    continue;
                }
                if (lane.Previous >= 0) lane.Elapsed += PlanHop(loads, transport, lane.Previous, node, lane.Measured);
                ChordStep step = ChordRouting.Step(ref table, space, _ids, node, lane.Key, out int next);
                if (step is ChordStep.ToSuccessor or ChordStep.Forward)
                {
                    if (step == ChordStep.ToSuccessor) lane.PaperHops = lane.Hops;
                    lane.Hops++;
                    lane.Previous = node;
                    lane.Node = next;
                    lane.Fetched = false;
                    PrefetchNode(next);
                    transport.PrefetchMachineOf(next);
                    continue;
                }
                batch.Route(lane.Index) = Found(in upcoming[lane.Index], node, lane.Hops, lane.PaperHops, lane.Elapsed);
                if (entered < upcoming.Length)
                {
                    Enter(ref lane, upcoming[entered], entered);
                    entered++;
                }
                else
                {
                    lane.Node = -1;
                    active--;
                }
            }
        }

        void Enter(ref Lane lane, in PlannedLookup lookup, int index)
        {
            lane = new Lane { Key = lookup.Key, Node = lookup.Origin, Previous = -1, Index = index, PaperHops = -1, Measured = lookup.Measured };
            PrefetchNode(lookup.Origin);
            transport.PrefetchMachineOf(lookup.Origin);
        }
    }

    /// <summary>A request of a planned lookup from <paramref name="src"/> to <paramref name="dst"/>: the load of its destination's machine if the lookup will be measured, and its one-way delay.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long PlanHop(LoadList loads, Transport transport, int src, int dst, bool measured)
    {
        int to = transport.MachineOf(dst);
        if (measured) loads.Add(to);
        return transport.MachineDelay(transport.MachineOf(src), to);
    }

    /// <summary>
    /// The route of a planned lookup that ended at <paramref name="answer"/> after <paramref name="hops"/> hops
    /// (<paramref name="paperHops"/> of them to the key's predecessor, -1 if it never passed it) whose delays add up to
    /// <paramref name="elapsed"/>: its reply arrives after them and its own one-way delay.
    /// </summary>
    private PlannedRoute Found(in PlannedLookup lookup, int answer, int hops, int paperHops, long elapsed) => new()
    {
        Answer = answer,
        Hops = hops,
        PaperHops = paperHops < 0 ? hops : paperHops,
        Elapsed = hops > 0 ? elapsed + Net.Transport.OneWay(answer, lookup.Origin) : 0,
    };

    /// <summary>The lookup begins: its route, found when it was planned, is applied (see above).</summary>
    private void BeginPlanned(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        PlannedRoute route = _ahead!.Begin(Net.Transport, in rec);
        rec.Hops = route.Hops;
        _paperHops[lookup] = route.PaperHops;
        Net.Transport.CountPlanned(ref rec, route.Hops, ChordSizes.FindSuccessor);
        // A route never comes back to its origin: only a lookup the origin is responsible for ends there, with no hop.
        if (route.Hops == 0) Finish(lookup, route.Answer);
        else Net.Transport.SendPlanned(route.Answer, rec.Origin, new Event { Lookup = lookup, Arg = route.Answer, Sink = Sink, Type = (byte)ChordMessage.FindSuccessorReply }, ChordSizes.FindSuccessorReply, route.Elapsed);
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

    // A hop reads a random node's id, its record, then the run of fingers found through the record (and near the key its
    // successor list): each a likely cache miss at 10^6 nodes. Hop by hop, the engine names the events due next, so the
    // id, record and successor list of the one after next and the finger run of the next are fetched while the current
    // hop is handled, in networks whose tables outgrow the caches.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        if (ev.Type != (byte)ChordMessage.FindSuccessor) return;
        PrefetchNode(ev.Dst);
        PrefetchSuccessors(ev.Dst);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        if (ev.Type == (byte)ChordMessage.FindSuccessor) PrefetchRun(ev.Dst);
    }

    /// <summary>What a hop at node <paramref name="n"/> reads first: its id, successor list, predecessor bits, finger offset and count.</summary>
    private void PrefetchNode(int n)
    {
        CacheHint.Prefetch(in _ids[n]);
        CacheHint.Prefetch(in _state[n]);
    }

    /// <summary>What it reads next, found through the offset: the run of finger bits and fingers.</summary>
    private void PrefetchRun(int n)
    {
        ref readonly NodeState state = ref _state[n];
        if (state.FingerCount > 0) CacheHint.Prefetch(in _fingers[state.FingerStart], state.FingerCount);
    }

    /// <summary>The successor list, which a hop reads only when the key is no farther than its last entry.</summary>
    private void PrefetchSuccessors(int n)
    {
        long first = (long)n * _options.Successors;
        CacheHint.Prefetch(in _successors[first]);
        CacheHint.Prefetch(in _successorBits[first]);
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
    /// The converged routing table as the step reads it. Every test compares distance ranks (two bytes per entry, stored
    /// beside it) before reading an entry's 24-byte id: at 10^6 nodes the ids do not fit in cache, and reading the id of
    /// every entry scanned was most of the cost of a hop.
    /// </summary>
    private readonly struct ConvergedTable(ChordRing ring) : IChordRoutingTable
    {
        /// <summary>The first successor; a ring of one (no successor stored) is its own.</summary>
        public int Successor(int n)
        {
            int s = ring._state[n].Successor;
            return s >= 0 ? s : n;
        }

        public bool InOwnRange(int n, in ChordQuery q)
        {
            int own = ring._state[n].PredecessorRank;
            return q.ToKey.IsZero || q.Rank > own || (q.Rank == own && q.ToKey > ring.Net.Space.Distance(q.Self, ring._ids[ring._predecessor[n]]));
        }

        public bool InSuccessorRange(int n, int successor, in ChordQuery q)
        {
            int next = ring._state[n].SuccessorRank;
            return !q.ToKey.IsZero && (q.Rank < next || (q.Rank == next && q.ToKey <= ring.Net.Space.Distance(q.Self, ring._ids[successor])));
        }

        public int ClosestPreceding(int n, in ChordQuery q) => ring.ClosestPrecedingNode(n, q.Self, q.ToKey, q.Rank);
    }

    /// <summary>
    /// closest_preceding_node: the entry of the finger table or successor list farthest along the ring that
    /// still precedes the key, i.e. with clockwise distance from the node below <paramref name="toKey"/>
    /// (whose distance rank is <paramref name="rank"/>, see <see cref="ChordQuery.DistanceRank(Id, int)"/>). Entries are
    /// scanned from the farthest; an entry whose distance has a higher rank than the key's is too far, one with a lower
    /// rank precedes it, and only an equal rank needs the exact comparison.
    /// </summary>
    private int ClosestPrecedingNode(int node, Id self, Id toKey, int rank)
    {
        IdSpace space = Net.Space;
        ref readonly NodeState state = ref _state[node];
        int best = -1, bestRank = 0;
        for (int j = state.FingerStart + state.FingerCount - 1; j >= state.FingerStart; j--)
        {
            ref readonly Entry f = ref _fingers[j];
            int b = f.Rank;
            if (b > rank || (b == rank && space.Distance(self, _ids[f.Node]) >= toKey)) continue;
            best = f.Node;
            bestRank = b;
            break;
        }
        // Every successor-list entry is at most as far as the last one: none can beat a finger farther than that.
        if (best >= 0 && bestRank > state.LastSuccessorRank) return best;
        int r = _options.Successors;
        long first = (long)node * r;
        for (int j = r - 1; j >= 0; j--)
        {
            int s = _successors[first + j];
            if (s < 0) continue;
            int b = _successorBits[first + j];
            if (b > rank || (b == rank && space.Distance(self, _ids[s]) >= toKey)) continue;
            // s precedes the key; it beats the finger only if it is farther along the ring.
            if (best < 0 || b > bestRank || (b == bestRank && space.Distance(self, _ids[s]) > space.Distance(self, _ids[best]))) best = s;
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
    public int[] Fingers(int node) => [.. _fingers.AsSpan(_state[node].FingerStart, _state[node].FingerCount).ToArray().Select(f => f.Node)];
}
