// CAN, dynamic: the protocol of S. Ratnasamy et al. (SIGCOMM 2001, §2.2 and §2.3), run message by message under
// churn, for the bare-bones design (one reality, one node per zone, one hash function) in d dimensions, with greedy or
// RTT-weighted forwarding. Zones and the routing step are those of the static model (CanGeometry, Can.cs); what a node
// knows is learned, lost and repaired here, and nothing reads another node's state.
//
// What is modelled:
//   join          a new node X draws a random point (as the static model's nodes do, so that without churn the
//                 protocol starts from the static model's zones) and sends a JOIN for it to a joined node it knows; the JOIN is routed like a lookup to the node O whose zone holds the point. O splits that zone
//                 in half along the next dimension of the fixed order, keeps the half without the point and gives X the
//                 other (a node holding several zones after a takeover gives X the zone whole instead), and answers X
//                 with its zones and neighbour list; X keeps the entries that abut its zone. Both then send an update
//                 to their neighbours at once (the paper's "immediate updates"), and O's old neighbours that no longer
//                 abut it drop it on that update.
//   soft state    every update_every a node sends each neighbour an update: its zones and its neighbours' zones with
//                 their nodes. The receiver replaces what it knew of the sender, keeps the sender's list (for takeovers)
//                 and takes from it nodes it did not know whose zones abut its own. Information is stamped with the time
//                 its sender built it, and a stamp older than what a node knows is ignored (an update overtaken by a
//                 join, a handover or a takeover).
//   leave         the leaving node hands its zones, with its neighbour list, to a neighbour holding the sibling of one
//                 of them (which merges the two) or else to the neighbour with the least volume; that node updates its
//                 neighbours and the leaver's.
//   crash         found when an update, a hop or a handover cannot be delivered, or when the neighbour answers as a node
//                 that has come back under the same ordinal: the neighbour is taken for dead, and each neighbour
//                 that finds it so starts a takeover timer of takeover_delay times its own volume over the dead node's
//                 (§2.3: smaller zones claim first). When the timer fires, the node claims the dead node's zones it knows
//                 of (merging siblings), takes the dead node's neighbours from its last update, and sends its update (the
//                 paper's TAKEOVER) to its neighbours and the dead node's; a node that hears of a newer claim drops its
//                 own pending one. Two claims of one zone that cross are settled as in the paper: the node with the
//                 smaller volume keeps it (ties: the lower ordinal), the other keeps only what does not overlap.
//                 A node that cannot take a zone handed to it (it has none yet, or knows a newer holder), or a joiner
//                 whose JOIN ended before the answer came, hands it back.
//   keys          (store_keys) each key at the node whose zone holds its point: a split hands the joiner the keys of
//                 its half, a handover the keys of the zones handed, a node that gives up a zone to a crossing claim
//                 the keys of the overlap; a crash loses what it held (one copy: realities would replicate).
//   reassignment  (§2.3's background zone reassignment, simplified) at each update round a node holding several zones
//                 hands one of them to a neighbour that holds its sibling, which merges the two. A join that reaches a
//                 node holding several zones takes one whole, which also gives zones back.
//
// Cost model: an update to a live neighbour that was already sent the sender's current update (its zones and
// neighbours have not changed since it last sent it one) would change nothing: it is counted (bytes and messages),
// not simulated. Every other update is a message, and one to a dead node times out exactly when a simulated one would.
// A zone travels as its 8-byte code (an exact encoding of the box), a node reference as 8 bytes.
//
// What the hop count counts: as in the static model, route messages that reached the next node, from the origin until a
// node whose zone holds the key's point holds the message; a hop that timed out is not one (it counts in
// msgs_per_lookup), and the hop is retried through the next-best neighbour. A node with no neighbour closer to the
// point than its own zones fails the lookup (the paper's expanding-ring search for that case is not modelled). The
// answer is ok if the node that answered is live and holds, by its own state, a zone that holds the key's point.
//
// Deviations from the paper: nodes are taken for dead only by undelivered messages (the paper also by missing
// updates: the same moment here, as updates are sent at every round); the background reassignment is the simple form
// above rather than the paper's search of the split tree for a pair of sibling leaves; realities, peers, hash functions,
// uniform partitioning and landmarks run in the static model only.
//
// Memory per node: its state object (zones, neighbour entries of 40 bytes with the neighbour's last update shared by
// reference, its own current update: about 2d·1.3 neighbours) and two pending timers (BytesPerNode).

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>CAN's protocol messages and timers.</summary>
public enum CanProtocolMessage : byte
{
    /// <summary>A lookup's or a JOIN's message, forwarded toward the point.</summary>
    Route = 1,
    RouteAck,
    RouteReply,
    HopTimeout,
    /// <summary>To a joining node: its zone, with the zones and neighbours of the node that split.</summary>
    JoinReply,
    /// <summary>A node's zones and neighbours (the periodic soft-state update, the immediate one after a change, and TAKEOVER).</summary>
    Update,
    UpdateTimeout,
    /// <summary>Zones handed to a neighbour by a leaving node, or one zone by background reassignment.</summary>
    Handoff,
    HandoffTimeout,
    /// <summary>Keys handed to a joiner or with a handover (counted with the message that carries them).</summary>
    KeyTransfer,
    UpdateTimer,
    TakeoverTimer,
    JoinTimer,
}

/// <summary>CAN run as its protocol under churn.</summary>
public sealed class CanProtocol : Overlay
{
    private const int Header = CanSizes.Header, NodeRef = CanSizes.NodeRef, ZoneBytes = 8, KeyBytes = 20;
    private const byte ForJoin = 1;
    private const ushort AllZones = ushort.MaxValue;
    private const int MaxHops = 1 << 16;
    /// <summary>How long a handover is remembered for its timeout: longer than any request timeout (at most an hour).</summary>
    private const long PendingFor = 2 * 3_600_000_000L;
    /// <summary>The stamp of what a node heard of from a third party: older than any news of the node itself.</summary>
    private const long Hearsay = long.MinValue;

    private readonly CanOptions _o;
    private readonly int _d;
    private CanGeometry _g = null!;
    private NodeArray<CanNode?> _node = null!;
    private LookupArray<int> _hopTo = null!;
    private LookupArray<uint> _hopToken = null!;
    private LookupArray<long> _path = null!;
    private LookupArray<ulong> _point = null!;   // per lookup: the point it is routed to, d coordinates
    private KeyStore? _store;
    private ulong[] _keyPoints = [];             // per key: its point, interleaved
    private RouteStretch _stretch = null!;
    private long _measured, _measuredHops, _measuredPath, _measuredDirect;
    private Xoshiro256 _rng;
    private ulong _points;   // seed of the nodes' join points (the static model's)
    private bool _maintenance = true;
    private uint _tokens;
    private CanEntry[]?[] _payload = new CanEntry[256][];   // messages' payloads: a node's update, shared by reference
    private readonly Stack<int> _freePayload = new();
    private int _payloadsUsed, _payloadsInUse;
    private readonly List<int> _targets = [];
    private readonly List<ulong> _pieces = [];
    private readonly List<int> _contested = [];

    public CanProtocol(CanOptions options)
    {
        _o = options;
        _d = options.Dimensions;
    }

    public override string Name => "can";
    public override bool SupportsChurn => true;
    public override long LookupTimeout => _o.LookupTimeout;
    public override int PayloadsInUse => _payloadsInUse;
    public override string MessageName(byte type) => ((CanProtocolMessage)type).ToString();
    public override GroundTruth CreateTruth(Oracle view) => new CanProtocolTruth(this);

