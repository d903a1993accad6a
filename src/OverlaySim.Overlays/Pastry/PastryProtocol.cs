// Pastry, dynamic: the protocol of A. Rowstron and P. Druschel (Middleware 2001, §2.4 and §3), run message by message
// under churn. Routing is the converged model's step (PastryGeometry.NextHop) over state that is learned, lost and
// repaired here.
//
// What is modelled:
//   join          a new node X picks a nearby node A (the closest by the latency model of join_nearby random joined
//                 nodes: the paper assumes X knows one) and sends it a join message for X's id, routed like any
//                 message; every node on the path sends X the rows of its routing table that X has not had yet, up to
//                 the digits it shares with X (the i-th node's row i in the paper's words); A also sends its
//                 neighbourhood set M, and the last node Z, numerically closest to X, its leaf set. X takes what is
//                 new into its state (entries chosen by proximity where two qualify), is joined when Z's leaf set
//                 arrives, and sends a copy of its state to every node in it; those nodes take X into theirs.
//   leave         graceful: the leaving node sends its leaf set to each member of it, who drop it and take the
//                 members they lacked, and hands the keys it is closest to to its nearest neighbours; a crash says
//                 nothing.
//   failures      detected by timeouts: of a lookup's hop (the forwarder retries through its next-best entry), of the
//                 leaf-set keep-alive (every leaf_keepalive_every a node probes each member of its leaf set; one whose
//                 leaf set changed since sends it to its nearest neighbours instead, who answer with theirs), of the
//                 neighbourhood probe (every
//                 neighbour_probe_every, each member of M), and of repair requests.
//   repair        a dead leaf (repair: all or leaf_set): ask the farthest live leaf on that side for its leaf set;
//                 a dead routing-table entry R[l][d] (repair: all): ask the other entries of row l, then those of row
//                 l+1, in turn for their R[l][d] until one has a live one (the paper's lazy repair); a dead member of M
//                 (repair: all): ask another member for its M and keep the |M| closest. Otherwise a dead node is only
//                 removed. Nodes heard of from a third party are probed before they are taken (see Learn).
//   keys          (store_keys) each key on its k numerically closest nodes: the node closest to a key pushes it to
//                 the other k-1, which it sees in its leaf set, whenever those change (joins, leaves, failures), and
//                 a leaving node hands its keys to its neighbours. Copies are added, never withdrawn: a node that is
//                 no longer among a key's k closest keeps its copy until it leaves.
//
// Cost model: keep-alive probes of live nodes are counted (a ping and a pong, 20 bytes each), not simulated: their
// answer changes nothing. A probe of a dead node is sent, and its timeout detects the failure exactly when a
// simulated probe's would (a probe sent to a node that dies within one message delay is taken as answered: the next
// round catches it). The leaf-set exchange with the nearest neighbours, joins, repairs and key transfers are messages.
//
// What the hop count counts: as in the converged model, route messages that reached the next node, from the origin
// until the node that delivers holds the message (a forward that timed out is not a hop; it counts in
// msgs_per_lookup). The answer is the node that delivered; ok if it is the numerically closest joined node when the
// answer arrives. Join, repair and maintenance traffic is maintenance.
//
// Deviations from the paper: nodes that receive X's state take X alone into theirs; the nodes of leaf-set messages
// fill only empty routing-table cells (joins, announcements and repairs compare latencies); the converged start
// fills M with the |M| closest of the node's table, leaf set and 64 random nodes (not of all nodes); the routing table
// keeps ⌈log_{2^b} N⌉ + 1 rows for the N nodes of the scenario (deeper rows' keys lie in the leaf set's range). As
// in the paper the routing table is not probed, so a dead entry is found when a route meets it (a timeout);
// table_probe_every > 0 adds MSPastry's periodic probing of every entry.
//
// Files: this one (state, set-up, lookups, joins and leaves, events), PastryProtocol.State.cs (what a node learns and
// forgets, repair, and the keys' copies).
//
// Memory per node: 4·(rows·2^b + |L| + 2·|M|) bytes of state (table, leaf set, M and its members' latencies) plus
// 19 of bootstrap, digest, flags and key-list head, and two pending timers (three with table_probe_every); keys at KeyStore.BytesPerKey with k + 8
// holders (BytesPerNode, BytesPerKey).

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Pastry's protocol messages and timers.</summary>
public enum PastryProtocolMessage : byte
{
    Route = 1,
    RouteAck,
    RouteReply,
    HopTimeout,
    /// <summary>To a joining node: rows of a path node's routing table (and the node itself).</summary>
    JoinRows,
    /// <summary>To a joining node: the nearby node's neighbourhood set.</summary>
    JoinNeighbours,
    /// <summary>To a joining node: the leaf set of the node its join reached; answers the join.</summary>
    JoinReply,
    /// <summary>A joined node's state, to each node in it.</summary>
    Announce,
    LeafRequest,
    LeafReply,
    LeafTimeout,
    Ping,
    Pong,
    PingTimeout,
    RowRequest,
    RowReply,
    RowTimeout,
    NeighbourRequest,
    NeighbourReply,
    NeighbourTimeout,
    Leave,
    /// <summary>Keys pushed to a node among their k closest, or handed over on leave; one message per transfer.</summary>
    KeyTransfer,
    KeepaliveTimer,
    ProbeTimer,
    /// <summary>table_probe_every: probe every routing-table entry (MSPastry's routing-table probing).</summary>
    TableProbeTimer,
    JoinTimer,
}

