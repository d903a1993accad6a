// Gnutella-style unstructured search: flooding (the Gnutella 0.4 protocol's query propagation), expanding rings and
// k-walker random walks (Q. Lv, P. Cao, E. Cohen, K. Li and S. Shenker, "Search and Replication in Unstructured
// Peer-to-Peer Networks", ICS 2002), over generated overlay graphs (GraphGenerators.cs), with Gnutella 0.6's two
// tiers of ultrapeers and leaves as one of them.
//
// What is modelled:
//   items are placed by the workload's replication (workload.replication), the same placement for every overlay
//   without a placement rule of its own; a node holds its copies for its whole session, and a joining node brings none;
//   flood: the origin sends the query to every neighbour with the TTL; a node that receives it for the first time
//   remembers who sent it (the reverse path), answers with a QueryHit if it holds the item, and forwards it to every
//   other neighbour while TTL − 1 > 0; a copy that reaches a node again is a duplicate: counted and dropped (the
//   duplicate suppression by query id of Gnutella); a QueryHit travels the reverse path back to the origin;
//   two tiers (Gnutella 0.6): leaves never forward; an ultrapeer forwards to its ultrapeer neighbours by the TTL and
//   passes the query to those of its leaves that hold the item whatever the TTL left (the query routing table of
//   Gnutella 0.6, modelled without false positives);
//   expanding ring: floods of TTL rings[0], rings[1], ... each a new query; the next starts when the last message of
//   the previous one has died without a hit (an ideal time-out: the origin waits exactly as long as the ring lasts);
//   random walk: k walkers leave the origin for uniformly chosen neighbours and step to a uniformly chosen neighbour of
//   where they stand (a simple random walk) until their TTL is spent; every check_every steps the walker's node asks
//   the origin whether to go on (a round trip), and stops if the query is answered; a walker that reaches a holder
//   sends the hit straight to the origin and stops;
//   the protocol (protocol: dynamic): the graph is the generator's, or grown by joins (start: joins: the first node
//   founds the overlay, the others join at random times over join_over); a joining node opens `attach` links (to its bootstrap and to nodes from the
//   bootstrap service, as a host cache would give them); a leaving node says Bye to its neighbours; pings every
//   ping_every find crashed neighbours (a ping to a dead node times out, and one to a node that has come back since and
//   no longer lists the sender is answered with Bye); a node that loses a link while it has fewer
//   links than the initial graph's mean degree (at least attach) opens one to a node from the bootstrap service.
//
// What the hop count counts: flood and expanding ring: the links the query crossed from the origin to the holder whose
// QueryHit reached the origin first (the hit comes back over as many links again); random walk: the steps of the
// walker that found the holder. A query the origin answers itself (it holds the item) has 0 hops and sends nothing.
// ok (ReplicaTruth): the holder named by the first hit is alive and holds the item when the hit arrives. A query with
// no hit fails once its last message has died (floods) or its last walker has stopped.
//
// Registered metrics, per measured query once its last message has died: duplicates (query copies that reached a node
// the query had reached before), visited (distinct nodes the query reached, the origin excluded; for an expanding ring
// those of its last ring, which contains the earlier ones on a static graph), hits (holders the query reached).
//
// Deviations: no Ping/Pong host discovery (the bootstrap service stands in for it), no QRP false positives, no
// download; messages have Gnutella 0.6's 23-byte header and a fixed payload (Sizes below); a node keeps every query
// it has seen until the query ends (Gnutella keeps a bounded table of recent query ids); rings wait ideally (above).
//
// Memory per node: the neighbour lists (12 + about 6·d bytes, Adjacency.cs) and a role byte; per query in flight, the
// reverse-path table of the nodes it reached (about 16 bytes each).

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Gnutella's messages and timers.</summary>
public enum GnutellaMessage : byte
{
    Query = 1,
    QueryHit,
    Walk,
    CheckBack,
    CheckGo,
    CheckStop,
    Connect,
    ConnectOk,
    ConnectTimeout,
    Bye,
    Ping,
    PingTimeout,
    PingTimer,
    Pong,
    JoinTimer,
}

