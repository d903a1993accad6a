using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>What a Pastry node repairs when it finds a node dead (protocol: dynamic).</summary>
public enum PastryRepair : byte
{
    /// <summary>Leaf set, routing table (lazily) and neighbourhood set.</summary>
    All,
    /// <summary>The leaf set only.</summary>
    LeafSet,
    /// <summary>Nothing: a dead node is only removed.</summary>
    None,
}

/// <summary>
/// Pastry's scenario parameters (Rowstron and Druschel, Middleware 2001), with the paper's symbols: this record is the
/// schema, its initial values the defaults.
/// </summary>
public sealed record PastryOptions : IOptionsCheck
{
    [Param("b in the Pastry paper: bits per digit; ids are read as digits of b bits, and the routing table has 2^b columns", Min = 1, Max = 8)]
    public int B { get; init; } = 4;

    [Param("|L| in the Pastry paper: leaf set size, the |L|/2 numerically closest smaller and larger ids", Min = 2, Max = 128)]
    public int LeafSet { get; init; } = 16;

    [Param("proximity neighbour selection: candidates examined for each routing-table entry (all of them when fewer), the closest by the latency model kept; 0: no proximity, the first candidate in id order. 65536 is the complete choice up to about 10^6 nodes (a row-0 entry has N/2^b candidates) and costs time in proportion. With protocol: dynamic this builds the converged start, and afterwards any value > 0 means that a node learning of a closer candidate for an occupied entry takes it (0: the first one learned stays)", Min = 0, Max = 65_536)]
    public int ProximitySamples { get; init; } = 32;

    [Param("static: the converged state built from the global view; dynamic: the protocol run message by message (joins, failures, repair; needed under churn)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("|M| in the Pastry paper: neighbourhood set size, the nodes closest by the latency model that a node knows of; a joining node takes its nearby node's set, and each node probes its members every neighbour_probe_every", Min = 1, Max = 256, Only = "protocol=dynamic")]
    public int Neighbourhood { get; init; } = 32;

    [Param("the nearby node a joining node starts from: the closest by the latency model of this many joined nodes drawn at random (the paper assumes a node knows a nearby node; 1: a random one)", Min = 1, Max = 1024, Only = "protocol=dynamic")]
    public int JoinNearby { get; init; } = 16;

    [Param("period of the leaf-set keep-alive: a node probes every member of its leaf set, and one whose leaf set changed since the last round sends it to its nearest neighbour on each side, who answer with theirs", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long LeafKeepaliveEvery { get; init; } = 30_000_000;

    [Param("period at which a node probes each member of its neighbourhood set", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long NeighbourProbeEvery { get; init; } = 60_000_000;

    [Param("period at which a node probes every entry of its routing table, MSPastry's addition (Castro, Costa and Rowstron, DSN 2004); 0: never, as in the paper, where a dead entry is found when a route meets it (a timeout)", Unit = ParamUnit.Time, Min = 0, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long TableProbeEvery { get; init; }

    [Param("what a node repairs when it finds a node dead: all (its leaf set: ask the farthest live leaf on that side for its leaf set; its routing table, lazily: ask the other entries of the row, then of the next row; its neighbourhood set: ask a member for its set), leaf_set (the leaf set only; dead table and M entries are just removed, the paper's §3.4 'no routing table repair'), none (dead nodes are just removed)", Only = "protocol=dynamic")]
    public PastryRepair Repair { get; init; } = PastryRepair.All;

    [Param("time an RPC (a hop, a probe, a repair request) waits for its answer; shorter than a pair's round trip, a hop is still retried correctly (its acknowledgement is awaited), but a probe or repair request times out before its answer can come and takes a live node for dead", Unit = ParamUnit.Time, Min = 1_000, Max = 3_600_000_000, Only = "protocol=dynamic,rpc_timeout_rtts=0")]
    public long RpcTimeout { get; init; } = 1_000_000;

    [Param("when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout", Min = 0, Max = 100, Only = "protocol=dynamic")]
    public double RpcTimeoutRtts { get; init; }

    [Param("timeouts a lookup survives (each hop retried from the same node through its next-best entry) before it fails", Min = 0, Max = 64, Only = "protocol=dynamic")]
    public int MaxRetries { get; init; } = 4;

    [Param("a lookup not answered by then has failed", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long LookupTimeout { get; init; } = 60_000_000;

    [Param("store the workload's keys on their k numerically closest nodes (keys_lost, value_found_rate)", Only = "protocol=dynamic")]
    public bool StoreKeys { get; init; } = true;

    [Param("k in the Pastry and PAST papers: copies of each stored key, on the k numerically closest nodes; at most |L|/2 + 1, the nodes a key's closest node sees on each side", Min = 1, Max = 65, Only = "protocol=dynamic,store_keys=true")]
    public int K { get; init; } = 5;

    [Param("size of each stored value, for the bytes of key transfers and of answers that return the value", Min = 0, Max = 1 << 30, Only = "protocol=dynamic,store_keys=true")]
    public int ValueBytes { get; init; }

    /// <summary>Whether the protocol runs (rather than the converged state).</summary>
    public bool IsDynamic => Protocol == OverlayProtocol.Dynamic;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (IsDynamic && StoreKeys && K > LeafSet / 2 + 1)
            yield return ("k", $"{K} copies need the key's closest node to see {K - 1} nodes on each side, but leaf_set {LeafSet} shows it {LeafSet / 2}: raise leaf_set to at least {2 * (K - 1)} or lower k");
        if (LeafSet % 2 != 0)
            yield return ("leaf_set", $"{LeafSet} cannot be split into |L|/2 smaller and |L|/2 larger ids: use an even leaf set size");
    }
}
