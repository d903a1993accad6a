// Kademlia: P. Maymounkov and D. Mazières, "Kademlia: A Peer-to-peer Information System Based on the XOR Metric",
// IPTPS 2002.
//
// What is modelled:
//   XOR metric over the id_bits space; k-buckets of at most k contacts ordered by last seen (head = least
//   recently seen); contacts are learned from every incoming message: a known contact moves to the tail, a new one
//   is appended to a bucket with room; for a full bucket the least recently seen contact is pinged and replaced
//   only if it does not answer, the newcomer waiting in the bucket's replacement cache;
//   node lookup: α parallel FIND_NODE RPCs to the closest contacts not yet queried, iterated over a shortlist of
//   the closest contacts seen, until the k closest seen have all answered (the paper's termination rule); each RPC
//   has a timeout, and a contact that times out is marked unreachable in the lookup and dropped from the origin's
//   bucket; FIND_VALUE stops as soon as a queried node holds the value;
//   STORE on the k closest nodes found; each key is republished every republish period (a holder looks the key
//   up and stores it on the k closest again), and a copy expires when not refreshed for the expiry period;
//   join through a bootstrap contact: a lookup of one's own id, then a refresh of every bucket further away than
//   the closest neighbour; a bucket not used by a lookup for the refresh period is refreshed by a lookup of a
//   random id in its range;
//   the static build: buckets filled from the global view as a long-running network would have them (a uniform
//   random choice of k contacts from each bucket's range), values stored on the k closest nodes.
//
// What the hop count counts: the length of the chain of referrals from the origin to the node that answered
// (the closest node found, or the node that returned the value): a contact the origin knew itself is 1 hop, a
// contact learned from it 2, and so on. rounds: the parallel round in which that node was queried (an RPC sent
// because of a reply of round r belongs to round r + 1). rpcs_per_lookup: FIND_NODE/FIND_VALUE RPCs sent.
// ok (KademliaTruth): a node lookup's answer (the closest node found, or the origin when it is closer) is the
// XOR-closest joined node; a value lookup's answer is a node holding a live copy (the value was returned).
//
// Deviations from the paper: buckets are indexed by common-prefix length up to B = log2 N + 3, and every deeper
// contact shares the last bucket (the paper's bucket splitting reaches the same shape); the reply to a FIND_NODE
// lists the k closest contacts the responder knows, fixed when it answers; the shortlist keeps the 2k closest
// contacts seen; a STORE takes effect when sent (its delay is not modelled) and is lost if the receiver is dead.
//
// Memory per node: the converged model (static) stores no contacts: a bucket is a range of the sorted ids, found
// through a prefix index, and its k contacts are drawn from it on demand (KBuckets.cs, ConvergedBuckets): about 36
// bytes per node. The protocol keeps its buckets (KBucketTable.cs): 4·k·B bytes of contacts plus B of bucket sizes,
// 4·c·B of replacement caches and 8·B of bucket refresh times; at N = 10^6, k = 20, about 1.9 KB per node of contacts.
//
// In a run where nothing can change a lookup while it is in flight (Network.RoutesAhead: no churn, fixed pair delays,
// no end), the converged model's node lookups are run whole when the workload announces them, apart from the event
// queue, and only their answer and last reply are events: the same messages, bytes, loads, hops, rounds, latencies and
// answer times (Kademlia.Planned.cs; RouteAheadTests compares every result file with the same runs hop by hop).
//
// Files: KBuckets.cs (what a lookup reads of the buckets, and the converged buckets), KBucketTable.cs (the protocol's
// routing table), QueryPeerSet.cs (a lookup's shortlist), KademliaTruth.cs (the ground truth), this file (the
// protocol: RPCs, lookups, maintenance, stored values), Kademlia.Planned.cs (node lookups run whole when announced).

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Kademlia's RPCs and timers, named after the paper.</summary>
public enum KademliaMessage : byte
{
    FindNode = 1,
    FindNodeReply,
    RpcTimeout,
    Ping,
    Pong,
    PingTimeout,
    Store,
    RefreshTimer,
    RepublishTimer,
    JoinTimer,
    /// <summary>The reply that settled a lookup computed when it was announced (Kademlia.Planned.cs).</summary>
    PlannedAnswer,
    /// <summary>The last reply of such a lookup, when it came after its answer.</summary>
    PlannedLast,
}