/// <summary>Pastry run as its protocol under churn.</summary>
public sealed partial class PastryProtocol : Overlay
{
    private const int Header = PastrySizes.Header, NodeRef = PastrySizes.NodeRef, KeyBytes = PastrySizes.Key;
    private const byte ForUser = LookupService.UserLookup, ForJoin = 1;
    // Where a node learned of is taken: its leaf set, its routing table (by proximity when the cell is taken), only
    // empty routing-table cells (what leaf-set messages offer: their nodes share many digits, and comparing latencies
    // for every one of them would dominate the keep-alive's cost), its neighbourhood set.
    private const int LeafSide = 1, Table = 2, EmptyCells = 8, Neighbours = 4, Everything = LeafSide | Table | Neighbours;

    private readonly PastryOptions _o;
    private readonly int _l, _half, _m, _cols;
    private int _rows, _cells;
    private PastryGeometry _g;
    private Id[] _ids = [];
    private NodeArray<int> _leaf = null!;          // |L|: the |L|/2 smaller nearest first, then the |L|/2 larger; -1 at the end of a side
    private NodeArray<int> _table = null!;         // rows·2^b, -1 = none
    private NodeArray<int> _nbr = null!;           // |M|, unordered, -1 = none
    private NodeArray<int> _nbrLatency = null!;    // |M|: the one-way latency to each member, µs
    private NodeArray<bool> _leafAll = null!;      // the leaf set is every other node (its sides overlap, or it is empty)
    private NodeArray<bool> _leafChanged = null!;  // the leaf set changed since the last keep-alive round
    private NodeArray<int> _bootstrap = null!;
    private NodeArray<ulong> _digest = null!;      // of the k-1 nearest on each side at the last key push
    private NodeArray<bool> _timersRunning = null!;
    private LookupArray<int> _hopTo = null!;
    private LookupArray<uint> _hopToken = null!;
    private LookupArray<byte> _joinRow = null!;    // a join: the next row its path has to send
    private PastryRouteStats _stats = null!;
    private KeyStore? _store;
    private PayloadPool<int> _payloads = null!;
    private Xoshiro256 _rng;
    private bool _maintenance = true;
    private uint _tokens;
    private int[] _scratch = [];

    public PastryProtocol(PastryOptions options)
    {
        _o = options;
        _l = options.LeafSet;
        _half = options.LeafSet / 2;
        _m = options.Neighbourhood;
        _cols = 1 << options.B;
    }

    public override string Name => "pastry";
    public override bool SupportsChurn => true;
    public override long LookupTimeout => _o.LookupTimeout;
    public override int PayloadsInUse => _payloads.InUse;
    public override string MessageName(byte type) => ((PastryProtocolMessage)type).ToString();
    public override GroundTruth CreateTruth(Oracle view) => new PastryTruth(view);

