// Chord, dynamic: the protocol of I. Stoica et al., "Chord: A Scalable Peer-to-peer Lookup Protocol for Internet
// Applications", IEEE/ACM ToN 11(1), 2003 (SIGCOMM 2001 for the base algorithm), run message by message under churn.
//
// What is modelled (ToN Fig. 5 and 7):
//   join          find_successor(n) through a bootstrap node, then stabilization does the rest;
//   stabilize     ask the successor for its predecessor and successor list; adopt a closer successor; notify it;
//                 the successor list of length r is the successor's list shifted by one (ToN §IV.E);
//   notify        a node adopts a closer predecessor;
//   fix_fingers   one finger per round (round robin over the kept levels) or all of them, each by a find_successor;
//   check_predecessor  ping the predecessor; forget it if it does not answer;
//   leave         graceful: tell the successor our predecessor and the predecessor our successor list; crash: nothing;
//   lookups       recursive (each hop acknowledged; on a timeout the forwarder drops the dead entry and retries
//                 through the next-best finger or successor) or iterative (the origin queries each hop; on a
//                 timeout it asks the previous hop again, telling it which entry is dead; the node asked as the key's
//                 successor makes the same predecessor check as in a recursive lookup). Every RPC timeout is
//                 fixed or a multiple of the pair's round-trip time. A lookup fails after max_retries timeouts or
//                 at lookup_timeout.
// Periods can be randomized (uniform in [0.5, 1.5] times the period) so that nodes do not act in lockstep.
//
// What the hop count counts: request messages that reached the next node on the route, from the origin until the
// node responsible for the key holds the request (a forward that timed out is not a hop; its message still counts
// in msgs_per_lookup, as do acks and the reply). The last hop goes to the node the predecessor believes is the
// successor of the key, which answers; paper_hops counts up to that predecessor, the paper's path length. A lookup
// is answered when the reply reaches the origin and ends when nothing of it is in flight (a late ack, the first copy
// of a hop retried before its answer came).
//
// Deviations from the papers: a node answers for a key it holds by its own predecessor pointer; fingers are kept
// only for the top F levels (F = fingers, default 2·log2 N + 8: lower levels are the successor in all but a
// vanishing share of rings); failure detection is by RPC timeout only, with no separate failure notifications.
// Message sizes follow the DHT churn literature (Li et al., IPTPS 2004 / INFOCOM 2005): 20 bytes of header plus
// 4 bytes per node id or address carried, a node reference being both (8 bytes).
//
// Memory per node: 5·F + 4·r + 31 bytes of state (fingers and their distances' bit lengths, predecessor, fix_fingers cursor,
// bootstrap, RPC tokens, key-list head, timers flag, replica digest), about 270 bytes at N = 10^5 with r = 8, plus its
// three pending maintenance timers (about 60 bytes
// each in the event queue); keys stored at 4·(replicas + 9) + 5 bytes per key plus 8 per copy (BytesPerNode, BytesPerKey).
//
// Files: this one (state, set-up, churn hooks, events), ChordProtocol.Lookups.cs (recursive and iterative lookups;
// the routing step itself is ChordRouting.Step, which the converged ring takes in ranks), ChordProtocol.Maintenance.cs
// (stabilize, notify, replication, failures, fix_fingers).

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Chord's protocol messages and timers, named after the paper's RPCs.</summary>
public enum ChordProtocolMessage : byte
{
    FindSuccessor = 1,
    FindSuccessorAck,
    FindSuccessorReply,
    HopTimeout,
    NextHopQuery,
    NextHopReply,
    QueryTimeout,
    GetPredecessor,
    GetPredecessorReply,
    StabilizeTimeout,
    Notify,
    Ping,
    Pong,
    PingTimeout,
    LeaveToSuccessor,
    LeaveToPredecessor,
    /// <summary>Keys handed over (join, leave) or pushed to replicas; accounted as one message per transfer.</summary>
    KeyTransfer,
    StabilizeTimer,
    FixFingersTimer,
    CheckPredecessorTimer,
    JoinTimer,
    /// <summary>maintenance: ton: ask a successor-list entry for its successor (Aux: the index of the entry asked).</summary>
    GetSuccessor,
    GetSuccessorReply,
    GetSuccessorTimeout,
    /// <summary>copy_fingers: a joined node's copy of its successor's finger table (request and reply, one message counted).</summary>
    FingerCopy,
}

