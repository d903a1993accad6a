// Chord: I. Stoica, R. Morris, D. Karger, M. F. Kaashoek, H. Balakrishnan, "Chord: A Scalable Peer-to-peer
// Lookup Service for Internet Applications", ACM SIGCOMM 2001; extended in IEEE/ACM ToN 11(1), 2003.
//
// What this model is: the converged ("static") ring. Every node's finger table, successor list of length r
// and predecessor are those a fully stabilized ring holds, taken from the global view (see "How the tables are kept").
// Lookups are recursive: the request travels hop by hop as messages through the engine, each hop delayed
// by the latency model, and the responsible node replies straight to the origin. In a run where nothing can change
// the ring or a delay while a lookup is in flight (Network.RoutesAhead: no churn, fixed pair delays, no deadline, no
// end), the hops are computed before the lookup begins and only the reply is an event, arriving when it would have:
// the same hops, messages, bytes, loads, latencies and answer times, fewer events (see "lookups routed before they
// begin" below; RouteAheadTests compares every result file of the two ways).
//
// Routing step at node n for key k (find_successor, ToN Fig. 5, run recursively; the protocol's ChordRouting.Step,
// computed here in ranks, see "How the tables are kept"):
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
// it shortens the last hops slightly). This model has no protocol and cannot follow churn: ChordProtocol.cs runs join,
// stabilize, fix_fingers and failures.
//
// How the tables are kept: not at all. A converged ring's finger table, successor list and predecessor are functions of
// the sorted ring, so the model keeps the global view's sorted ids, their ordinals, each ordinal's rank and the view's
// bucket index over the ids' top bits (all made by the view anyway; the ring only reads them) and works in ranks:
// successor j is rank + j, the predecessor rank − 1, and the finger a hop needs is found from the ids when the hop is
// taken (see FingerRank). The same routes, hops and degrees as stored tables (finger i = successor(n + 2^i), ToN
// Fig. 4), without building 10^7·log2 N entries: at 10^7 nodes the tables took 4.1 s to build and 2.2 GiB.
//
// Memory per node beyond the global view: 2 bytes of degree.

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
    // The sorted ring, read in place from the global view (a static ring never changes it): ids in increasing order,
    // the ordinal at each rank, the rank of each ordinal, and the bucket index over the ids' top _indexBits bits (null
    // in a ring too small to be indexed).
    private Id[] _sorted = [];
    private int[] _order = [];
    private int[] _rank = [];
    private int[]? _index;
    private int _indexShift;   // bits of an id below its bucket's
    private int _live;
    private int _succCount;    // successor-list entries a node holds: min(r, N − 1)
    private ushort[] _degree = [];   // distinct routing entries per node, counted at build (see Degree)

    private LookupArray<int> _before = null!;    // per lookup: the rank of the key's predecessor (the last node before it)
    private LookupArray<Id> _beforeId = null!;   // and its id
    private LookupArray<int> _paperHops = null!; // per lookup: hops when the key's predecessor held it, -1 until then
    private SampleMetric _paperHopsMetric = null!;

    public ChordRing(ChordOptions options) => _options = options;

    public override string Name => "chord";

    protected override void OnAttached()
    {
        _before = Net.LookupArray<int>();
        _beforeId = Net.LookupArray<Id>();
        _paperHops = Net.LookupArray<int>();
        _paperHopsMetric = Net.Lookups.Metrics.Register(ChordSizes.PaperHops);
    }

    public override GroundTruth CreateTruth(Oracle view) => new ChordTruth(view);

    /// <summary>
    /// Estimated peak bytes per node at <paramref name="nodes"/> nodes beyond the global view's sorted ids, ordinals, rank
    /// map and bucket index (counted with the core, which makes them for every run): the 2 bytes of its degree.
    /// </summary>
    public static long BytesPerNode(ChordOptions options, long nodes) => 2;

    public override void BuildStatic(Oracle oracle)
    {
        _sorted = ArrayOf(oracle.SortedIdMemory);
        _order = ArrayOf(oracle.SortedNodeMemory);
        _rank = ArrayOf(oracle.RankMemory);
        ReadOnlyMemory<int> index = oracle.BucketIndexMemory(out int bits);
        _index = bits > 0 ? ArrayOf(index) : null;
        _indexShift = Net.Space.Bits - bits;
        _live = oracle.Count;
        _succCount = Math.Min(_options.Successors, _live - 1);
        _degree = LargeArray.Zeroed<ushort>(Net.Nodes.Count);
        CountDegrees();
    }

    private static T[] ArrayOf<T>(ReadOnlyMemory<T> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(memory, out ArraySegment<T> a) && a.Offset == 0 && a.Count == a.Array!.Length ? a.Array : memory.ToArray();

    // ---- the ring in ranks ---------------------------------------------------------------------------------------------
    //
    // Finger i of node n is successor(n + 2^i): the first node at clockwise distance >= 2^i from n. Group the other nodes
    // by the bit length of their distance from n ("class" b holds the distances in [2^(b−1), 2^b)): finger i is then the
    // first node of the lowest occupied class above i, so the distinct fingers are exactly the first node of each
    // occupied class. Two consequences do all the work here:
    // - closest_preceding_node(k) among the fingers is the first node of the class of P, the key's predecessor (the last
    //   node before k): P's class is occupied and its first node precedes k, while every node of a higher class lies
    //   past P, hence at or past k. One search of the sorted ids for n + 2^(b−1), b the bit length of the distance to
    //   P, finds it; the successor list's best entry is min(r, ranks to P) ranks on, and the farther of the two wins.
    // - a node's degree counts its occupied classes, and a class whose width 2^(b−1) is at least the largest gap
    //   between consecutive ids is occupied at every node (an arc that wide cannot fall inside a gap): only the classes
    //   below that need a look at the ids, those of the few dozen nodes that follow (CountDegrees).

    /// <summary>Ranks from <paramref name="from"/> clockwise to <paramref name="to"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Ahead(int from, int to)
    {
        int d = to - from;
        return d < 0 ? d + _live : d;
    }

    /// <summary><paramref name="rank"/> plus fewer than N ranks, wrapped onto the ring.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Wrap(int rank) => rank >= _live ? rank - _live : rank;

    /// <summary>The bucket of the index that <paramref name="value"/> (an id of the space) falls in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BucketOf(Id value) => (int)value.BitsFrom(_indexShift);

    /// <summary>The rank of the first id >= <paramref name="value"/> among ranks [<paramref name="lo"/>, <paramref name="hi"/>), or hi.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Search(Id value, int lo, int hi)
    {
        Id[] sorted = _sorted;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < value) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>The rank of the first id >= <paramref name="value"/>, N if none (no wrap).</summary>
    private int RankAtOrAfter(Id value)
    {
        if (_index is not { } index) return Search(value, 0, _live);
        int b = BucketOf(value);
        return Search(value, index[b], index[b + 1]);
    }

    /// <summary>The rank of the last node before <paramref name="key"/> going round the ring: the key's predecessor, whose successor is responsible.</summary>
    private int PredecessorRankOf(Id key)
    {
        int at = RankAtOrAfter(key);
        return at == 0 ? _live - 1 : at - 1;
    }

    /// <summary>Where the hop at rank <paramref name="at"/> searches for its finger (see above): n + 2^(b−1), b the bit length of the distance to the key's predecessor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Id FingerTarget(int at, in Id before)
    {
        IdSpace space = Net.Space;
        Id self = _sorted[at];
        return space.Add(self, Id.Pow2(space.Distance(self, before).BitLength - 1));
    }

    /// <summary>
    /// The next rank of a hop forwarded from <paramref name="at"/>, the key's predecessor <paramref name="ahead"/> ranks on,
    /// its finger at rank <paramref name="finger"/> (the first id >= the finger target, N for none): the farther of that
    /// finger and the farthest successor-list entry that precedes the key.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Forwarded(int at, int ahead, int finger)
    {
        int f = Ahead(at, finger == _live ? 0 : finger);
        return Wrap(at + Math.Max(f, Math.Min(_succCount, ahead)));
    }

    /// <summary>
    /// The step at the node of rank <paramref name="at"/> for a key whose predecessor has rank <paramref name="before"/>
    /// and id <paramref name="beforeId"/> (ChordRouting.Step's order: responsible, then the successor, then on): next is a rank.
    /// </summary>
    /// <example>Ring {10, 20, 30} of m = 8, at node 10 (rank 0): key 5 has predecessor 30 (rank 2, two ranks on: Responsible),
    /// key 15 predecessor 10 (ToSuccessor, next rank 1), key 25 predecessor 20 (Forward: its class [16, 32) starts with 20, rank 1).</example>
    private ChordStep Step(int at, int before, in Id beforeId, out int next)
    {
        int ahead = Ahead(at, before);
        next = at;
        if (ahead == _live - 1) return ChordStep.Responsible;   // also a ring of one
        if (ahead == 0)
        {
            next = Wrap(at + 1);
            return ChordStep.ToSuccessor;
        }
        next = Forwarded(at, ahead, RankAtOrAfter(FingerTarget(at, beforeId)));
        return ChordStep.Forward;
    }

    /// <summary>
    /// Every node's degree (see <see cref="Degree"/>) from its occupied classes (see above), in parallel blocks of ranks:
    /// the fingers past the successor list are the occupied classes above that of the r-th successor's distance; those
    /// at least as wide as the largest gap are occupied everywhere, the rest are read off the ids that follow, in order.
    /// </summary>
    private void CountDegrees()
    {
        int live = _live;
        if (live < 2) return;
        Id[] sorted = _sorted;
        IdSpace space = Net.Space;
        int m = space.Bits;
        Id largestGap = space.Distance(sorted[live - 1], sorted[0]);
        for (int k = 0; k + 1 < live; k++)
        {
            Id gap = sorted[k + 1] - sorted[k];
            if (gap > largestGap) largestGap = gap;
        }
        int sure = (largestGap - Id.FromUInt64(1)).BitLength + 1;   // the first class at least as wide as the largest gap
        bool anySure = sure <= m;
        Id sureFrom = anySure ? Id.Pow2(sure - 1) : default;
        int succCount = _succCount;
        bool predecessorInList = live - 1 <= succCount;
        const int Block = 1 << 15;
        Parallel.For(0, (live + Block - 1) / Block, b =>
        {
            int end = Math.Min(live, (b + 1) * Block);
            for (int k = b * Block; k < end; k++)
            {
                Id self = sorted[k];
                int last = space.Distance(self, sorted[Wrap(k + succCount)]).BitLength;
                int beyond = 0;
                for (int j = succCount + 1; j < live; j++)
                {
                    Id d = space.Distance(self, sorted[Wrap(k + j)]);
                    if (anySure && d >= sureFrom) break;
                    int c = d.BitLength;
                    if (c > last)
                    {
                        beyond++;
                        last = c;
                    }
                }
                if (anySure) beyond += Math.Max(0, m - Math.Max(sure, last + 1) + 1);
                // The predecessor is a finger when it is the first of its class: the node before it has a shorter distance.
                bool predecessorIsFinger = live >= 3 && space.Distance(self, sorted[Wrap(k + live - 1)]).BitLength > space.Distance(self, sorted[Wrap(k + live - 2)]).BitLength;
                _degree[_order[k]] = (ushort)(succCount + beyond + (predecessorInList || predecessorIsFinger ? 0 : 1));
            }
        });
    }

    public override void StartLookup(int lookup)
    {
        _paperHops[lookup] = -1;
        if (_ahead is { Pending: > 0 }) BeginPlanned(lookup);
        else
        {
            ref LookupRecord rec = ref Net.Lookups[lookup];
            int before = PredecessorRankOf(rec.Key);
            _before[lookup] = before;
            _beforeId[lookup] = _sorted[before];
            Route(rec.Origin, lookup);
        }
    }

    // ---- lookups routed before they begin (Network.RoutesAhead) ----------------------------------------------------
    //
    // Where nothing can change the ring or a delay while a lookup is in flight, the workload tells the ring of its next
    // lookups before they begin (ILookupPlanner), and the ring routes them there and then: every hop of each, side by
    // side in Lanes lanes. Each turn of a lane asks for what its next turn reads (the key's bucket and ids, a node's id
    // and ordinal, its finger's bucket and ids, the machine's coordinates) and yields to the other lanes, so that by its
    // next turn it has come: at 10^6 nodes a hop waits for a few random reads of memory, and the waits of one lane
    // overlap with the work of the others. When a lookup begins, its route is applied: its requests are counted (their
    // loads were added as its batch began) and only its reply is simulated, sent at once to arrive when it would have,
    // after every hop's delay and its own. The same hops, messages, bytes, load, latency and answer time as routing it
    // hop by hop (Route), with one event instead of one per hop; RouteAheadTests compares every result file of the two.
    // With a second core the next batch is routed on another thread while this one is simulated (AheadBatches); the
    // results are the same bytes with one core or two (DeterminismTests.TheNumberOfCoresDoesNotChangeTheResults).

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

    /// <summary>What a lane does on its next turn.</summary>
    private enum Turn : byte
    {
        Idle,
        KeyBucket,      // read the key's bucket, ask for its ids
        KeySearch,      // find the key's predecessor in them
        Arrive,         // read the ordinal at the request's rank, ask for its machine
        Hop,            // add the last hop's delay; answer, or hand to the successor, or ask for the finger's bucket
        FingerBucket,   // read it, ask for its ids
        FingerSearch,   // find the finger in them and forward
    }

    private struct Lane
    {
        public Id Key;
        public Id BeforeId;    // the key's predecessor's id
        public Id Target;      // the finger's search
        public int At;         // the rank of the node that holds the request
        public int Node;       // its ordinal
        public int Before;     // the rank of the key's predecessor
        public int Previous;   // the node the request came from, whose hop's delay is added on the Hop turn (-1: none)
        public int Lo, Hi;     // the bucket being searched
        public int Index;      // of the lookup in the batch being planned
        public int Hops;
        public int PaperHops;
        public long Elapsed;
        public bool Measured;
        public Turn Turn;
    }

    private AheadBatches<PlannedRoute>? _ahead;
    private readonly Lane[] _lanes = new Lane[Lanes];       // the simulating thread's
    private readonly Lane[] _otherLanes = new Lane[Lanes];  // the other thread's

    void ILookupPlanner.Plan(ReadOnlySpan<PlannedLookup> upcoming) => (_ahead ??= new AheadBatches<PlannedRoute>(RouteChunk)).Plan(upcoming);

    private void RouteChunk(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads, int worker)
    {
        if (Net.Nodes.Count < CacheHint.WorthFromNodes || _index is null) PlanInTurn(batch, from, to, loads);
        else PlanSideBySide(batch, from, to, loads, worker == 0 ? _lanes : _otherLanes);
    }

    /// <summary>In a network whose ring fits in the caches, one lookup after the other: lanes and hints would cost more than they save.</summary>
    private void PlanInTurn(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads)
    {
        Transport transport = Net.Transport;
        for (int i = from; i < to; i++)
        {
            ref readonly PlannedLookup lookup = ref batch.Lookups[i];
            int node = lookup.Origin, at = _rank[node], before = PredecessorRankOf(lookup.Key), hops = 0, paperHops = -1;
            Id beforeId = _sorted[before];
            long elapsed = 0;
            while (true)
            {
                ChordStep step = Step(at, before, in beforeId, out at);
                if (step is not (ChordStep.ToSuccessor or ChordStep.Forward)) break;
                if (step == ChordStep.ToSuccessor) paperHops = hops;
                hops++;
                int next = _order[at];
                elapsed += PlanHop(loads, transport, node, next, lookup.Measured);
                node = next;
            }
            batch.Route(i) = Found(in lookup, node, hops, paperHops, elapsed);
        }
    }

    private void PlanSideBySide(AheadBatches<PlannedRoute>.Batch batch, int from, int to, LoadList loads, Lane[] lanes)
    {
        Transport transport = Net.Transport;
        int[] index = _index!;
        ReadOnlySpan<PlannedLookup> upcoming = batch.Lookups[..to];
        int entered = from, active = 0;
        for (int l = 0; l < Lanes; l++)
        {
            lanes[l].Turn = Turn.Idle;
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
                switch (lane.Turn)
                {
                    case Turn.Idle:
                        continue;
                    case Turn.KeyBucket:
                        AskBucket(ref lane, lane.Key);
                        lane.At = _rank[lane.Node];
                        CacheHint.Prefetch(in _sorted[lane.At]);
                        lane.Turn = Turn.KeySearch;
                        continue;
                    case Turn.KeySearch:
                    {
                        int at = Search(lane.Key, lane.Lo, lane.Hi);
                        lane.Before = at == 0 ? _live - 1 : at - 1;
                        lane.BeforeId = _sorted[lane.Before];
                        lane.Turn = Turn.Hop;
                        continue;
                    }
                    case Turn.Arrive:
                        lane.Node = _order[lane.At];
                        transport.PrefetchMachineOf(lane.Node);
                        lane.Turn = Turn.Hop;
                        continue;
                    case Turn.Hop:
                    {
                        if (lane.Previous >= 0) lane.Elapsed += PlanHop(loads, transport, lane.Previous, lane.Node, lane.Measured);
                        lane.Previous = -1;
                        int ahead = Ahead(lane.At, lane.Before);
                        if (ahead == _live - 1) break;   // responsible: the route is found
                        if (ahead == 0)
                        {
                            lane.PaperHops = lane.Hops;
                            MoveTo(ref lane, Wrap(lane.At + 1));
                            continue;
                        }
                        lane.Target = FingerTarget(lane.At, in lane.BeforeId);
                        CacheHint.Prefetch(in index[BucketOf(lane.Target)]);
                        lane.Turn = Turn.FingerBucket;
                        continue;
                    }
                    case Turn.FingerBucket:
                        AskBucket(ref lane, lane.Target);
                        lane.Turn = Turn.FingerSearch;
                        continue;
                    case Turn.FingerSearch:
                        MoveTo(ref lane, Forwarded(lane.At, Ahead(lane.At, lane.Before), Search(lane.Target, lane.Lo, lane.Hi)));
                        continue;
                }
                batch.Route(lane.Index) = Found(in upcoming[lane.Index], lane.Node, lane.Hops, lane.PaperHops, lane.Elapsed);
                if (entered < upcoming.Length)
                {
                    Enter(ref lane, upcoming[entered], entered);
                    entered++;
                }
                else
                {
                    lane.Turn = Turn.Idle;
                    active--;
                }
            }
        }

        void Enter(ref Lane lane, in PlannedLookup lookup, int at)
        {
            lane = new Lane { Key = lookup.Key, Node = lookup.Origin, Previous = -1, Index = at, PaperHops = -1, Measured = lookup.Measured, Turn = Turn.KeyBucket };
            CacheHint.Prefetch(in index[BucketOf(lookup.Key)]);
            CacheHint.Prefetch(in _rank[lookup.Origin]);
            transport.PrefetchMachineOf(lookup.Origin);
        }

        // The bucket of value, read (its entry was asked for on the turn before), and its ids asked for.
        void AskBucket(ref Lane lane, Id value)
        {
            int b = BucketOf(value);
            lane.Lo = index[b];
            lane.Hi = index[b + 1];
            // The search may end one past the bucket; the key's predecessor may be one before it.
            int first = Math.Max(0, lane.Lo - 1), last = Math.Min(Math.Min(_live - 1, lane.Hi), first + 7);
            CacheHint.Prefetch(in _sorted[first], last - first + 1);
        }

        // The request goes on to rank at: its id and ordinal are asked for.
        void MoveTo(ref Lane lane, int at)
        {
            lane.Hops++;
            lane.Previous = lane.Node;
            lane.At = at;
            CacheHint.Prefetch(in _order[at]);
            CacheHint.Prefetch(in _sorted[at]);
            lane.Turn = Turn.Arrive;
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

    // A hop reads its node's rank and id and the key's predecessor, then the finger's bucket and ids, then the next
    // node's ordinal: each a likely cache miss at 10^6 nodes. Hop by hop, the engine names the events due next, so the
    // node's rank and id (by ordinal, in the node table) and the lookup's predecessor are fetched for the one after next,
    // and the finger's bucket, found from them, for the next, in networks whose ring outgrows the caches.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        if (ev.Type != (byte)ChordMessage.FindSuccessor) return;
        CacheHint.Prefetch(in _rank[ev.Dst]);
        CacheHint.Prefetch(in Net.Nodes.Ids[ev.Dst]);
        CacheHint.Prefetch(in _before[ev.Lookup]);
        CacheHint.Prefetch(in _beforeId[ev.Lookup]);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        if (ev.Type != (byte)ChordMessage.FindSuccessor || _index is not { } index) return;
        IdSpace space = Net.Space;
        Id self = Net.Nodes.Ids[ev.Dst], before = _beforeId[ev.Lookup];
        Id toBefore = space.Distance(self, before);
        if (toBefore.IsZero) return;
        int b = BucketOf(space.Add(self, Id.Pow2(toBefore.BitLength - 1)));
        CacheHint.Prefetch(in index[b]);
        CacheHint.Prefetch(in _sorted[_rank[ev.Dst]]);
    }

    /// <summary>The origin learns the answer (nothing else is in flight for the lookup, so it also ends).</summary>
    private void Finish(int lookup, int answer)
    {
        if (Net.Lookups.Answer(lookup, answer)) _paperHopsMetric.Add(_paperHops[lookup]);
    }

    private void Route(int node, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        ChordStep step = Step(_rank[node], _before[lookup], in _beforeId[lookup], out int at);
        switch (step)
        {
            case ChordStep.ToSuccessor:
            case ChordStep.Forward:
                // At the key's predecessor, where the paper's path ends, the request goes on to its successor.
                if (step == ChordStep.ToSuccessor) _paperHops[lookup] = rec.Hops;
                rec.Hops++;
                Net.Transport.Send(node, _order[at], new Event { Lookup = lookup, Sink = Sink, Type = (byte)ChordMessage.FindSuccessor }, ChordSizes.FindSuccessor);
                return;
            default:
                // Responsible (or a ring of one): answer.
                if (_paperHops[lookup] < 0) _paperHops[lookup] = rec.Hops;
                if (node == rec.Origin) Finish(lookup, node);
                else Net.Transport.Send(node, rec.Origin, new Event { Lookup = lookup, Arg = node, Sink = Sink, Type = (byte)ChordMessage.FindSuccessorReply }, ChordSizes.FindSuccessorReply);
                return;
        }
    }

    /// <summary>
    /// Distinct entries of the finger table, successor list and predecessor, the node itself excluded: counted at build
    /// from the ids (see CountDegrees) and stored, 2 bytes a node. The converged tables never change.
    /// </summary>
    public override int Degree(int node) => _degree[node];

    // Read access for tests and invariant checks.
    public int Predecessor(int node) => _order[_rank[node] == 0 ? _live - 1 : _rank[node] - 1];
    public int Successor(int node) => _order[Wrap(_rank[node] + 1)];

    /// <summary>The distinct fingers in increasing distance, self excluded: the first node of each occupied class (see above), read off the ring in O(N).</summary>
    public int[] Fingers(int node)
    {
        var fingers = new List<int>();
        int at = _rank[node], last = 0;
        Id self = _sorted[at];
        for (int j = 1; j < _live; j++)
        {
            int rank = Wrap(at + j), c = Net.Space.Distance(self, _sorted[rank]).BitLength;
            if (c <= last) continue;
            fingers.Add(_order[rank]);
            last = c;
        }
        return [.. fingers];
    }
}
