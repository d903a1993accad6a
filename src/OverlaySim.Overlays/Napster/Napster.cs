// Napster-style central index: one index server that knows which peer holds which item (the design of the original
// Napster, 1999–2001, as described by S. Saroiu, P. K. Gummadi and S. D. Gribble, "A Measurement Study of Peer-to-Peer
// File Sharing Systems", MMCN 2002).
//
// What is modelled:
//   the server is a machine of its own (Population.AddServer: machine index `nodes`, the first after the peers), never
//   a workload origin, never picked by random or mass failures; items are placed by the workload's replication;
//   the index: the server's list of holders of each item, built from the placement at the start (every peer has
//   registered); with the protocol, a joining peer registers (it brings no items), a leaving peer deregisters, every
//   peer sends a keep-alive each keep_alive period, and the server drops a peer not heard from for keep_alive_timeout
//   (so a crashed peer's entries are listed until then; after the server's own outage, counted from its return);
//   a query is one request to the server and one reply listing up to max_results live-by-the-index holders; the server
//   answers one query at a time in arrival order with the fixed service time 1/service_rate (an M/D/1 queue under
//   Poisson load): queue_delay is the wait before service, server_utilisation the busy share of the window;
//   the client then contacts the listed holders in turn, from a random one, until one confirms it holds the item (a
//   dead holder costs rpc_timeout, a holder without the item says so);
//   the server can fail (server_down_at for server_down_for, or a churn trace naming its machine): queries in its queue
//   fail, every query sent while it is down fails after rpc_timeout; its index survives on disk, but registrations and
//   keep-alives sent while it was down are lost: a peer whose keep-alive meets an index that does not know it
//   registers again.
//
// What the hop count counts: 1, the request to the index, for every answered query (the holder contacted afterwards is
// the download's peer, counted in messages, bytes and latency but not as a hop); fetch_attempts counts the holders
// contacted. ok (ReplicaTruth): the holder that confirmed is alive and holds the item.
//
// Deviations: registrations and keep-alives take no service time (only queries queue); no download is simulated past
// the holder's confirmation; the server's own degree is the peers its index knows.
//
// Memory: the index, 8 bytes per listed copy plus about 40 bytes per known peer at the server; 0 per peer otherwise.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

public enum NapsterMessage : byte
{
    Query = 1,
    QueryReply,
    QueryTimeout,
    Fetch,
    FetchReply,
    FetchTimeout,
    ServiceDone,
    Register,
    Deregister,
    KeepAlive,
    KeepAliveUnknown,
    KeepAliveTimer,
    ServerDown,
    ServerUp,
}

/// <summary>A central index server and the peers that register with it.</summary>
public sealed class Napster : Overlay
{
    private const int Header = 16;
    private const int QueryBytes = Header + 20, HolderBytes = 8, FetchBytes = Header + 20, FetchReplyBytes = Header + 4;
    private const int RegisterBytes = Header + 8, ItemBytes = 24, KeepAliveBytes = Header;

    public static readonly OverlayMetric FetchMetric = new("fetch_attempts",
        "holders a client contacted, until one confirmed the item or none was left (per query whose reply listed holders)", [new("fetch_attempts_mean", MetricStat.Mean)]);

    public static readonly OverlayMetric ServerMetric = new("server",
        "the index server: mean and p99 wait in its queue before service (ms), its busy share of the window (without a duration: up to its last service), and its index size at the end (8 bytes per listed copy, 40 per known peer)",
        [new("queue_delay_mean_ms", MetricStat.Computed), new("queue_delay_p99_ms", MetricStat.Computed),
         new("server_utilisation", MetricStat.Computed), new("index_bytes", MetricStat.Computed)]);

    private readonly NapsterOptions _o;
    private readonly long _service;
    private KeyStore _store = null!;
    private Xoshiro256 _rng;
    private int _server = -1, _serverMachine = -1;
    private bool _maintenance = true;