/// <summary>Chord run as its protocol under churn.</summary>
/// <remarks>
/// RPC timeouts are lazy where that is exact (see <see cref="Overlay.SendLookupRequest"/>), and a hop's acknowledgement
/// that only such a timeout would wait for is counted, not simulated.
/// </remarks>
public sealed partial class ChordProtocol : Overlay, IPrefetchingSink
{
    private const int Header = ChordSizes.Header, NodeRef = ChordSizes.NodeRef, KeyBytes = ChordSizes.Key;

    // What an in-flight lookup is for (LookupRecord.Purpose; its Arg is the finger level of a ForFinger lookup).
    private const byte ForUser = LookupService.UserLookup, ForJoin = 1, ForFinger = 2;

    private readonly ChordOptions _o;
    private int _r, _f, _firstLevel;
    private Id[] _ids = [];
    private NodeArray<int> _succ = null!;          // r per node
    private NodeArray<int> _pred = null!;
    private NodeArray<int> _finger = null!;        // F per node
    private NodeArray<byte> _fingerBits = null!;   // F per node: bit length of each finger's distance from the node (see SetFinger)
    private NodeArray<int> _nextFinger = null!;
    private NodeArray<int> _bootstrap = null!;
    private NodeArray<uint> _rpcToken = null!;     // the stabilize / ping round awaiting an answer
    private NodeArray<ushort> _entryToken = null!; // maintenance: ton: the successor-entry refresh awaiting an answer
    private NodeArray<ulong> _replicaDigest = null!; // digest of (predecessor, replicas) at the last replication push
    private NodeArray<bool> _timersRunning = null!;  // this incarnation's maintenance timers are scheduled
    private bool _maintenance = true;
    private KeyStore? _store;
    private Xoshiro256 _rng;
    private PayloadPool<int> _payloads = null!;     // successor lists carried by replies and leave notices

    // Per lookup slot.
    private LookupArray<int> _hopTo = null!;
    private LookupArray<uint> _hopToken = null!;
    private LookupArray<int> _iterPrev = null!;
    private LookupArray<int> _finalFrom = null!;   // the node that handed the request over as the key's successor
    private LookupArray<int> _paperHops = null!;   // hops when the key's predecessor held the request, -1 while unknown
    private LookupArray<int>? _avoid;              // with forget_dead: false, the last AvoidSlots dead nodes the lookup met (-1: none)
    private const int AvoidSlots = 16;
    private SampleMetric _paperHopsMetric = null!;
    private uint _tokens;

    public ChordProtocol(ChordOptions options)
    {
        if (options.StoreKeys && options.Replicas > options.Successors)
            throw new ArgumentException($"{options.Replicas} replicas need a successor list at least that long; successors is {options.Successors}", nameof(options));
        _o = options;
    }

    public override string Name => "chord";
    public override bool SupportsChurn => true;

    public override int PayloadsInUse => _payloads.InUse;
    public override long LookupTimeout => _o.LookupTimeout;
    public override string MessageName(byte type) => ((ChordProtocolMessage)type).ToString();
    public override GroundTruth CreateTruth(Oracle view) => new ChordTruth(view);

    /// <summary>The key store (null when keys are not stored), for tests.</summary>
    public KeyStore? Store => _store;

    /// <summary>
    /// Estimated bytes per node: 4·(r + F) of successor list and fingers, F of the fingers' distance bit lengths, 20 of predecessor, finger cursor, bootstrap,
    /// RPC token and key-list head, 8 of replica digest, 3 of successor-entry token and timers flag, and the three
    /// maintenance timers each node keeps pending
    /// (stabilize, fix_fingers, check_predecessor) at up to twice <see cref="EventQueue.BytesPerPendingEvent"/>.
    /// </summary>
    public static long BytesPerNode(ChordOptions o, long nodes) =>
        4L * (o.Successors + Levels(o, nodes, 160)) + Levels(o, nodes, 160) + 20 + 8 + 3 + 3 * 2 * EventQueue.BytesPerPendingEvent;

    /// <summary>Estimated bytes per stored key: the store's slots (<see cref="KeyStore.BytesPerKey"/>) with replicas + 1 copies.</summary>
    public static long BytesPerKey(ChordOptions o) => o.StoreKeys ? KeyStore.BytesPerKey(MaxHolders(o), timed: false, o.Replicas + 1) : 0;