    /// <summary>The key store (null when keys are not stored), for tests.</summary>
    public KeyStore? Store => _store;

    /// <summary>
    /// Estimated bytes per node: the state (4·(rows·2^b + |L| + 2·|M|): table, leaf set, M and its latencies), 19 of
    /// bootstrap, digest, flags and key-list head, and two timers (three with table_probe_every) at up to twice <see cref="EventQueue.BytesPerPendingEvent"/>.
    /// </summary>
    public static long BytesPerNode(PastryOptions o, long nodes) =>
        4L * ((1 << o.B) * Pastry.Rows(o, nodes, IdSpace.MaxBits) + o.LeafSet + 2 * o.Neighbourhood) + 19 + (o.TableProbeEvery > 0 ? 3 : 2) * 2 * EventQueue.BytesPerPendingEvent;

    /// <summary>Estimated bytes per stored key: the store's slots with k copies.</summary>
    public static long BytesPerKey(PastryOptions o) => o.StoreKeys ? KeyStore.BytesPerKey(o.K + 8, timed: false, o.K) : 0;

    // ---- set-up --------------------------------------------------------------------------------------

    protected override void OnAttached()
    {
        _hopTo = Net.LookupArray<int>();
        _hopToken = Net.LookupArray<uint>();
        _joinRow = Net.LookupArray<byte>();
        _stats = new PastryRouteStats(Net);
    }

    public override void BuildStatic(Oracle oracle)
    {
        _g = new PastryGeometry(Net.Space, _o.B);
        _rng = Net.Streams.Stream("overlay/pastry");
        _rows = Pastry.Rows(_o, Net.Nodes.Count, Net.Space.Bits);
        _cells = _rows * _cols;
        _leaf = Net.NodeArray(_l, -1);
        _table = Net.NodeArray(_cells, -1);
        _nbr = Net.NodeArray(_m, -1);
        _nbrLatency = Net.NodeArray<int>(_m);
        _leafAll = Net.NodeArray<bool>();
        _leafChanged = Net.NodeArray<bool>();
        _bootstrap = Net.NodeArray(1, -1);
        _digest = Net.NodeArray<ulong>();
        _timersRunning = Net.NodeArray<bool>();
        _payloads = new PayloadPool<int>(Math.Max(_cells, Math.Max(_l, _m)) + 1);
        _scratch = new int[_cells + _l + _m];
        _ids = Net.Nodes.Ids;
        Net.Nodes.Grown += _ => _ids = Net.Nodes.Ids;

        int live = oracle.Count;
        if (_o.StoreKeys)
        {
            _store = Net.CreateKeyStore(_o.K + 8);
            Span<int> closest = stackalloc int[_o.K];
            for (int key = 0; live > 0 && key < Net.Keys.Length; key++)
            {
                int found = PastryTruth.KClosest(oracle, in _g, Net.Keys[key], closest);
                for (int i = 0; i < found; i++) _store.Add(closest[i], key);
            }
        }
        if (live == 0) return;

        // Start from the converged state: leaf sets and tables as the static model builds them, M from candidates.
        var (leaf, table) = new PastryConverged(Net, _o, _rows).Build(oracle);
        Span<long> latency = stackalloc long[_m];
        for (int rank = 0; rank < live; rank++)
        {
            int n = oracle.AtRank(rank);
            leaf.AsSpan(checked((int)((long)n * _l)), _l).CopyTo(_leaf.Row(n));
            table.AsSpan(checked((int)((long)n * _cells)), _cells).CopyTo(_table.Row(n));
            _leafAll[n] = LeafHoldsAll(n);
            int known = 1; // the converged start: no probes
            foreach (int m in _leaf.Row(n)) LearnNeighbour(n, m, ref known);
            foreach (int m in _table.Row(n)) LearnNeighbour(n, m, ref known);
            for (int i = 0; i < 64; i++) LearnNeighbour(n, oracle.AtRank(_rng.NextInt(live)), ref known);
            _digest[n] = NearDigest(n);
            StartTimers(n);
        }
    }