    // The index: holders of each item, as (peer, registration) pairs; a pair counts while the peer's registration is
    // that one (a peer that registers again, or deregisters, leaves its old pairs to be dropped when next seen).
    private long[][] _index = [];
    private int[] _indexCount = [];
    private readonly Dictionary<int, (int Registration, long LastSeen)> _peers = [];
    private int _registrations;

    // The server's FIFO queue of queries: (lookup, generation, arrival time).
    private readonly Queue<(int Lookup, uint Gen, long Arrival)> _queue = new();
    private bool _serving;
    private readonly List<long> _delays = [];
    private long _servedInWindow, _lastServiceEnd, _upSince;

    private LookupArray<int> _results = null!, _resultCount = null!, _attempt = null!, _first = null!;
    private SampleMetric _fetchMetric = null!;

    public Napster(NapsterOptions options)
    {
        _o = options;
        _service = Math.Max(1, (long)Math.Round(1e6 / options.ServiceRate));
    }

    public override string Name => "napster";
    public override bool SupportsChurn => _o.Dynamic;
    public override long LookupTimeout => _o.LookupTimeout;
    public override string MessageName(byte type) => ((NapsterMessage)type).ToString();

    /// <summary>The wait in the server's queue of every measured query served so far, µs, in service order (for tests).</summary>
    public IReadOnlyList<long> QueueDelays => _delays;

    /// <summary>The node of the index server now.</summary>
    public int Server => _server;

    /// <summary>
    /// Bytes per peer the build needs for a while: the index's peer table growing by doubling and each peer's item list
    /// read from the store (measured peak at 10^6 peers: 420 MiB, against 0.33 GiB estimated without them).
    /// </summary>
    public const long BuildBytesPerNode = 96;

    public static long BytesPerNode(NapsterOptions o, long machines) => 40 + (o.Dynamic ? 2 * EventQueue.BytesPerPendingEvent : 0);

    protected override void OnAttached()
    {
        _fetchMetric = Net.Lookups.Metrics.Register(FetchMetric);
        SampleMetric server = Net.Lookups.Metrics.Register(ServerMetric);
        server.Computed = column => column switch
        {
            "queue_delay_mean_ms" => Stats.Mean(_delays.ToArray()) / 1000.0,
            "queue_delay_p99_ms" => Stats.PercentileOfSorted(_delays.Order().ToArray(), 99) / 1000.0,
            "server_utilisation" => Utilisation(),
            _ => IndexBytes(),
        };
    }

    /// <summary>
    /// Busy time over the window; a run without a duration has a window that ends at its last event (a lookup deadline,
    /// up to lookup_timeout after the last query), so there it ends at the end of the last service instead.
    /// </summary>
    private double Utilisation()
    {
        long end = Net.Window.Until != long.MaxValue ? Math.Min(Net.Sim.Now, Net.Window.Until) : _lastServiceEnd;
        long window = end - Net.Window.From;
        return window <= 0 ? 0 : Math.Min(1, (double)_servedInWindow * _service / window);
    }

    private double IndexBytes()
    {
        long entries = 0;
        for (int k = 0; k < _indexCount.Length; k++) entries += _indexCount[k];
        return 8.0 * entries + 40.0 * _peers.Count;
    }

    public override GroundTruth CreateTruth(Oracle view) => new ReplicaTruth(_store, Net.Nodes);

    // ---- set-up --------------------------------------------------------------------------------------