/// <summary>An unstructured overlay searched by flooding, expanding rings or random walks.</summary>
public sealed class Gnutella : Overlay
{
    // Sizes in bytes: the 23-byte descriptor header of Gnutella 0.6 plus a payload.
    private const int Header = 23;
    private const int QueryBytes = Header + 2 + 20 + 1;           // minimum speed, search string, NUL
    private const int QueryHitBytes = Header + 11 + 8 + 20 + 2 + 16; // hit header, one result (index, size, name), servent id
    private const int CheckBytes = Header + 1;
    private const int HandshakeBytes = 120;                         // "GNUTELLA CONNECT/0.6" and its headers
    private const int PingBytes = Header, PongBytes = Header + 14, ByeBytes = Header + 4;

    public static readonly OverlayMetric DuplicatesMetric = new("duplicates",
        "query copies that reached a node the query had reached before (counted and dropped), per query",
        [new("duplicates_mean", MetricStat.Mean)]);

    public static readonly OverlayMetric VisitedMetric = new("visited",
        "distinct nodes a query reached, the origin excluded (an expanding ring: its last ring)",
        [new("visited_mean", MetricStat.Mean), new("visited_p99", MetricStat.P99)]);

    public static readonly OverlayMetric HitsMetric = new("hits",
        "holders of the item a query reached", [new("hits_mean", MetricStat.Mean)]);

    private readonly GnutellaOptions _o;
    private readonly int[] _rings;
    private Adjacency _adj = null!;
    private NodeArray<bool> _ultrapeer = null!;
    private bool _twoTier;
    private KeyStore _store = null!;
    private Xoshiro256 _rng, _hosts;
    private bool _maintenance = true;
    private int _targetDegree;

    // Per query in flight: its messages in flight (the overlay's own count, to know when a flood has died), the ring,
    // the counts of its metrics, and the nodes it reached with the neighbour each first heard it from.
    private LookupArray<int> _pending = null!, _ring = null!, _dups = null!, _hits = null!;
    private LookupArray<ReachedSet?> _seen = null!;
    private readonly Stack<ReachedSet> _seenPool = new();
    private SampleMetric _dupsMetric = null!, _visitedMetric = null!, _hitsMetric = null!;

    public Gnutella(GnutellaOptions options)
    {
        _o = options;
        _rings = options.Search == GnutellaSearch.ExpandingRing ? options.RingTtls() : [options.Ttl];
    }

    public override string Name => "gnutella";
    public override bool SupportsChurn => _o.Dynamic;
    public override string MessageName(byte type) => ((GnutellaMessage)type).ToString();

    /// <summary>The neighbour lists, for tests.</summary>
    public Adjacency Graph => _adj;

    /// <summary>Whether a node is an ultrapeer (two-tier graphs; false otherwise).</summary>
    public bool IsUltrapeer(int node) => _twoTier && _ultrapeer[node];

    /// <summary>A flood can have a copy on every link and a hit from every node in flight; walkers a few messages each.</summary>
    public override long EventsPerLookupBound =>
        _o.Search == GnutellaSearch.RandomWalk ? 4L * _o.Walkers + 8 : _adj.Entries + Net.Nodes.LiveCount + 8;

    /// <summary>Estimated peak bytes per node: the row record and the neighbour lists at the mean degree (with room to grow), the role, and the build's temporaries.</summary>
    public static long BytesPerNode(GnutellaOptions o, long nodes) =>
        16 + 1 + (long)Math.Ceiling(8 * MeanDegree(o)) + (o.Dynamic ? 2 * EventQueue.BytesPerPendingEvent : 0);