/// <summary>Kademlia with α-parallel iterative lookups.</summary>
public sealed partial class Kademlia : Overlay, IPrefetchingSink, ILookupPlanner
{
    private const int Header = 20, NodeRef = 8, KeyBytes = 4;
    // What a lookup is for (LookupRecord.Purpose); Arg is the bootstrap of a join, the key of a republish.
    private const byte ForUser = LookupService.UserLookup, ForJoin = 1, ForRefresh = 2, ForRepublish = 3;

    /// <summary>The metrics Kademlia registers beside the common ones.</summary>
    public static readonly OverlayMetric RoundsMetric = new("rounds",
        "the parallel round in which the node that answered was queried (an RPC sent because of a reply of round r belongs to round r + 1)",
        [new("rounds_mean", MetricStat.Mean)]);

    public static readonly OverlayMetric RpcsMetric = new("rpcs",
        "FIND_NODE / FIND_VALUE RPCs the origin sent", [new("rpcs_per_lookup", MetricStat.Mean)]);

    public static readonly OverlayMetric BucketsMetric = new("buckets",
        "non-empty k-buckets of a live node at the end of the run (beside degree, its contacts); in a converged table sum over j >= 1 of 1 - (1 - 2^-j)^(N-1), about log2 N + 0.33",
        [new("buckets_mean", MetricStat.Computed), new("buckets_max", MetricStat.Computed)]);

    private readonly KademliaOptions _o;
    private int _k;
    private Id[] _ids = [];
    private KBucketTable _table = null!;       // the protocol's buckets (protocol: dynamic)
    private KBuckets _buckets = null!;         // what lookups read: _table, or the converged buckets (protocol: static)
    private QueryPeerSet _peers = null!;
    private bool _maintenance = true;
    private KeyStore? _store;
    private PayloadPool<Contact> _payloads = null!;
    private Xoshiro256 _rng;
    private uint _pingTokens;
    private LookupArray<int> _rounds = null!;
    private LookupArray<int> _rpcs = null!;
    private SampleMetric _roundsMetric = null!, _rpcsMetric = null!;
    private int[]? _resultBuffer;

    public Kademlia(KademliaOptions options) => _o = options;

    public override string Name => "kademlia";
    public override bool SupportsChurn => _o.Dynamic;
    public override long LookupTimeout => _o.LookupTimeout;
    public override string MessageName(byte type) => ((KademliaMessage)type).ToString();
    public override int PayloadsInUse => _payloads.InUse;

    public KeyStore? Store => _store;

    /// <summary>The k-buckets of every node, for tests.</summary>
    public KBuckets Table => _buckets;

    /// <summary>
    /// Diagnostic for tests and studies: called when one of the workload's node lookups (FIND_NODE) ends, with the
    /// origin, the target and the k closest nodes it returned, closest first.
    /// </summary>
    public NodeLookupObserver? NodeLookupEnded { get; set; }

    public override GroundTruth CreateTruth(Oracle view) => new KademliaTruth(view, _store, _o, Net.Sim);

    protected override void OnAttached()
    {
        _roundsMetric = Net.Lookups.Metrics.Register(RoundsMetric);
        _rpcsMetric = Net.Lookups.Metrics.Register(RpcsMetric);
        Net.Lookups.Metrics.Register(BucketsMetric).Computed = column =>
        {
            // Asked once, at the end: over the live nodes, as degree is.
            long sum = 0;
            int max = 0, live = Net.Nodes.LiveCount;
            for (int i = 0; i < live; i++)
            {
                int n = Net.Nodes.LiveAt(i), used = _buckets.UsedBuckets(n);
                sum += used;
                max = Math.Max(max, used);
            }
            return column == "buckets_max" ? max : live == 0 ? 0 : (double)sum / live;
        };
    }

