using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// What the harness knows about one overlay: its parameters (from its options record, see <see cref="OptionsSchema"/>),
/// how to build it, its memory cost and the metrics it adds.
/// </summary>
/// <remarks>Made by <see cref="OverlayInfo.Of{TOptions}"/>, so that every question is asked of the typed options record.</remarks>
public sealed class OverlayInfo
{
    private readonly OptionsSchema _schema;
    private readonly Func<object, Overlay> _create;
    private readonly Func<object, long, long> _bytesPerNode;
    private readonly Func<object, long> _bytesPerKey;
    private readonly Func<object, bool> _supportsChurn;
    private readonly Func<object, int> _virtualNodes;
    private readonly Func<object, long> _buildBytesPerNode;

    private OverlayInfo(string name, string description, string hopsDefinition, OptionsSchema schema, Func<object, Overlay> create,
        Func<object, long, long> bytesPerNode, Func<object, long> bytesPerKey, Func<object, bool> supportsChurn,
        IReadOnlyList<KeyValuePair<string, string>> churnVariant, Func<object, int> virtualNodes, IReadOnlyList<OverlayMetric> metrics,
        bool placesKeys, int servers, Func<object, long> buildBytesPerNode, bool hasZones)
    {
        _buildBytesPerNode = buildBytesPerNode;
        HasZones = hasZones;
        PlacesKeys = placesKeys;
        Servers = servers;
        Name = name;
        Description = description;
        HopsDefinition = hopsDefinition;
        _schema = schema;
        _create = create;
        _bytesPerNode = bytesPerNode;
        _bytesPerKey = bytesPerKey;
        _supportsChurn = supportsChurn;
        ChurnVariant = churnVariant;
        _virtualNodes = virtualNodes;
        Metrics = metrics;
    }

    /// <param name="name">The name used in scenarios (<c>overlays: - chord: {...}</c>).</param>
    /// <param name="description">One line for <c>overlaysim list</c>.</param>
    /// <param name="hopsDefinition">What its <c>hops</c> and its own metrics count.</param>
    /// <param name="create">Builds a new instance from its options.</param>
    /// <param name="bytesPerNode">Estimated peak memory per machine at a given number of machines, for the pre-run memory check.</param>
    /// <param name="bytesPerKey">Estimated memory per key of the workload it stores (0 if it stores none).</param>
    /// <param name="supportsChurn">Whether these options run a model that can follow churn.</param>
    /// <param name="churnVariant">The parameters that select such a model (e.g. protocol: dynamic); empty if it has none.</param>
    /// <param name="virtualNodes">v, the ids each machine runs.</param>
    /// <param name="metrics">The metrics it registers beside the common ones (columns of runs.csv).</param>
    /// <param name="placesKeys">Whether it places keys by a rule of its own (a DHT); false for an overlay that takes the
    /// workload's replication (<c>workload.replication</c>).</param>
    /// <param name="servers">Server machines it adds beside the peers (a central index: 1).</param>
    /// <param name="buildBytesPerNode">Memory per node its build needs for a while and gives back (a graph generator's temporaries).</param>
    /// <param name="hasZones">Whether it cuts a coordinate space into zones and reports their volumes (zones.csv).</param>
    public static OverlayInfo Of<TOptions>(string name, string description, string hopsDefinition, Func<TOptions, Overlay> create,
        Func<TOptions, long, long> bytesPerNode, Func<TOptions, long> bytesPerKey, Func<TOptions, bool> supportsChurn,
        IReadOnlyList<KeyValuePair<string, string>> churnVariant, Func<TOptions, int> virtualNodes, IReadOnlyList<OverlayMetric> metrics,
        bool placesKeys = true, int servers = 0, Func<TOptions, long>? buildBytesPerNode = null, bool hasZones = false)
        where TOptions : class, new() =>
        new(name, description, hopsDefinition, OptionsSchema.For<TOptions>(), o => create((TOptions)o), (o, n) => bytesPerNode((TOptions)o, n),
            o => bytesPerKey((TOptions)o), o => supportsChurn((TOptions)o), churnVariant, o => virtualNodes((TOptions)o), metrics, placesKeys, servers,
            o => buildBytesPerNode?.Invoke((TOptions)o) ?? 0, hasZones);