    /// <summary>The mean degree a graph of these options has, roughly (for the memory estimates).</summary>
    private static double MeanDegree(GnutellaOptions o) => o.Graph switch
    {
        GnutellaGraph.Preferential => 2 * o.Attach,
        GnutellaGraph.TwoTier => o.UltrapeerFraction * o.Degree + 2 * o.LeafLinks,
        GnutellaGraph.PowerLaw => 2 * o.MinDegree + 4,
        _ => o.Degree,
    };

    /// <summary>
    /// Estimated bytes per node the build needs for a while and then lets go, about 40 per link end: the edge list
    /// (growing by doubling), the set that keeps its edges distinct and, for the configuration models, the stubs and
    /// their pairing (measured peak at 10^6 nodes of mean degree 4: 439 MiB, against 0.28 GiB estimated without them).
    /// </summary>
    public static long BuildBytesPerNode(GnutellaOptions o) => (long)Math.Ceiling(40 * MeanDegree(o));

    protected override void OnAttached()
    {
        _dupsMetric = Net.Lookups.Metrics.Register(DuplicatesMetric);
        _visitedMetric = Net.Lookups.Metrics.Register(VisitedMetric);
        _hitsMetric = Net.Lookups.Metrics.Register(HitsMetric);
    }

    public override GroundTruth CreateTruth(Oracle view) => new ReplicaTruth(_store, Net.Nodes);

    // ---- set-up --------------------------------------------------------------------------------------

    public override void BuildStatic(Oracle view)
    {
        _rng = Net.Streams.Stream("overlay/gnutella");
        _hosts = Net.Streams.Stream("overlay/gnutella/hosts");
        _pending = Net.LookupArray<int>();
        _ring = Net.LookupArray<int>();
        _dups = Net.LookupArray<int>();
        _hits = Net.LookupArray<int>();
        _seen = Net.LookupArray<ReachedSet?>();
        _ultrapeer = Net.NodeArray<bool>();
        _store = Net.PlaceReplicas();

        int[] nodes = view.SortedNodes.ToArray();
        int n = nodes.Length;
        if (_o.Start == GnutellaStart.Joins)
        {
            // Grown by joins: the first node founds the overlay; the others, live but not yet in, join at random times.
            _adj = new Adjacency(Net, 2L * _o.Attach * n + 16);
            _targetDegree = _o.Attach;
            for (int i = 0; i < n; i++) _adj.Tag(nodes[i]) = _store.KeysOf(nodes[i]).Count;
            if (n == 0) return;
            StartPings(nodes[0]);
            for (int i = 1; i < n; i++)
            {
                Net.Population.Unjoined(nodes[i]);
                Net.Sim.Schedule((long)(_rng.NextDouble() * _o.JoinOver), new Event { Dst = nodes[i], Src = nodes[i], Lookup = -1, Sink = Sink, Type = (byte)GnutellaMessage.JoinTimer });
            }
            return;
        }
        Xoshiro256 graphRng = Net.Streams.Stream("overlay/gnutella/graph");
        EdgeList g;
        bool[]? ultra = null;
        switch (_o.Graph)
        {
            case GnutellaGraph.Regular: g = GraphGenerators.Regular(n, (int)_o.Degree, ref graphRng); break;
            case GnutellaGraph.PowerLaw:
                g = GraphGenerators.PowerLaw(n, _o.Exponent, _o.MinDegree, _o.MaxDegree > 0 ? _o.MaxDegree : Math.Max(_o.MinDegree, (int)Math.Sqrt(n)), ref graphRng);
                break;
            case GnutellaGraph.Preferential: g = GraphGenerators.Preferential(n, _o.Attach, ref graphRng); break;
            case GnutellaGraph.TwoTier:
                (g, ultra) = GraphGenerators.TwoTier(n, (int)_o.UltrapeerCount(n), (int)_o.Degree, _o.LeafLinks, ref graphRng);
                _twoTier = true;
                break;
            case GnutellaGraph.Tree: g = GraphGenerators.Tree(n, (int)_o.Degree); break;
            default: g = GraphGenerators.Random(n, _o.Degree, ref graphRng); break;
        }
        SetGraph(nodes, g);
        _targetDegree = Math.Max(_o.Attach, n == 0 ? 0 : (int)Math.Round(2.0 * g.Count / n));
        // Each row's tag: how many items the node holds, so that a flood asks the store only at holders. A node that
        // departs loses its items and its row together; one that joins brings neither.
        foreach (int node in nodes) _adj.Tag(node) = _store.KeysOf(node).Count;
        if (ultra is not null)
            for (int i = 0; i < n; i++) _ultrapeer[nodes[i]] = ultra[i];
        if (_o.Dynamic)
            foreach (int node in nodes) StartPings(node);
    }