    /// <summary>
    /// Estimated bytes per node: its state object and arrays (zones, about 2d·1.3 entries of 40 bytes with room to grow,
    /// its current update of 12 bytes an entry) and two timers at up to twice <see cref="EventQueue.BytesPerPendingEvent"/>.
    /// </summary>
    public static long BytesPerNode(CanOptions o, long nodes)
    {
        long neighbours = (long)Math.Ceiling(2 * o.Dimensions * 1.3);
        long capacity = 1L << (int)Math.Ceiling(Math.Log2(Math.Max(8, neighbours)));
        return 80 + (24 + 16 * 2) + (24 + 40 * capacity) + (24 + 12 * (2 + neighbours)) + 2 * 2 * EventQueue.BytesPerPendingEvent;
    }

    /// <summary>Estimated bytes per stored key: the store's slots with one copy (room for 4 while keys move), and its point.</summary>
    public static long BytesPerKey(CanOptions o) => o.IsDynamic && o.StoreKeys ? KeyStore.BytesPerKey(4, timed: false, 1) + 8 : 0;

    /// <summary>The key store (null when keys are not stored), for tests.</summary>
    public KeyStore? Store => _store;

    protected override void OnAttached()
    {
        _hopTo = Net.LookupArray<int>();
        _hopToken = Net.LookupArray<uint>();
        _path = Net.LookupArray<long>();
        _point = Net.LookupArray<ulong>(_d);
        _stretch = new RouteStretch(Net);
        Net.Lookups.Metrics.Register(CanSizes.RouteLatency).Computed = column => column switch
        {
            "hop_latency_mean_ms" => _measuredHops == 0 ? 0 : _measuredPath / 1000.0 / _measuredHops,
            "path_latency_mean_ms" => _measured == 0 ? 0 : _measuredPath / 1000.0 / _measured,
            _ => _measured == 0 ? 0 : _measuredDirect / 1000.0 / _measured,
        };
        Net.Lookups.Metrics.Register(CanSizes.Neighbours).Computed = column => column == "neighbours_mean" ? MeanDegree() : 0;
    }

    // ---- set-up: the zones of the joined nodes' joins, as the static model builds them ----------------------------

    public override void BuildStatic(Oracle oracle)
    {
        _g = new CanGeometry(_d);
        _rng = Net.Streams.Stream("overlay/can/protocol");
        _points = Net.Streams.StreamSeed("overlay/can/points");
        _node = Net.NodeArray<CanNode?>();
        int[] joined = oracle.SortedNodes.ToArray();
        Array.Sort(joined);
        if (_o.StoreKeys) KeyPoints();
        if (joined.Length == 0)
        {
            if (_o.StoreKeys) _store = Net.CreateKeyStore(4);
            return;
        }
        var zones = new CanZones(_g, Net.Nodes.Count);
        Span<ulong> point = stackalloc ulong[_d];
        zones.PlaceFirst(joined[0]);
        for (int i = 1; i < joined.Length; i++)
        {
            Can.RandomPoint(_points, joined[i], 0, point);
            zones.Split(zones.Locate(point), joined[i], point);
        }
        // Each node's zone and neighbours, then each one's update (its zones and entries), which its neighbours hold.
        zones.ForEachZone((zone, list) =>
        {
            int n = zones.FirstMember(zone);
            var state = new CanNode(list.Count);
            state.AddZone(zones.Code(zone), 0);
            foreach (int z in list) AddLink(state, new CanLink(zones.Code(z), zones.FirstMember(z), 0, null));
            _node[n] = state;
        });
        if (_o.StoreKeys)
        {
            _store = Net.CreateKeyStore(4);
            for (int key = 0; key < Net.Keys.Length; key++)
            {
                Can.KeyPoint(Net.Keys[key], 0, point);
                _store.Add(zones.FirstMember(zones.Locate(point)), key);
            }
        }
        foreach (int n in joined) Snapshot(n);
        foreach (int n in joined)
        {
            CanNode state = _node[n]!;
            for (int e = 0; e < state.EntryCount; e++)
            {
                state.Entries[e].List = _node[state.Entries[e].Node]!.Snapshot;
                state.Entries[e].Sent = state.Version;   // converged: each neighbour has the node's update
            }
            StartTimers(n);
        }
    }