    public override void BuildStatic(Oracle view)
    {
        _rng = Net.Streams.Stream("overlay/napster");
        _results = Net.LookupArray<int>(_o.MaxResults);
        _resultCount = Net.LookupArray<int>();
        _attempt = Net.LookupArray<int>();
        _first = Net.LookupArray<int>();
        _store = Net.PlaceReplicas();
        int[] peers = view.SortedNodes.ToArray();
        _server = Net.Population.AddServer();
        _serverMachine = Net.Nodes.Machine[_server];

        int keys = Net.Keys.Length;
        _index = new long[keys][];
        _indexCount = new int[keys];
        for (int k = 0; k < keys; k++) _index[k] = new long[Math.Max(1, _store.HolderCount(k))];
        // Every peer has registered its items: in ordinal order, so the index lists are in a fixed order.
        Array.Sort(peers);
        foreach (int p in peers)
        {
            int registration = ++_registrations;
            _peers[p] = (registration, 0);
            foreach (int key in _store.KeysOf(p)) AddToIndex(key, p, registration);
            if (_o.Dynamic) StartKeepAlive(p);
        }
        if (_o.ServerDownAt > 0)
            Net.Sim.ScheduleAt(_o.ServerDownAt, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = Sink, Type = (byte)NapsterMessage.ServerDown });
    }

    private void AddToIndex(int key, int peer, int registration)
    {
        if (_indexCount[key] == _index[key].Length) Array.Resize(ref _index[key], _index[key].Length * 2);
        _index[key][_indexCount[key]++] = ((long)peer << 32) | (uint)registration;
    }

    /// <summary>The server's degree is the peers it knows; a peer's, 1 (the server) while it is up.</summary>
    public override int Degree(int node) => node == _server ? _peers.Count : Net.Nodes.IsAlive(_server) ? 1 : 0;

    private bool IsServer(int node) => Net.Nodes.Machine[node] == _serverMachine;

    // ---- queries -------------------------------------------------------------------------------------

    public override void StartLookup(int lookup)
    {
        ref LookupRecord r = ref Net.Lookups[lookup];
        if (_store.NodeHolds(r.Origin, r.KeyIndex))
        {
            Net.Lookups.Answer(lookup, r.Origin, valueReturned: true); // the client has it: 0 hops, nothing sent
            return;
        }
        SendLookupRequest(r.Origin, _server, new Event { Lookup = lookup, Sink = Sink, Type = (byte)NapsterMessage.Query }, QueryBytes);
    }

    protected override void Receive(ref Event ev)
    {
        int n = ev.Dst;
        switch ((NapsterMessage)ev.Type)
        {
            case NapsterMessage.Query:
                _queue.Enqueue((ev.Lookup, Net.Lookups[ev.Lookup].Generation, Net.Sim.Now));
                if (!_serving) ServeNext();
                break;
            case NapsterMessage.ServiceDone:
                _lastServiceEnd = Net.Sim.Now;
                Reply(n);
                ServeNext();
                break;
            case NapsterMessage.QueryReply:
                OnReply(ev.Lookup);
                break;
            case NapsterMessage.QueryTimeout:
                Net.Lookups[ev.Lookup].Timeouts++;
                Net.Lookups.Fail(ev.Lookup);
                break;
            case NapsterMessage.Fetch:
                Net.Transport.Send(n, ev.Src, new Event { Lookup = ev.Lookup, Arg = _store.NodeHolds(n, Net.Lookups[ev.Lookup].KeyIndex) ? 1 : 0, Sink = Sink, Type = (byte)NapsterMessage.FetchReply }, FetchReplyBytes);
                break;
            case NapsterMessage.FetchReply:
                if (ev.Arg == 1) Found(ev.Lookup, ev.Src);
                else TryNextHolder(ev.Lookup);
                break;
            case NapsterMessage.FetchTimeout:
                Net.Lookups[ev.Lookup].Timeouts++;
                TryNextHolder(ev.Lookup);
                break;
            default:
                Maintain(ref ev);
                break;
        }
    }

    /// <summary>Starts serving the head of the queue (a query whose lookup has ended meanwhile is skipped, at no cost).</summary>
    private void ServeNext()
    {
        _serving = false;
        while (_queue.Count > 0)
        {
            var (lookup, gen, arrival) = _queue.Peek();
            if (!Net.Lookups.Table.IsCurrent(lookup, gen))
            {
                _queue.Dequeue();
                continue;
            }
            ref LookupRecord r = ref Net.Lookups[lookup];
            if (r.Measured) _delays.Add(Net.Sim.Now - arrival);
            if (Net.Window.IsOpen) _servedInWindow++;
            _serving = true;
            Net.Sim.Schedule(_service, new Event { Dst = _server, Src = _server, Lookup = -1, Sink = Sink, Type = (byte)NapsterMessage.ServiceDone });
            return;
        }
    }

    /// <summary>The query at the head of the queue is served: the reply lists its first live-by-the-index holders.</summary>
    private void Reply(int server)
    {
        var (lookup, gen, _) = _queue.Dequeue();
        if (!Net.Lookups.Table.IsCurrent(lookup, gen)) return;
        ref LookupRecord r = ref Net.Lookups[lookup];
        int key = r.KeyIndex, found = 0;
        long[] list = _index[key];
        int count = _indexCount[key];
        Span<int> results = _results.Row(lookup);
        for (int i = 0; i < count;)
        {
            int peer = (int)(list[i] >> 32), registration = (int)list[i];
            if (!_peers.TryGetValue(peer, out var known) || known.Registration != registration || Expired(peer, known.LastSeen))
            {
                list[i] = list[--count]; // a stale pair: dropped
                continue;
            }
            if (found < results.Length) results[found++] = peer;
            i++;
        }
        _indexCount[key] = count;
        _resultCount[lookup] = found;
        Net.Transport.Send(server, r.Origin, new Event { Lookup = lookup, Sink = Sink, Type = (byte)NapsterMessage.QueryReply }, Header + HolderBytes * found);
    }

    /// <summary>A peer not heard from for keep_alive_timeout is dropped (with the protocol); it is forgotten here.</summary>
    private bool Expired(int peer, long lastSeen)
    {
        // While the server was down it heard nobody: the time-out counts from its return at the earliest.
        if (!_o.Dynamic || Net.Sim.Now - Math.Max(lastSeen, _upSince) <= _o.KeepAliveTimeout) return false;
        _peers.Remove(peer);
        return true;
    }

    private void OnReply(int lookup)
    {
        ref LookupRecord r = ref Net.Lookups[lookup];
        r.Hops = 1;
        int found = _resultCount[lookup];
        if (found == 0)
        {
            Net.Lookups.Fail(lookup); // no holder in the index
            return;
        }
        _first[lookup] = _rng.NextInt(found);
        _attempt[lookup] = 0;
        Fetch(lookup);
    }

    private void Fetch(int lookup)
    {
        ref LookupRecord r = ref Net.Lookups[lookup];
        int found = _resultCount[lookup];
        int holder = _results.At(lookup, (_first[lookup] + _attempt[lookup]) % found);
        _attempt[lookup]++;
        SendLookupRequest(r.Origin, holder, new Event { Lookup = lookup, Sink = Sink, Type = (byte)NapsterMessage.Fetch }, FetchBytes);
    }

    private void TryNextHolder(int lookup)
    {
        if (_attempt[lookup] < _resultCount[lookup]) Fetch(lookup);
        else
        {
            if (Net.Lookups[lookup].Measured) _fetchMetric.Add(_attempt[lookup]);
            Net.Lookups.Fail(lookup);
        }
    }

    private void Found(int lookup, int holder)
    {
        if (Net.Lookups.Answer(lookup, holder, valueReturned: true)) _fetchMetric.Add(_attempt[lookup]);
    }

    /// <summary>A lost query (the server is down) or fetch (the holder is dead) times out after rpc_timeout.</summary>
    protected override bool TimeoutFor(in Event request, out Event timeout)
    {
        NapsterMessage type = (NapsterMessage)request.Type switch
        {
            NapsterMessage.Query => NapsterMessage.QueryTimeout,
            NapsterMessage.Fetch => NapsterMessage.FetchTimeout,
            _ => 0,
        };
        timeout = new Event { Dst = request.Src, Src = request.Src, Lookup = request.Lookup, LookupGen = request.LookupGen, Arg = request.Dst, Sink = Sink, Type = (byte)type };
        return type != 0;
    }

    /// <summary>
    /// rpc_timeout, but never below the pair's round trip: a query delivered to a live server waits in its queue for as
    /// long as the queue takes (only a lost one times out), and a holder that is alive always answers.
    /// </summary>
    protected override long RequestTimeout(byte type, long roundTrip) => Math.Max(_o.RpcTimeout, roundTrip);

    // ---- the protocol and the server's failure -------------------------------------------------------

    private void StartKeepAlive(int peer)
    {
        if (!_maintenance) return;
        Net.Sim.Schedule(1 + (long)(_rng.NextDouble() * _o.KeepAlive), new Event { Dst = peer, Src = peer, Lookup = -1, Sink = Sink, Type = (byte)NapsterMessage.KeepAliveTimer });
    }

    public override void OnJoin(int node, int bootstrap)
    {
        Net.Population.Joined(node);
        if (IsServer(node))
        {
            _server = node; // back up, with the index it had on disk
            _upSince = Net.Sim.Now;
            return;
        }
        Register(node);
        StartKeepAlive(node);
    }

    private void Register(int peer)
    {
        List<int> items = _store.KeysOf(peer);
        Net.Transport.SendMaintenance(peer, _server, new Event { Sink = Sink, Type = (byte)NapsterMessage.Register }, RegisterBytes + ItemBytes * items.Count);
    }

    public override void OnLeave(int node)
    {
        if (!IsServer(node)) Net.Transport.SendMaintenance(node, _server, new Event { Sink = Sink, Type = (byte)NapsterMessage.Deregister }, RegisterBytes);
    }

    public override void OnDeparted(int node, bool graceful)
    {
        if (!IsServer(node)) return;
        // The server has crashed: its clients' connections break, and the queries waiting in its queue fail.
        while (_queue.Count > 0)
        {
            var (lookup, gen, _) = _queue.Dequeue();
            if (Net.Lookups.Table.IsCurrent(lookup, gen)) Net.Lookups.Fail(lookup);
        }
        _serving = false;
    }

    public override void StopMaintenance() => _maintenance = false;

    private void Maintain(ref Event ev)
    {
        int n = ev.Dst;
        switch ((NapsterMessage)ev.Type)
        {
            case NapsterMessage.Register:
            {
                // The peer's items as it lists them now: those it still holds.
                int registration = ++_registrations;
                _peers[ev.Src] = (registration, Net.Sim.Now);
                if (Net.Nodes.IsAlive(ev.Src))
                    foreach (int key in _store.KeysOf(ev.Src)) AddToIndex(key, ev.Src, registration);
                break;
            }
            case NapsterMessage.Deregister:
                _peers.Remove(ev.Src);
                break;
            case NapsterMessage.KeepAlive:
                if (_peers.TryGetValue(ev.Src, out var known) && !Expired(ev.Src, known.LastSeen)) _peers[ev.Src] = (known.Registration, Net.Sim.Now);
                else Net.Transport.SendMaintenance(n, ev.Src, new Event { Sink = Sink, Type = (byte)NapsterMessage.KeepAliveUnknown }, KeepAliveBytes);
                break;
            case NapsterMessage.KeepAliveUnknown:
                Register(n);
                break;
            case NapsterMessage.KeepAliveTimer:
                if (!_maintenance) break;
                Net.Transport.SendMaintenance(n, _server, new Event { Sink = Sink, Type = (byte)NapsterMessage.KeepAlive }, KeepAliveBytes);
                Net.Sim.Schedule(_o.KeepAlive, new Event { Dst = n, Src = n, Lookup = -1, Sink = Sink, Type = (byte)NapsterMessage.KeepAliveTimer });
                break;
            case NapsterMessage.ServerDown:
                Net.Population.DepartMachine(_serverMachine, graceful: false);
                Net.Sim.Schedule(_o.ServerDownFor, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = Sink, Type = (byte)NapsterMessage.ServerUp });
                break;
            case NapsterMessage.ServerUp:
                Net.Population.JoinMachine(_serverMachine, newId: false);
                break;
        }
    }
}
