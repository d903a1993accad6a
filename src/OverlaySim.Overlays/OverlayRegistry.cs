using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>What the harness knows about one overlay: its parameters, how to build it, and its memory cost.</summary>
/// <param name="Name">The name used in scenarios (<c>overlays: - chord: {...}</c>).</param>
/// <param name="Description">One line for <c>overlaysim list</c>.</param>
/// <param name="Parameters">Its scenario parameters, with defaults and ranges.</param>
/// <param name="HopsDefinition">What its <c>hops</c> and (if any) <c>paper_hops</c> count.</param>
/// <param name="Create">Builds a new instance from validated parameter values.</param>
/// <param name="BytesPerNode">Estimated memory per node at a given size, for the pre-run memory check.</param>
/// <param name="IsDynamic">Whether these parameters run the overlay's protocol (which can follow churn) rather than a converged model.</param>
/// <param name="DynamicHint">How to ask for the protocol, for the error message when churn meets a converged model.</param>
/// <param name="VirtualNodes">v, the ids each machine runs, from these parameters.</param>
/// <param name="Metrics">The metrics it registers beside the common ones (columns of runs.csv).</param>
public sealed record OverlayInfo(
    string Name,
    string Description,
    IReadOnlyList<ParamSpec> Parameters,
    string HopsDefinition,
    Func<ParamValues, Overlay> Create,
    Func<ParamValues, long, long> BytesPerNode,
    Func<ParamValues, bool> IsDynamic,
    string DynamicHint,
    Func<ParamValues, int> VirtualNodes,
    IReadOnlyList<OverlayMetric> Metrics);

/// <summary>Every overlay OverlaySim can run. Adding an overlay is one file plus one entry here.</summary>
public static class OverlayRegistry
{
    // Declared before All: static fields initialise in text order.
    private static readonly ParamSpec[] KademliaParameters =
    [
        ParamSpec.Int("k", 20, 1, 200, "k in the Kademlia paper: bucket size and number of copies of each value"),
        ParamSpec.Int("alpha", 3, 1, 64, "α in the Kademlia paper: parallel RPCs of a lookup"),
        ParamSpec.Choice("protocol", "static", "static: converged buckets from the global view, no maintenance; dynamic: joins, pings, bucket refresh and republish (needed under churn)", "static", "dynamic"),
        ParamSpec.Duration("rpc_timeout", 1_000_000, 1_000, 3_600_000_000, "time an RPC waits for its answer"),
        ParamSpec.Real("rpc_timeout_rtts", 0, 0, 100, "when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout"),
        ParamSpec.Duration("lookup_timeout", 60_000_000, 1_000, 86_400_000_000, "a lookup not finished by then has failed"),
        ParamSpec.Duration("bucket_refresh", 3_600_000_000, 1_000_000, 365L * 86_400_000_000, "tRefresh: a bucket without a lookup for this long is refreshed (dynamic)"),
        ParamSpec.Duration("republish", 3_600_000_000, 1_000_000, 365L * 86_400_000_000, "tRepublish: period at which each key is looked up and stored again on the k closest (dynamic)"),
        ParamSpec.Duration("expire", 86_400_000_000, 1_000_000, 365L * 86_400_000_000, "tExpire: a copy not stored again for this long no longer answers FIND_VALUE (dynamic)"),
        ParamSpec.Int("replacement_cache", 5, 0, 64, "replacement cache entries per bucket (dynamic)"),
        new ParamSpec("store_keys", ParamKind.Bool, true, "store the workload's keys on their k closest nodes (FIND_VALUE, keys_lost, value_found_rate)"),
        ParamSpec.Int("value_bytes", 0, 0, 1 << 30, "size of each stored value, for the bytes of STORE and FIND_VALUE replies"),
    ];

    private static readonly ParamSpec[] ChordParameters =
    [
        ParamSpec.Int("successors", ChordOptions.Default.Successors, 1, 64, "r: length of each node's successor list"),
        ParamSpec.Choice("protocol", "static", "static: the converged ring built from the global view; dynamic: the protocol run message by message (needed under churn)", "static", "dynamic"),
        ParamSpec.Int("virtual_nodes", 1, 1, 256, "v: ids (virtual nodes) per machine, for load balance; nodes counts machines"),
        ParamSpec.Choice("lookup", "recursive", "dynamic: recursive (forwarded hop by hop, each hop acknowledged) or iterative (the origin asks each hop)", "recursive", "iterative"),
        ParamSpec.Choice("start", "converged", "dynamic: start from the converged ring, or grow it by joins over join_over", "converged", "joins"),
        ParamSpec.Duration("join_over", 60_000_000, 0, 86_400_000_000, "dynamic, start: joins: the initial nodes join at uniform random times in [0, join_over)"),
        ParamSpec.Duration("stabilize_every", 30_000_000, 1_000, 86_400_000_000, "dynamic: period of stabilize (successor, predecessor and successor list)"),
        ParamSpec.Duration("fix_fingers_every", 30_000_000, 1_000, 86_400_000_000, "dynamic: period of fix_fingers"),
        ParamSpec.Choice("fix_fingers", "one", "dynamic: refresh one finger per round (round robin) or all of them", "one", "all"),
        ParamSpec.Duration("check_predecessor_every", 30_000_000, 1_000, 86_400_000_000, "dynamic: period of check_predecessor"),
        new ParamSpec("randomize_periods", ParamKind.Bool, true, "dynamic: draw each period uniformly in [0.5, 1.5] times its value"),
        ParamSpec.Duration("rpc_timeout", 1_000_000, 1_000, 3_600_000_000, "dynamic: time an RPC (a hop, a stabilize, a ping) waits for its answer"),
        ParamSpec.Real("rpc_timeout_rtts", 0, 0, 100, "dynamic: when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout"),
        ParamSpec.Int("max_retries", 4, 0, 64, "dynamic: timeouts a lookup survives (each retried through the next-best entry) before it fails"),
        ParamSpec.Duration("lookup_timeout", 60_000_000, 1_000, 86_400_000_000, "dynamic: a lookup not answered by then has failed"),
        ParamSpec.Int("fingers", 0, 0, 160, "dynamic: F, finger levels kept (the top F of id_bits); 0 = 2*log2(N) + 8"),
        new ParamSpec("store_keys", ParamKind.Bool, true, "dynamic: store the workload's keys at their responsible node and replicas (keys_lost, value_found_rate)"),
        ParamSpec.Int("replicas", 8, 0, 64, "dynamic: successors that keep a copy of each key (r in the paper), refreshed at every stabilize; larger than successors means successors"),
        ParamSpec.Int("value_bytes", 0, 0, 1 << 30, "dynamic: size of each stored value, for the bytes of key transfers"),
    ];