    private void StartTimers(int n)
    {
        CanNode state = _node[n]!;
        if (!_maintenance || state.Timers) return;
        state.Timers = true;
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.UpdateEvery), Timer(n, CanProtocolMessage.UpdateTimer));
    }

    private Event Timer(int n, CanProtocolMessage type, int arg = 0) => new() { Dst = n, Src = n, Lookup = -1, Arg = arg, Sink = Sink, Type = (byte)type };

    // ---- lookups and JOINs -------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        _path[lookup] = 0;
        Can.KeyPoint(Net.Lookups[lookup].Key, 0, _point.Row(lookup));
        Route(Net.Lookups[lookup].Origin, lookup);
    }

    /// <summary>The routing step at n: deliver (or accept the JOIN) if a zone of n holds the point, else forward.</summary>
    private void Route(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool join = rec.Purpose == ForJoin;
        CanNode? state = _node[n];
        if (state is null || state.ZoneCount == 0)
        {
            // Reached while (re)joining: through the node it joins by.
            int bootstrap = state?.Bootstrap ?? -1;
            if (bootstrap >= 0) Forward(n, bootstrap, lookup);
            else if (join) FailLookup(lookup);
            else Deliver(n, lookup);
            return;
        }
        ReadOnlySpan<ulong> point = _point.Row(lookup);
        int next = NextHop(state, n, point);
        if (next == n)
        {
            if (join) AcceptJoin(n, lookup, _g.Interleave(point));
            else Deliver(n, lookup);
        }
        else if (next < 0 || rec.Hops >= MaxHops) FailLookup(lookup);   // no neighbour closer: stuck
        else Forward(n, next, lookup);
    }

    /// <summary>
    /// n itself when one of its zones holds the point; else the neighbour closest to it among those closer than n's
    /// zones (or with rtt_weighted the best ratio of progress to latency), -1 when none is.
    /// </summary>
    private int NextHop(CanNode state, int n, ReadOnlySpan<ulong> point)
    {
        double own = double.PositiveInfinity;
        for (int z = 0; z < state.ZoneCount; z++)
        {
            double d2 = _g.Distance2(state.Zones[z], point);
            if (d2 == 0) return n;
            own = Math.Min(own, d2);
        }
        int best = -1, closest = -1;
        double bestD2 = own, bestScore = 0, ownDistance = _o.RttWeighted ? Math.Sqrt(own) : 0;
        for (int e = 0; e < state.EntryCount; e++)
        {
            ref readonly CanLink entry = ref state.Entries[e];
            double d2 = _g.Distance2(entry.Code, point, own);
            if (d2 >= own) continue;
            if (d2 < bestD2)
            {
                bestD2 = d2;
                closest = entry.Node;
            }
            if (_o.RttWeighted)
            {
                double score = (ownDistance - Math.Sqrt(d2)) / Math.Max(1, Net.Transport.OneWay(n, entry.Node));
                if (score > bestScore)
                {
                    bestScore = score;
                    best = entry.Node;
                }
            }
        }
        return best >= 0 ? best : closest;
    }

    private void Forward(int n, int next, int lookup)
    {
        uint token = ++_tokens == 0 ? ++_tokens : _tokens;
        _hopTo[lookup] = next;
        _hopToken[lookup] = token;
        SendLookupRequest(n, next, new Event { Lookup = lookup, Arg = (int)token, Sink = Sink, Type = (byte)CanProtocolMessage.Route }, CanSizes.Route(_d));
    }

    /// <summary>The node whose zone holds the point answers the origin, with the value when it holds the key.</summary>
    private void Deliver(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool value = _store is not null && rec.IsUser && rec.KeyIndex >= 0 && _store.Holds(n, rec.KeyIndex);
        if (n == rec.Origin) Finish(lookup, n, value);
        else Net.Transport.Send(n, rec.Origin, new Event { Lookup = lookup, Arg = n, Aux = (ushort)(value ? 1 : 0), Sink = Sink, Type = (byte)CanProtocolMessage.RouteReply },
            CanSizes.RouteReply + (value ? KeyBytes + _o.ValueBytes : 0));
    }

    private void Finish(int lookup, int answer, bool value)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int origin = rec.Origin, hops = rec.Hops;
        if (!Net.Lookups.Answer(lookup, answer, value)) return;
        long path = _path[lookup];
        _measured++;
        _measuredHops += hops;
        _measuredPath += path;
        _measuredDirect += Net.Transport.OneWay(origin, answer);
        _stretch.Add(origin, answer, path);
    }

    private void OnHopTimeout(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        NeighbourDead(n, _hopTo[lookup]);
        // A joining node whose bootstrap is dead starts over through another.
        if (rec.Timeouts > _o.MaxRetries || (rec.Purpose == ForJoin && n == rec.Origin)) FailLookup(lookup);
        else Route(n, lookup);
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

    // ---- joins and leaves --------------------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap) => StartJoin(node, bootstrap, timers: false);

    /// <summary>A join (a new incarnation's, whose timers died with the last one, or a retry, whose timers may run).</summary>
    private void StartJoin(int node, int bootstrap, bool timers)
    {
        var state = new CanNode(0) { Timers = timers };
        _node[node] = state;
        if (bootstrap < 0)
        {
            // Alone: the whole torus, and every key not lost (the first node of a network that starts empty).
            state.AddZone(CanGeometry.Whole, Net.Sim.Now);
            for (int key = 0; _store is not null && key < Net.Keys.Length; key++) _store.Add(node, key);
            Net.Population.Joined(node);
            StartTimers(node);
            return;
        }
        state.Bootstrap = bootstrap;
        int slot = Net.Lookups.BeginInternal(node, Net.Nodes.Ids[node], ForJoin);
        _path[slot] = 0;
        Can.RandomPoint(_points, node, 0, _point.Row(slot));
        Forward(node, bootstrap, slot);
    }

    private void RejoinLater(int node)
    {
        if (!_maintenance || !Net.Nodes.IsAlive(node) || Net.Population.IsJoined(node)) return;
        Net.Sim.Schedule(1, Timer(node, CanProtocolMessage.JoinTimer));
    }

    /// <summary>The JOIN reached O, whose zone holds the joiner's point: O splits that zone (or gives it whole) and answers.</summary>
    private void AcceptJoin(int o, int lookup, ulong interleaved)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int x = rec.Origin;
        CanNode state = _node[o]!;
        if (x == o || !Net.Lookups.OriginIsCurrent(lookup))
        {
            Net.Lookups.Answer(lookup, o);   // a JOIN of an earlier incarnation of the joiner: nothing to give
            return;
        }
        int z = 0;
        while (z < state.ZoneCount && !CanGeometry.Contains(state.Zones[z], interleaved)) z++;
        if (z == state.ZoneCount)
        {
            FailLookup(lookup);   // the point on a zone's upper face (distance 0, not inside): no zone to split
            return;
        }
        ulong zone = state.Zones[z], given;
        long now = Net.Sim.Now;
        CollectTargets(state, o);
        if (state.ZoneCount > 1)
        {
            given = zone;
            state.RemoveZoneAt(z);
        }
        else if (CanGeometry.Depth(zone) >= CanGeometry.MaxDepth)
        {
            FailLookup(lookup);
            return;
        }
        else
        {
            given = CanGeometry.Child(zone, interleaved);
            state.Zones[z] = CanGeometry.Sibling(given);
            state.ZoneSince[z] = now;
        }
        // The answer: O's zones and its neighbours from before the split (the joiner's neighbours are among them), then the joiner's zone.
        var reply = new CanEntry[1 + state.ZoneCount + state.EntryCount + 1];
        reply[0] = new CanEntry((ulong)now, state.ZoneCount);
        for (int i = 0; i < state.ZoneCount; i++) reply[1 + i] = new CanEntry(state.Zones[i], o);
        for (int e = 0; e < state.EntryCount; e++) reply[1 + state.ZoneCount + e] = new CanEntry(state.Entries[e].Code, state.Entries[e].Node);
        reply[^1] = new CanEntry(given, x);
        MoveKeys(o, x, given);
        RemoveOverlapping(state, given, keepNode: -1);
        AddLink(state, new CanLink(given, x, now, null));
        Prune(state);
        state.Snapshot = null;
        Net.Transport.Send(o, x, new Event { Lookup = lookup, Arg = Hold(reply), Sink = Sink, Type = (byte)CanProtocolMessage.JoinReply }, UpdateBytes(reply));
        AnnounceTo(o, x, keepTargets: true);
    }

    /// <summary>The joiner's answer: its zone is the entry of itself in O's update, its neighbours those of O's that abut it.</summary>
    private void OnJoinReply(int x, int o, int lookup, CanEntry[] snap)
    {
        bool current = Net.Lookups.OriginIsCurrent(lookup);
        Net.Lookups.Answer(lookup, o);
        CanNode? state = _node[x];
        if (!current || state is null || Net.Population.IsJoined(x) || state.ZoneCount > 0)
        {
            ReturnZone(x, o, snap[^1].Code);   // given to a join that is over: back to the node that split
            return;
        }
        long since = Since(snap);
        state.AddZone(snap[^1].Code, Net.Sim.Now);
        for (int i = 1; i < snap.Length - 1; i++)
        {
            ref readonly CanEntry e = ref snap[i];
            if (e.Node != x && AbutsAny(state, e.Code) && !OverlapsEntry(state, e.Code))
                AddLink(state, e.Node == o ? new CanLink(e.Code, o, since, snap) : new CanLink(e.Code, e.Node, Hearsay, null));
        }
        state.Bootstrap = -1;
        Net.Population.Joined(x);
        StartTimers(x);
        AnnounceTo(x, -1);
    }

    public override void OnLeave(int node)
    {
        CanNode? state = _node[node];
        if (state is null || state.ZoneCount == 0 || state.EntryCount == 0) return;
        int to = HandoffTarget(state, -1);
        if (to < 0) return;
        Handoff(node, to, AllZones);
    }

    public override void OnDeparted(int node, bool graceful) => _node[node] = null;

    public override void StopMaintenance() => _maintenance = false;


    /// <summary>
    /// Who takes zone <paramref name="zone"/> (or, for -1, all the node's zones): a neighbour holding its sibling (which
    /// can merge them), else the neighbour with the least volume (ties: the lower ordinal); -1 when there is none.
    /// </summary>
    private int HandoffTarget(CanNode state, int zone)
    {
        for (int z = 0; z < state.ZoneCount; z++)
        {
            if (zone >= 0 && z != zone) continue;
            ulong code = state.Zones[z];
            if (code == CanGeometry.Whole) continue;
            ulong sibling = CanGeometry.Sibling(code);
            for (int e = 0; e < state.EntryCount; e++)
                if (state.Entries[e].Code == sibling) return state.Entries[e].Node;
        }
        if (zone >= 0) return -1;
        int best = -1;
        double least = double.PositiveInfinity;
        for (int e = 0; e < state.EntryCount; e++)
        {
            int m = state.Entries[e].Node;
            double volume = 0;
            for (int f = 0; f < state.EntryCount; f++)
                if (state.Entries[f].Node == m) volume += CanGeometry.Volume(state.Entries[f].Code);
            if (volume < least || (volume == least && m < best))
            {
                least = volume;
                best = m;
            }
        }
        return best;
    }

    /// <summary>
    /// Hands zone number <paramref name="zone"/> (or all of them) to <paramref name="to"/>, with the node's neighbours: the
    /// payload is the node's update with only the zones handed. A single zone is remembered until the handover is known
    /// lost (its timeout takes it back).
    /// </summary>
    private void Handoff(int n, int to, ushort zone)
    {
        CanNode state = _node[n]!;
        CanEntry[] payload = Snapshot(n);
        ushort token = 0;
        if (zone != AllZones)
        {
            payload = HandoffPayload(n, state.Zones[zone], state);
            token = ++state.Tokens == 0 ? ++state.Tokens : state.Tokens;
            // A delivered handover is never answered: what is older than any timeout can be forgotten.
            state.Pending.RemoveAll(p => p.At < Net.Sim.Now - PendingFor);
            state.Pending.Add((state.Zones[zone], to, Net.Sim.Now, token));
        }
        for (int z = 0; z < state.ZoneCount; z++)
            if (zone == AllZones || z == zone) MoveKeys(n, to, state.Zones[z]);
        SendMaintenanceRequest(n, to, new Event { Arg = Hold(payload), Aux = token, Sink = Sink, Type = (byte)CanProtocolMessage.Handoff }, UpdateBytes(payload));
        if (zone == AllZones) return;
        CollectTargets(state, n);
        state.RemoveZoneAt(zone);
        Prune(state);
        state.Snapshot = null;
        AnnounceTo(n, -1, keepTargets: true);
    }

    /// <summary>
    /// Zones handed over by <paramref name="from"/>: claimed, with its neighbours that abut them, and announced to both
    /// sets; what m cannot take (it has no zone, or knows a newer holder) goes back to the sender.
    /// </summary>
    private void OnHandoff(int m, int from, CanEntry[] snap)
    {
        CanNode? state = _node[m];
        int zones = Zones(snap);
        _pieces.Clear();
        for (int i = 0; i < zones; i++) _pieces.Add(snap[1 + i].Code);
        if (state is not null && state.ZoneCount > 0) Claim(m, from, _pieces, snap, Since(snap));
        foreach (ulong code in _pieces) ReturnZone(m, from, code);
    }

    /// <summary>Sends a zone n cannot take back to <paramref name="to"/>, as a handover of it alone.</summary>
    private void ReturnZone(int n, int to, ulong code)
    {
        if (!Net.Nodes.IsAlive(n) || n == to) return;
        CanEntry[] payload = [new CanEntry((ulong)Net.Sim.Now, 1), new CanEntry(code, n)];
        Net.Transport.SendMaintenance(n, to, new Event { Arg = Hold(payload), Sink = Sink, Type = (byte)CanProtocolMessage.Handoff }, UpdateBytes(payload));
    }

    /// <summary>A node's update with one zone in place of its zones: what a handover of that zone carries.</summary>
    private CanEntry[] HandoffPayload(int n, ulong zone, CanNode state)
    {
        var payload = new CanEntry[2 + state.EntryCount];
        payload[0] = new CanEntry((ulong)Net.Sim.Now, 1);
        payload[1] = new CanEntry(zone, n);
        for (int e = 0; e < state.EntryCount; e++) payload[2 + e] = new CanEntry(state.Entries[e].Code, state.Entries[e].Node);
        return payload;
    }

    /// <summary>A handover that could not be delivered: the zone is taken back, and the receiver is dead.</summary>
    private void OnHandoffTimeout(int n, int to, ushort token)
    {
        CanNode? state = _node[n];
        if (state is null || state.ZoneCount == 0) return;
        _pieces.Clear();
        long at = long.MaxValue;
        for (int i = state.Pending.Count - 1; i >= 0; i--)
            if (state.Pending[i].Token == token && state.Pending[i].To == to)
            {
                _pieces.Add(state.Pending[i].Code);
                at = Math.Min(at, state.Pending[i].At);
                state.Pending.RemoveAt(i);
            }
        if (_pieces.Count > 0) Claim(n, to, _pieces, null, at);
        NeighbourDead(n, to);
    }

    /// <summary>
    /// n takes the zones in <paramref name="claimed"/> (from a dead, leaving or reassigning node <paramref name="from"/>,
    /// whose last update is <paramref name="list"/>): each one not overlapping a zone n knows a newer holder of; the
    /// nodes of that update that abut n's zones become neighbours; n's update goes to its neighbours and to that update's.
    /// The zones not taken are left in <paramref name="claimed"/>.
    /// </summary>
    private void Claim(int n, int from, List<ulong> claimed, CanEntry[]? list, long news)
    {
        CanNode state = _node[n]!;
        long now = Net.Sim.Now;
        CollectTargets(state, n);
        bool any = false;
        for (int i = claimed.Count - 1; i >= 0; i--)
        {
            ulong code = claimed[i];
            if (OverlapsZone(state, code) || NewerEntryOverlaps(state, code, from, news)) continue;
            RemoveOverlapping(state, code, keepNode: -1);
            state.AddZoneMerging(code, now);
            claimed.RemoveAt(i);   // what is left was not taken
            any = true;
        }
        if (!any) return;
        if (list is not null)
        {
            for (int i = 1; i < list.Length; i++)
            {
                ref readonly CanEntry e = ref list[i];
                if (e.Node == n || e.Node == from) continue;
                AddTarget(e.Node);
                if (AbutsAny(state, e.Code) && !OverlapsZone(state, e.Code) && !OverlapsEntry(state, e.Code))
                    AddLink(state, new CanLink(e.Code, e.Node, Hearsay, null));
            }
        }
        RemoveEntriesOf(state, from);
        Prune(state);
        state.Snapshot = null;
        AnnounceTo(n, -1, keepTargets: true);
    }

    // ---- soft state --------------------------------------------------------------------------------------------

    /// <summary>
    /// The periodic round: background reassignment, then the update to each neighbour (counted when the neighbour
    /// already holds this update, see the cost model at the top).
    /// </summary>
    private void UpdateRound(int n)
    {
        CanNode? state = _node[n];
        if (state is null) return;
        if (state.ZoneCount > 1)
            for (int z = 0; z < state.ZoneCount; z++)
            {
                int to = HandoffTarget(state, z);
                if (to < 0) continue;
                Handoff(n, to, (ushort)z);
                return;   // its announcement went to every neighbour
            }
        if (state.ZoneCount == 0) return;
        // A neighbour that answers as a node come back under the same ordinal: the one we knew is gone.
        for (int e = state.EntryCount - 1; e >= 0; e = Math.Min(e - 1, state.EntryCount - 1))
        {
            int m = state.Entries[e].Node;
            if (Net.Nodes.IsAlive(m) && state.Entries[e].Epoch != Net.Nodes.Epoch[m]) NeighbourDead(n, m, earlierOnly: true);
        }
        CanEntry[] snap = Snapshot(n);
        int bytes = UpdateBytes(snap);
        for (int e = 0; e < state.EntryCount; e++)
        {
            int m = state.Entries[e].Node;
            if (SeenBefore(state, e, m)) continue;
            if (state.Entries[e].Sent == state.Version && Net.Nodes.IsAlive(m)) Net.Transport.CountMaintenance((byte)CanProtocolMessage.Update, bytes);
            else SendUpdate(n, m, snap, bytes);
        }
    }

    private static bool SeenBefore(CanNode state, int e, int m)
    {
        for (int f = 0; f < e; f++)
            if (state.Entries[f].Node == m) return true;
        return false;
    }

    /// <summary>Sends n's update at once to its neighbours, to the targets collected before a change, and to <paramref name="extra"/>.</summary>
    private void AnnounceTo(int n, int extra, bool keepTargets = false)
    {
        CanNode state = _node[n]!;
        if (!keepTargets) _targets.Clear();
        for (int e = 0; e < state.EntryCount; e++) AddTarget(state.Entries[e].Node);
        if (extra >= 0) AddTarget(extra);
        CanEntry[] snap = Snapshot(n);
        int bytes = UpdateBytes(snap);
        foreach (int m in _targets)
            if (m != n) SendUpdate(n, m, snap, bytes);
        _targets.Clear();
    }

    /// <summary>Starts the list of nodes to tell of a change with n's neighbours before it.</summary>
    private void CollectTargets(CanNode state, int n)
    {
        _targets.Clear();
        for (int e = 0; e < state.EntryCount; e++) AddTarget(state.Entries[e].Node);
    }

    private void AddTarget(int m)
    {
        if (!_targets.Contains(m)) _targets.Add(m);
    }

    /// <summary>Sends n's update to m, and notes that m has n's current one.</summary>
    private void SendUpdate(int n, int m, CanEntry[] snap, int bytes)
    {
        SendMaintenanceRequest(n, m, new Event { Arg = Hold(snap), Sink = Sink, Type = (byte)CanProtocolMessage.Update }, bytes);
        CanNode state = _node[n]!;
        if (!ReferenceEquals(snap, state.Snapshot)) return;
        for (int e = 0; e < state.EntryCount; e++)
            if (state.Entries[e].Node == m) state.Entries[e].Sent = state.Version;
    }

    /// <summary>
    /// r hears s's update: a crossing claim of a zone is settled; what r knew of s, and of other nodes in the zones s
    /// holds, is replaced unless it is newer; nodes of s's list that abut r and that r did not know are taken.
    /// </summary>
    private void OnUpdate(int r, int s, CanEntry[] snap)
    {
        CanNode? state = _node[r];
        if (state is null || state.ZoneCount == 0) return;
        NeighbourDead(r, s, earlierOnly: true);   // what r knew of an earlier incarnation of the sender is not replaced: it is orphaned
        long since = Since(snap);
        for (int e = 0; e < state.EntryCount; e++)
            if (state.Entries[e].Node == s && state.Entries[e].Since > since) return;   // overtaken by a newer one
        int zones = Zones(snap);
        bool changed = false, contest = false;
        double theirs = 0;
        for (int i = 0; i < zones; i++) theirs += CanGeometry.Volume(snap[1 + i].Code);
        for (int i = 0; i < zones; i++)
        {
            ulong code = snap[1 + i].Code;
            // Crossing claims: the smaller volume keeps the zone (ties: the lower ordinal); news older than r's claim is stale.
            for (int z = state.ZoneCount - 1; z >= 0; z--)
            {
                ulong mine = state.Zones[z];
                if (!CanGeometry.Overlaps(mine, code) || since <= state.ZoneSince[z]) continue;
                double ours = state.Volume();
                if (ours < theirs || (ours == theirs && r < s))
                {
                    contest = true;
                    continue;
                }
                long claimed = state.ZoneSince[z];
                MoveKeys(r, s, CanGeometry.Depth(mine) < CanGeometry.Depth(code) ? code : mine);
                state.RemoveZoneAt(z);
                if (CanGeometry.Depth(mine) < CanGeometry.Depth(code))
                    foreach (ulong piece in Subtract(mine, code)) state.AddZone(piece, claimed);
                changed = true;
            }
            changed |= RemoveOverlapping(state, code, keepNode: s, olderThan: since);
            state.DropOrphans(code, since);
        }
        if (state.ZoneCount == 0)
        {
            // Every zone lost to crossing claims: the node leaves the network and joins again.
            Net.Population.Unjoined(r);
            _node[r] = new CanNode(0) { Timers = state.Timers };
            if (_maintenance) Net.Sim.Schedule(1, Timer(r, CanProtocolMessage.JoinTimer));
            return;
        }
        // The sender's entries: rewritten only when its zones (as they abut r) differ, so that r's own update stays the same.
        bool moved = false;   // the sender's zones changed (as r sees them): r's neighbours may be its new ones
        if (SameEntries(state, s, snap, zones))
        {
            for (int e = 0; e < state.EntryCount; e++)
                if (state.Entries[e].Node == s)
                {
                    state.Entries[e].Since = since;
                    state.Entries[e].List = snap;
                }
        }
        else
        {
            RemoveEntriesOf(state, s);
            for (int i = 0; i < zones; i++)
            {
                ulong code = snap[1 + i].Code;
                if (AbutsAny(state, code) && !OverlapsZone(state, code)) AddLink(state, new CanLink(code, s, since, snap));
            }
            changed = moved = true;
        }
        bool listsUs = false;
        _contested.Clear();
        for (int i = 1 + zones; i < snap.Length; i++)
        {
            ref readonly CanEntry e = ref snap[i];
            if (e.Node == r) listsUs = true;
            if (e.Node == r || e.Node == s) continue;
            // A node said to hold part of r's zones: a crossing claim (or old news), which r puts to it directly.
            if (OverlapsZone(state, e.Code))
            {
                if (!_contested.Contains(e.Node)) _contested.Add(e.Node);
                continue;
            }
            if (!AbutsAny(state, e.Code) || OverlapsEntry(state, e.Code)) continue;
            AddLink(state, new CanLink(e.Code, e.Node, Hearsay, null));
            changed = true;
        }
        if (changed) Prune(state);
        // A sender that takes r for a neighbour although its zones do not abut r's hears r's zones, and drops it; one
        // that abuts r without knowing it hears them too, and takes it; and one whose zones changed hears r's
        // neighbours, among which are those of its new zones.
        bool neighbour = false;
        for (int e = 0; e < state.EntryCount && !neighbour; e++) neighbour = state.Entries[e].Node == s;
        bool reply = contest || listsUs != neighbour || (moved && neighbour);
        if (reply || _contested.Count > 0)
        {
            // An answer to a crossing claim is stamped now, so that the other claimant weighs it against its own.
            if (contest || _contested.Count > 0) state.Snapshot = null;
            CanEntry[] mine = Snapshot(r);
            int bytes = UpdateBytes(mine);
            if (reply) SendUpdate(r, s, mine, bytes);
            foreach (int m in _contested) SendUpdate(r, m, mine, bytes);
        }
    }

    /// <summary>Whether r's entries of s are exactly s's zones in <paramref name="snap"/> that abut r's and do not overlap them.</summary>
    private bool SameEntries(CanNode state, int s, CanEntry[] snap, int zones)
    {
        int expected = 0, have = 0;
        for (int i = 0; i < zones; i++)
        {
            ulong code = snap[1 + i].Code;
            if (!AbutsAny(state, code) || OverlapsZone(state, code)) continue;
            expected++;
            bool found = false;
            for (int e = 0; e < state.EntryCount && !found; e++) found = state.Entries[e].Node == s && state.Entries[e].Code == code;
            if (!found) return false;
        }
        for (int e = 0; e < state.EntryCount; e++)
            if (state.Entries[e].Node == s) have++;
        return have == expected;
    }

    /// <summary>
    /// n finds neighbour <paramref name="dead"/> dead: its zones become orphans, with a takeover timer. With
    /// <paramref name="earlierOnly"/>, only the entries learned of an earlier incarnation of that ordinal (the node is back).
    /// </summary>
    private void NeighbourDead(int n, int dead, bool earlierOnly = false)
    {
        CanNode? state = _node[n];
        if (state is null || state.ZoneCount == 0) return;
        double volume = 0;
        int found = 0;
        for (int e = state.EntryCount - 1; e >= 0; e--)
        {
            ref CanLink entry = ref state.Entries[e];
            if (entry.Node != dead || (earlierOnly && entry.Epoch == Net.Nodes.Epoch[dead])) continue;
            state.Orphans.Add(new CanOrphan(entry.Code, dead, entry.Since, entry.List));
            volume += CanGeometry.Volume(entry.Code);
            found++;
            state.RemoveEntryAt(e);
        }
        if (found == 0) return;
        state.Snapshot = null;
        if (!_maintenance) return;
        double ratio = Math.Min(1 << 20, state.Volume() / volume);
        Net.Sim.Schedule(Math.Max(1, (long)(_o.TakeoverDelay * ratio)), Timer(n, CanProtocolMessage.TakeoverTimer, dead));
    }

    /// <summary>The takeover timer for <paramref name="dead"/> fired: n claims the orphans of it that no newer claim has replaced.</summary>
    private void OnTakeoverTimer(int n, int dead)
    {
        CanNode? state = _node[n];
        if (state is null || state.ZoneCount == 0 || !_maintenance) return;
        _pieces.Clear();
        CanEntry[]? list = null;
        long news = long.MaxValue;
        for (int i = state.Orphans.Count - 1; i >= 0; i--)
        {
            CanOrphan o = state.Orphans[i];
            if (o.Dead != dead) continue;
            _pieces.Add(o.Code);
            list ??= o.List;
            news = Math.Min(news, o.Since);
            state.Orphans.RemoveAt(i);
        }
        if (_pieces.Count > 0) Claim(n, dead, _pieces, list, news);
    }

    // ---- a node's state ----------------------------------------------------------------------------------------

    /// <summary>n's current update (built when its zones or neighbours have changed since): the time, its zones, its entries.</summary>
    private CanEntry[] Snapshot(int n)
    {
        CanNode state = _node[n]!;
        if (state.Snapshot is not null) return state.Snapshot;
        var snap = new CanEntry[1 + state.ZoneCount + state.EntryCount];
        snap[0] = new CanEntry((ulong)Net.Sim.Now, state.ZoneCount);
        for (int z = 0; z < state.ZoneCount; z++) snap[1 + z] = new CanEntry(state.Zones[z], n);
        for (int e = 0; e < state.EntryCount; e++) snap[1 + state.ZoneCount + e] = new CanEntry(state.Entries[e].Code, state.Entries[e].Node);
        state.Snapshot = snap;
        state.Version++;
        return snap;
    }

    private void KeyPoints()
    {
        Span<ulong> point = stackalloc ulong[_d];
        _keyPoints = new ulong[Net.Keys.Length];
        for (int key = 0; key < Net.Keys.Length; key++)
        {
            Can.KeyPoint(Net.Keys[key], 0, point);
            _keyPoints[key] = _g.Interleave(point);
        }
    }

    /// <summary>
    /// Hands <paramref name="to"/> the keys <paramref name="from"/> holds whose points lie in <paramref name="zone"/>, counted
    /// as one KeyTransfer; they stay where they are if <paramref name="to"/> is dead (the transfer would be lost).
    /// </summary>
    private void MoveKeys(int from, int to, ulong zone)
    {
        if (_store is null || !Net.Nodes.IsAlive(to)) return;
        int moved = _store.MoveWhere(from, to, static (key, s) => CanGeometry.Contains(s.Zone, s.Points[key]), (Zone: zone, Points: _keyPoints));
        if (moved > 0) Net.Transport.CountMaintenance((byte)CanProtocolMessage.KeyTransfer, Header + moved * (KeyBytes + _o.ValueBytes));
    }

    private static long Since(CanEntry[] snap) => (long)snap[0].Code;

    /// <summary>Adds a neighbour entry, noting the incarnation of its node.</summary>
    private void AddLink(CanNode state, CanLink link) => state.AddEntry(link, Net.Nodes.Epoch[link.Node]);

    private static int Zones(CanEntry[] snap) => snap[0].Node;

    private static int UpdateBytes(CanEntry[] snap) => Header + (snap.Length - 1) * (ZoneBytes + NodeRef);

    private bool AbutsAny(CanNode state, ulong code)
    {
        for (int z = 0; z < state.ZoneCount; z++)
            if (_g.Abuts(state.Zones[z], code)) return true;
        return false;
    }

    private static bool OverlapsZone(CanNode state, ulong code)
    {
        for (int z = 0; z < state.ZoneCount; z++)
            if (CanGeometry.Overlaps(state.Zones[z], code)) return true;
        return false;
    }

    private static bool OverlapsEntry(CanNode state, ulong code)
    {
        for (int e = 0; e < state.EntryCount; e++)
            if (CanGeometry.Overlaps(state.Entries[e].Code, code)) return true;
        return false;
    }

    /// <summary>Whether an entry of a node other than <paramref name="node"/>, newer than <paramref name="news"/>, overlaps the zone (it has a newer holder).</summary>
    private static bool NewerEntryOverlaps(CanNode state, ulong code, int node, long news)
    {
        for (int e = 0; e < state.EntryCount; e++)
            if (state.Entries[e].Node != node && state.Entries[e].Since > news && CanGeometry.Overlaps(state.Entries[e].Code, code)) return true;
        return false;
    }

    /// <summary>Removes entries of nodes other than <paramref name="keepNode"/> that overlap the zone (and are older than the news).</summary>
    private static bool RemoveOverlapping(CanNode state, ulong code, int keepNode, long olderThan = long.MaxValue)
    {
        bool removed = false;
        for (int e = state.EntryCount - 1; e >= 0; e--)
        {
            ref CanLink entry = ref state.Entries[e];
            if (entry.Node == keepNode || entry.Since >= olderThan || !CanGeometry.Overlaps(entry.Code, code)) continue;
            state.RemoveEntryAt(e);
            removed = true;
        }
        return removed;
    }

    private static bool RemoveEntriesOf(CanNode state, int node)
    {
        bool removed = false;
        for (int e = state.EntryCount - 1; e >= 0; e--)
            if (state.Entries[e].Node == node)
            {
                state.RemoveEntryAt(e);
                removed = true;
            }
        return removed;
    }

    /// <summary>Drops entries whose zones abut none of the node's zones.</summary>
    private void Prune(CanNode state)
    {
        for (int e = state.EntryCount - 1; e >= 0; e--)
            if (!AbutsAny(state, state.Entries[e].Code)) state.RemoveEntryAt(e);
    }

    /// <summary>The zone <paramref name="outer"/> without the smaller zone <paramref name="inner"/> inside it: the siblings along the path between them.</summary>
    private List<ulong> Subtract(ulong outer, ulong inner)
    {
        var pieces = new List<ulong>();
        for (ulong z = inner; CanGeometry.Depth(z) > CanGeometry.Depth(outer); z = CanGeometry.Parent(z)) pieces.Add(CanGeometry.Sibling(z));
        return pieces;
    }

    private int Hold(CanEntry[] snap)
    {
        int id;
        if (_freePayload.Count > 0) id = _freePayload.Pop();
        else
        {
            if (_payloadsUsed == _payload.Length) Array.Resize(ref _payload, _payload.Length * 2);
            id = _payloadsUsed++;
        }
        _payload[id] = snap;
        _payloadsInUse++;
        return id;
    }

    private CanEntry[] Take(int id)
    {
        CanEntry[] snap = _payload[id]!;
        _payload[id] = null;
        _freePayload.Push(id);
        _payloadsInUse--;
        return snap;
    }

    // ---- events ------------------------------------------------------------------------------------------------

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((CanProtocolMessage)ev.Type)
        {
            case CanProtocolMessage.Route:
            {
                long rtt = Net.Transport.RoundTrip(ev.Src, n);
                if (Timeout(rtt) >= rtt) Net.Transport.CountOnly(ev.Lookup, ev.Src, (byte)CanProtocolMessage.RouteAck, Header);
                else Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = ev.Arg, Sink = Sink, Type = (byte)CanProtocolMessage.RouteAck }, Header);
                Net.Lookups[ev.Lookup].Hops++;
                _path[ev.Lookup] += Net.Transport.OneWay(ev.Src, n);
                Route(n, ev.Lookup);
                break;
            }
            case CanProtocolMessage.RouteAck:
                if (_hopToken[ev.Lookup] == (uint)ev.Arg) _hopToken[ev.Lookup] = 0;
                break;
            case CanProtocolMessage.HopTimeout:
                if (_hopToken[ev.Lookup] != (uint)ev.Arg) return;
                OnHopTimeout(n, ev.Lookup);
                break;
            case CanProtocolMessage.RouteReply:
                Finish(ev.Lookup, ev.Arg, ev.Aux == 1);
                break;
            case CanProtocolMessage.JoinReply:
                OnJoinReply(n, ev.Src, ev.Lookup, Take(ev.Arg));
                break;
            case CanProtocolMessage.Update:
                OnUpdate(n, ev.Src, Take(ev.Arg));
                break;
            case CanProtocolMessage.UpdateTimeout:
                NeighbourDead(n, ev.Arg);
                break;
            case CanProtocolMessage.Handoff:
                OnHandoff(n, ev.Src, Take(ev.Arg));
                break;
            case CanProtocolMessage.HandoffTimeout:
                OnHandoffTimeout(n, ev.Arg, ev.Aux);
                break;
            case CanProtocolMessage.UpdateTimer:
                if (!_maintenance) return;
                UpdateRound(n);
                Net.Sim.Schedule(_o.UpdateEvery, Timer(n, CanProtocolMessage.UpdateTimer));
                break;
            case CanProtocolMessage.TakeoverTimer:
                OnTakeoverTimer(n, ev.Arg);
                break;
            case CanProtocolMessage.JoinTimer:
                if (Net.Population.IsJoined(n) || !_maintenance) return;
                StartJoin(n, Net.Population.RandomJoined(n, ref _rng), _node[n]?.Timers ?? false);
                break;
        }
    }

    private long Timeout(long roundTrip) => RpcTimeout(roundTrip, _o.RpcTimeout, _o.RpcTimeoutRtts);

    /// <summary>A hop waits rpc_timeout (its acknowledgement is awaited); an update or a handover only detects a dead receiver, so it never waits less than the round trip.</summary>
    protected override long RequestTimeout(byte type, long roundTrip) =>
        type == (byte)CanProtocolMessage.Route ? Timeout(roundTrip) : Math.Max(roundTrip, Timeout(roundTrip));

    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        int from = request.Src, to = request.Dst;
        switch ((CanProtocolMessage)request.Type)
        {
            case CanProtocolMessage.Route:
                timeout = new Event { Dst = from, Src = from, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = request.Arg, Sink = Sink, Type = (byte)CanProtocolMessage.HopTimeout };
                return true;
            case CanProtocolMessage.Update:
                timeout = Timer(from, CanProtocolMessage.UpdateTimeout, to);
                return true;
            case CanProtocolMessage.Handoff:
                timeout = Timer(from, CanProtocolMessage.HandoffTimeout, to);
                timeout.Aux = request.Aux;
                return true;
            default:
                timeout = default;
                return false;
        }
    }

    protected override void OnUndeliverable(ref Event ev)
    {
        if ((CanProtocolMessage)ev.Type is CanProtocolMessage.JoinReply or CanProtocolMessage.Update or CanProtocolMessage.Handoff) Take(ev.Arg);
    }

    /// <summary>A JOIN's answer that comes after its lookup ended: the zone it gives goes back to the node that split.</summary>
    protected override void OnStale(ref Event ev)
    {
        if ((CanProtocolMessage)ev.Type == CanProtocolMessage.JoinReply)
        {
            CanEntry[] reply = Take(ev.Arg);
            ReturnZone(ev.Dst, ev.Src, reply[^1].Code);
            return;
        }
        OnUndeliverable(ref ev);
    }

    // ---- questions ---------------------------------------------------------------------------------------------

    public override int Degree(int node)
    {
        CanNode? state = _node[node];
        if (state is null) return 0;
        Span<int> all = state.EntryCount <= 512 ? stackalloc int[state.EntryCount] : new int[state.EntryCount];
        for (int e = 0; e < state.EntryCount; e++) all[e] = state.Entries[e].Node;
        return CountDistinct(all, node);
    }

    private double MeanDegree()
    {
        int live = Net.Nodes.LiveCount;
        long sum = 0;
        for (int i = 0; i < live; i++) sum += Degree(Net.Nodes.LiveAt(i));
        return live == 0 ? 0 : (double)sum / live;
    }

    /// <summary>Whether node n holds, by its own state, a zone that holds the point.</summary>
    internal bool HoldsPoint(int n, ReadOnlySpan<ulong> point)
    {
        CanNode? state = _node[n];
        if (state is null) return false;
        ulong x = _g.Interleave(point);
        for (int z = 0; z < state.ZoneCount; z++)
            if (CanGeometry.Contains(state.Zones[z], x)) return true;
        return false;
    }

    internal int Dimensions => _d;

    internal Network NetworkForTruth => Net;

    /// <summary>The zones node n holds (empty for a node that has not joined).</summary>
    internal ReadOnlySpan<ulong> ZonesOf(int n) => _node[n] is { } s ? s.Zones.AsSpan(0, s.ZoneCount) : [];

    /// <summary>Node n's neighbours: each zone it knows of, with its holder.</summary>
    internal IEnumerable<(ulong Code, int Node)> NeighboursOf(int n)
    {
        CanNode? s = _node[n];
        if (s is null) yield break;
        for (int e = 0; e < s.EntryCount; e++) yield return (s.Entries[e].Code, s.Entries[e].Node);
    }

    internal CanGeometry Geometry => _g;

    /// <summary>Live joined nodes' zones by volume, as the static model counts them.</summary>
    public override IReadOnlyList<ZoneVolumeBin>? ZoneVolumes()
    {
        int scale = (int)Math.Round(Math.Log2(Math.Max(1, Net.Nodes.LiveCount)));
        var bins = new SortedDictionary<int, (long Zones, long Nodes)>();
        for (int i = 0; i < Net.Nodes.LiveCount; i++)
        {
            ReadOnlySpan<ulong> zones = ZonesOf(Net.Nodes.LiveAt(i));
            foreach (ulong code in zones)
            {
                int k = scale - CanGeometry.Depth(code);
                var (count, nodes) = bins.GetValueOrDefault(k);
                bins[k] = (count + 1, nodes + 1);
            }
        }
        return bins.Select(kv => new ZoneVolumeBin(kv.Key, kv.Value.Zones, kv.Value.Nodes)).ToList();
    }
}