    public string Name { get; }
    public string Description { get; }
    public string HopsDefinition { get; }
    /// <summary>The parameters that select the model that can follow churn (empty if the overlay has none).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ChurnVariant { get; }

    /// <summary>How to ask for that model: "set protocol: dynamic", for the error message when churn meets one that cannot.</summary>
    public string ChurnHint => ChurnVariant.Count == 0
        ? $"overlay '{Name}' has no model that follows churn"
        : "set " + string.Join(", ", ChurnVariant.Select(kv => $"{kv.Key}: {kv.Value}"));
    public IReadOnlyList<OverlayMetric> Metrics { get; }

    /// <summary>Whether it cuts a coordinate space into zones and reports their volumes (zones.csv).</summary>
    public bool HasZones { get; }

    /// <summary>Server machines it adds beside the scenario's nodes (peers).</summary>
    public int Servers { get; }

    /// <summary>Whether it places keys by its own rule (a DHT), rather than by the workload's replication.</summary>
    public bool PlacesKeys { get; }

    /// <summary>Its scenario parameters, with defaults, ranges and where each takes effect.</summary>
    public IReadOnlyList<ParamSpec> Parameters => _schema.Parameters;

    /// <summary>The options record from validated values (parameters missing keep their defaults).</summary>
    public object Bind(ParamValues values) => _schema.Create(values);

    public Overlay Create(object options) => _create(options);

    public long BytesPerNode(object options, long machines) => _bytesPerNode(options, machines);

    public long BytesPerKey(object options) => _bytesPerKey(options);

    /// <summary>Bytes per node the build needs for a while beyond what the run keeps (counted in the peak estimate).</summary>
    public long BuildBytesPerNode(object options) => _buildBytesPerNode(options);

    public bool SupportsChurn(object options) => _supportsChurn(options);

    public int VirtualNodes(object options) => _virtualNodes(options);
}

