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
// ok: the k closest returned include the node the oracle says is closest to the key, or the value was found.
//
// Deviations from the paper: buckets are indexed by common-prefix length up to B = log2 N + 3, and every deeper
// contact shares the last bucket (the paper's bucket splitting reaches the same shape); the reply to a FIND_NODE
// lists the k closest contacts the responder knows, fixed when it answers; the shortlist keeps the 2k closest
// contacts seen; a STORE takes effect when sent (its delay is not modelled) and is lost if the receiver is dead.
//
// Memory per node: 4·k·B bytes of buckets plus B of bucket sizes (static); the protocol adds 4·c·B of replacement
// caches and 8·B of bucket refresh times. At N = 10^6, k = 20: about 1.9 KB per node static.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Kademlia's options. Times in µs.</summary>
public sealed record KademliaOptions
{
    /// <summary>k in the Kademlia paper: bucket size and replication parameter.</summary>
    public int K { get; init; } = 20;
    /// <summary>α in the Kademlia paper: parallel RPCs of a lookup.</summary>
    public int Alpha { get; init; } = 3;
    /// <summary>Run the protocol (joins, pings, refresh, republish) rather than the converged model alone.</summary>
    public bool Dynamic { get; init; }
    public long RpcTimeout { get; init; } = 1_000_000;
    public double RpcTimeoutRtts { get; init; }
    public long LookupTimeout { get; init; } = 60_000_000;
    /// <summary>tRefresh in the Kademlia paper.</summary>
    public long BucketRefresh { get; init; } = 3_600_000_000;
    /// <summary>tRepublish in the Kademlia paper.</summary>
    public long Republish { get; init; } = 3_600_000_000;
    /// <summary>tExpire in the Kademlia paper.</summary>
    public long Expire { get; init; } = 86_400_000_000;
    /// <summary>Replacement cache entries per bucket.</summary>
    public int ReplacementCache { get; init; } = 5;
    public bool StoreKeys { get; init; } = true;
    public int ValueBytes { get; init; }
}

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
}

/// <summary>Kademlia with α-parallel iterative lookups.</summary>
public sealed class Kademlia : Overlay
{
    private const int Header = 20, NodeRef = 8, KeyBytes = 4;
    private const byte Heard = 0, Waiting = 1, Answered = 2, Unreachable = 3;
    // What a lookup is for (LookupRecord.Purpose); Arg is the bootstrap of a join, the key of a republish.
    private const byte ForUser = LookupService.UserLookup, ForJoin = 1, ForRefresh = 2, ForRepublish = 3;

    /// <summary>The metrics Kademlia registers beside the common ones.</summary>
    public static readonly OverlayMetric RoundsMetric = new("rounds",
        "the parallel round in which the node that answered was queried (an RPC sent because of a reply of round r belongs to round r + 1)",
        [new("rounds_mean", MetricStat.Mean)]);

    public static readonly OverlayMetric RpcsMetric = new("rpcs",
        "FIND_NODE / FIND_VALUE RPCs the origin sent", [new("rpcs_per_lookup", MetricStat.Mean)]);

    private readonly KademliaOptions _o;
    private int _k, _b, _s, _c;
    private Id[] _ids = [];
    private NodeArray<int> _bucket = null!;        // node × B × k, head = least recently seen
    private NodeArray<byte> _bucketCount = null!;  // node × B
    private NodeArray<int> _cache = null!;         // replacement caches, node × B × c (dynamic)
    private NodeArray<byte> _cacheCount = null!;
    private NodeArray<long> _touched = null!;      // last lookup through each bucket (dynamic)
    private bool _maintenance = true;
    private KeyStore? _store;
    private PayloadPool _payloads = null!;
    private Xoshiro256 _rng;
    private uint _pingTokens;
    private NodeArray<int> _pingTarget = null!;    // node × B: contact being pinged for eviction, -1 none