/// <summary>A neighbour entry of a CAN node: the zone, its holder, when that news was made, and the holder's last update (null if unheard).</summary>
internal struct CanLink(ulong code, int node, long since, CanEntry[]? list)
{
    public ulong Code = code;
    public int Node = node;
    /// <summary>The incarnation of the node it was learned from (a node that has come back under the same ordinal is another).</summary>
    public uint Epoch;
    /// <summary>The version of its own update the node last sent this neighbour (see <see cref="CanNode.Version"/>).</summary>
    public int Sent = -1;
    public long Since = since;
    public CanEntry[]? List = list;
}

/// <summary>A zone of a neighbour found dead, awaiting the takeover timer, with the dead node's last update.</summary>
internal readonly record struct CanOrphan(ulong Code, int Dead, long Since, CanEntry[]? List);

/// <summary>What one node of the CAN protocol knows: its zones, its neighbour entries, its pending takeovers and handovers.</summary>
internal sealed class CanNode
{
    public ulong[] Zones = new ulong[2];
    public long[] ZoneSince = new long[2];
    public int ZoneCount;
    public CanLink[] Entries;
    public int EntryCount;
    /// <summary>Its update as last built (the time, its zones, its entries); null when its zones or entries have changed since.</summary>
    public CanEntry[]? Snapshot;
    /// <summary>Counts the updates the node has built: a neighbour whose entry carries the current one was sent it.</summary>
    public int Version;
    public int Bootstrap = -1;
    public bool Timers;
    private List<CanOrphan>? _orphans;
    private List<(ulong Code, int To, long At, ushort Token)>? _pending;
    /// <summary>Tokens of the node's handovers, so that a timeout takes back only its own.</summary>
    public ushort Tokens;