/// <summary>Every overlay OverlaySim can run. Adding an overlay is one file (or folder) plus one entry here.</summary>
public static class OverlayRegistry
{
    public static IReadOnlyList<OverlayInfo> All { get; } =
    [
        OverlayInfo.Of<ChordOptions>(
            "chord",
            "Chord (Stoica et al., SIGCOMM 2001; ToN 2003): converged ring (protocol: static) or the join/stabilize/fix_fingers protocol under churn (protocol: dynamic)",
            "hops: request messages until the responsible node (successor of the key) holds the request; " +
            "paper_hops: until the key's predecessor, the Chord paper's path length (mean about ½·log2 N)",
            o => o.IsDynamic ? new ChordProtocol(o) : new ChordRing(o),
            (o, machines) => o.VirtualNodes * (o.IsDynamic
                ? ChordProtocol.BytesPerNode(o, machines * o.VirtualNodes)
                : ChordRing.BytesPerNode(o, machines * o.VirtualNodes)),
            o => o.IsDynamic ? ChordProtocol.BytesPerKey(o) : 0,
            o => o.IsDynamic,
            [new("protocol", "dynamic")],
            o => o.VirtualNodes,
            [ChordSizes.PaperHops]),
        OverlayInfo.Of<KademliaOptions>(
            "kademlia",
            "Kademlia (Maymounkov and Mazières, IPTPS 2002): XOR metric, k-buckets, α-parallel iterative lookups, STORE/FIND_VALUE; converged buckets (protocol: static) or the protocol under churn (protocol: dynamic)",
            "hops: length of the chain of referrals from the origin to the node that answered (the closest found, or the one that returned the value); " +
            "rounds_mean: parallel rounds until that node was queried; rpcs_per_lookup: RPCs the origin sent",
            o => new Kademlia(o),
            Kademlia.BytesPerNode,
            Kademlia.BytesPerKey,
            o => o.Dynamic,
            [new("protocol", "dynamic")],
            _ => 1,
            [Kademlia.RoundsMetric, Kademlia.RpcsMetric, Kademlia.BucketsMetric]),
        OverlayInfo.Of<PastryOptions>(
            "pastry",
            "Pastry (Rowstron and Druschel, Middleware 2001): prefix routing on digits of b bits, leaf set, proximity neighbour selection; converged state (protocol: static) or the join/keep-alive/repair protocol under churn (protocol: dynamic)",
            "hops: route messages until the numerically closest node holds the message (the paper's routing hops); " +
            "rare_hop_share: share of hops that took the rare case; stretch: route latency over the direct latency",
            o => o.IsDynamic ? new PastryProtocol(o) : new Pastry(o),
            (o, nodes) => o.IsDynamic ? PastryProtocol.BytesPerNode(o, nodes) : Pastry.BytesPerNode(o, nodes),
            PastryProtocol.BytesPerKey,
            o => o.IsDynamic,
            [new("protocol", "dynamic")],
            _ => 1,
            [PastrySizes.RareHops, PastrySizes.Stretch]),
        OverlayInfo.Of<CanOptions>(
            "can",
            "CAN (Ratnasamy et al., SIGCOMM 2001): zones of a d-torus split by random joins, greedy forwarding to the neighbour closest to the key's point, with the paper's design knobs (realities, RTT-weighted routing, zone overloading, hash functions, uniform partitioning, landmarks); built from the global view (protocol: static) or the join/update/takeover protocol under churn (protocol: dynamic, bare bones)",
            "hops: route messages until a node whose zone (in any reality) holds the key's point holds the message (with k hash functions, the route answered first); " +
            "stretch: route latency over the direct latency; hop_, path_ and ip_latency_mean_ms: the route's latency per hop and in all, and the direct latency; neighbours_mean, peers_mean: the paper's # neighbors and # peers",
            o => o.IsDynamic ? new CanProtocol(o) : new Can(o),
            (o, nodes) => o.IsDynamic ? CanProtocol.BytesPerNode(o, nodes) : Can.BytesPerNode(o, nodes),
            CanProtocol.BytesPerKey,
            o => o.IsDynamic,
            [new("protocol", "dynamic")],
            _ => 1,
            [RouteStretch.Metric, CanSizes.RouteLatency, CanSizes.Neighbours],
            hasZones: true),
        OverlayInfo.Of<GnutellaOptions>(
            "gnutella",
            "Gnutella-style unstructured overlay: random, regular, power-law, preferential-attachment or two-tier (ultrapeer) graphs searched by flooding, expanding rings or k random walkers (Lv et al., ICS 2002); items placed by workload.replication",
            "hops: links the query crossed from the origin to the holder whose hit reached the origin first (random walk: the finding walker's steps); " +
            "duplicates: query copies that reached a node again; visited: distinct nodes reached; hits: holders reached",
            o => new Gnutella(o),
            Gnutella.BytesPerNode,
            _ => 0,
            o => o.Dynamic,
            [new("protocol", "dynamic")],
            _ => 1,
            [Gnutella.DuplicatesMetric, Gnutella.VisitedMetric, Gnutella.HitsMetric],
            placesKeys: false,
            buildBytesPerNode: Gnutella.BuildBytesPerNode),
        OverlayInfo.Of<NapsterOptions>(
            "napster",
            "Napster-style central index: one server (a machine of its own) lists the holders of every item, answers queries from a FIFO queue at service_rate, and can fail; items placed by workload.replication",
            "hops: 1, the request to the index (the holder contacted afterwards counts in messages and latency); fetch_attempts: holders contacted",
            o => new Napster(o),
            Napster.BytesPerNode,
            _ => 64,
            o => o.Dynamic,
            [new("protocol", "dynamic")],
            _ => 1,
            [Napster.FetchMetric, Napster.ServerMetric],
            placesKeys: false,
            servers: 1,
            buildBytesPerNode: _ => Napster.BuildBytesPerNode),
    ];

    public static OverlayInfo? Find(string name)
    {
        foreach (OverlayInfo info in All)
            if (info.Name == name) return info;
        return null;
    }
}