    public static IReadOnlyList<OverlayInfo> All { get; } =
    [
        new OverlayInfo(
            "chord",
            "Chord (Stoica et al., SIGCOMM 2001; ToN 2003): converged ring (protocol: static) or the join/stabilize/fix_fingers protocol under churn (protocol: dynamic)",
            ChordParameters,
            "hops: request messages until the responsible node (successor of the key) holds the request; " +
            "paper_hops: until the key's predecessor, the Chord paper's path length (mean about ½·log2 N)",
            v => v.Text("protocol") == "dynamic" ? new ChordProtocol(ToProtocolOptions(v)) : new ChordRing(ToChordOptions(v)),
            (v, n) => v.Text("protocol") == "dynamic"
                ? ChordProtocol.BytesPerNode(ToProtocolOptions(v), n * v.Int("virtual_nodes")) * v.Int("virtual_nodes")
                : ChordRing.BytesPerNode(ToChordOptions(v), n * v.Int("virtual_nodes")) * v.Int("virtual_nodes"),
            v => v.Text("protocol") == "dynamic",
            "set protocol: dynamic",
            v => (int)v.Int("virtual_nodes"),
            [ChordSizes.PaperHops]),
        new OverlayInfo(
            "kademlia",
            "Kademlia (Maymounkov and Mazières, IPTPS 2002): XOR metric, k-buckets, α-parallel iterative lookups, STORE/FIND_VALUE; converged buckets (protocol: static) or the protocol under churn (protocol: dynamic)",
            KademliaParameters,
            "hops: length of the chain of referrals from the origin to the node that answered (the closest found, or the one that returned the value); " +
            "rounds_mean: parallel rounds until that node was queried; rpcs_per_lookup: RPCs the origin sent",
            v => new Kademlia(ToKademliaOptions(v)),
            (v, n) => Kademlia.BytesPerNode(ToKademliaOptions(v), n),
            v => v.Text("protocol") == "dynamic",
            "set protocol: dynamic",
            _ => 1,
            [Kademlia.RoundsMetric, Kademlia.RpcsMetric]),
    ];


    public static OverlayInfo? Find(string name)
    {
        foreach (OverlayInfo info in All)
            if (info.Name == name) return info;
        return null;
    }

    private static ChordOptions ToChordOptions(ParamValues v) => new(Successors: (int)v.Int("successors"));

    private static KademliaOptions ToKademliaOptions(ParamValues v) => new()
    {
        K = (int)v.Int("k"),
        Alpha = (int)v.Int("alpha"),
        Dynamic = v.Text("protocol") == "dynamic",
        RpcTimeout = v.Duration("rpc_timeout"),
        RpcTimeoutRtts = v.Real("rpc_timeout_rtts"),
        LookupTimeout = v.Duration("lookup_timeout"),
        BucketRefresh = v.Duration("bucket_refresh"),
        Republish = v.Duration("republish"),
        Expire = v.Duration("expire"),
        ReplacementCache = (int)v.Int("replacement_cache"),
        StoreKeys = v.Bool("store_keys"),
        ValueBytes = (int)v.Int("value_bytes"),
    };

    private static ChordProtocolOptions ToProtocolOptions(ParamValues v) => new()
    {
        Successors = (int)v.Int("successors"),
        Fingers = (int)v.Int("fingers"),
        Lookup = v.Text("lookup") == "iterative" ? ChordLookupStyle.Iterative : ChordLookupStyle.Recursive,
        StartConverged = v.Text("start") == "converged",
        JoinOver = v.Duration("join_over"),
        StabilizeEvery = v.Duration("stabilize_every"),
        FixFingersEvery = v.Duration("fix_fingers_every"),
        FixAllFingers = v.Text("fix_fingers") == "all",
        CheckPredecessorEvery = v.Duration("check_predecessor_every"),
        RandomizePeriods = v.Bool("randomize_periods"),
        RpcTimeout = v.Duration("rpc_timeout"),
        RpcTimeoutRtts = v.Real("rpc_timeout_rtts"),
        MaxRetries = (int)v.Int("max_retries"),
        LookupTimeout = v.Duration("lookup_timeout"),
        StoreKeys = v.Bool("store_keys"),
        Replicas = (int)Math.Min(v.Int("replicas"), v.Int("successors")),
        ValueBytes = (int)v.Int("value_bytes"),
    };
}