    /// <summary>Replaces the neighbour lists by graph <paramref name="g"/> over <paramref name="nodes"/> (vertex i is nodes[i]).</summary>
    public void SetGraph(int[] nodes, EdgeList g)
    {
        int[] degree = g.Degrees();
        long entries = 2L * g.Count;
        _adj = new Adjacency(Net, _o.Dynamic ? entries + entries / 2 + 16 : entries + 16);
        for (int i = 0; i < nodes.Length; i++) _adj.Reserve(nodes[i], _o.Dynamic ? degree[i] + 2 : degree[i]);
        for (int e = 0; e < g.Count; e++)
        {
            _adj.Add(nodes[g.U(e)], nodes[g.V(e)]);
            _adj.Add(nodes[g.V(e)], nodes[g.U(e)]);
        }
    }

    public override int Degree(int node) => _adj.Degree(node);

    // ---- queries -------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        ref LookupRecord r = ref Net.Lookups[lookup];
        int origin = r.Origin;
        _pending[lookup] = 0;
        _ring[lookup] = 0;
        _dups[lookup] = 0;
        _hits[lookup] = 0;
        ReachedSet seen = _seenPool.Count > 0 ? _seenPool.Pop() : new ReachedSet();
        seen.TryAdd(origin, -1);
        _seen[lookup] = seen;
        if (Holds(origin, r.KeyIndex))
        {
            // The origin holds the item itself: found at 0 hops, nothing sent.
            _hits[lookup] = 1;
            Finish(lookup);
            Net.Lookups.Answer(lookup, origin, valueReturned: true);
            return;
        }
        if (_o.Search == GnutellaSearch.RandomWalk)
        {
            if (_adj.Degree(origin) > 0)
                for (int w = 0; w < _o.Walkers; w++)
                    Send(origin, RandomNeighbour(origin), lookup, GnutellaMessage.Walk, _o.WalkTtl, 1, QueryBytes);
        }
        else Flood(origin, lookup, _rings[0]);
        if (_pending[lookup] == 0) Quiet(lookup);
    }

    private void Flood(int origin, int lookup, int ttl)
    {
        foreach (int w in _adj.Of(origin)) Send(origin, w, lookup, GnutellaMessage.Query, ttl, 1, QueryBytes);
    }

    private bool Holds(int node, int key) => key >= 0 && _adj.Tag(node) > 0 && _store.NodeHolds(node, key);

    private int RandomNeighbour(int node) => _adj.At(node, _rng.NextInt(_adj.Degree(node)));

    /// <summary>Sends a message of a query (Arg and Aux as the type defines them) and counts it in flight.</summary>
    private void Send(int src, int dst, int lookup, GnutellaMessage type, int arg, int aux, int bytes)
    {
        _pending[lookup]++;
        Net.Transport.Send(src, dst, new Event { Lookup = lookup, Arg = arg, Aux = (ushort)Math.Min(aux, ushort.MaxValue), Sink = Sink, Type = (byte)type }, bytes);
    }

    protected override void Receive(ref Event ev)
    {
        int lookup = ev.Lookup;
        if (lookup < 0)
        {
            Maintain(ref ev);
            return;
        }
        _pending[lookup]--;
        switch ((GnutellaMessage)ev.Type)
        {
            case GnutellaMessage.Query: OnQuery(ref ev); break;
            case GnutellaMessage.QueryHit: OnHit(ref ev); break;
            case GnutellaMessage.Walk: OnWalk(ev.Dst, lookup, ev.Src, ev.Arg, ev.Aux); break;
            case GnutellaMessage.CheckBack:
                // At the origin: go on unless the query is answered.
                if (Net.Lookups[lookup].Answered) Send(ev.Dst, ev.Src, lookup, GnutellaMessage.CheckStop, 0, 0, CheckBytes);
                else Send(ev.Dst, ev.Src, lookup, GnutellaMessage.CheckGo, ev.Arg, ev.Aux, CheckBytes);
                break;
            case GnutellaMessage.CheckGo: Step(ev.Dst, lookup, ev.Arg, ev.Aux); break;
            case GnutellaMessage.CheckStop: break;
        }
        if (_pending[lookup] == 0) Quiet(lookup);
    }

    private void OnQuery(ref Event ev)
    {
        int v = ev.Dst, from = ev.Src, lookup = ev.Lookup;
        ReachedSet seen = _seen[lookup]!;
        if (!seen.TryAdd(v, from))
        {
            _dups[lookup]++;
            return;
        }
        ref LookupRecord r = ref Net.Lookups[lookup];
        int key = r.KeyIndex;
        ReadOnlySpan<int> neighbours = _adj.Of(v, out int items);
        if (items > 0 && key >= 0 && _store.NodeHolds(v, key))
        {
            _hits[lookup]++;
            Send(v, from, lookup, GnutellaMessage.QueryHit, v, ev.Aux, QueryHitBytes);
        }
        if (_twoTier && !_ultrapeer[v]) return; // a leaf never forwards
        int ttl = ev.Arg - 1;
        if (ttl <= 0 && !_twoTier) return;
        foreach (int w in neighbours)
        {
            if (w == from) continue;
            if (_twoTier && !_ultrapeer[w])
            {
                // The leaves' items are in the ultrapeer's routing table: only holders get the query, at any TTL.
                if (Holds(w, key)) Send(v, w, lookup, GnutellaMessage.Query, 1, ev.Aux + 1, QueryBytes);
            }
            else if (ttl > 0) Send(v, w, lookup, GnutellaMessage.Query, ttl, ev.Aux + 1, QueryBytes);
        }
    }

    private void OnHit(ref Event ev)
    {
        int at = ev.Dst, lookup = ev.Lookup;
        ref LookupRecord r = ref Net.Lookups[lookup];
        if (at == r.Origin)
        {
            if (r.Answered) return;
            r.Hops = ev.Aux;
            Net.Lookups.Answer(lookup, ev.Arg, valueReturned: true);
            return;
        }
        if (_o.Search != GnutellaSearch.RandomWalk && _seen[lookup]!.TryGetParent(at, out int parent) && parent >= 0)
            Send(at, parent, lookup, GnutellaMessage.QueryHit, ev.Arg, ev.Aux, QueryHitBytes);
    }

    /// <summary>A walker arrives at <paramref name="v"/> after <paramref name="steps"/> steps with <paramref name="ttl"/> left.</summary>
    private void OnWalk(int v, int lookup, int from, int ttl, int steps)
    {
        if (!_seen[lookup]!.TryAdd(v, from)) _dups[lookup]++;
        ref LookupRecord r = ref Net.Lookups[lookup];
        if (Holds(v, r.KeyIndex))
        {
            _hits[lookup]++;
            Send(v, r.Origin, lookup, GnutellaMessage.QueryHit, v, steps, QueryHitBytes);
            return;
        }
        if (ttl - 1 <= 0) return;
        if (_o.CheckEvery > 0 && steps % _o.CheckEvery == 0)
        {
            if (v != r.Origin) Send(v, r.Origin, lookup, GnutellaMessage.CheckBack, ttl - 1, steps, CheckBytes);
            else if (!r.Answered) Step(v, lookup, ttl - 1, steps);
            return;
        }
        Step(v, lookup, ttl - 1, steps);
    }

    private void Step(int v, int lookup, int ttl, int steps)
    {
        if (_adj.Degree(v) == 0) return;
        Send(v, RandomNeighbour(v), lookup, GnutellaMessage.Walk, ttl, steps + 1, QueryBytes);
    }

    /// <summary>Nothing of the query is in flight any more: the next ring, or the end (failed when nothing was found).</summary>
    private void Quiet(int lookup)
    {
        ref LookupRecord r = ref Net.Lookups[lookup];
        if (r.Answered)
        {
            Finish(lookup);
            return;
        }
        int ring = _ring[lookup];
        if (_o.Search == GnutellaSearch.ExpandingRing && ring + 1 < _rings.Length && Net.Lookups.OriginIsCurrent(lookup))
        {
            _ring[lookup] = ring + 1;
            ReachedSet seen = _seen[lookup]!;
            seen.Clear();
            seen.TryAdd(r.Origin, -1);
            Flood(r.Origin, lookup, _rings[ring + 1]);
            if (_pending[lookup] > 0) return;
        }
        Finish(lookup);
        Net.Lookups.Fail(lookup);
    }

    /// <summary>Records the query's own metrics (when measured) and frees its reverse-path table.</summary>
    private void Finish(int lookup)
    {
        ReachedSet? seen = _seen[lookup];
        if (seen is null) return;
        if (Net.Lookups[lookup].Measured)
        {
            _dupsMetric.Add(_dups[lookup]);
            _visitedMetric.Add(seen.Count - 1);
            _hitsMetric.Add(_hits[lookup]);
        }
        seen.Clear();
        _seenPool.Push(seen);
        _seen[lookup] = null;
    }

    protected override void OnUndeliverable(ref Event ev)
    {
        // The lookup may have ended just now, with this message (the lookup service saw it lost first): its slot keeps
        // its generation until reused, so its last message is still recognised and its metrics recorded.
        if (ev.Lookup < 0 || Net.Lookups[ev.Lookup].Generation != (ev.LookupGen & ~LookupTable.InFlightMark)) return;
        if (--_pending[ev.Lookup] == 0) Quiet(ev.Lookup);
    }

    // ---- the protocol: joins, leaves, pings, replaced links ------------------------------------------

    private void StartPings(int node)
    {
        if (!_maintenance) return;
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.PingEvery), new Event { Dst = node, Src = node, Lookup = -1, Sink = Sink, Type = (byte)GnutellaMessage.PingTimer });
    }

    public override void OnJoin(int node, int bootstrap)
    {
        _adj.Clear(node);
        Join(node, bootstrap);
    }

    /// <summary>Opens attach links: to the bootstrap and to nodes from the bootstrap service (alone when there is none).</summary>
    private void Join(int node, int bootstrap)
    {
        if (bootstrap < 0)
        {
            Net.Population.Joined(node);
            StartPings(node);
            return;
        }
        Connect(node, bootstrap);
        for (int i = 1; i < _o.Attach; i++)
        {
            int c = Net.Population.RandomJoined(node, ref _hosts);
            if (c >= 0 && c != bootstrap) Connect(node, c);
        }
        StartPings(node);
    }

    public override void OnLeave(int node)
    {
        foreach (int w in _adj.Of(node))
            Net.Transport.SendMaintenance(node, w, new Event { Sink = Sink, Type = (byte)GnutellaMessage.Bye }, ByeBytes);
    }

    public override void OnDeparted(int node, bool graceful) => _adj.Clear(node);

    public override void StopMaintenance() => _maintenance = false;

    private void Connect(int node, int to) =>
        SendMaintenanceRequest(node, to, new Event { Sink = Sink, Type = (byte)GnutellaMessage.Connect }, HandshakeBytes);

    /// <summary>
    /// A link of <paramref name="node"/> is gone: while it has fewer links than the initial graph's mean degree (at least
    /// attach), it opens one to a node from the bootstrap service instead. Without that floor every join would add
    /// links for good and the mean degree would grow with the joins.
    /// </summary>
    private void Replace(int node)
    {
        if (!_maintenance || _adj.Degree(node) >= _targetDegree) return;
        int c = Net.Population.RandomJoined(node, ref _hosts);
        if (c >= 0 && !_adj.Contains(node, c)) Connect(node, c);
    }

    private void Maintain(ref Event ev)
    {
        int n = ev.Dst;
        switch ((GnutellaMessage)ev.Type)
        {
            case GnutellaMessage.Connect:
                if (!_adj.Contains(n, ev.Src)) _adj.Add(n, ev.Src);
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Sink = Sink, Type = (byte)GnutellaMessage.ConnectOk }, HandshakeBytes);
                break;
            case GnutellaMessage.ConnectOk:
                if (!_adj.Contains(n, ev.Src)) _adj.Add(n, ev.Src);
                if (!Net.Population.IsJoined(n)) Net.Population.Joined(n);
                break;
            case GnutellaMessage.ConnectTimeout:
                // The node asked is dead: ask another (a joining node still needs its first link).
                Replace(n);
                if (!Net.Population.IsJoined(n) && !Net.Population.HasOtherJoined(n)) Net.Population.Joined(n);
                break;
            case GnutellaMessage.Bye:
                if (_adj.Remove(n, ev.Src)) Replace(n);
                break;
            case GnutellaMessage.PingTimer:
                if (!_maintenance) break;
                foreach (int w in _adj.Of(n))
                    SendMaintenanceRequest(n, w, new Event { Sink = Sink, Type = (byte)GnutellaMessage.Ping }, PingBytes);
                Net.Sim.Schedule(_o.PingEvery, new Event { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)GnutellaMessage.PingTimer });
                break;
            case GnutellaMessage.Ping:
                // A node that does not list the sender (it has crashed and come back with the same ordinal since the link
                // was made) says Bye, so that the sender drops the one-way link and replaces it; otherwise a Pong, whose
                // delivery changes nothing.
                if (_adj.Contains(n, ev.Src)) Net.Transport.CountMaintenance((byte)GnutellaMessage.Pong, PongBytes);
                else Net.Transport.SendMaintenance(n, ev.Src, new Event { Sink = Sink, Type = (byte)GnutellaMessage.Bye }, ByeBytes);
                break;
            case GnutellaMessage.PingTimeout:
                if (_adj.Remove(n, ev.Arg)) Replace(n);
                break;
            case GnutellaMessage.JoinTimer:
                // An initial node of a graph grown by joins (it keeps its items): its join is due.
                Join(n, Net.Population.RandomJoined(n, ref _hosts));
                break;
        }
    }

    /// <summary>Connect and Ping are requests: a lost one (its target is dead) times out after two round trips.</summary>
    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        switch ((GnutellaMessage)request.Type)
        {
            case GnutellaMessage.Connect:
                timeout = new Event { Dst = request.Src, Src = request.Src, Lookup = -1, Arg = request.Dst, Sink = Sink, Type = (byte)GnutellaMessage.ConnectTimeout };
                return true;
            case GnutellaMessage.Ping:
                timeout = new Event { Dst = request.Src, Src = request.Src, Lookup = -1, Arg = request.Dst, Sink = Sink, Type = (byte)GnutellaMessage.PingTimeout };
                return true;
            default:
                timeout = default;
                return false;
        }
    }

    protected override long RequestTimeout(byte type, long roundTrip) => 2 * roundTrip;
}