    /// <summary>Copies a key can have: the responsible node, its replicas, and room for 8 more while the ring settles after churn.</summary>
    private static int MaxHolders(ChordOptions o) => o.Replicas + 1 + 8;

    private static int Levels(ChordOptions o, long nodes, int bits) =>
        Math.Min(bits, o.Fingers > 0 ? o.Fingers : 2 * (int)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 8);

    // ---- set-up --------------------------------------------------------------------------------------

    protected override void OnAttached()
    {
        _hopTo = Net.LookupArray<int>();
        _hopToken = Net.LookupArray<uint>();
        _iterPrev = Net.LookupArray<int>();
        _finalFrom = Net.LookupArray<int>();
        _paperHops = Net.LookupArray<int>();
        if (!_o.ForgetDead) _avoid = Net.LookupArray<int>(AvoidSlots);
        _paperHopsMetric = Net.Lookups.Metrics.Register(ChordSizes.PaperHops);
    }

    public override void BuildStatic(Oracle oracle)
    {
        _rng = Net.Streams.Stream("overlay/chord");
        _r = _o.Successors;
        _f = Levels(_o, Net.Nodes.Count, Net.Space.Bits);
        _firstLevel = Net.Space.Bits - _f;
        _succ = Net.NodeArray(_r, -1);
        _pred = Net.NodeArray(1, -1);
        _finger = Net.NodeArray(_f, -1);
        _fingerBits = Net.NodeArray<byte>(_f);
        _nextFinger = Net.NodeArray<int>();
        _bootstrap = Net.NodeArray(1, -1);
        _rpcToken = Net.NodeArray<uint>();
        _entryToken = Net.NodeArray<ushort>();
        _replicaDigest = Net.NodeArray<ulong>();
        _timersRunning = Net.NodeArray<bool>();
        _payloads = new PayloadPool<int>(1 + _r);
        _ids = Net.Nodes.Ids;
        Net.Nodes.Grown += _ => _ids = Net.Nodes.Ids;

        int live = oracle.Count;
        if (_o.StoreKeys)
        {
            _store = Net.CreateKeyStore(MaxHolders(_o));
            // Keys start where a converged ring keeps them: at the responsible node and its next `Replicas` nodes.
            for (int k = 0; live > 0 && k < Net.Keys.Length; k++)
            {
                int rank = oracle.RankOf(Net.Keys[k]);
                if (rank == live) rank = 0;
                for (int j = 0; j <= Math.Min(_o.Replicas, live - 1); j++) _store.Add(oracle.AtRank(rank + j), k);
            }
        }
        if (live == 0) return;
        if (_o.Start == ChordStart.Joins)
        {
            // The first live node founds the ring; the others join through it at random times.
            int founder = oracle.AtRank(0);
            var others = new int[live - 1];
            for (int rank = 1; rank < live; rank++) others[rank - 1] = oracle.AtRank(rank);
            foreach (int node in others) Net.Population.Unjoined(node); // live, but not part of the ring until they have joined
            Found(founder);
            foreach (int node in others)
                Net.Sim.Schedule((long)(_rng.NextDouble() * _o.JoinOver), Timer(node, ChordProtocolMessage.JoinTimer));
            return;
        }
        var ring = new ChordTruth(oracle); // successor() of the converged ring, for the fingers
        for (int rank = 0; rank < live; rank++)
        {
            int node = oracle.AtRank(rank);
            Id self = oracle.IdAtRank(rank);
            _pred[node] = live > 1 ? oracle.AtRank(rank - 1) : -1;
            for (int j = 0; j < _r; j++) _succ.At(node, j) = j < live - 1 ? oracle.AtRank(rank + 1 + j) : (j == 0 ? node : -1);
            for (int j = 0; j < _f; j++)
            {
                int f = ring.Successor(Net.Space.FingerStart(self, _firstLevel + j));
                SetFinger(node, j, f == node ? -1 : f);
            }
            StartTimers(node);
        }
    }

    private void Found(int node)
    {
        Reset(node);
        _succ.At(node, 0) = node;
        Net.Population.Joined(node);
        StartTimers(node);
    }

    private void Reset(int node)
    {
        _succ.Clear(node);
        _finger.Clear(node);
        _fingerBits.Clear(node);
        _pred[node] = -1;
        _nextFinger[node] = 0;
        _bootstrap[node] = -1;
        _replicaDigest[node] = 0;
    }