    public CanNode(int entries) => Entries = new CanLink[Math.Max(4, entries)];

    public List<CanOrphan> Orphans => _orphans ??= [];

    public List<(ulong Code, int To, long At, ushort Token)> Pending => _pending ??= [];

    public double Volume()
    {
        double v = 0;
        for (int z = 0; z < ZoneCount; z++) v += CanGeometry.Volume(Zones[z]);
        return v;
    }

    public void AddZone(ulong code, long since)
    {
        if (ZoneCount == Zones.Length)
        {
            Array.Resize(ref Zones, ZoneCount * 2);
            Array.Resize(ref ZoneSince, ZoneCount * 2);
        }
        Zones[ZoneCount] = code;
        ZoneSince[ZoneCount++] = since;
        Snapshot = null;
    }

    /// <summary>Adds a zone, merging it with its sibling while the node holds that (a zone and its sibling make their parent).</summary>
    public void AddZoneMerging(ulong code, long since)
    {
        while (code != CanGeometry.Whole)
        {
            ulong sibling = CanGeometry.Sibling(code);
            int at = Array.IndexOf(Zones, sibling, 0, ZoneCount);
            if (at < 0) break;
            RemoveZoneAt(at);
            code = CanGeometry.Parent(code);
        }
        AddZone(code, since);
    }

