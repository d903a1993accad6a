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
//                 timeout it asks the previous hop again, telling it which entry is dead). Every RPC timeout is
//                 fixed or a multiple of the pair's round-trip time. A lookup fails after max_retries timeouts or
//                 at lookup_timeout.
// Periods can be randomized (uniform in [0.5, 1.5] times the period) so that nodes do not act in lockstep.
//
// What the hop count counts: request messages that reached the next node on the route, from the origin until the
// node responsible for the key holds the request (a forward that timed out is not a hop; its message still counts
// in msgs_per_lookup, as do acks and the reply). The last hop goes to the node the predecessor believes is the
// successor of the key, which answers; paper_hops counts up to that predecessor, the paper's path length.
//
// Deviations from the papers: a node answers for a key it holds by its own predecessor pointer; fingers are kept
// only for the top F levels (F = fingers, default 2·log2 N + 8: lower levels are the successor in all but a
// vanishing share of rings); failure detection is by RPC timeout only, with no separate failure notifications.
// Message sizes follow the DHT churn literature (Li et al., IPTPS 2004 / INFOCOM 2005): 20 bytes of header plus
// 4 bytes per node id or address carried, a node reference being both (8 bytes).
//
// Memory per node: 4·(r + F) + 4 (predecessor) + 12 (timers, fix_fingers cursor, bootstrap) bytes, about 260 bytes
// at N = 10^5 with r = 8.

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
}