    private void StartTimers(int n)
    {
        if (!_maintenance || _timersRunning[n]) return;
        _timersRunning[n] = true;
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.LeafKeepaliveEvery), Timer(n, PastryProtocolMessage.KeepaliveTimer));
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.NeighbourProbeEvery), Timer(n, PastryProtocolMessage.ProbeTimer));
        if (_o.TableProbeEvery > 0)
            Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.TableProbeEvery), Timer(n, PastryProtocolMessage.TableProbeTimer));
    }

    private Event Timer(int n, PastryProtocolMessage type) => new() { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)type };

    private void Reset(int n)
    {
        _leaf.Clear(n);
        _table.Clear(n);
        _nbr.Clear(n);
        _leafAll[n] = true;
        _leafChanged[n] = false;
        _bootstrap[n] = -1;
        _digest[n] = 0;
    }

    // ---- lookups --------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        _stats.Start(lookup);
        Route(Net.Lookups[lookup].Origin, lookup);
    }

    /// <summary>The routing step at n: deliver, or forward to the next hop (a join's path node first sends the joiner its rows).</summary>
    private void Route(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool join = rec.Purpose == ForJoin;
        if (!Net.Population.IsJoined(n))
        {
            // Reached through a stale entry while (re)joining: its bootstrap is the node it knows best.
            if (_bootstrap[n] >= 0) Forward(n, _bootstrap[n], lookup, rare: false);
            else if (join) FailLookup(lookup);
            else Deliver(n, lookup);
            return;
        }
        if (join) SendRows(n, lookup);
        int next = _g.NextHop(_ids, n, rec.Key, _leaf.Row(n), _leafAll[n], _table.Row(n), _rows, _nbr.Row(n), join ? rec.Origin : -1, out bool rare);
        if (next < 0) Deliver(n, lookup);
        else Forward(n, next, lookup, rare);
    }

    private void Forward(int n, int next, int lookup, bool rare)
    {
        uint token = ++_tokens == 0 ? ++_tokens : _tokens;
        _hopTo[lookup] = next;
        _hopToken[lookup] = token;
        SendLookupRequest(n, next, new Event { Lookup = lookup, Arg = (int)token, Aux = (ushort)(rare ? 1 : 0), Sink = Sink, Type = (byte)PastryProtocolMessage.Route }, PastrySizes.Route);
    }

    /// <summary>The node holding the message delivers: it answers the origin (with the value when it holds a copy), or for a join sends its leaf set.</summary>
    private void Deliver(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin)
        {
            int payload = LeafPayload(n);
            Net.Transport.Send(n, rec.Origin, new Event { Lookup = lookup, Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.JoinReply }, Header + NodeRef * _payloads.Length(payload));
            return;
        }
        bool value = _store is not null && rec.IsUser && rec.KeyIndex >= 0 && _store.Holds(n, rec.KeyIndex);
        if (n == rec.Origin) Finish(lookup, n, value);
        else Net.Transport.Send(n, rec.Origin, new Event { Lookup = lookup, Arg = n, Aux = (ushort)(value ? 1 : 0), Sink = Sink, Type = (byte)PastryProtocolMessage.RouteReply },
            PastrySizes.RouteReply + (value ? KeyBytes + _o.ValueBytes : 0));
    }

    private void Finish(int lookup, int answer, bool value)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int origin = rec.Origin, hops = rec.Hops;
        if (Net.Lookups.Answer(lookup, answer, value)) _stats.Measured(lookup, origin, answer, hops);
    }

    private void OnHopTimeout(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        int dead = _hopTo[lookup];
        Forget(n, dead, repair: true);
        if (rec.Timeouts > _o.MaxRetries || (rec.Purpose == ForJoin && n == rec.Origin))
        {
            // A joining node whose nearby node is dead starts over through another.
            FailLookup(lookup);
            return;
        }
        Route(n, lookup);
    }

    private void FailLookup(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool rejoin = rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup);
        int node = rec.Origin;
        Net.Lookups.Fail(lookup);
        if (rejoin) RejoinLater(node);
    }

    public override void OnLookupDeadline(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup)) RejoinLater(rec.Origin);
    }

    // ---- joins and leaves -----------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap)
    {
        _timersRunning[node] = false; // a new incarnation: the timers of an earlier one died with it
        Reset(node);
        if (bootstrap < 0)
        {
            Net.Population.Joined(node);
            StartTimers(node);
            return;
        }
        // The nearby node: the closest of join_nearby joined nodes (the bootstrap and join_nearby - 1 more drawn at random).
        int nearby = bootstrap;
        long best = Net.Transport.OneWay(node, bootstrap);
        for (int i = 1; i < _o.JoinNearby; i++)
        {
            int c = Net.Population.RandomJoined(node, ref _rng);
            if (c < 0) break;
            long l = Net.Transport.OneWay(node, c);
            if (l < best) (nearby, best) = (c, l);
        }
        _bootstrap[node] = nearby;
        int slot = Net.Lookups.BeginInternal(node, _ids[node], ForJoin);
        _joinRow[slot] = 0;
        Forward(node, nearby, slot, rare: false);
    }

    /// <summary>A join that did not complete starts over a moment later through another nearby node (maintenance: not once it has stopped).</summary>
    private void RejoinLater(int node)
    {
        if (!_maintenance || !Net.Nodes.IsAlive(node) || Net.Population.IsJoined(node)) return;
        Net.Sim.Schedule(1, Timer(node, PastryProtocolMessage.JoinTimer));
    }

    /// <summary>A path node of a join sends the joiner the rows it has not had yet, up to the digits they share; the nearby node also its M.</summary>
    private void SendRows(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int x = rec.Origin;
        if (n == x || !Net.Lookups.OriginIsCurrent(lookup)) return; // (a join of an earlier incarnation of X)
        if (rec.Hops == 1 && _joinRow[lookup] == 0)
        {
            int nbrs = NeighbourPayload(n);
            Net.Transport.SendMaintenance(n, x, new Event { Arg = nbrs, Sink = Sink, Type = (byte)PastryProtocolMessage.JoinNeighbours }, Header + NodeRef * _payloads.Length(nbrs));
        }
        int from = _joinRow[lookup], to = Math.Min(_rows - 1, _g.SharedDigits(_ids[n], _ids[x]));
        if (from > to) return;
        int payload = _payloads.Allocate();
        Span<int> rows = _payloads.Block(payload);
        int c = 0;
        rows[c++] = n;
        foreach (int m in _table.Row(n)[(from * _cols)..((to + 1) * _cols)]) if (m >= 0 && m != x) rows[c++] = m;
        _payloads.SetLength(payload, c);
        _joinRow[lookup] = (byte)(to + 1);
        Net.Transport.SendMaintenance(n, x, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.JoinRows }, Header + NodeRef * c);
    }

    /// <summary>The join reached the node closest to the joiner, whose leaf set has arrived: the joiner is part of the network and tells everyone in its state.</summary>
    private void OnJoinReply(int x, int z, int lookup, int payload)
    {
        bool current = Net.Lookups.OriginIsCurrent(lookup);
        Net.Lookups.Answer(lookup, z);
        if (!current || Net.Population.IsJoined(x))
        {
            _payloads.Free(payload);
            return;
        }
        LearnAll(x, payload, z, LeafSide | Table);
        Net.Population.Joined(x);
        _leafChanged[x] = true;
        StartTimers(x);
        Announce(x);
        _digest[x] = 0;
        LeafChanged(x);
    }

    /// <summary>X sends a copy of its state (leaf set, routing table, M) to every node in it.</summary>
    private void Announce(int x)
    {
        int count = 0;
        foreach (int m in _leaf.Row(x)) if (m >= 0) _scratch[count++] = m;
        foreach (int m in _table.Row(x)) if (m >= 0) _scratch[count++] = m;
        foreach (int m in _nbr.Row(x)) if (m >= 0) _scratch[count++] = m;
        Span<int> all = _scratch.AsSpan(0, count);
        int bytes = Header + NodeRef * CountDistinct(all, x);
        for (int i = 0; i < count; i++)
            if (i == 0 || all[i] != all[i - 1])
                Net.Transport.SendMaintenance(x, all[i], new Event { Sink = Sink, Type = (byte)PastryProtocolMessage.Announce }, bytes);
    }

    public override void OnLeave(int node)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(node);
        // Hand the keys we are closest to to whichever neighbour is closest to each once we are gone.
        if (_store is not null && !_leafAll[node])
        {
            int l1 = leaf[0], r1 = leaf[_half];
            Id self = _ids[node];
            if (l1 >= 0 && r1 >= 0)
            {
                Id lo = _g.Split(_ids[l1], self), hi = _g.Split(self, _ids[r1]);
                Id mid = Clip(lo, hi, l1, r1);
                if (mid != lo) Transfer(node, l1, lo, mid); // (lo == hi would read as the whole ring)
                if (mid != hi) Transfer(node, r1, mid, hi);
            }
        }
        for (int j = 0; j < _l; j++)
        {
            int m = leaf[j];
            if (m < 0 || leaf[..j].Contains(m)) continue;
            int payload = LeafPayload(node);
            Net.Transport.SendMaintenance(node, m, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.Leave }, Header + NodeRef * _payloads.Length(payload));
        }
    }

    public override void StopMaintenance() => _maintenance = false;

    // ---- maintenance rounds ---------------------------------------------------------------------------

    /// <summary>
    /// The leaf-set keep-alive: a node whose leaf set changed since its last round sends it to its nearest neighbour on
    /// each side, who answer with theirs (and, if that changed theirs, pass it on at their next round, so that news
    /// travels both ways along the ring); it probes the other members, and all of them when nothing changed (a probe
    /// of a live member is counted, not simulated: see the cost model at the top).
    /// </summary>
    private void Keepalive(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        bool changed = _leafChanged[n];
        _leafChanged[n] = false;
        for (int j = 0; j < _l; j++)
        {
            int m = leaf[j];
            if (m < 0 || leaf[..j].Contains(m)) continue;
            if (changed && (j == 0 || j == _half))
            {
                int payload = LeafPayload(n);
                SendMaintenanceRequest(n, m, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafRequest }, Header + NodeRef * _payloads.Length(payload));
            }
            else Probe(n, m);
        }
    }

    /// <summary>Probes m (a leaf, a member of M or a routing-table entry): counted if it is alive, sent (and timed out) if not; the timeout removes it from all three.</summary>
    private void Probe(int n, int m)
    {
        if (Net.Nodes.IsAlive(m))
        {
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Ping, Header);
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Pong, Header);
        }
        else SendMaintenanceRequest(n, m, new Event { Sink = Sink, Type = (byte)PastryProtocolMessage.Ping }, Header);
    }

    // ---- events ------------------------------------------------------------------------------------------

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((PastryProtocolMessage)ev.Type)
        {
            case PastryProtocolMessage.Route:
            {
                // The hop's acknowledgement: counted when only a lazy timeout would wait for it (see ChordProtocol).
                long rtt = Net.Transport.RoundTrip(ev.Src, n);
                if (Timeout(rtt) >= rtt) Net.Transport.CountOnly(ev.Lookup, ev.Src, (byte)PastryProtocolMessage.RouteAck, Header);
                else Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = ev.Arg, Sink = Sink, Type = (byte)PastryProtocolMessage.RouteAck }, Header);
                ref LookupRecord rec = ref Net.Lookups[ev.Lookup];
                rec.Hops++;
                if (rec.IsUser) _stats.Hop(ev.Lookup, ev.Src, n, ev.Aux == 1);
                Route(n, ev.Lookup);
                break;
            }
            case PastryProtocolMessage.RouteAck:
                if (_hopToken[ev.Lookup] == (uint)ev.Arg) _hopToken[ev.Lookup] = 0;
                break;
            case PastryProtocolMessage.HopTimeout:
                if (_hopToken[ev.Lookup] != (uint)ev.Arg) return;
                OnHopTimeout(n, ev.Lookup);
                break;
            case PastryProtocolMessage.RouteReply:
                Finish(ev.Lookup, ev.Arg, ev.Aux == 1);
                break;

            case PastryProtocolMessage.JoinRows:
                LearnAll(n, ev.Arg, ev.Src, Table);
                Learn(n, ev.Src, Neighbours, firsthand: true);
                break;
            case PastryProtocolMessage.JoinNeighbours:
                LearnAll(n, ev.Arg, ev.Src, Table | Neighbours);
                break;
            case PastryProtocolMessage.JoinReply:
                OnJoinReply(n, ev.Src, ev.Lookup, ev.Arg);
                break;
            case PastryProtocolMessage.Announce:
                Learn(n, ev.Src, Everything, firsthand: true);
                break;
            case PastryProtocolMessage.Leave:
                // The leaver's leaf set, the leaver first: take the others.
                Forget(n, ev.Src, repair: false);
                LearnAll(n, ev.Arg, ev.Src, LeafSide | EmptyCells, skip: ev.Src);
                break;

            case PastryProtocolMessage.LeafRequest:
                if (ev.Arg >= 0) LearnAll(n, ev.Arg, ev.Src, LeafSide | EmptyCells);
                else Learn(n, ev.Src, LeafSide | EmptyCells, firsthand: true);
                {
                    int payload = LeafPayload(n);
                    Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafReply }, Header + NodeRef * _payloads.Length(payload));
                }
                break;
            case PastryProtocolMessage.LeafReply:
                LearnAll(n, ev.Arg, ev.Src, LeafSide | EmptyCells);
                break;
            case PastryProtocolMessage.LeafTimeout:
            case PastryProtocolMessage.PingTimeout:
                Forget(n, ev.Arg, repair: true);
                break;

            case PastryProtocolMessage.Ping:
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Sink = Sink, Type = (byte)PastryProtocolMessage.Pong }, Header);
                break;
            case PastryProtocolMessage.Pong:
                break;

            case PastryProtocolMessage.RowRequest:
            {
                int entry = _table.At(n, ev.Arg);
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = entry >= 0 ? entry : -1 - ev.Arg, Aux = ev.Aux, Sink = Sink, Type = (byte)PastryProtocolMessage.RowReply }, Header + NodeRef);
                break;
            }
            case PastryProtocolMessage.RowReply:
            {
                // Arg: the entry asked for, or -1 - the cell when the asked node had none; Aux: the cell of the node asked.
                int wanted = ev.Arg >= 0 ? -1 : -1 - ev.Arg;
                if (ev.Arg >= 0)
                {
                    int l = _g.SharedDigits(_ids[n], _ids[ev.Arg]);
                    if (l < _rows) wanted = l * _cols + _g.Digit(_ids[ev.Arg], l);
                    int verdict = 0;
                    LearnTableEntry(n, ev.Arg, compare: true, ref verdict);
                }
                if (wanted >= 0 && _table.At(n, wanted) < 0 && RepairsTables) AskForEntry(n, wanted, ev.Aux + 1);
                break;
            }
            case PastryProtocolMessage.RowTimeout:
                // Src: the node asked; Arg: the cell wanted; Aux: the cell of the node asked.
                Forget(n, ev.Src, repair: true);
                if (_table.At(n, ev.Arg) < 0 && RepairsTables) AskForEntry(n, ev.Arg, ev.Aux + 1);
                break;

            case PastryProtocolMessage.NeighbourRequest:
            {
                int payload = NeighbourPayload(n);
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.NeighbourReply }, Header + NodeRef * _payloads.Length(payload));
                break;
            }
            case PastryProtocolMessage.NeighbourReply:
                LearnAll(n, ev.Arg, ev.Src, Neighbours);
                break;
            case PastryProtocolMessage.NeighbourTimeout:
                Forget(n, ev.Arg, repair: true);
                break;

            case PastryProtocolMessage.KeepaliveTimer:
                if (!_maintenance) return;
                Keepalive(n);
                Net.Sim.Schedule(_o.LeafKeepaliveEvery, Timer(n, PastryProtocolMessage.KeepaliveTimer));
                break;
            case PastryProtocolMessage.ProbeTimer:
                if (!_maintenance) return;
                foreach (int m in _nbr.Row(n)) if (m >= 0) Probe(n, m);
                Net.Sim.Schedule(_o.NeighbourProbeEvery, Timer(n, PastryProtocolMessage.ProbeTimer));
                break;
            case PastryProtocolMessage.TableProbeTimer:
                if (!_maintenance) return;
                foreach (int m in _table.Row(n)) if (m >= 0) Probe(n, m);
                Net.Sim.Schedule(_o.TableProbeEvery, Timer(n, PastryProtocolMessage.TableProbeTimer));
                break;
            case PastryProtocolMessage.JoinTimer:
                if (Net.Population.IsJoined(n) || !_maintenance) return;
                OnJoin(n, Net.Population.RandomJoined(n, ref _rng));
                break;
        }
    }

    private long Timeout(long roundTrip) => RpcTimeout(roundTrip, _o.RpcTimeout, _o.RpcTimeoutRtts);

    protected override long RequestTimeout(byte type, long roundTrip) => Timeout(roundTrip);

    /// <summary>Pastry's requests and the timeouts that answer for them when no reply comes.</summary>
    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        int from = request.Src, to = request.Dst;
        PastryProtocolMessage type = (PastryProtocolMessage)request.Type switch
        {
            PastryProtocolMessage.Route => PastryProtocolMessage.HopTimeout,
            PastryProtocolMessage.LeafRequest => PastryProtocolMessage.LeafTimeout,
            PastryProtocolMessage.Ping => PastryProtocolMessage.PingTimeout,
            PastryProtocolMessage.RowRequest => PastryProtocolMessage.RowTimeout,
            PastryProtocolMessage.NeighbourRequest => PastryProtocolMessage.NeighbourTimeout,
            _ => 0,
        };
        if (type == 0)
        {
            timeout = default;
            return false;
        }
        timeout = type switch
        {
            PastryProtocolMessage.HopTimeout => new Event { Dst = from, Src = from, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = request.Arg, Sink = Sink, Type = (byte)type },
            PastryProtocolMessage.RowTimeout => new Event { Dst = from, Src = to, Lookup = -1, Arg = request.Arg, Aux = request.Aux, Sink = Sink, Type = (byte)type },
            _ => new Event { Dst = from, Src = from, Lookup = -1, Arg = to, Sink = Sink, Type = (byte)type },
        };
        return true;
    }

    /// <summary>Messages that carry a payload block free it when they cannot be delivered, or when their lookup has ended.</summary>
    protected override void OnUndeliverable(ref Event ev)
    {
        switch ((PastryProtocolMessage)ev.Type)
        {
            case PastryProtocolMessage.JoinRows or PastryProtocolMessage.JoinNeighbours or PastryProtocolMessage.JoinReply
                or PastryProtocolMessage.LeafReply or PastryProtocolMessage.NeighbourReply or PastryProtocolMessage.Leave:
                _payloads.Free(ev.Arg);
                break;
            case PastryProtocolMessage.LeafRequest when ev.Arg >= 0:
                _payloads.Free(ev.Arg);
                break;
        }
    }

    protected override void OnStale(ref Event ev) => OnUndeliverable(ref ev);

    // ---- questions -------------------------------------------------------------------------------------

    /// <summary>Distinct other nodes in the leaf set and routing table (the routing state; M is not counted, as in the converged model).</summary>
    public override int Degree(int node)
    {
        Span<int> all = _cells + _l <= 1024 ? stackalloc int[_cells + _l] : new int[_cells + _l];
        int count = 0;
        foreach (int m in _leaf.Row(node)) if (m >= 0) all[count++] = m;
        foreach (int m in _table.Row(node)) if (m >= 0) all[count++] = m;
        return CountDistinct(all[..count], node);
    }

    // Read access for tests and invariant checks.
    public int RowsKept => _rows;
    public ReadOnlySpan<int> LeafSet(int node) => _leaf.Row(node);
    public ReadOnlySpan<int> RoutingTable(int node) => _table.Row(node);
    public ReadOnlySpan<int> NeighbourhoodSet(int node) => _nbr.Row(node);
}