    /// <summary>
    /// Estimated bytes per node: the converged buckets (<see cref="ConvergedBuckets.BytesPerNode"/>: the sorted ids and
    /// the prefix index) or the protocol's k-buckets (<see cref="KBucketTable"/>: 4·k·B + B, with the replacement caches,
    /// refresh times and ping targets, 4·c·B + 13·B, and each node's pending refresh timer, up to twice
    /// <see cref="EventQueue.BytesPerPendingEvent"/>), and the key-list head of the store.
    /// </summary>
    public static long BytesPerNode(KademliaOptions o, long nodes)
    {
        long b = KBuckets.Buckets(nodes, 160);
        long perNode = o.StoreKeys ? 4 : 0;
        if (o.Dynamic) perNode += 4L * o.K * b + b + 4L * o.ReplacementCache * b + 13 * b + 2 * EventQueue.BytesPerPendingEvent;
        else perNode += ConvergedBuckets.BytesPerNode;
        return perNode;
    }

    /// <summary>Estimated bytes per stored key: the store's slots with k copies (timed with the protocol, whose copies expire) and its republish timer.</summary>
    public static long BytesPerKey(KademliaOptions o) =>
        !o.StoreKeys ? 0 : KeyStore.BytesPerKey(MaxHolders(o), timed: o.Dynamic, o.K) + (o.Dynamic ? 2 * EventQueue.BytesPerPendingEvent : 0);

    /// <summary>Copies a key can have: its k closest, and room for 8 more handed to newcomers before the next republish.</summary>
    private static int MaxHolders(KademliaOptions o) => o.K + 8;

    // ---- set-up --------------------------------------------------------------------------------------