    /// <summary>
    /// Starts the node's three maintenance timers, once per incarnation: a node that lost its place and joined again
    /// keeps the timers it has (they die with the incarnation). Started again on each such join, they multiplied,
    /// and a node that kept rejoining ran its maintenance many times over.
    /// </summary>
    private void StartTimers(int node)
    {
        if (!_maintenance || _timersRunning[node]) return;
        _timersRunning[node] = true;
        // First rounds at a random phase, so that a converged start does not fire every node at once.
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.StabilizeEvery), Timer(node, ChordProtocolMessage.StabilizeTimer));
        if (_o.Maintenance == ChordMaintenance.Separate)
            Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.FixFingersEvery), Timer(node, ChordProtocolMessage.FixFingersTimer));
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.CheckPredecessorEvery), Timer(node, ChordProtocolMessage.CheckPredecessorTimer));
    }

    private long Period(long period) => _o.RandomizePeriods ? (long)(period * (0.5 + _rng.NextDouble())) : period;

    private Event Timer(int node, ChordProtocolMessage type, int arg = 0) =>
        new() { Dst = node, Src = node, Lookup = -1, Arg = arg, Sink = Sink, Type = (byte)type };

    /// <summary>Every Chord request has a token (hop, stabilize, ping, successor entry) that its answer consumes.</summary>
    protected override bool ChecksLateTimeouts => true;

    /// <summary>Chord's requests and the timeouts that answer for them when no reply comes.</summary>
    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        int from = request.Src, to = request.Dst;
        switch ((ChordProtocolMessage)request.Type)
        {
            case ChordProtocolMessage.FindSuccessor:
                timeout = new Event { Dst = from, Src = from, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = request.Arg, Sink = Sink, Type = (byte)ChordProtocolMessage.HopTimeout };
                return true;
            case ChordProtocolMessage.NextHopQuery:
                timeout = new Event { Dst = from, Src = from, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = request.Aux >> 2, Sink = Sink, Type = (byte)ChordProtocolMessage.QueryTimeout };
                return true;
            case ChordProtocolMessage.GetPredecessor:
                timeout = new Event { Dst = from, Src = from, Lookup = -1, Arg = to, Aux = request.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.StabilizeTimeout };
                return true;
            case ChordProtocolMessage.Ping:
                timeout = new Event { Dst = from, Src = from, Lookup = -1, Arg = to, Aux = request.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.PingTimeout };
                return true;
            case ChordProtocolMessage.GetSuccessor:
                timeout = new Event { Dst = from, Src = from, Lookup = -1, Arg = to, Aux = request.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.GetSuccessorTimeout };
                return true;
            default:
                timeout = default;
                return false; // answers, notifications and timers need no follow-up
        }
    }

    protected override long RequestTimeout(byte type, long roundTrip) => Timeout(roundTrip);

    protected override void OnUndeliverable(ref Event ev)
    {
        if (ev.Type is (byte)ChordProtocolMessage.GetPredecessorReply or (byte)ChordProtocolMessage.LeaveToPredecessor) _payloads.Free(ev.Arg);
    }

    private long Timeout(long roundTrip) => RpcTimeout(roundTrip, _o.RpcTimeout, _o.RpcTimeoutRtts);

    // ---- churn hooks -----------------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap)
    {
        _timersRunning[node] = false; // a new incarnation: the timers of an earlier one died with it
        if (bootstrap < 0)
        {
            Found(node);
            return;
        }
        Reset(node);
        _bootstrap[node] = bootstrap;
        StartJoinLookup(node);
    }

    private void StartJoinLookup(int node)
    {
        int slot = Net.Lookups.BeginInternal(node, _ids[node], ForJoin);
        ResetAvoid(slot);
        _paperHops[slot] = -1;
        _finalFrom[slot] = -1;
        Forward(node, _bootstrap[node], slot, final: false);
    }

    public override void OnLeave(int node)
    {
        int succ = _succ.At(node, 0), pred = _pred[node];
        // Hand the keys we are responsible for to our successor (all we hold, if we do not know our predecessor).
        if (succ >= 0 && succ != node)
            Transfer(node, succ, _ids[pred >= 0 ? pred : node], _ids[node]);
        if (succ >= 0 && succ != node)
            Net.Transport.SendMaintenance(node, succ, new Event { Arg = pred, Sink = Sink, Type = (byte)ChordProtocolMessage.LeaveToSuccessor }, Header + NodeRef);
        if (pred >= 0 && pred != node)
        {
            int payload = _payloads.Allocate();
            _succ.Row(node).CopyTo(_payloads.Block(payload));
            _payloads.SetLength(payload, _r);
            Net.Transport.SendMaintenance(node, pred, new Event { Arg = payload, Sink = Sink, Type = (byte)ChordProtocolMessage.LeaveToPredecessor }, Header + NodeRef * _r);
        }
    }

    public override void StopMaintenance() => _maintenance = false;

    /// <summary>
    /// Copies the keys <paramref name="from"/> holds in (lo, hi] to <paramref name="to"/>, counted as one KeyTransfer
    /// message of 20 bytes plus (4 + value size) per key copied. The copy takes effect when sent (the data's own
    /// delay is not modelled). To a receiver that is already dead the copies are lost with the message, which still
    /// counts, with every key of the range.
    /// </summary>
    private void Transfer(int from, int to, Id lo, Id hi)
    {
        if (_store is null) return;
        int keys = Net.Nodes.IsAlive(to) ? _store.CopyRange(from, to, lo, hi, Net.Space, Net.Keys) : _store.CountRange(from, lo, hi, Net.Space, Net.Keys);
        if (keys > 0) Net.Transport.CountMaintenance((byte)ChordProtocolMessage.KeyTransfer, Header + keys * (KeyBytes + _o.ValueBytes));
    }

    /// <summary>
    /// Sets finger <paramref name="j"/> of node <paramref name="n"/> (-1: none) and the bit length of its distance from
    /// n, which closest_preceding_node compares with the key's before it reads the finger's id. Ids never change (a
    /// machine that returns takes a new ordinal), so the bit length stays right as long as every write goes through here.
    /// </summary>
    private void SetFinger(int n, int j, int f)
    {
        _finger.At(n, j) = f;
        _fingerBits.At(n, j) = f < 0 ? (byte)0 : (byte)Net.Space.Distance(_ids[n], _ids[f]).BitLength;
    }

    /// <summary>
    /// copy_fingers: node <paramref name="to"/>, just joined before <paramref name="from"/>, takes its successor's
    /// fingers as hints: successor(s + 2^i) is successor(n + 2^i) or a node past it, a live node either way, so routing
    /// through it makes progress until fix_fingers (or the ton schedule) refreshes the entry. The copy takes effect at
    /// once and counts as one message of 20 bytes plus 8 per finger.
    /// </summary>
    private void CopyFingers(int from, int to)
    {
        for (int j = 0; j < _f; j++)
        {
            int f = _finger.At(from, j);
            SetFinger(to, j, f == to ? -1 : f);
        }
        Net.Transport.CountMaintenance((byte)ChordProtocolMessage.FingerCopy, Header + _f * NodeRef);
    }

    public override void OnLookupDeadline(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup)) Rejoin(rec.Origin);
    }

    /// <summary>
    /// A join that did not complete (its lookup failed, or its bootstrap died) starts over through another bootstrap,
    /// drawn from the nodes that have joined; with none left, the node founds a ring of its own.
    /// </summary>
    private void Rejoin(int node)
    {
        if (!Net.Nodes.IsAlive(node) || Net.Population.IsJoined(node)) return;
        Reset(node);
        int b = Net.Population.RandomJoined(node, ref _rng);
        if (b < 0)
        {
            Found(node);
            return;
        }
        _bootstrap[node] = b;
        StartJoinLookupLater(node);
    }

    /// <summary>Ends a lookup that cannot go on: a user lookup fails; a join starts over; a finger refresh is dropped.</summary>
    private void FailLookup(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool rejoin = rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup);
        int node = rec.Origin;
        Net.Lookups.Fail(lookup);
        if (rejoin) Rejoin(node);
    }

    private void StartJoinLookupLater(int node) => Net.Sim.Schedule(1, Timer(node, ChordProtocolMessage.JoinTimer, 1));

    // ---- events ------------------------------------------------------------------------------------------

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((ChordProtocolMessage)ev.Type)
        {
            case ChordProtocolMessage.FindSuccessor:
            {
                PrefetchNeighbourIds(n);
                // The hop's acknowledgement. With a lazy timeout (timeout >= round trip) nothing waits for it: the
                // timeout exists only if this request had been lost. It is then counted, not simulated.
                long rtt = Net.Transport.RoundTrip(ev.Src, n);
                if (Timeout(rtt) >= rtt && !(Net.Transport.Latency.PerMessage && ChecksLateTimeouts))
                    Net.Transport.CountOnly(ev.Lookup, ev.Src, (byte)ChordProtocolMessage.FindSuccessorAck, ChordSizes.Ack);
                else Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = ev.Arg, Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessorAck }, ChordSizes.Ack);
                Net.Lookups[ev.Lookup].Hops++;
                if (ev.Aux == 1) FinalHop(n, ev.Lookup);
                else Route(n, ev.Lookup);
                break;
            }
            case ChordProtocolMessage.FindSuccessorAck:
                if (_hopToken[ev.Lookup] == (uint)ev.Arg) _hopToken[ev.Lookup] = 0;
                break;
            case ChordProtocolMessage.HopTimeout:
                if (_hopToken[ev.Lookup] != (uint)ev.Arg) return;
                OnHopTimeout(n, ev.Lookup);
                break;
            case ChordProtocolMessage.FindSuccessorReply:
                Finish(ev.Lookup, ev.Arg, ev.Aux == 1);
                break;
            case ChordProtocolMessage.NextHopQuery:
            {
                // Aux & 3: 1 = a final query (Arg: the node that took us for the key's successor), 2 = Arg is a dead entry.
                bool final = (ev.Aux & 3) == 1;
                int sender = final ? ev.Arg : -1;
                if ((ev.Aux & 3) == 2)
                {
                    // Our predecessor, to whom we passed the query back, is dead: we are the key's heir and answer.
                    final = ev.Arg == _pred[n];
                    Forget(n, ev.Arg, fingers: _o.ForgetDead);
                }
                ReplyNextHop(n, ev.Src, ev.Lookup, final, sender, (ushort)(ev.Aux >> 2));
                break;
            }
            case ChordProtocolMessage.NextHopReply:
                if (_hopToken[ev.Lookup] != (uint)(ev.Aux >> 2)) return;
                _hopToken[ev.Lookup] = 0;
                OnNextHop(ev.Lookup, ev.Src, ev.Arg, ev.Aux & 3);
                break;
            case ChordProtocolMessage.QueryTimeout:
                if (_hopToken[ev.Lookup] != (uint)ev.Arg) return;
                OnQueryTimeout(ev.Lookup);
                break;

            case ChordProtocolMessage.StabilizeTimer:
                if (!_maintenance) return;
                Stabilize(n);
                if (_o.Maintenance == ChordMaintenance.Ton) RefreshOne(n);
                Net.Sim.Schedule(Period(_o.StabilizeEvery), Timer(n, ChordProtocolMessage.StabilizeTimer));
                break;
            case ChordProtocolMessage.GetPredecessor:
            {
                // The reply carries our predecessor and successor list as they are now, in a payload block.
                // (With maintenance: ton only the predecessor counts: the list is not used.)
                int payload = _payloads.Allocate();
                Span<int> block = _payloads.Block(payload);
                block[0] = _pred[n];
                _succ.Row(n).CopyTo(block[1..]);
                _payloads.SetLength(payload, 1 + _r);
                int carried = _o.Maintenance == ChordMaintenance.Ton ? 1 : 1 + _r;
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = payload, Aux = ev.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.GetPredecessorReply }, Header + NodeRef * carried);
                break;
            }
            case ChordProtocolMessage.GetSuccessor:
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = _succ.At(n, 0), Aux = ev.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.GetSuccessorReply }, Header + NodeRef);
                break;
            case ChordProtocolMessage.GetSuccessorReply:
                // Aux: the request's token (high 10 bits) and the index of the entry asked (low 6 bits).
                if ((ushort)(_entryToken[n] << 6) != (ev.Aux & 0xffc0)) return; // answered after its timeout, or superseded
                _entryToken[n]++;
                OnSuccessorEntry(n, ev.Src, ev.Aux & 0x3f, ev.Arg);
                break;
            case ChordProtocolMessage.GetSuccessorTimeout:
                // The entry asked did not answer in time: it is taken for dead.
                if ((ushort)(_entryToken[n] << 6) != (ev.Aux & 0xffc0)) return;
                _entryToken[n]++;
                if (_succ.At(n, ev.Aux & 0x3f) == ev.Arg) Forget(n, ev.Arg);
                break;
            case ChordProtocolMessage.GetPredecessorReply:
                if ((ushort)(_rpcToken[n] & 0x7fff) == ev.Aux)
                {
                    _rpcToken[n]++;
                    ReadOnlySpan<int> reply = _payloads.Items(ev.Arg);
                    OnStabilizeReply(n, ev.Src, reply[0], reply[1..]);
                }
                _payloads.Free(ev.Arg);
                break;
            case ChordProtocolMessage.StabilizeTimeout:
                if ((ushort)(_rpcToken[n] & 0x7fff) != ev.Aux) return; // (the token is the counter's low 15 bits)
                _rpcToken[n]++;
                Forget(n, ev.Arg);
                break;
            case ChordProtocolMessage.Notify:
            {
                if (_pred[n] < 0 || _pred[n] == n || Net.Space.InOpenOpen(_ids[ev.Src], _ids[_pred[n]], _ids[n])) _pred[n] = ev.Src;
                // A notifier that lies between us and our successor is a closer successor. On a consistent ring a
                // notifier is our predecessor and this never fires; it matters for a node alone (successor = itself)
                // that several joiners notify at once: the paper's rule (successor := predecessor at the next
                // stabilize) would take the farthest of them and walk back one node per round, and a burst of joins
                // through one node could then settle into two interleaved cycles that stabilize cannot repair.
                int s0 = _succ.At(n, 0);
                if (s0 == n || (s0 >= 0 && Net.Space.InOpenOpen(_ids[ev.Src], _ids[n], _ids[s0]))) Shift(n, ev.Src);
                break;
            }
            case ChordProtocolMessage.CheckPredecessorTimer:
                if (!_maintenance) return;
                if (_pred[n] >= 0 && _pred[n] != n)
                {
                    ushort token = (ushort)((++_rpcToken[n] & 0x7fff) | 0x8000);
                    SendMaintenanceRequest(n, _pred[n], new Event { Aux = token, Sink = Sink, Type = (byte)ChordProtocolMessage.Ping }, Header);
                }
                Net.Sim.Schedule(Period(_o.CheckPredecessorEvery), Timer(n, ChordProtocolMessage.CheckPredecessorTimer));
                break;
            case ChordProtocolMessage.Ping:
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Aux = ev.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.Pong }, Header);
                break;
            case ChordProtocolMessage.Pong:
                if ((ushort)((_rpcToken[n] & 0x7fff) | 0x8000) == ev.Aux) _rpcToken[n]++;
                break;
            case ChordProtocolMessage.PingTimeout:
                if ((ushort)((_rpcToken[n] & 0x7fff) | 0x8000) != ev.Aux) return;
                _rpcToken[n]++;
                if (_pred[n] == ev.Arg) _pred[n] = -1;
                break;
            case ChordProtocolMessage.FixFingersTimer:
                if (!_maintenance) return;
                FixFingers(n);
                Net.Sim.Schedule(Period(_o.FixFingersEvery), Timer(n, ChordProtocolMessage.FixFingersTimer));
                break;
            case ChordProtocolMessage.LeaveToSuccessor:
                if (_pred[n] == ev.Src) _pred[n] = ev.Arg >= 0 && ev.Arg != n ? ev.Arg : -1;
                Forget(n, ev.Src);
                break;
            case ChordProtocolMessage.LeaveToPredecessor:
                // Adopt the leaver's successor list, which it sent as it left: it is ours shifted by one.
                if (_succ.At(n, 0) == ev.Src) AdoptSuccessorList(n, ev.Src, _payloads.Items(ev.Arg), skipFirst: true);
                _payloads.Free(ev.Arg);
                Forget(n, ev.Src);
                break;
            case ChordProtocolMessage.JoinTimer:
                // A retry (Arg 1) is maintenance: with maintenance stopped, a node whose join failed stays out.
                if (Net.Population.IsJoined(n) || (ev.Arg == 1 && !_maintenance)) return;
                // A retry whose bootstrap was found dead meanwhile (a timeout of another of our lookups cleared it)
                // draws a new one, as a first attempt does.
                if (ev.Arg == 0 || _bootstrap[n] < 0)
                {
                    Reset(n);
                    _bootstrap[n] = Net.Population.RandomJoined(n, ref _rng);
                    if (_bootstrap[n] < 0)
                    {
                        Found(n);
                        return;
                    }
                }
                StartJoinLookup(n);
                break;
        }
    }

    // ---- prefetch hints --------------------------------------------------------------------------------

    // An event at a node reads its state first: its state slot, then its successor list and predecessor, and for a
    // hop or a finger lookup its finger row and the fingers' bit lengths. Under churn with 10^5 nodes each is a likely
    // cache miss, and the slot must be read before the rows can be found. The engine names the events due next: the
    // slot and id of the one after next are fetched, then the rows of the next one, while the current event is handled.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        int n = ev.Dst;
        if ((uint)n >= (uint)Net.Nodes.Count) return;
        CacheHint.Prefetch(in Net.Nodes.Slots[n]);
        CacheHint.Prefetch(in _ids[n]);
        Net.Transport.PrefetchMachineOf(n);
        Net.Transport.PrefetchMachineOf(ev.Src);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        int n = ev.Dst;
        if ((uint)n >= (uint)Net.Nodes.Count) return;
        Net.Transport.PrefetchLatency(n);
        Net.Transport.PrefetchLatency(ev.Src);
        if (Net.Nodes.IsRetired(n)) return;   // its state slot was given back
        CacheHint.Prefetch(in _succ.At(n, 0), _r);
        CacheHint.Prefetch(in _pred[n]);
        if (!ReadsFingers(ev.Type)) return;   // stabilize, pings and most timers never look at the fingers
        CacheHint.Prefetch(in _finger.At(n, 0), _f);
        CacheHint.Prefetch(in _fingerBits.At(n, 0), _f);
    }

    /// <summary>Whether a handler of this event reads or writes the node's fingers (routing, a finger's answer, dropping a dead node).</summary>
    private bool ReadsFingers(byte type) => (ChordProtocolMessage)type switch
    {
        ChordProtocolMessage.FindSuccessor or ChordProtocolMessage.FindSuccessorReply or ChordProtocolMessage.FixFingersTimer
            or ChordProtocolMessage.NextHopQuery or ChordProtocolMessage.NextHopReply or ChordProtocolMessage.HopTimeout
            or ChordProtocolMessage.QueryTimeout or ChordProtocolMessage.StabilizeTimeout or ChordProtocolMessage.GetSuccessorTimeout
            or ChordProtocolMessage.LeaveToSuccessor or ChordProtocolMessage.LeaveToPredecessor or ChordProtocolMessage.JoinTimer => true,
        ChordProtocolMessage.StabilizeTimer => _o.Maintenance == ChordMaintenance.Ton,
        _ => false,
    };

    /// <summary>
    /// The ids a hop at <paramref name="n"/> compares the key with, besides its fingers': its predecessor's (is n
    /// responsible?), its successor's (is the successor?) and its last successor-list entry's (the farthest one that may
    /// precede the key). Asked for at once, their cache misses overlap instead of following one another.
    /// </summary>
    private void PrefetchNeighbourIds(int n)
    {
        Id[] ids = _ids;
        int p = _pred[n], s = _succ.At(n, 0), last = _succ.At(n, _r - 1);
        if ((uint)p < (uint)ids.Length) CacheHint.Prefetch(in ids[p]);
        if ((uint)s < (uint)ids.Length) CacheHint.Prefetch(in ids[s]);
        if ((uint)last < (uint)ids.Length) CacheHint.Prefetch(in ids[last]);
    }

    // ---- questions -------------------------------------------------------------------------------------

    public override int Degree(int node)
    {
        Span<int> all = stackalloc int[_f + _r + 1];
        int count = 0;
        for (int j = 0; j < _f; j++) if (_finger.At(node, j) >= 0) all[count++] = _finger.At(node, j);
        for (int j = 0; j < _r; j++) if (_succ.At(node, j) >= 0) all[count++] = _succ.At(node, j);
        if (_pred[node] >= 0) all[count++] = _pred[node];
        return CountDistinct(all[..count], node);
    }

    public int Successor(int node) => _succ.At(node, 0);
    public int Predecessor(int node) => _pred[node];
    public ReadOnlySpan<int> SuccessorList(int node) => _succ.Row(node);
    public ReadOnlySpan<int> Fingers(int node) => _finger.Row(node);

    /// <summary>The bit length of each finger's distance from the node (0 for none), as routing reads it.</summary>
    internal ReadOnlySpan<byte> FingerBits(int node) => _fingerBits.Row(node);
}