/// <summary>Chord run as its protocol under churn.</summary>
/// <remarks>
/// RPC timeouts are lazy where that is exact (see <see cref="Overlay.ArmTimeout"/>), and a hop's acknowledgement
/// that only such a timeout would wait for is counted, not simulated.
/// </remarks>
public sealed class ChordProtocol : Overlay, IUndeliverableSink
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
    private NodeArray<int> _nextFinger = null!;
    private NodeArray<int> _bootstrap = null!;
    private NodeArray<uint> _rpcToken = null!;     // the stabilize / ping round awaiting an answer
    private NodeArray<ulong> _replicaDigest = null!; // digest of (predecessor, replicas) at the last replication push
    private bool _maintenance = true;
    private KeyStore? _store;
    private Xoshiro256 _rng;

    // Per lookup slot.
    private LookupArray<int> _hopTo = null!;
    private LookupArray<uint> _hopToken = null!;
    private LookupArray<int> _iterPrev = null!;
    private LookupArray<int> _finalFrom = null!;   // the node that handed the request over as the key's successor
    private LookupArray<int> _paperHops = null!;   // hops when the key's predecessor held the request, -1 while unknown
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
    public override long LookupTimeout => _o.LookupTimeout;
    public override string MessageName(byte type) => ((ChordProtocolMessage)type).ToString();
    public override GroundTruth CreateTruth(Oracle view) => new ChordTruth(view);

    /// <summary>The key store (null when keys are not stored), for tests.</summary>
    public KeyStore? Store => _store;

    /// <summary>
    /// Estimated bytes per node: 4·(r + F) of successor list and fingers, 20 of predecessor, finger cursor, bootstrap,
    /// RPC token and key-list head, 8 of replica digest, and the three maintenance timers each node keeps pending
    /// (stabilize, fix_fingers, check_predecessor) at up to twice <see cref="EventQueue.BytesPerPendingEvent"/>.
    /// </summary>
    public static long BytesPerNode(ChordOptions o, long nodes) =>
        4L * (o.Successors + Levels(o, nodes, 160)) + 20 + 8 + 3 * 2 * EventQueue.BytesPerPendingEvent;

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
        _nextFinger = Net.NodeArray<int>();
        _bootstrap = Net.NodeArray(1, -1);
        _rpcToken = Net.NodeArray<uint>();
        _replicaDigest = Net.NodeArray<ulong>();
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
            for (int j = 0; j < _r; j++) _succ[node * _r + j] = j < live - 1 ? oracle.AtRank(rank + 1 + j) : (j == 0 ? node : -1);
            for (int j = 0; j < _f; j++)
            {
                int f = ring.Successor(Net.Space.FingerStart(self, _firstLevel + j));
                _finger[node * _f + j] = f == node ? -1 : f;
            }
            StartTimers(node);
        }
    }

    private void Found(int node)
    {
        Reset(node);
        _succ[node * _r] = node;
        Net.Population.Joined(node);
        StartTimers(node);
    }

    private void Reset(int node)
    {
        _succ.Clear(node);
        _finger.Clear(node);
        _pred[node] = -1;
        _nextFinger[node] = 0;
        _bootstrap[node] = -1;
        _replicaDigest[node] = 0;
    }

    private void StartTimers(int node)
    {
        if (!_maintenance) return;
        // First rounds at a random phase, so that a converged start does not fire every node at once.
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.StabilizeEvery), Timer(node, ChordProtocolMessage.StabilizeTimer));
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.FixFingersEvery), Timer(node, ChordProtocolMessage.FixFingersTimer));
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.CheckPredecessorEvery), Timer(node, ChordProtocolMessage.CheckPredecessorTimer));
    }

    private long Period(long period) => _o.RandomizePeriods ? (long)(period * (0.5 + _rng.NextDouble())) : period;

    private Event Timer(int node, ChordProtocolMessage type, int arg = 0) =>
        new() { Dst = node, Src = node, Lookup = -1, Arg = arg, Sink = Sink, Type = (byte)type };

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
            default:
                timeout = default;
                return false; // answers, notifications and timers need no follow-up
        }
    }

    protected override long RequestTimeout(byte type, int from, int to) => Timeout(from, to);

    private long Timeout(int a, int b) => RpcTimeout(a, b, _o.RpcTimeout, _o.RpcTimeoutRtts);

    // ---- churn hooks -----------------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap)
    {
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
        _paperHops[slot] = -1;
        Forward(node, _bootstrap[node], slot, final: false);
    }

    public override void OnLeave(int node)
    {
        int succ = _succ[node * _r], pred = _pred[node];
        // Hand the keys we are responsible for to our successor (all we hold, if we do not know our predecessor).
        if (succ >= 0 && succ != node)
            Transfer(node, succ, _ids[pred >= 0 ? pred : node], _ids[node]);
        if (succ >= 0 && succ != node)
            Net.Transport.SendMaintenance(node, succ, new Event { Arg = pred, Sink = Sink, Type = (byte)ChordProtocolMessage.LeaveToSuccessor }, Header + NodeRef);
        if (pred >= 0 && pred != node)
            Net.Transport.SendMaintenance(node, pred, new Event { Arg = node, Sink = Sink, Type = (byte)ChordProtocolMessage.LeaveToPredecessor }, Header + NodeRef * _r);
    }

    public override void StopMaintenance() => _maintenance = false;

    /// <summary>
    /// Copies the keys <paramref name="from"/> holds in (lo, hi] to <paramref name="to"/>, counted as one KeyTransfer
    /// message of 20 bytes plus (4 + value size) per key copied. The copy takes effect when sent (the data's own
    /// delay is not modelled), and is lost if the receiver is already dead, as a message to a dead node would be.
    /// </summary>
    private void Transfer(int from, int to, Id lo, Id hi)
    {
        if (_store is null || !Net.Nodes.IsAlive(to)) return;
        int copied = _store.CopyRange(from, to, lo, hi, Net.Space, Net.Keys);
        if (copied > 0) Net.Transport.CountMaintenance((byte)ChordProtocolMessage.KeyTransfer, Header + copied * (KeyBytes + _o.ValueBytes));
    }

    public override void OnLookupDeadline(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin) Rejoin(rec.Origin);
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
        byte purpose = rec.Purpose;
        int node = rec.Origin;
        Net.Lookups.Fail(lookup);
        if (purpose == ForJoin) Rejoin(node);
    }

    private void StartJoinLookupLater(int node) => Net.Sim.Schedule(1, Timer(node, ChordProtocolMessage.JoinTimer, 1));

    // ---- events ------------------------------------------------------------------------------------------

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((ChordProtocolMessage)ev.Type)
        {
            case ChordProtocolMessage.FindSuccessor:
                // The hop's acknowledgement. With a lazy timeout (timeout >= round trip) nothing waits for it: the
                // timeout exists only if this request had been lost. It is then counted, not simulated.
                if (IsLazyTimeout(ev.Src, n, Timeout(ev.Src, n)))
                    Net.Transport.CountOnly(ev.Lookup, ev.Src, (byte)ChordProtocolMessage.FindSuccessorAck, ChordSizes.Ack);
                else Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = ev.Arg, Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessorAck }, ChordSizes.Ack);
                Net.Lookups[ev.Lookup].Hops++;
                if (ev.Aux == 1) FinalHop(n, ev.Lookup);
                else Route(n, ev.Lookup);
                break;
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
                if ((ev.Aux & 3) == 2) Forget(n, ev.Arg); // the origin found this entry dead
                ReplyNextHop(n, ev.Src, ev.Lookup, (ev.Aux & 3) == 1, (ushort)(ev.Aux >> 2));
                break;
            case ChordProtocolMessage.NextHopReply:
                if (_hopToken[ev.Lookup] != (uint)(ev.Aux >> 2)) return;
                _hopToken[ev.Lookup] = 0;
                OnNextHop(ev.Lookup, ev.Src, ev.Arg, (ev.Aux & 3) == 1, (ev.Aux & 3) == 2);
                break;
            case ChordProtocolMessage.QueryTimeout:
                if (_hopToken[ev.Lookup] != (uint)ev.Arg) return;
                OnQueryTimeout(ev.Lookup);
                break;

            case ChordProtocolMessage.StabilizeTimer:
                if (!_maintenance) return;
                Stabilize(n);
                Net.Sim.Schedule(Period(_o.StabilizeEvery), Timer(n, ChordProtocolMessage.StabilizeTimer));
                break;
            case ChordProtocolMessage.GetPredecessor:
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = _pred[n], Aux = ev.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.GetPredecessorReply }, Header + NodeRef * (1 + _r));
                break;
            case ChordProtocolMessage.GetPredecessorReply:
                if ((ushort)_rpcToken[n] != ev.Aux) return;
                _rpcToken[n]++;
                OnStabilizeReply(n, ev.Src, ev.Arg);
                break;
            case ChordProtocolMessage.StabilizeTimeout:
                if ((ushort)_rpcToken[n] != ev.Aux) return;
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
                int s0 = _succ[n * _r];
                if (s0 == n || (s0 >= 0 && Net.Space.InOpenOpen(_ids[ev.Src], _ids[n], _ids[s0]))) Shift(n, ev.Src);
                break;
            }
            case ChordProtocolMessage.CheckPredecessorTimer:
                if (!_maintenance) return;
                if (_pred[n] >= 0 && _pred[n] != n)
                {
                    ushort token = (ushort)(++_rpcToken[n] | 0x8000);
                    SendMaintenanceRequest(n, _pred[n], new Event { Aux = token, Sink = Sink, Type = (byte)ChordProtocolMessage.Ping }, Header);
                }
                Net.Sim.Schedule(Period(_o.CheckPredecessorEvery), Timer(n, ChordProtocolMessage.CheckPredecessorTimer));
                break;
            case ChordProtocolMessage.Ping:
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Aux = ev.Aux, Sink = Sink, Type = (byte)ChordProtocolMessage.Pong }, Header);
                break;
            case ChordProtocolMessage.Pong:
                if ((ushort)(_rpcToken[n] | 0x8000) == ev.Aux) _rpcToken[n]++;
                break;
            case ChordProtocolMessage.PingTimeout:
                if ((ushort)(_rpcToken[n] | 0x8000) != ev.Aux) return;
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
                if (_succ[n * _r] == ev.Src)
                {
                    // Adopt the leaver's successor list: it is ours shifted by one (read from its state as it left).
                    AdoptSuccessorList(n, ev.Src, skipFirst: true);
                }
                Forget(n, ev.Src);
                break;
            case ChordProtocolMessage.JoinTimer:
                // A retry (Arg 1) is maintenance: with maintenance stopped, a node whose join failed stays out.
                if (Net.Population.IsJoined(n) || (ev.Arg == 1 && !_maintenance)) return;
                if (ev.Arg == 0)
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

    // ---- lookups -----------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        _paperHops[lookup] = -1;
        int origin = Net.Lookups[lookup].Origin;
        if (_o.Lookup == ChordLookupStyle.Recursive) Route(origin, lookup);
        else
        {
            _iterPrev[lookup] = -1;
            LocalNextHop(origin, lookup);
        }
    }

    /// <summary>Recursive step at node n: answer, hand the request to the successor, or forward it closer.</summary>
    private void Route(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (Step(n, rec.Key, out int next))
        {
            case ChordStep.Unjoined:
                // Not joined yet: its bootstrap is the only node it knows.
                if (_bootstrap[n] >= 0) Forward(n, _bootstrap[n], lookup, final: false);
                else FailLookup(lookup);
                return;
            case ChordStep.Responsible:
                if (_paperHops[lookup] < 0) _paperHops[lookup] = rec.Hops;
                Answer(n, lookup);
                return;
            case ChordStep.Alone:
                _paperHops[lookup] = rec.Hops;
                Answer(n, lookup);
                return;
            case ChordStep.ToSuccessor:
                _paperHops[lookup] = rec.Hops;
                Forward(n, next, lookup, final: true);
                return;
            default:
                Forward(n, next, lookup, final: false);
                return;
        }
    }

    /// <summary>The routing step at n (shared with the converged ring and with iterative lookups).</summary>
    private ChordStep Step(int n, Id key, out int next)
    {
        var table = new ProtocolTable(this);
        return ChordRouting.Step(ref table, Net.Space, _ids, n, key, out next);
    }

    /// <summary>The protocol's routing state as the step reads it: entries may be empty (-1) or stale.</summary>
    private readonly struct ProtocolTable(ChordProtocol p) : IChordRoutingTable
    {
        public int Successor(int n) => p._succ[n * p._r];
        public bool InOwnRange(int n, in ChordQuery q) => p.IsResponsible(n, q.Key);
        public bool InSuccessorRange(int n, int successor, in ChordQuery q) => p.Net.Space.InOpenClosed(q.Key, q.Self, p._ids[successor]);
        public int ClosestPreceding(int n, in ChordQuery q) => p.ClosestPreceding(n, q.Key);
    }

    /// <summary>
    /// The request reached the node its sender (the node that handed it over as final, <c>_finalFrom</c>) took for
    /// the key's successor, that is, with the key in (sender, n]:
    /// <list type="bullet">
    /// <item>the key is in (predecessor, n], or n knows no predecessor: n is responsible and answers;</item>
    /// <item>the key is in (sender, predecessor]: a node that joined since the sender's last stabilize sits between
    /// them and owns it: pass the request back to the predecessor (the sender is kept, so repeated steps stay
    /// within (sender, n]);</item>
    /// <item>otherwise the sender was wrong about the key being before n: route it on from here.</item>
    /// </list>
    /// </summary>
    private void FinalHop(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int p = _pred[n];
        if (p < 0 || p == n || IsResponsible(n, rec.Key))
        {
            Answer(n, lookup);
            return;
        }
        int sender = _finalFrom[lookup];
        if (sender >= 0 && sender != p && Net.Space.InOpenClosed(rec.Key, _ids[sender], _ids[p]))
        {
            _paperHops[lookup] = rec.Hops;
            Forward(n, p, lookup, final: true, keepSender: true);
            return;
        }
        _paperHops[lookup] = -1;
        Route(n, lookup);
    }

    private bool IsResponsible(int n, Id key)
    {
        int p = _pred[n];
        return key == _ids[n] || (p >= 0 && p != n && Net.Space.InOpenClosed(key, _ids[p], _ids[n]));
    }

    /// <summary>
    /// The node holding the request answers it: to the origin (with the value, when it holds a copy: Aux = 1), or by
    /// completing it when it is the origin.
    /// </summary>
    private void Answer(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (_paperHops[lookup] < 0) _paperHops[lookup] = Math.Max(0, rec.Hops - 1);
        bool value = HoldsValue(n, in rec);
        if (n == rec.Origin) Finish(lookup, n, value);
        else Net.Transport.Send(n, rec.Origin, new Event { Lookup = lookup, Arg = n, Aux = (ushort)(value ? 1 : 0), Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessorReply },
            ChordSizes.FindSuccessorReply + (value ? ChordSizes.Key + _o.ValueBytes : 0));
    }

    /// <summary>Whether node n returns the value of a user lookup's key with its answer: it holds a copy.</summary>
    private bool HoldsValue(int n, in LookupRecord rec) => _store is not null && rec.IsUser && _store.Holds(n, rec.KeyIndex);

    private void Forward(int n, int next, int lookup, bool final, bool keepSender = false)
    {
        if (final && !keepSender) _finalFrom[lookup] = n;
        uint token = ++_tokens == 0 ? ++_tokens : _tokens;
        _hopTo[lookup] = next;
        _hopToken[lookup] = token;
        SendLookupRequest(n, next, new Event { Lookup = lookup, Arg = (int)token, Aux = (ushort)(final ? 1 : 0), Sink = Sink, Type = (byte)ChordProtocolMessage.FindSuccessor }, ChordSizes.FindSuccessor);
    }

    private void OnHopTimeout(int n, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        int dead = _hopTo[lookup];
        // A request passed back to our predecessor (FinalHop) that died: we are the key's heir, so answer.
        bool backwards = dead == _pred[n];
        if (dead == _bootstrap[n]) _bootstrap[n] = -1;
        Forget(n, dead);
        if (rec.Timeouts > _o.MaxRetries)
        {
            FailLookup(lookup);
            return;
        }
        if (backwards) FinalHop(n, lookup);
        else Route(n, lookup);
    }

    /// <summary>The origin has its answer (the lookup ends once nothing of it is in flight: a late ack, a retried hop's first copy).</summary>
    private void Finish(int lookup, int answer, bool value = false)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (rec.Purpose)
        {
            case ForUser:
                if (Net.Lookups.Answer(lookup, answer, value)) _paperHopsMetric.Add(_paperHops[lookup]);
                break;
            case ForJoin:
            {
                int node = rec.Origin;
                Net.Lookups.Answer(lookup, answer);
                if (!Net.Nodes.IsAlive(node) || Net.Population.IsJoined(node)) return;
                if (answer == node)
                {
                    // Our own join lookup came back to us: we know no other node. Try again elsewhere.
                    Rejoin(node);
                    return;
                }
                _succ[node * _r] = answer;
                // Take over from the successor every key that is no longer its: those outside (node, successor].
                if (answer != node) Transfer(answer, node, _ids[answer], _ids[node]);
                Net.Population.Joined(node);
                StartTimers(node);
                Stabilize(node); // learn the successor list at once rather than one period later
                break;
            }
            default:
            {
                int node = rec.Origin, level = rec.Arg;
                Net.Lookups.Answer(lookup, answer);
                if (Net.Nodes.IsAlive(node)) _finger[node * _f + level] = answer == node ? -1 : answer;
                break;
            }
        }
    }

    /// <summary>Iterative: the origin works out the first hop from its own state.</summary>
    private void LocalNextHop(int origin, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        switch (Step(origin, rec.Key, out int next))
        {
            case ChordStep.Unjoined:
                if (_bootstrap[origin] >= 0) Query(origin, _bootstrap[origin], lookup, final: false, deadHint: -1);
                else FailLookup(lookup);
                return;
            case ChordStep.Responsible:
            case ChordStep.Alone:
                _paperHops[lookup] = 0;
                Finish(lookup, origin, HoldsValue(origin, in rec));
                return;
            case ChordStep.ToSuccessor:
                _paperHops[lookup] = 0;
                Query(origin, next, lookup, final: true, deadHint: -1);
                return;
            default:
                Query(origin, next, lookup, final: false, deadHint: -1);
                return;
        }
    }

    private void Query(int origin, int to, int lookup, bool final, int deadHint)
    {
        uint token = (++_tokens & 0x3fff) == 0 ? ++_tokens & 0x3fff : _tokens & 0x3fff;
        _hopTo[lookup] = to;
        _hopToken[lookup] = token;
        ushort aux = (ushort)((token << 2) | (final ? 1u : deadHint >= 0 ? 2u : 0u));
        SendLookupRequest(origin, to, new Event { Lookup = lookup, Arg = deadHint, Aux = aux, Sink = Sink, Type = (byte)ChordProtocolMessage.NextHopQuery }, Header + KeyBytes + (deadHint >= 0 ? NodeRef : 0));
    }

    /// <summary>Iterative: node n tells the origin where to go next (kind 1 = n holds the key, 2 = the next node is the owner).</summary>
    private void ReplyNextHop(int n, int origin, int lookup, bool final, ushort token)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int kind, next = -1;
        ChordStep step = final ? ChordStep.Responsible : Step(n, rec.Key, out next);
        switch (step)
        {
            case ChordStep.ToSuccessor: kind = 2; break;
            case ChordStep.Forward: kind = 0; break;
            default: kind = 1; next = HoldsValue(n, in rec) ? 1 : 0; break; // n answers: next says whether the value comes with it
        }
        ushort aux = (ushort)((token << 2) | kind);
        int bytes = kind == 1 && next == 1 ? Header + NodeRef + KeyBytes + _o.ValueBytes : Header + NodeRef;
        Net.Transport.Send(n, origin, new Event { Lookup = lookup, Arg = next, Aux = aux, Sink = Sink, Type = (byte)ChordProtocolMessage.NextHopReply }, bytes);
    }

    private void OnNextHop(int lookup, int from, int next, bool holds, bool ownerNext)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        rec.Hops++;
        if (holds)
        {
            if (_paperHops[lookup] < 0) _paperHops[lookup] = Math.Max(0, rec.Hops - 1);
            Finish(lookup, from, value: next == 1);
            return;
        }
        _iterPrev[lookup] = from;
        if (ownerNext) _paperHops[lookup] = rec.Hops;
        Query(rec.Origin, next, lookup, final: ownerNext, deadHint: -1);
    }

    private void OnQueryTimeout(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        _hopToken[lookup] = 0;
        rec.Timeouts++;
        int dead = _hopTo[lookup];
        Forget(rec.Origin, dead);
        if (rec.Timeouts > _o.MaxRetries)
        {
            FailLookup(lookup);
            return;
        }
        int prev = _iterPrev[lookup];
        _paperHops[lookup] = -1;
        if (prev < 0 || prev == dead || !Net.Nodes.IsAlive(rec.Origin)) LocalNextHop(rec.Origin, lookup);
        else
        {
            // Ask the hop that pointed at the dead node again; it forgets that entry and answers anew.
            rec.Hops--;
            Query(rec.Origin, prev, lookup, final: false, deadHint: dead);
        }
    }

    /// <summary>closest_preceding_node: the farthest finger or successor-list entry in (n, key), or the successor.</summary>
    private int ClosestPreceding(int n, Id key)
    {
        IdSpace space = Net.Space;
        Id self = _ids[n];
        Id toKey = space.Distance(self, key);
        int best = -1;
        Id bestDistance = Id.Zero;
        for (int j = _f - 1; j >= 0; j--)
        {
            int f = _finger[n * _f + j];
            if (f < 0) continue;
            Id d = space.Distance(self, _ids[f]);
            if (!d.IsZero && d < toKey)
            {
                best = f;
                bestDistance = d;
                break;
            }
        }
        for (int j = _r - 1; j >= 0; j--)
        {
            int s = _succ[n * _r + j];
            if (s < 0 || s == n) continue;
            Id d = space.Distance(self, _ids[s]);
            if (!d.IsZero && d < toKey)
            {
                if (best < 0 || d > bestDistance) best = s;
                break;
            }
        }
        return best >= 0 ? best : _succ[n * _r];
    }

    // ---- maintenance -------------------------------------------------------------------------------------

    private void Stabilize(int n)
    {
        int s = _succ[n * _r];
        if (s < 0) return;
        if (s == n)
        {
            // Alone on the ring: a predecessor that notified us is our successor too.
            int p = _pred[n];
            if (p >= 0 && p != n)
            {
                _succ[n * _r] = p;
                Net.Transport.SendMaintenance(n, p, new Event { Sink = Sink, Type = (byte)ChordProtocolMessage.Notify }, Header + NodeRef);
            }
            return;
        }
        ushort token = (ushort)(++_rpcToken[n] & 0x7fff);
        SendMaintenanceRequest(n, s, new Event { Aux = token, Sink = Sink, Type = (byte)ChordProtocolMessage.GetPredecessor }, Header);
    }

    private void OnStabilizeReply(int n, int s, int x)
    {
        // The successor's reply carries its predecessor x and its successor list (read from its state at reply time).
        if (_succ[n * _r] != s) return;
        AdoptSuccessorList(n, s, skipFirst: false);
        if (x >= 0 && x != n && Net.Space.InOpenOpen(_ids[x], _ids[n], _ids[s]))
        {
            Shift(n, x);
        }
        int succ = _succ[n * _r];
        Net.Transport.SendMaintenance(n, succ, new Event { Sink = Sink, Type = (byte)ChordProtocolMessage.Notify }, Header + NodeRef);
        // Replication: push the keys we are responsible for to the first `Replicas` successors that lack them
        // (one pass over our keys; one KeyTransfer message to each successor that got any). Who should hold what
        // changes only with the predecessor (our range) or the successor list (our replicas), so the push is made
        // after a stabilize that changed either, not after every one: a digest of them says when.
        int p = _pred[n];
        if (_store is not null && p >= 0 && p != n && ReplicaDigestChanged(n))
        {
            Span<int> targets = stackalloc int[Math.Min(_o.Replicas, _r)];
            int count = 0;
            for (int j = 0; j < targets.Length; j++)
            {
                int t = _succ[n * _r + j];
                if (t < 0 || t == n) break;
                if (Net.Nodes.IsAlive(t)) targets[count++] = t; // a copy sent to a dead node is lost with its message
            }
            Span<int> copied = stackalloc int[count];
            _store.CopyRangeToMany(n, targets[..count], _ids[p], _ids[n], Net.Space, Net.Keys, copied);
            foreach (int c in copied)
                if (c > 0) Net.Transport.CountMaintenance((byte)ChordProtocolMessage.KeyTransfer, Header + c * (KeyBytes + _o.ValueBytes));
        }
    }

    private bool ReplicaDigestChanged(int n)
    {
        ulong h = (ulong)(uint)_pred[n];
        for (int j = 0; j < Math.Min(_o.Replicas, _r); j++) h = Xoshiro256.Mix(h, (ulong)(uint)_succ[n * _r + j]);
        if (_replicaDigest[n] == h) return false;
        _replicaDigest[n] = h;
        return true;
    }

    /// <summary>succ list := [s] + s.successors[0..r-2] (or s's list itself when s is leaving: skipFirst).</summary>
    private void AdoptSuccessorList(int n, int s, bool skipFirst)
    {
        Span<int> list = stackalloc int[_r];
        int count = 0;
        if (!skipFirst) list[count++] = s;
        for (int j = 0; j < _r && count < _r; j++)
        {
            int e = _succ[s * _r + j];
            if (e < 0) break;
            if (e == n) break; // wrapped around the ring back to us
            if (e != s) list[count++] = e;
        }
        if (count == 0) return;
        for (int j = 0; j < _r; j++) _succ[n * _r + j] = j < count ? list[j] : -1;
    }

    /// <summary>Puts x in front of the successor list.</summary>
    private void Shift(int n, int x)
    {
        int b = n * _r;
        for (int j = _r - 1; j > 0; j--) _succ[b + j] = _succ[b + j - 1];
        _succ[b] = x;
    }

    /// <summary>Drops a node found dead from every routing entry of n.</summary>
    private void Forget(int n, int dead)
    {
        if (dead < 0 || dead == n) return;
        int b = n * _r, w = 0;
        for (int j = 0; j < _r; j++)
        {
            int e = _succ[b + j];
            if (e != dead && e >= 0) _succ[b + w++] = e;
        }
        for (int j = w; j < _r; j++) _succ[b + j] = -1;
        for (int j = 0; j < _f; j++)
            if (_finger[n * _f + j] == dead) _finger[n * _f + j] = -1;
        if (_pred[n] == dead) _pred[n] = -1;
        if (w == 0)
        {
            // Successor list exhausted: fall back on the nearest finger, then on the predecessor. A node that knows
            // no other node at all has lost its place in the ring (or never had one): it joins again.
            int nearest = -1;
            for (int j = 0; j < _f && nearest < 0; j++)
                if (_finger[n * _f + j] >= 0) nearest = _finger[n * _f + j];
            if (nearest < 0 && _pred[n] >= 0 && _pred[n] != n) nearest = _pred[n];
            if (nearest >= 0) _succ[b] = nearest;
            else if (Net.Population.IsJoined(n) && Net.Nodes.LiveCount > 1)
            {
                Net.Population.Unjoined(n);
                Rejoin(n);
            }
            else if (Net.Population.IsJoined(n)) _succ[b] = n; // truly alone
        }
    }

    private void FixFingers(int n)
    {
        int succ = _succ[n * _r];
        if (succ < 0) return;
        IdSpace space = Net.Space;
        Id self = _ids[n];
        Id toSucc = succ == n ? Id.Zero : space.Distance(self, _ids[succ]);
        for (int step = 0; step < _f; step++)
        {
            int j = _nextFinger[n];
            _nextFinger[n] = (j + 1) % _f;
            int level = _firstLevel + j;
            // A finger whose start lies in (n, successor] is the successor: no lookup needed.
            if (!toSucc.IsZero && Id.Pow2(level) <= toSucc)
            {
                _finger[n * _f + j] = succ;
                continue;
            }
            int slot = Net.Lookups.BeginInternal(n, space.FingerStart(self, level), ForFinger, arg: j);
            _paperHops[slot] = -1;
            Route(n, slot);
            if (_o.FixFingers == ChordFixFingers.One) return;
        }
    }

    // ---- questions -------------------------------------------------------------------------------------

    public override int Degree(int node)
    {
        Span<int> all = stackalloc int[_f + _r + 1];
        int count = 0;
        for (int j = 0; j < _f; j++) if (_finger[node * _f + j] >= 0) all[count++] = _finger[node * _f + j];
        for (int j = 0; j < _r; j++) if (_succ[node * _r + j] >= 0) all[count++] = _succ[node * _r + j];
        if (_pred[node] >= 0) all[count++] = _pred[node];
        return CountDistinct(all[..count], node);
    }

    public int Successor(int node) => _succ[node * _r];
    public int Predecessor(int node) => _pred[node];
    public ReadOnlySpan<int> SuccessorList(int node) => _succ.Row(node);
}