    // Per lookup slot: the shortlist, sorted by XOR distance to the target.
    private LookupArray<int> _cand = null!;
    private LookupArray<Id> _cdist = null!;        // XOR distance of each shortlist entry to the target (kept, so that inserting reads no ids)
    private LookupArray<byte> _cstate = null!;
    private LookupArray<byte> _cdepth = null!;
    private LookupArray<byte> _cround = null!;
    private LookupArray<int> _ccount = null!;
    private LookupArray<int> _inflight = null!;
    private LookupArray<int> _rounds = null!;
    private LookupArray<int> _rpcs = null!;
    private SampleMetric _roundsMetric = null!, _rpcsMetric = null!;

    public Kademlia(KademliaOptions options) => _o = options;

    public override string Name => "kademlia";
    public override bool SupportsChurn => _o.Dynamic;
    public override long LookupTimeout => _o.LookupTimeout;
    public override string MessageName(byte type) => ((KademliaMessage)type).ToString();
    public override int PayloadsInUse => _payloads.InUse;

    public KeyStore? Store => _store;

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
    }

    public static int Buckets(long nodes, int bits) => Math.Min(bits, (int)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 3);

    public static long BytesPerNode(KademliaOptions o, long nodes)
    {
        long b = Buckets(nodes, 160);
        long perNode = 4L * o.K * b + b + 16;
        if (o.Dynamic) perNode += 4L * o.ReplacementCache * b + b + 8 * b + 4 * b;
        return perNode + (o.StoreKeys ? 8L * o.K : 0);
    }

    // ---- set-up --------------------------------------------------------------------------------------

    public override void BuildStatic(Oracle view)
    {
        _rng = Net.Streams.Stream("overlay/kademlia");
        _k = _o.K;
        _b = Buckets(Net.Nodes.Count, Net.Space.Bits);
        _s = 2 * _k;
        _c = _o.Dynamic ? _o.ReplacementCache : 0;
        _payloads = new PayloadPool(_k);
        _bucket = Net.NodeArray<int>(_b * _k);
        _bucketCount = Net.NodeArray<byte>(_b);
        if (_o.Dynamic)
        {
            _cache = Net.NodeArray<int>(Math.Max(1, _b * _c));
            _cacheCount = Net.NodeArray<byte>(_b);
            _touched = Net.NodeArray<long>(_b);
            _pingTarget = Net.NodeArray(_b, -1);
        }
        _cand = Net.LookupArray<int>(_s);
        _cdist = Net.LookupArray<Id>(_s);
        _cstate = Net.LookupArray<byte>(_s);
        _cdepth = Net.LookupArray<byte>(_s);
        _cround = Net.LookupArray<byte>(_s);
        _ccount = Net.LookupArray<int>();
        _inflight = Net.LookupArray<int>();
        _rounds = Net.LookupArray<int>();
        _rpcs = Net.LookupArray<int>();
        _ids = Net.Nodes.Ids;
        Net.Nodes.Grown += _ => _ids = Net.Nodes.Ids;

        // Fill every live node's buckets from the sorted ring: the ids sharing exactly `cpl` leading bits with n
        // form one contiguous range of the sorted order; k of them are chosen uniformly at random.
        ReadOnlySpan<Id> sorted = view.SortedIds;
        ReadOnlySpan<int> order = view.SortedNodes;
        Id[] sortedIds = sorted.ToArray();
        int[] sortedNodes = order.ToArray();
        int live = sortedIds.Length;
        Span<int> pick = stackalloc int[_k];
        for (int rank = 0; rank < live; rank++)
        {
            int n = sortedNodes[rank];
            Id self = sortedIds[rank];
            for (int cpl = 0; cpl < _b; cpl++)
            {
                // Range of ids whose first cpl bits equal n's and whose next bit differs (the last bucket: at least cpl equal bits).
                var (lo, hi) = PrefixRange(self, cpl, last: cpl == _b - 1);
                int from = IdSearch.LowerBound(sortedIds, lo), to = hi.IsZero ? live : IdSearch.LowerBound(sortedIds, hi);
                if (hi.IsZero && !lo.IsZero && from == live) to = live;
                int count = to - from;
                int take = 0;
                if (count <= _k)
                {
                    for (int i = from; i < to; i++) if (sortedNodes[i] != n) pick[take++] = sortedNodes[i];
                }
                else
                {
                    // k distinct contacts spread over the range: one from each of k equal strata, at one random
                    // offset (stratified sampling: O(k), no repeats, every id equally likely to be chosen).
                    double u = _rng.NextDouble();
                    for (int i = 0; i < _k; i++)
                    {
                        int c = sortedNodes[from + (int)((i + u) * count / _k)];
                        if (c != n) pick[take++] = c;
                    }
                }
                int bi = n * _b + cpl;
                for (int i = 0; i < take; i++) _bucket[bi * _k + i] = pick[i];
                _bucketCount[bi] = (byte)take;
            }
            if (_o.Dynamic) StartTimers(n);
        }

        if (_o.StoreKeys)
        {
            _store = Net.CreateKeyStore(Math.Min(255, _k + 8));
            Span<int> closest = stackalloc int[_k];
            for (int key = 0; key < Net.Keys.Length && live > 0; key++)
            {
                int found = KademliaTruth.KClosest(sortedIds, sortedNodes, Net.Space, Net.Keys[key], closest);
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

    private long Timeout(int a, int b) => RpcTimeout(a, b, _o.RpcTimeout, _o.RpcTimeoutRtts);

    private int BucketOf(int n, Id other)
    {
        int cpl = Net.Space.Bits - (_ids[n] ^ other).BitLength;
        return Math.Min(cpl, _b - 1);
    }

    // ---- routing table ---------------------------------------------------------------------------------

    /// <summary>Learns of a contact from a message it sent: move it to the tail, append it, or (full bucket) ping the head.</summary>
    private void Learn(int n, int contact)
    {
        // In the converged model (protocol: static) learning changes nothing that matters: a bucket with room
        // already holds every node of its range (the build takes them all), a full one admits no newcomer without
        // the ping-and-evict maintenance, and the last-seen order only matters for that eviction. Skipping it saves
        // two bucket scans (two cache misses at 10^6 nodes) per RPC without changing any lookup.
        if (!_o.Dynamic || contact == n || contact < 0) return;
        int bi = n * _b + BucketOf(n, _ids[contact]);
        int baseIndex = bi * _k, count = _bucketCount[bi];
        for (int i = 0; i < count; i++)
        {
            if (_bucket[baseIndex + i] != contact) continue;
            for (int j = i; j < count - 1; j++) _bucket[baseIndex + j] = _bucket[baseIndex + j + 1];
            _bucket[baseIndex + count - 1] = contact;
            return;
        }
        if (count < _k)
        {
            _bucket[baseIndex + count] = contact;
            _bucketCount[bi] = (byte)(count + 1);
            if (_o.Dynamic) HandOver(n, contact);
            return;
        }
        if (!_o.Dynamic) return;
        // Full: the newcomer waits in the replacement cache while the least recently seen contact is pinged.
        AddToCache(bi, contact);
        if (_pingTarget[bi] < 0 && _maintenance)
        {
            int head = _bucket[baseIndex];
            _pingTarget[bi] = head;
            ushort token = (ushort)++_pingTokens;
            SendMaintenanceRequest(n, head, new Event { Arg = bi - n * _b, Aux = token, Sink = Sink, Type = (byte)KademliaMessage.Ping }, Header);
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

    private void AddToCache(int bi, int contact)
    {
        if (_c == 0) return; // replacement_cache: 0, newcomers to a full bucket are not remembered
        int baseIndex = bi * _c, count = _cacheCount[bi];
        for (int i = 0; i < count; i++)
            if (_cache[baseIndex + i] == contact) return;
        if (count == _c)
        {
            for (int i = 0; i < count - 1; i++) _cache[baseIndex + i] = _cache[baseIndex + i + 1];
            count--;
        }
        _cache[baseIndex + count] = contact;
        _cacheCount[bi] = (byte)(count + 1);
    }

    /// <summary>Drops an unreachable contact from n's bucket, promoting the most recent replacement if any.</summary>
    private void Drop(int n, int contact)
    {
        if (contact == n || contact < 0) return;
        int bi = n * _b + BucketOf(n, _ids[contact]);
        int baseIndex = bi * _k, count = _bucketCount[bi];
        for (int i = 0; i < count; i++)
        {
            if (_bucket[baseIndex + i] != contact) continue;
            for (int j = i; j < count - 1; j++) _bucket[baseIndex + j] = _bucket[baseIndex + j + 1];
            count--;
            if (_c > 0 && _cacheCount[bi] > 0)
            {
                int cc = --_cacheCount[bi];
                _bucket[baseIndex + count++] = _cache[bi * _c + cc];
            }
            _bucketCount[bi] = (byte)count;
            return;
        }
    }

    /// <summary>The up to k contacts of n closest to target, by XOR distance, into <paramref name="into"/>.</summary>
    private int ClosestContacts(int n, Id target, Span<int> into)
    {
        // Buckets in order of closeness to the target: its own bucket i; then every bucket j > i (all at the same
        // top differing bit, so they are sorted together); then j < i, nearest first. Collect until k are certain.
        int i = BucketOf(n, target);
        int own = n * _b + i;
        if (_bucketCount[own] == _k)
        {
            // The target's own bucket is full: its k contacts are closer than any other (they share one more bit
            // with the target), so they are the answer as they stand.
            _bucket.Items.AsSpan(own * _k, _k).CopyTo(into);
            return _k;
        }
        Span<int> buffer = stackalloc int[_k * _b];
        int count = 0;
        AppendBucket(n, i, buffer, ref count);
        if (count < _k)
        {
            for (int j = i + 1; j < _b; j++) AppendBucket(n, j, buffer, ref count);
            for (int j = i - 1; j >= 0 && count < _k; j--) AppendBucket(n, j, buffer, ref count);
        }
        if (count <= _k)
        {
            // All of them: a reply is a set (the receiver sorts it into its shortlist), so no order is needed.
            buffer[..count].CopyTo(into);
            return count;
        }
        // More than k gathered: select the k closest, each distance computed once.
        Span<Id> distance = count <= 512 ? stackalloc Id[count] : new Id[count];
        for (int c = 0; c < count; c++) distance[c] = _ids[buffer[c]] ^ target;
        for (int a = 0; a < _k; a++)
        {
            int best = a;
            for (int c = a + 1; c < count; c++)
                if (distance[c] < distance[best]) best = c;
            (buffer[a], buffer[best]) = (buffer[best], buffer[a]);
            (distance[a], distance[best]) = (distance[best], distance[a]);
            into[a] = buffer[a];
        }
        return _k;
    }

    private void AppendBucket(int n, int b, Span<int> buffer, ref int count)
    {
        int bi = n * _b + b;
        for (int x = 0; x < _bucketCount[bi]; x++) buffer[count++] = _bucket[bi * _k + x];
    }

    // ---- lookups -----------------------------------------------------------------------------------------

    public override void StartLookup(int lookup) => Begin(lookup);

    /// <summary>Starts a lookup whose record holds its purpose (and argument): seeds the shortlist from the origin's buckets.</summary>
    private void Begin(int lookup)
    {
        _ccount[lookup] = 0;
        _inflight[lookup] = 0;
        _rounds[lookup] = 0;
        _rpcs[lookup] = 0;
        ref LookupRecord rec = ref Net.Lookups[lookup];
        byte purpose = rec.Purpose;
        int origin = rec.Origin;
        if (_o.Dynamic) _touched[origin * _b + BucketOf(origin, rec.Key)] = Net.Sim.Now;
        if (purpose == ForUser && _store is not null && _store.Holds(origin, rec.KeyIndex))
        {
            Complete(lookup, origin, hops: 0, valueFound: true);
            return;
        }
        Span<int> first = stackalloc int[_k];
        int found = ClosestContacts(origin, rec.Key, first);
        for (int i = 0; i < found; i++) Offer(lookup, first[i], depth: 1);
        if (found == 0 && purpose == ForJoin && rec.Arg >= 0) Offer(lookup, rec.Arg, depth: 1); // the bootstrap contact
        Pump(lookup, round: 1);
    }

    /// <summary>
    /// Adds a contact to the shortlist, kept sorted by distance to the target and at most 2k long. The insertion
    /// point is found by binary search over the stored distances; XOR with the target is a bijection, so an equal
    /// distance means the contact is already there.
    /// </summary>
    private void Offer(int lookup, int contact, int depth) => Offer(lookup, contact, _ids[contact] ^ Net.Lookups[lookup].Key, depth);

    private void Offer(int lookup, int contact, Id d, int depth)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (contact == rec.Origin) return;
        int b = lookup * _s, count = _ccount[lookup];
        int lo = 0, hi = count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_cdist[b + mid] < d) lo = mid + 1;
            else hi = mid;
        }
        int pos = lo;
        if (pos < count && _cdist[b + pos] == d) return;
        if (pos == _s) return;
        int last = Math.Min(count, _s - 1);
        if (count == _s && _cstate[b + _s - 1] == Waiting) _inflight[lookup]--; // its reply will find it gone
        for (int i = last; i > pos; i--)
        {
            _cand[b + i] = _cand[b + i - 1];
            _cdist[b + i] = _cdist[b + i - 1];
            _cstate[b + i] = _cstate[b + i - 1];
            _cdepth[b + i] = _cdepth[b + i - 1];
            _cround[b + i] = _cround[b + i - 1];
        }
        _cand[b + pos] = contact;
        _cdist[b + pos] = d;
        _cstate[b + pos] = Heard;
        _cdepth[b + pos] = (byte)Math.Min(255, depth);
        _cround[b + pos] = 0;
        _ccount[lookup] = Math.Min(count + 1, _s);
    }

    /// <summary>Keeps α RPCs in flight to the closest contacts not yet queried among the k closest; ends the lookup when none is left.</summary>
    private void Pump(int lookup, int round)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        int b = lookup * _s, count = _ccount[lookup];
        int considered = 0;
        for (int i = 0; i < count && considered < _k && _inflight[lookup] < _o.Alpha; i++)
        {
            byte state = _cstate[b + i];
            if (state == Unreachable) continue;
            considered++;
            if (state != Heard) continue;
            int to = _cand[b + i];
            _cstate[b + i] = Waiting;
            _cround[b + i] = (byte)Math.Min(255, round);
            _inflight[lookup]++;
            _rpcs[lookup]++;
            SendLookupRequest(rec.Origin, to, new Event { Lookup = lookup, Arg = round, Sink = Sink, Type = (byte)KademliaMessage.FindNode }, Header + KeyBytes + NodeRef);
        }
        if (_inflight[lookup] > 0) return;
        // Nothing in flight: the k closest non-unreachable contacts have all answered (or there are none).
        int answer = -1;
        for (int i = 0; i < count; i++)
            if (_cstate[b + i] == Answered) { answer = i; break; }
        if (answer < 0)
        {
            Fail(lookup);
            return;
        }
        _rounds[lookup] = _cround[b + answer];
        Complete(lookup, _cand[b + answer], _cdepth[b + answer]);
    }

    private void OnFindNode(int n, ref Event ev)
    {
        Learn(n, ev.Src);
        ref LookupRecord rec = ref Net.Lookups[ev.Lookup];
        int payload = _payloads.Allocate();
        bool hasValue = rec.IsUser && _store is not null && _store.Holds(n, rec.KeyIndex) && Fresh(n, rec.KeyIndex);
        int found = hasValue ? 0 : ClosestContacts(n, rec.Key, _payloads.Block(payload));
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
        int b = lookup * _s, count = _ccount[lookup], at = -1;
        for (int i = 0; i < count; i++)
            if (_cand[b + i] == ev.Src) { at = i; break; }
        if (at >= 0 && _cstate[b + at] == Waiting)
        {
            _cstate[b + at] = Answered;
            _inflight[lookup]--;
        }
        int depth = at >= 0 ? _cdepth[b + at] : 1;
        if (hasValue)
        {
            _payloads.Free(payload);
            _rounds[lookup] = round;
            Complete(lookup, ev.Src, depth, valueFound: true);
            return;
        }
        // Distances first, in a loop of independent loads, so that the cache misses on the contacts' ids overlap
        // instead of waiting one by one inside the shortlist insertion.
        ReadOnlySpan<int> contacts = _payloads.Items(payload);
        Id key = Net.Lookups[lookup].Key;
        Span<Id> distance = stackalloc Id[contacts.Length];
        for (int i = 0; i < contacts.Length; i++) distance[i] = _ids[contacts[i]] ^ key;
        for (int i = 0; i < contacts.Length; i++) Offer(lookup, contacts[i], distance[i], depth + 1);
        _payloads.Free(payload);
        Pump(lookup, round + 1);
    }

    private void OnRpcTimeout(int origin, int lookup, int contact)
    {
        int b = lookup * _s, count = _ccount[lookup];
        for (int i = 0; i < count; i++)
        {
            if (_cand[b + i] != contact || _cstate[b + i] != Waiting) continue;
            _cstate[b + i] = Unreachable;
            _inflight[lookup]--;
            Net.Lookups[lookup].Timeouts++;
            Drop(origin, contact);
            if (!Net.Lookups[lookup].Answered) Pump(lookup, _cround[b + i] + 1);
            return;
        }
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
                    NodeLookupEnded?.Invoke(rec.Origin, rec.Key, Result(lookup));
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
                Net.Lookups.Answer(lookup, node);
                if (!Net.Nodes.IsAlive(joiner)) return;
                Net.Population.Joined(joiner);
                StartTimers(joiner);
                RefreshFartherBuckets(joiner);
                break;
            }
            case ForRepublish:
            {
                int key = rec.Arg;
                int b = lookup * _s, stored = 0;
                for (int i = 0; i < _ccount[lookup] && stored < _k; i++)
                {
                    if (_cstate[b + i] != Answered) continue;
                    int target = _cand[b + i];
                    stored++;
                    if (!Net.Nodes.IsAlive(target)) continue; // the STORE would be lost
                    _store!.Add(target, key, Net.Sim.Now);
                    Net.Transport.CountMaintenance((byte)KademliaMessage.Store, Header + KeyBytes + _o.ValueBytes);
                }
                Net.Lookups.Answer(lookup, node);
                break;
            }
            default:
                Net.Lookups.Answer(lookup, node);
                break;
        }
    }

    /// <summary>The k closest nodes a lookup has heard from, closest first: its result.</summary>
    private ReadOnlySpan<int> Result(int lookup)
    {
        Span<int> result = _resultBuffer ??= new int[_k];
        int b = lookup * _s, seen = 0;
        for (int i = 0; i < _ccount[lookup] && seen < _k; i++)
            if (_cstate[b + i] == Answered) result[seen++] = _cand[b + i];
        return result[..seen];
    }

    private int[]? _resultBuffer;

    private void Fail(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        byte purpose = rec.Purpose;
        int origin = rec.Origin;
        Net.Lookups.Fail(lookup);
        if (purpose == ForJoin && Net.Nodes.IsAlive(origin))
            Net.Sim.Schedule(1, new Event { Dst = origin, Src = origin, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.JoinTimer });
    }

    public override void OnLookupDeadline(int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        if (rec.Purpose == ForJoin && Net.Nodes.IsAlive(rec.Origin))
            Net.Sim.Schedule(1, new Event { Dst = rec.Origin, Src = rec.Origin, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.JoinTimer });
    }

    private bool Fresh(int node, int key) => _store!.StoredAt(node, key) + _o.Expire > Net.Sim.Now || !_o.Dynamic;

    // ---- maintenance -------------------------------------------------------------------------------------

    public override void OnJoin(int node, int bootstrap)
    {
        for (int b = 0; b < _b; b++)
        {
            int bi = node * _b + b;
            _bucketCount[bi] = 0;
            _cacheCount[bi] = 0;
            _pingTarget[bi] = -1;
            _touched[bi] = Net.Sim.Now;
        }
        if (bootstrap < 0)
        {
            Net.Population.Joined(node);
            StartTimers(node);
            return;
        }
        Learn(node, bootstrap);
        StartJoinLookup(node, bootstrap);
    }

    private void StartJoinLookup(int node, int bootstrap)
    {
        Begin(Net.Lookups.BeginInternal(node, _ids[node], ForJoin, bootstrap));
    }

    /// <summary>After a join: a lookup of a random id in every bucket further away than the closest neighbour.</summary>
    private void RefreshFartherBuckets(int n)
    {
        int nearest = _b - 1;
        while (nearest > 0 && _bucketCount[n * _b + nearest] == 0) nearest--;
        for (int b = 0; b < nearest; b++) RefreshBucket(n, b);
    }

    private void RefreshBucket(int n, int b)
    {
        _touched[n * _b + b] = Net.Sim.Now;
        Id target = RandomIdInBucket(n, b);
        Begin(Net.Lookups.BeginInternal(n, target, ForRefresh));
    }

    private Id RandomIdInBucket(int n, int b)
    {
        var (lo, hi) = PrefixRange(_ids[n], b, last: b == _b - 1);
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
                int bi = n * _b + ev.Arg;
                if (_pingTarget[bi] == ev.Src) _pingTarget[bi] = -1;
                Learn(n, ev.Src);
                break;
            }
            case KademliaMessage.PingTimeout:
            {
                int bi = n * _b + ev.Aux;
                if (_pingTarget[bi] != ev.Arg) return;
                _pingTarget[bi] = -1;
                Drop(n, ev.Arg);
                break;
            }
            case KademliaMessage.RefreshTimer:
                if (!_maintenance) return;
                for (int b = 0; b < _b; b++)
                    if (Net.Sim.Now - _touched[n * _b + b] >= _o.BucketRefresh && _bucketCount[n * _b + b] > 0) RefreshBucket(n, b);
                Net.Sim.Schedule(_o.BucketRefresh, new Event { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)KademliaMessage.RefreshTimer });
                break;
            case KademliaMessage.RepublishTimer:
            {
                int key = ev.Arg;
                if (_store is null || _store.IsLost(key) || !_maintenance) return;
                // One of the key's holders republishes it: it looks the key up and stores it on the k closest found.
                int holder = _store.AnyHolder(key, ref _rng);
                if (holder >= 0)
                {
                    Begin(Net.Lookups.BeginInternal(holder, Net.Keys[key], ForRepublish, key));
                }
                Net.Sim.Schedule(_o.Republish, new Event { Dst = -1, Src = -1, Lookup = -1, Arg = key, Sink = Sink, Type = (byte)KademliaMessage.RepublishTimer });
                break;
            }
            case KademliaMessage.JoinTimer:
            {
                if (Net.Population.IsJoined(n)) return;
                int b = Net.Population.RandomJoined(n, ref _rng);
                if (b < 0)
                {
                    Net.Population.Joined(n);
                    StartTimers(n);
                    return;
                }
                Learn(n, b);
                StartJoinLookup(n, b);
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

    protected override long RequestTimeout(byte type, int from, int to) => Timeout(from, to);

    // ---- questions -------------------------------------------------------------------------------------

    public override int Degree(int node)
    {
        int total = 0;
        for (int b = 0; b < _b; b++) total += _bucketCount[node * _b + b];
        return total; // buckets never hold a contact twice
    }

    /// <summary>The contacts of one bucket, head (least recently seen) first, for tests.</summary>
    public ReadOnlySpan<int> Bucket(int node, int cpl) => _bucket.Items.AsSpan((node * _b + cpl) * _k, _bucketCount[node * _b + cpl]);

    public int BucketCount => _b;
    public int K => _k;
}
