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
//                 leaf-set keep-alive (every leaf_keepalive_every a node probes each member of its leaf set and
//                 exchanges leaf sets with its nearest neighbour on each side), of the neighbourhood probe (every
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
// Deviations from the paper: no routing-table probing beyond what routing and repair meet (MSPastry's periodic
// probes are not modelled); nodes that receive X's state take X alone into theirs; the converged start fills M with
// the |M| closest of the node's table, leaf set and 64 random nodes (not of all nodes); the routing table keeps
// ⌈log_{2^b} N⌉ + 1 rows for the N nodes of the scenario (deeper rows' keys lie in the leaf set's range).
//
// Memory per node: 4·(rows·2^b + |L| + |M|) bytes of state plus 18 of bootstrap, digest and flags, and two pending
// timers; keys at KeyStore.BytesPerKey with k + 8 holders (BytesPerNode, BytesPerKey).

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
    JoinTimer,
}

/// <summary>Pastry run as its protocol under churn.</summary>
public sealed class PastryProtocol : Overlay
{
    private const int Header = PastrySizes.Header, NodeRef = PastrySizes.NodeRef, KeyBytes = PastrySizes.Key;
    private const byte ForUser = LookupService.UserLookup, ForJoin = 1;
    private const int LeafSide = 1, Table = 2, Neighbours = 4, Everything = LeafSide | Table | Neighbours;

    private readonly PastryOptions _o;
    private readonly int _l, _half, _m, _cols;
    private int _rows, _cells;
    private PastryGeometry _g;
    private Id[] _ids = [];
    private NodeArray<int> _leaf = null!;          // |L|: the |L|/2 smaller nearest first, then the |L|/2 larger; -1 at the end of a side
    private NodeArray<int> _table = null!;         // rows·2^b, -1 = none
    private NodeArray<int> _nbr = null!;           // |M|, unordered, -1 = none
    private NodeArray<bool> _leafAll = null!;      // the leaf set is every other node (its sides overlap, or it is empty)
    private NodeArray<int> _bootstrap = null!;
    private NodeArray<ulong> _digest = null!;      // of the k-1 nearest on each side at the last key push
    private NodeArray<bool> _timersRunning = null!;
    private LookupArray<int> _hopTo = null!;
    private LookupArray<uint> _hopToken = null!;
    private LookupArray<byte> _joinRow = null!;    // a join: the next row its path has to send
    private PastryRouteStats _stats = null!;
    private KeyStore? _store;
    private PayloadPool _payloads = null!;
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