    public void RemoveZoneAt(int z)
    {
        Zones[z] = Zones[ZoneCount - 1];
        ZoneSince[z] = ZoneSince[--ZoneCount];
        Snapshot = null;
    }

    public void AddEntry(CanLink entry, uint epoch)
    {
        entry.Epoch = epoch;
        if (EntryCount == Entries.Length) Array.Resize(ref Entries, EntryCount * 2);
        Entries[EntryCount++] = entry;
        Snapshot = null;
    }

    public void RemoveEntryAt(int e)
    {
        Entries[e] = Entries[--EntryCount];
        Entries[EntryCount] = default;
        Snapshot = null;
    }

    /// <summary>Drops pending takeovers of zones that overlap one a newer claim holds.</summary>
    public void DropOrphans(ulong code, long since)
    {
        if (_orphans is null) return;   // (a loop, not RemoveAll with a closure: this runs for every update heard)
        for (int i = _orphans.Count - 1; i >= 0; i--)
            if (_orphans[i].Since < since && CanGeometry.Overlaps(_orphans[i].Code, code)) _orphans.RemoveAt(i);
    }
}

/// <summary>
/// The ground truth of CAN's protocol: an answer is correct when the node is live and holds, by its own state, a zone
/// that holds the key's point. The node responsible for a key: the holder of the live zone that holds its point, found
/// in the live nodes' zones sorted as intervals of the interleaved order (a zone is one such interval).
/// </summary>
internal sealed class CanProtocolTruth(CanProtocol can) : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup)
    {
        if (answer < 0) return false;
        Span<ulong> point = stackalloc ulong[can.Dimensions];
        Can.KeyPoint(lookup.Key, 0, point);
        return can.NetworkForTruth.Nodes.IsAlive(answer) && can.HoldsPoint(answer, point);
    }

    private ulong[] _paths = [];
    private int[] _holders = [];
    private long _builtAt = -1;

    public override int Responsible(Id key, int keyIndex)
    {
        Network net = can.NetworkForTruth;
        if (_builtAt != net.Sim.Now || _paths.Length == 0) Index(net);
        Span<ulong> point = stackalloc ulong[can.Dimensions];
        Can.KeyPoint(key, 0, point);
        ulong x = can.Geometry.Interleave(point);
        int at = Array.BinarySearch(_paths, x);
        if (at < 0) at = ~at - 1;
        if (at < 0) return -1;
        return CanGeometry.Contains(_codes[at], x) ? _holders[at] : -1;
    }

    private ulong[] _codes = [];

    private void Index(Network net)
    {
        var zones = new List<(ulong Path, ulong Code, int Node)>();
        for (int i = 0; i < net.Nodes.LiveCount; i++)
        {
            int n = net.Nodes.LiveAt(i);
            foreach (ulong code in can.ZonesOf(n)) zones.Add((CanGeometry.Path(code), code, n));
        }
        zones.Sort();
        _paths = zones.Select(z => z.Path).ToArray();
        _codes = zones.Select(z => z.Code).ToArray();
        _holders = zones.Select(z => z.Node).ToArray();
        _builtAt = net.Sim.Now;
    }
}