    public override void BuildStatic(Oracle view)
    {
        _rng = Net.Streams.Stream("overlay/kademlia");
        _k = _o.K;
        int buckets = KBuckets.Buckets(Net.Nodes.Count, Net.Space.Bits);
        _peers = new QueryPeerSet(Net, _k);
        _payloads = new PayloadPool<Contact>(_k);
        _rounds = Net.LookupArray<int>();
        _rpcs = Net.LookupArray<int>();
        _ids = Net.Nodes.Ids;
        Net.Nodes.Grown += _ => _ids = Net.Nodes.Ids;

        // The converged buckets, computed from the sorted ids (ConvergedBuckets): what the static model reads, and what
        // the protocol's tables start from.
        var converged = new ConvergedBuckets(Net, _k, buckets, view, Net.Streams.StreamSeed("overlay/kademlia/buckets"));
        int live = converged.Ranked.Length;
        _buckets = converged;
        if (_o.Dynamic)
        {
            _table = new KBucketTable(Net, _k, buckets, _o.ReplacementCache, maintained: true);
            _buckets = _table;
            Span<Contact> pick = stackalloc Contact[_k + 1];
            Span<int> nodes = stackalloc int[_k + 1];
            for (int rank = 0; rank < live; rank++)
            {
                int n = converged.Ranked[rank].Node;
                for (int b = 0; b < buckets; b++)
                {
                    int take = 0;
                    converged.AppendTo(n, b, pick, ref take);
                    for (int i = 0; i < take; i++) nodes[i] = pick[i].Node;
                    _table.Set(n, b, nodes[..take]);
                }
                StartTimers(n);
            }
        }

        if (_o.StoreKeys)
        {
            _store = Net.CreateKeyStore(MaxHolders(_o), timed: _o.Dynamic);
            Span<int> closest = stackalloc int[_k];
            for (int key = 0; key < Net.Keys.Length && live > 0; key++)
            {
                int found = KademliaTruth.KClosest(view.SortedIds, view.SortedNodes, Net.Space, Net.Keys[key], closest);
                for (int i = 0; i < found; i++) _store.Add(closest[i], key);
            }
            if (_o.Dynamic)
                for (int key = 0; key < Net.Keys.Length; key++)
                    Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.Republish), new Event { Dst = -1, Src = -1, Lookup = -1, Arg = key, Sink = Sink, Type = (byte)KademliaMessage.RepublishTimer });
        }
    }

    /// <summary>[lo, hi) of the ids sharing exactly <paramref name="cpl"/> leading bits with <paramref name="self"/>; hi = 0 means 2^m.</summary>
    private (Id Lo, Id Hi) PrefixRange(Id self, int cpl, bool last)
    {
        int m = Net.Space.Bits;
        // prefix: self's first cpl bits; then bit (m-1-cpl) flipped, unless this is the merged last bucket.
        Id prefixMask = cpl == 0 ? Id.Zero : (Net.Space.Mask - (Id.Pow2(m - cpl) - Id.FromUInt64(1)));
        Id prefix = self & prefixMask;
        if (last)
        {
            Id width = Id.Pow2(m - cpl);
            Id hiAll = prefix + width;
            return (prefix, cpl == 0 ? Id.Zero : (hiAll == Id.Pow2(m) ? Id.Zero : hiAll));
        }
        int bit = m - 1 - cpl;
        Id flipped = self.Bit(bit) == 1 ? prefix : prefix + Id.Pow2(bit);
        Id end = flipped + Id.Pow2(bit);
        return (flipped, end == Id.Pow2(m) ? Id.Zero : end);
    }

    private void StartTimers(int n)
    {
        if (!_maintenance) return;
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.BucketRefresh), new Event { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.RefreshTimer });
    }

    private long Timeout(long roundTrip) => RpcTimeout(roundTrip, _o.RpcTimeout, _o.RpcTimeoutRtts);

    // ---- the routing table -----------------------------------------------------------------------------

    /// <summary>Learns of a contact from a message it sent: move it to the tail, append it, or (full bucket) ping the head.</summary>
    private void Learn(int n, int contact)
    {
        // In the converged model (protocol: static) learning changes nothing that matters: a bucket with room
        // already holds every node of its range (the build takes them all), a full one admits no newcomer without
        // the ping-and-evict maintenance, and the last-seen order only matters for that eviction. Skipping it saves
        // two bucket scans (two cache misses at 10^6 nodes) per RPC without changing any lookup.
        if (!_o.Dynamic || contact == n || contact < 0) return;
        switch (_table.Update(n, contact, out int bucket, out int head))
        {
            case BucketUpdate.Inserted:
                HandOver(n, contact);
                break;
            case BucketUpdate.Full:
                // The newcomer waits in the replacement cache while the least recently seen contact is pinged.
                ref int pinging = ref _table.PingTarget(n, bucket);
                if (pinging < 0 && _maintenance)
                {
                    pinging = head;
                    ushort token = (ushort)++_pingTokens;
                    SendMaintenanceRequest(n, head, new Event { Arg = bucket, Aux = token, Sink = Sink, Type = (byte)KademliaMessage.Ping }, Header);
                }
                break;
        }
    }

    /// <summary>
    /// The paper's transfer to a new node: "any node learning of a new node issues STORE RPCs to transfer relevant
    /// key-value pairs to the new node". Here: every key n holds that the newcomer is closer to than n itself (so it
    /// belongs among the k closest whenever n does), in one STORE message.
    /// </summary>
    private void HandOver(int n, int newcomer)
    {
        if (_store is null || !_maintenance || !Net.Nodes.IsAlive(newcomer)) return;
        int copied = _store.CopyCloserByXor(n, newcomer, _ids[n], _ids[newcomer], Net.Keys, Net.Sim.Now);
        if (copied > 0) Net.Transport.CountMaintenance((byte)KademliaMessage.Store, Header + copied * (KeyBytes + _o.ValueBytes));
    }

    /// <summary>
    /// Drops an unreachable contact from n's bucket, promoting the most recent replacement if any. The converged
    /// buckets (protocol: static) are the network as it stands and keep it: a contact whose RPC timed out there (a
    /// timeout shorter than its round trip) stays, as nothing maintains them.
    /// </summary>
    private void Drop(int n, int contact)
    {
        if (!_o.Dynamic || contact == n || contact < 0) return;
        _table.Remove(n, contact);
    }

    // ---- prefetch hints --------------------------------------------------------------------------------

    // A FIND_NODE at a node reads its id (which bucket the key falls in), then two entries of the converged buckets'
    // prefix index (that bucket's range), then the contacts of the range: three dependent reads, each a likely cache
    // miss at 10^6 nodes. The engine names the events due next: the id (and both ends' machines) of the one after next
    // is fetched, then the index entries and the latency state of the next one, while the current event is handled.
    bool IPrefetchingSink.WantsHints => Net.Nodes.Count >= CacheHint.WorthFromNodes;

    void IPrefetchingSink.PrefetchFar(in Event ev)
    {
        int n = ev.Dst;
        if ((uint)n >= (uint)_ids.Length) return;
        CacheHint.Prefetch(in _ids[n]);
        Net.Transport.PrefetchMachineOf(n);
        Net.Transport.PrefetchMachineOf(ev.Src);
    }

    void IPrefetchingSink.PrefetchNear(in Event ev)
    {
        int n = ev.Dst;
        if ((uint)n >= (uint)_ids.Length) return;
        Net.Transport.PrefetchLatency(n);
        Net.Transport.PrefetchLatency(ev.Src);
        if (ev.Type == (byte)KademliaMessage.FindNode && (uint)ev.Lookup < (uint)Net.Lookups.Table.Capacity)
            _buckets.PrefetchClosest(n, Net.Lookups[ev.Lookup].Key);
    }

    // ---- lookups -----------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        if (_ahead is { Pending: > 0 }) BeginPlanned(lookup);
        else Begin(lookup);
    }

    /// <summary>Starts a lookup whose record holds its purpose (and argument): seeds the shortlist from the origin's buckets.</summary>
    private void Begin(int lookup)
    {
        _peers.Reset(lookup);
        _rounds[lookup] = 0;
        _rpcs[lookup] = 0;
        ref LookupRecord rec = ref Net.Lookups[lookup];
        byte purpose = rec.Purpose;
        int origin = rec.Origin;
        if (_o.Dynamic) _table.Touched(origin, _table.BucketOf(origin, rec.Key)) = Net.Sim.Now;
        if (purpose == ForUser && _store is not null && rec.KeyIndex >= 0 && _store.Holds(origin, rec.KeyIndex) && Fresh(origin, rec.KeyIndex))
        {
            Complete(lookup, origin, hops: 0, valueFound: true);
            return;
        }
        Span<Contact> first = stackalloc Contact[_k];
        int found = _buckets.Closest(origin, rec.Key, first);
        _peers.OfferAll(lookup, first[..found], rec.Key, depth: 1, exclude: origin);
        if (found == 0 && purpose == ForJoin && rec.Arg >= 0) Offer(lookup, rec.Arg, _ids[rec.Arg] ^ rec.Key, depth: 1); // the bootstrap contact
        Pump(lookup, round: 1);
    }

    /// <summary>Adds a contact to the lookup's shortlist (never the origin itself).</summary>
    private void Offer(int lookup, int contact, Id distance, int depth)
    {
        if (contact == Net.Lookups[lookup].Origin) return;
        _peers.Offer(lookup, contact, distance, depth);
    }

    /// <summary>Keeps α RPCs in flight to the closest contacts not yet queried among the k closest; answers the lookup when none is left.</summary>
    private void Pump(int lookup, int round)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        Span<int> ask = stackalloc int[_o.Alpha];
        int asked = _peers.SelectToAsk(lookup, _o.Alpha, round, ask);
        for (int i = 0; i < asked; i++)
        {
            _rpcs[lookup]++;
            SendLookupRequest(rec.Origin, ask[i], new Event { Lookup = lookup, Arg = round, Sink = Sink, Type = (byte)KademliaMessage.FindNode }, Header + KeyBytes + NodeRef);
        }
        if (_peers.Waiting(lookup) > 0) return;
        // Nothing awaited: the k closest contacts not unreachable have all answered (or there are none).
        int answer = _peers.ClosestAnswered(lookup);
        if (answer < 0)
        {
            Fail(lookup);
            return;
        }
        _rounds[lookup] = _peers.Round(lookup, answer);
        Complete(lookup, _peers.Peer(lookup, answer), _peers.Depth(lookup, answer));
    }

    private void OnFindNode(int n, ref Event ev)
    {
        Learn(n, ev.Src);
        ref LookupRecord rec = ref Net.Lookups[ev.Lookup];
        int payload = _payloads.Allocate();
        bool hasValue = rec.IsUser && _store is not null && rec.KeyIndex >= 0 && _store.Holds(n, rec.KeyIndex) && Fresh(n, rec.KeyIndex);
        int found = hasValue ? 0 : _buckets.Closest(n, rec.Key, _payloads.Block(payload));
        _payloads.SetLength(payload, found);
        Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = payload, Aux = (ushort)(ev.Arg | (hasValue ? 0x8000 : 0)), Sink = Sink, Type = (byte)KademliaMessage.FindNodeReply },
            Header + (hasValue ? KeyBytes + _o.ValueBytes : NodeRef * found));
    }

    private void OnReply(int origin, ref Event ev)
    {
        int lookup = ev.Lookup;
        int payload = ev.Arg;
        Learn(origin, ev.Src);
        if (Net.Lookups[lookup].Answered)
        {
            // A reply after the answer (another of the α RPCs, or one to a contact pushed off the shortlist): it
            // still cost its messages; the lookup has its result and ends when the last of them is in.
            _payloads.Free(payload);
            return;
        }
        int round = ev.Aux & 0x7fff;
        bool hasValue = (ev.Aux & 0x8000) != 0;
        int at = _peers.IndexOf(lookup, ev.Src);
        if (at >= 0) _peers.MarkAnswered(lookup, at);
        int depth = at >= 0 ? _peers.Depth(lookup, at) : 1;
        if (hasValue)
        {
            _payloads.Free(payload);
            _rounds[lookup] = round;
            Complete(lookup, ev.Src, depth, valueFound: true);
            return;
        }
        _peers.OfferAll(lookup, _payloads.Items(payload), Net.Lookups[lookup].Key, depth + 1, exclude: Net.Lookups[lookup].Origin);
        _payloads.Free(payload);
        Pump(lookup, round + 1);
    }

    private void OnRpcTimeout(int origin, int lookup, int contact)
    {
        int at = _peers.IndexOf(lookup, contact);
        if (at < 0 || !_peers.MarkUnreachable(lookup, at)) return;
        Net.Lookups[lookup].Timeouts++;
        Drop(origin, contact);
        if (!Net.Lookups[lookup].Answered) Pump(lookup, _peers.Round(lookup, at) + 1);
    }

    private void Complete(int lookup, int node, int hops, bool valueFound = false)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        rec.Hops = hops;
        switch (rec.Purpose)
        {
            case ForUser:
            {
                // The answer: the node that returned the value, or for a node lookup the closest node found. The origin
                // is never queried by itself, but it knows its own id: when it is closer than every node that
                // answered, its result (the k closest it can name) starts with itself.
                int answer = node;
                if (!valueFound)
                {
                    if ((_ids[rec.Origin] ^ rec.Key) < (_ids[node] ^ rec.Key)) answer = rec.Origin;
                    if (NodeLookupEnded is { } observer)
                    {
                        Span<int> result = _resultBuffer ??= new int[_k];
                        observer(rec.Origin, rec.Key, result[.._peers.Result(lookup, result)]);
                    }
                }
                if (Net.Lookups.Answer(lookup, answer, valueFound))
                {
                    _roundsMetric.Add(_rounds[lookup]);
                    _rpcsMetric.Add(_rpcs[lookup]);
                }
                break;
            }
            case ForJoin:
            {
                int joiner = rec.Origin;
                bool current = Net.Lookups.OriginIsCurrent(lookup);
                Net.Lookups.Answer(lookup, node);
                if (!current || Net.Population.IsJoined(joiner)) return;
                Net.Population.Joined(joiner);
                StartTimers(joiner);
                RefreshFartherBuckets(joiner);
                break;
            }
            case ForRepublish:
            {
                // STORE on the k closest that answered.
                int key = rec.Arg;
                Span<int> closest = stackalloc int[_k];
                int found = _peers.Result(lookup, closest);
                for (int i = 0; i < found; i++)
                {
                    Net.Transport.CountMaintenance((byte)KademliaMessage.Store, Header + KeyBytes + _o.ValueBytes);
                    if (Net.Nodes.IsAlive(closest[i])) _store!.Add(closest[i], key, Net.Sim.Now); // else the STORE is lost with its message
                }
                Net.Lookups.Answer(lookup, node);
                break;
            }
            default:
                Net.Lookups.Answer(lookup, node);
                break;
        }
    }

    private void Fail(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        bool retry = rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup);
        int origin = rec.Origin;
        Net.Lookups.Fail(lookup);
        if (retry) RetryJoin(origin);
    }

    public override void OnLookupDeadline(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin && Net.Lookups.OriginIsCurrent(lookup)) RetryJoin(rec.Origin);
    }

    private bool Fresh(int node, int key) => !_o.Dynamic || _store!.StoredAt(node, key) + _o.Expire > Net.Sim.Now;

    // ---- maintenance -------------------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap)
    {
        _table.Reset(node, Net.Sim.Now);
        JoinThrough(node, bootstrap);
    }

    /// <summary>Joins through a bootstrap contact (a lookup of one's own id), or alone when there is none (-1).</summary>
    private void JoinThrough(int node, int bootstrap)
    {
        if (bootstrap < 0)
        {
            Net.Population.Joined(node);
            StartTimers(node);
            return;
        }
        Learn(node, bootstrap);
        Begin(Net.Lookups.BeginInternal(node, _ids[node], ForJoin, bootstrap));
    }

    /// <summary>A join lookup that failed is tried again at once, through another bootstrap contact.</summary>
    private void RetryJoin(int node) =>
        Net.Sim.Schedule(1, new Event { Dst = node, Src = node, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.JoinTimer });

    /// <summary>After a join: a lookup of a random id in every bucket further away than the closest neighbour.</summary>
    private void RefreshFartherBuckets(int n)
    {
        int nearest = _table.BucketCount - 1;
        while (nearest > 0 && _table.Count(n, nearest) == 0) nearest--;
        for (int b = 0; b < nearest; b++) RefreshBucket(n, b);
    }

    private void RefreshBucket(int n, int b)
    {
        _table.Touched(n, b) = Net.Sim.Now;
        Id target = RandomIdInBucket(n, b);
        Begin(Net.Lookups.BeginInternal(n, target, ForRefresh));
    }

    private Id RandomIdInBucket(int n, int b)
    {
        var (lo, hi) = PrefixRange(_ids[n], b, last: b == _table.BucketCount - 1);
        Id span = (hi.IsZero ? Id.Pow2(Net.Space.Bits) : hi) - lo;
        Id r = Net.Space.Random(ref _rng);
        // r mod span, with span a power of two
        return lo + (r & (span - Id.FromUInt64(1)));
    }

    public override void StopMaintenance() => _maintenance = false;

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((KademliaMessage)ev.Type)
        {
            case KademliaMessage.FindNode:
                OnFindNode(n, ref ev);
                break;
            case KademliaMessage.FindNodeReply:
                OnReply(n, ref ev);
                break;
            case KademliaMessage.PlannedAnswer:
                OnPlannedAnswer(in ev);
                break;
            case KademliaMessage.PlannedLast:
                break;
            case KademliaMessage.RpcTimeout:
                OnRpcTimeout(n, ev.Lookup, ev.Arg);
                break;
            case KademliaMessage.Ping:
                Learn(n, ev.Src);
                Net.Transport.SendMaintenance(n, ev.Src, new Event { Arg = ev.Arg, Aux = ev.Aux, Sink = Sink, Type = (byte)KademliaMessage.Pong }, Header);
                break;
            case KademliaMessage.Pong:
            {
                // The pinged head is alive: it stays (moved to the tail by Learn); the newcomer stays in the cache.
                ref int pinging = ref _table.PingTarget(n, ev.Arg);
                if (pinging == ev.Src) pinging = -1;
                Learn(n, ev.Src);
                break;
            }
            case KademliaMessage.PingTimeout:
            {
                ref int pinging = ref _table.PingTarget(n, ev.Aux);
                if (pinging != ev.Arg) return;
                pinging = -1;
                Drop(n, ev.Arg);
                break;
            }
            case KademliaMessage.RefreshTimer:
                if (!_maintenance) return;
                for (int b = 0; b < _table.BucketCount; b++)
                    if (Net.Sim.Now - _table.Touched(n, b) >= _o.BucketRefresh && _table.Count(n, b) > 0) RefreshBucket(n, b);
                Net.Sim.Schedule(_o.BucketRefresh, new Event { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.RefreshTimer });
                break;
            case KademliaMessage.RepublishTimer:
            {
                int key = ev.Arg;
                if (_store is null || _store.IsLost(key) || !_maintenance) return;
                // One of the key's holders republishes it: it looks the key up and stores it on the k closest found.
                int holder = _store.AnyHolder(key, ref _rng);
                if (holder >= 0) Begin(Net.Lookups.BeginInternal(holder, Net.Keys[key], ForRepublish, key));
                Net.Sim.Schedule(_o.Republish, new Event { Dst = -1, Src = -1, Lookup = -1, Arg = key, Sink = Sink, Type = (byte)KademliaMessage.RepublishTimer });
                break;
            }
            case KademliaMessage.JoinTimer:
            {
                // A join retried after a failed join lookup is maintenance: with maintenance stopped, the node stays out.
                if (Net.Population.IsJoined(n) || !_maintenance) return;
                JoinThrough(n, Net.Population.RandomJoined(n, ref _rng));
                break;
            }
        }
    }

    /// <summary>A reply carries a payload block of contacts: freed when the reply cannot be delivered or its lookup has ended.</summary>
    protected override void OnUndeliverable(ref Event ev)
    {
        if (ev.Type == (byte)KademliaMessage.FindNodeReply) _payloads.Free(ev.Arg);
    }

    protected override void OnStale(ref Event ev) => OnUndeliverable(ref ev);

    /// <summary>A late RPC timeout finds its contact already answered (MarkUnreachable), a late ping timeout a bucket no longer pinging it.</summary>
    protected override bool ChecksLateTimeouts => true;

    /// <summary>Kademlia's requests (FIND_NODE / FIND_VALUE and PING) and the timeouts that answer for them.</summary>
    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        int from = request.Src, to = request.Dst;
        switch ((KademliaMessage)request.Type)
        {
            case KademliaMessage.FindNode:
                timeout = new Event { Dst = from, Src = from, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = to, Sink = Sink, Type = (byte)KademliaMessage.RpcTimeout };
                return true;
            case KademliaMessage.Ping:
                timeout = new Event { Dst = from, Src = from, Lookup = -1, Arg = to, Aux = (ushort)request.Arg, Sink = Sink, Type = (byte)KademliaMessage.PingTimeout };
                return true;
            default:
                timeout = default;
                return false;
        }
    }

    protected override long RequestTimeout(byte type, long roundTrip) => Timeout(roundTrip);

    // ---- questions -------------------------------------------------------------------------------------

    public override int Degree(int node) => _buckets.Degree(node);
}