    /// <summary>Estimated bytes per node: the state (4·(rows·2^b + |L| + |M|)), 18 of bootstrap, digest, flags and key-list head, and two timers.</summary>
    public static long BytesPerNode(PastryOptions o, long nodes) =>
        4L * ((1 << o.B) * Pastry.Rows(o, nodes, IdSpace.MaxBits) + o.LeafSet + o.Neighbourhood) + 18 + 4 + 2 * 2 * EventQueue.BytesPerPendingEvent;

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
        _leafAll = Net.NodeArray<bool>();
        _bootstrap = Net.NodeArray(1, -1);
        _digest = Net.NodeArray<ulong>();
        _timersRunning = Net.NodeArray<bool>();
        _payloads = new PayloadPool(Math.Max(_cells, Math.Max(_l, _m)) + 1);
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
    }

    private Event Timer(int n, PastryProtocolMessage type) => new() { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)type };

    private void Reset(int n)
    {
        _leaf.Clear(n);
        _table.Clear(n);
        _nbr.Clear(n);
        _leafAll[n] = true;
        _bootstrap[n] = -1;
        _digest[n] = 0;
    }

    // ---- what a node knows ----------------------------------------------------------------------------

    /// <summary>
    /// Takes <paramref name="m"/> into n's state where it belongs: its leaf set, routing table and/or neighbourhood set.
    /// A node heard of from a third party (<paramref name="firsthand"/> false: in a list another node sent) is probed
    /// before it is taken into any of them, as MSPastry does, so that dead nodes in others' stale state do not spread:
    /// the probe is counted (a ping, and a pong when it is alive) and a dead one is not taken.
    /// </summary>
    private void Learn(int n, int m, int into, bool firsthand)
    {
        if (m < 0 || m == n || _ids[m] == _ids[n]) return;
        int verdict = firsthand ? 1 : 0;
        if ((into & LeafSide) != 0 && LearnLeaf(n, m, ref verdict, out int nearestOn))
        {
            if (nearestOn >= 0) HandToNewNeighbour(n, m, nearestOn);
            LeafChanged(n);
        }
        if ((into & Table) != 0) LearnTableEntry(n, m, ref verdict);
        if ((into & Neighbours) != 0) LearnNeighbour(n, m, ref verdict);
    }

    /// <summary>Whether m may be taken: known alive (1), known dead (-1), or probed now (0: counted, as in Probe).</summary>
    private bool Admit(int m, ref int verdict)
    {
        if (verdict == 0)
        {
            bool alive = Net.Nodes.IsAlive(m);
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Ping, Header);
            if (alive) Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Pong, Header);
            verdict = alive ? 1 : -1;
        }
        return verdict == 1;
    }

    /// <summary>
    /// Inserts m on each side of n's leaf set where it is among the |L|/2 nearest in that direction;
    /// <paramref name="nearestOn"/>: the side (0 smaller, 1 larger) on which it became n's nearest, else -1. A node goes
    /// on the side it is nearer in, and on the other side too only while neither side is full (a network of at most
    /// |L| + 1 nodes, where each side holds every other node): a side short of members after failures takes no node
    /// from beyond the other side, which would stretch its range around the ring.
    /// </summary>
    private bool LearnLeaf(int n, int m, ref int verdict, out int nearestOn)
    {
        nearestOn = -1;
        Span<int> leaf = _leaf.Row(n);
        IdSpace space = Net.Space;
        Id ccw = space.Distance(_ids[m], _ids[n]), cw = space.Distance(_ids[n], _ids[m]);
        int natural = cw <= ccw ? 1 : 0;
        bool bothShort = leaf[_half - 1] < 0 && leaf[_l - 1] < 0;
        Span<int> at = stackalloc int[2];
        for (int side = 0; side < 2; side++)
        {
            at[side] = _half;
            if (side != natural && !bothShort) continue;
            ReadOnlySpan<int> s = leaf.Slice(side * _half, _half);
            Id d = side == 0 ? ccw : cw;
            int p = 0;
            for (; p < _half; p++)
            {
                int e = s[p];
                if (e == m) { p = _half; break; }
                if (e < 0) break;
                Id de = side == 0 ? space.Distance(_ids[e], _ids[n]) : space.Distance(_ids[n], _ids[e]);
                if (d < de) break;
            }
            at[side] = p;
        }
        if ((at[0] == _half && at[1] == _half) || !Admit(m, ref verdict)) return false;
        for (int side = 0; side < 2; side++)
        {
            if (at[side] == _half) continue;
            Span<int> s = leaf.Slice(side * _half, _half);
            for (int j = _half - 1; j > at[side]; j--) s[j] = s[j - 1];
            s[at[side]] = m;
            if (at[side] == 0) nearestOn = side;
        }
        _leafAll[n] = LeafHoldsAll(n);
        return true;
    }

    /// <summary>Puts m in the routing-table cell it qualifies for, if that is empty or (proximity) m is closer than its entry.</summary>
    private void LearnTableEntry(int n, int m, ref int verdict)
    {
        int l = _g.SharedDigits(_ids[n], _ids[m]);
        if (l >= _rows) return;
        ref int cell = ref _table.At(n, l * _cols + _g.Digit(_ids[m], l));
        if (cell == m) return;
        if ((cell < 0 || (_o.ProximitySamples > 0 && Net.Transport.OneWay(n, m) < Net.Transport.OneWay(n, cell))) && Admit(m, ref verdict)) cell = m;
    }

    /// <summary>Adds m to n's neighbourhood set if there is room, or in place of its farthest member if m is closer.</summary>
    private void LearnNeighbour(int n, int m, ref int verdict)
    {
        if (m < 0 || m == n) return;
        Span<int> set = _nbr.Row(n);
        int free = -1, far = -1;
        long farLatency = -1;
        for (int j = 0; j < set.Length; j++)
        {
            int e = set[j];
            if (e == m) return;
            if (e < 0)
            {
                if (free < 0) free = j;
                continue;
            }
            long l = Net.Transport.OneWay(n, e);
            if (l > farLatency) (far, farLatency) = (j, l);
        }
        if (free >= 0) { if (Admit(m, ref verdict)) set[free] = m; }
        else if (Net.Transport.OneWay(n, m) < farLatency && Admit(m, ref verdict)) set[far] = m;
    }

    /// <summary>Whether n's leaf set is every other node: its two sides share a member, or both are empty.</summary>
    private bool LeafHoldsAll(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        if (leaf[0] < 0 && leaf[_half] < 0) return true;
        for (int i = 0; i < _half && leaf[i] >= 0; i++)
            for (int j = _half; j < _l && leaf[j] >= 0; j++)
                if (leaf[i] == leaf[j]) return true;
        return false;
    }

    /// <summary>Removes a node found dead (or gone) from n's state; with repair, asks for replacements as the repair option says. Returns whether n knew it.</summary>
    private bool Forget(int n, int dead, bool repair)
    {
        if (dead < 0 || dead == n || !Net.Nodes.IsAlive(n)) return false;
        bool known = false;
        Span<int> leaf = _leaf.Row(n);
        for (int side = 0; side < 2; side++)
        {
            Span<int> s = leaf.Slice(side * _half, _half);
            int at = s.IndexOf(dead);
            if (at < 0) continue;
            known = true;
            for (int j = at; j < _half - 1; j++) s[j] = s[j + 1];
            s[_half - 1] = -1;
            if (repair && RepairsLeaves) RepairLeaf(n, side);
        }
        if (known)
        {
            _leafAll[n] = LeafHoldsAll(n);
            LeafChanged(n);
        }
        Span<int> table = _table.Row(n);
        for (int c = 0; c < _cells; c++)
        {
            if (table[c] != dead) continue;
            known = true;
            table[c] = -1;
            if (repair && RepairsTables) AskForEntry(n, c, c - c % _cols);
        }
        Span<int> set = _nbr.Row(n);
        int k = set.IndexOf(dead);
        if (k >= 0)
        {
            known = true;
            set[k] = -1;
            if (repair && RepairsTables) RepairNeighbours(n);
        }
        if (_bootstrap[n] == dead) _bootstrap[n] = -1;
        return known;
    }

    /// <summary>Whether a dead leaf is replaced (repair: all or leaf_set), and a dead table or M entry (repair: all); never once maintenance has stopped.</summary>
    private bool RepairsLeaves => _o.Repair != PastryRepair.None && _maintenance;
    private bool RepairsTables => _o.Repair == PastryRepair.All && _maintenance;

    // ---- repair ---------------------------------------------------------------------------------------

    /// <summary>A leaf on <paramref name="side"/> is gone: ask the farthest live leaf on that side (else on the other) for its leaf set.</summary>
    private void RepairLeaf(int n, int side)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int target = Farthest(leaf.Slice(side * _half, _half));
        if (target < 0) target = Farthest(leaf.Slice((1 - side) * _half, _half));
        if (target >= 0) SendMaintenanceRequest(n, target, new Event { Arg = -1, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafRequest }, Header);

        static int Farthest(ReadOnlySpan<int> side)
        {
            for (int j = side.Length - 1; j >= 0; j--)
                if (side[j] >= 0) return side[j];
            return -1;
        }
    }

    /// <summary>
    /// Lazy routing-table repair of cell <paramref name="wanted"/> (row l, column d): ask the next entry from cell
    /// <paramref name="from"/> on (the rest of row l, then row l+1) for its R[l][d]; every such entry shares l digits
    /// with n, so its R[l][d] qualifies for n's. The paper goes on to later rows; two rows bound the requests for a
    /// cell that has no candidate left (deep rows are sparse).
    /// </summary>
    private void AskForEntry(int n, int wanted, int from)
    {
        ReadOnlySpan<int> table = _table.Row(n);
        int end = Math.Min(_cells, (wanted / _cols + 2) * _cols);
        for (int c = from; c < end; c++)
        {
            int e = table[c];
            if (e < 0 || c == wanted) continue;
            SendMaintenanceRequest(n, e, new Event { Arg = wanted, Aux = (ushort)c, Sink = Sink, Type = (byte)PastryProtocolMessage.RowRequest }, Header + 4);
            return;
        }
    }

    /// <summary>A member of M is gone: ask another member for its neighbourhood set.</summary>
    private void RepairNeighbours(int n)
    {
        ReadOnlySpan<int> set = _nbr.Row(n);
        int live = 0;
        foreach (int e in set) if (e >= 0) live++;
        if (live == 0) return;
        int pick = _rng.NextInt(live);
        foreach (int e in set)
        {
            if (e < 0 || pick-- > 0) continue;
            SendMaintenanceRequest(n, e, new Event { Sink = Sink, Type = (byte)PastryProtocolMessage.NeighbourRequest }, Header);
            return;
        }
    }

    /// <summary>A payload block holding n's leaf set (its members, once each) and n itself.</summary>
    private int LeafPayload(int n)
    {
        int payload = _payloads.Allocate();
        Span<int> block = _payloads.Block(payload);
        int count = 0;
        block[count++] = n;
        foreach (int m in _leaf.Row(n))
            if (m >= 0 && !block[..count].Contains(m)) block[count++] = m;
        _payloads.SetLength(payload, count);
        return payload;
    }

    /// <summary>
    /// Takes the nodes of a payload block that <paramref name="sender"/> sent into n's state (the sender firsthand, the
    /// others as heard of; <paramref name="skip"/> not at all) and frees it.
    /// </summary>
    private void LearnAll(int n, int payload, int sender, int into, int skip = -1)
    {
        foreach (int m in _payloads.Items(payload))
            if (m != skip) Learn(n, m, into, firsthand: m == sender);
        _payloads.Free(payload);
    }

    // ---- keys ---------------------------------------------------------------------------------------

    private ulong NearDigest(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        ulong h = 0x9e3779b97f4a7c15UL;
        int near = Math.Min(_half, _o.K - 1);
        for (int j = 0; j < near; j++)
        {
            h = Xoshiro256.Mix(h, (ulong)(uint)leaf[j]);
            h = Xoshiro256.Mix(h, (ulong)(uint)leaf[_half + j]);
        }
        return h;
    }

    /// <summary>n's leaf set changed: if its k-1 nearest on either side did, push the keys n is closest to where they belong.</summary>
    private void LeafChanged(int n)
    {
        if (_store is null || !_maintenance || !Net.Population.IsJoined(n)) return;
        ulong digest = NearDigest(n);
        if (digest == _digest[n]) return;
        _digest[n] = digest;
        PushKeys(n);
    }

    /// <summary>
    /// The keys n is numerically closest to, those in (Split(l1, n), Split(n, r1)], go to the others of their k closest,
    /// which n sees in its leaf set: the smaller neighbour l_i holds those closer to it than to r_{k-i}, the larger r_j
    /// those closer to it than to l_{k-j} (where that neighbour exists). In a network whose leaf set is everyone, the
    /// k-1 nearest on each side get them all.
    /// </summary>
    private void PushKeys(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int k = _o.K, near = Math.Min(_half, k - 1);
        if (k == 1) return;
        Id self = _ids[n];
        Id lo = leaf[0] >= 0 ? _g.Split(_ids[leaf[0]], self) : self;
        Id hi = leaf[_half] >= 0 ? _g.Split(self, _ids[leaf[_half]]) : self;
        if (leaf[0] < 0 || leaf[_half] < 0 || _leafAll[n]) (lo, hi) = (self, self); // every key (the whole ring, as CopyRange reads lo == hi)
        int lefts = Count(leaf[.._half]), rights = Count(leaf[_half..]);
        for (int i = 1; i <= near; i++)
        {
            if (i <= lefts) Push(leaf[i - 1], lo, k - i <= rights && !_leafAll[n] ? Clip(lo, hi, leaf[i - 1], leaf[_half + k - i - 1]) : hi);
            if (i <= rights)
            {
                Id from = k - i <= lefts && !_leafAll[n] ? Clip(lo, hi, leaf[k - i - 1], leaf[_half + i - 1]) : lo;
                Push(leaf[_half + i - 1], from, hi);
            }
        }

        void Push(int to, Id from, Id upTo)
        {
            if (from == upTo && !(from == lo && upTo == hi && lo == hi)) return; // an empty share (lo == hi alone means the whole ring)
            Transfer(n, to, from, upTo);
        }
    }

    private static int Count(ReadOnlySpan<int> side)
    {
        int c = 0;
        while (c < side.Length && side[c] >= 0) c++;
        return c;
    }

    /// <summary>
    /// Where the keys of a range (lo, hi] divide between a smaller node a and a larger node b, both outside it: a is
    /// closer to those in (lo, split], b to those in (split, hi], with split = Split(a, b) clipped to the range.
    /// </summary>
    private Id Clip(Id lo, Id hi, int a, int b)
    {
        Id split = _g.Split(_ids[a], _ids[b]);
        IdSpace space = Net.Space;
        if (space.InOpenClosed(split, lo, hi)) return split;
        // Outside the range: before lo (a gets none of it, b all) or at or after hi (a all, b none).
        bool before = space.Distance(_ids[a], split) <= space.Distance(_ids[a], lo);
        return before ? lo : hi;
    }

    /// <summary>Copies the keys <paramref name="from"/> holds in (lo, hi] to <paramref name="to"/>, as one KeyTransfer message (lost if it is dead).</summary>
    private void Transfer(int from, int to, Id lo, Id hi)
    {
        if (_store is null || to < 0) return;
        int keys = Net.Nodes.IsAlive(to) ? _store.CopyRange(from, to, lo, hi, Net.Space, Net.Keys) : _store.CountRange(from, lo, hi, Net.Space, Net.Keys);
        if (keys > 0) Net.Transport.CountMaintenance((byte)PastryProtocolMessage.KeyTransfer, Header + keys * (KeyBytes + _o.ValueBytes));
    }

    /// <summary>
    /// m has become n's nearest neighbour on <paramref name="side"/>: n hands it the keys it holds that m is now the
    /// closest to, as n sees m's range (between the midpoints to n and to n's next node beyond m), so that a new node
    /// gets the keys it is responsible for from the node that was.
    /// </summary>
    private void HandToNewNeighbour(int n, int m, int side)
    {
        if (_store is null || !_maintenance || !Net.Population.IsJoined(n) || _leafAll[n]) return;
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        int beyond = leaf[side * _half + 1];
        if (beyond < 0) return;
        if (side == 1) Transfer(n, m, _g.Split(_ids[n], _ids[m]), _g.Split(_ids[m], _ids[beyond]));
        else Transfer(n, m, _g.Split(_ids[beyond], _ids[m]), _g.Split(_ids[m], _ids[n]));
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
        if (join) SendRows(n, lookup);
        else if (!Net.Population.IsJoined(n))
        {
            // Reached through a stale entry while (re)joining: its bootstrap is the node it knows best.
            if (_bootstrap[n] >= 0) Forward(n, _bootstrap[n], lookup, rare: false);
            else Deliver(n, lookup);
            return;
        }
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
        if (n == x) return;
        if (rec.Hops == 1 && _joinRow[lookup] == 0)
        {
            int nbrs = _payloads.Allocate();
            Span<int> block = _payloads.Block(nbrs);
            int count = 0;
            block[count++] = n;
            foreach (int m in _nbr.Row(n)) if (m >= 0) block[count++] = m;
            _payloads.SetLength(nbrs, count);
            Net.Transport.SendMaintenance(n, x, new Event { Arg = nbrs, Sink = Sink, Type = (byte)PastryProtocolMessage.JoinNeighbours }, Header + NodeRef * count);
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
                Transfer(node, l1, lo, mid);
                Transfer(node, r1, mid, hi);
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
    /// The leaf-set keep-alive: exchange leaf sets with the nearest neighbour on each side, and probe the other members
    /// (a probe of a live member is counted, not simulated: see the cost model at the top).
    /// </summary>
    private void Keepalive(int n)
    {
        ReadOnlySpan<int> leaf = _leaf.Row(n);
        for (int j = 0; j < _l; j++)
        {
            int m = leaf[j];
            if (m < 0 || leaf[..j].Contains(m)) continue;
            if (j == 0 || j == _half)
            {
                int payload = LeafPayload(n);
                SendMaintenanceRequest(n, m, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafRequest }, Header + NodeRef * _payloads.Length(payload));
            }
            else Probe(n, m, 0);
        }
    }

    /// <summary>Probes m (kind 0: a leaf, 1: a member of M): counted if it is alive, sent (and timed out) if not.</summary>
    private void Probe(int n, int m, int kind)
    {
        if (Net.Nodes.IsAlive(m))
        {
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Ping, Header);
            Net.Transport.CountMaintenance((byte)PastryProtocolMessage.Pong, Header);
        }
        else SendMaintenanceRequest(n, m, new Event { Aux = (ushort)kind, Sink = Sink, Type = (byte)PastryProtocolMessage.Ping }, Header);
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
                LearnAll(n, ev.Arg, ev.Src, LeafSide | Table, skip: ev.Src);
                break;

            case PastryProtocolMessage.LeafRequest:
                if (ev.Arg >= 0) LearnAll(n, ev.Arg, ev.Src, LeafSide | Table);
                else Learn(n, ev.Src, LeafSide | Table, firsthand: true);
                {
                    int payload = LeafPayload(n);
                    Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.LeafReply }, Header + NodeRef * _payloads.Length(payload));
                }
                break;
            case PastryProtocolMessage.LeafReply:
                LearnAll(n, ev.Arg, ev.Src, LeafSide | Table);
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
                    LearnTableEntry(n, ev.Arg, ref verdict);
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
                int payload = _payloads.Allocate();
                Span<int> block = _payloads.Block(payload);
                int count = 0;
                block[count++] = n;
                foreach (int m in _nbr.Row(n)) if (m >= 0) block[count++] = m;
                _payloads.SetLength(payload, count);
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = payload, Sink = Sink, Type = (byte)PastryProtocolMessage.NeighbourReply }, Header + NodeRef * count);
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
                foreach (int m in _nbr.Row(n)) if (m >= 0) Probe(n, m, 1);
                Net.Sim.Schedule(_o.NeighbourProbeEvery, Timer(n, PastryProtocolMessage.ProbeTimer));
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
