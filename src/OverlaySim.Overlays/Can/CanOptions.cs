using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>How a CAN's zones are made (scenario key <c>partition</c>).</summary>
public enum CanPartition : byte
{
    /// <summary>The paper's join (§2.2): the zone holding the joining node's random point is split in half.</summary>
    Random,
    /// <summary>§3.7's more uniform partitioning: of that zone and its neighbours, the one of largest volume is split.</summary>
    Uniform,
    /// <summary>Equal zones, the split tree complete to depth log2 N (N a power of two): the analysis's perfect grid.</summary>
    Grid,
}

/// <summary>
/// CAN's scenario parameters (Ratnasamy, Francis, Handley, Karp and Shenker, SIGCOMM 2001), with the paper's symbols:
/// this record is the schema, its initial values the defaults (the paper's "bare bones" CAN).
/// </summary>
public sealed record CanOptions : IOptionsCheck
{
    [Param("d in the CAN paper: dimensions of the coordinate space, a d-torus of side 1; a zone has about 2d neighbours and a route about (d/4)·N^(1/d) hops (§2, §3.1)", Min = 1, Max = 16)]
    public int Dimensions { get; init; } = 2;

    [Param("r in the CAN paper: realities, independent coordinate spaces; a node owns one zone in each, a key is stored in each, and a node forwards to whichever of its neighbours in any reality is closest to the key's point (§3.2)", Min = 1, Max = 16)]
    public int Realities { get; init; } = 1;

    [Param("RTT-weighted routing (§3.3): forward to the neighbour with the largest ratio of progress toward the key's point to the round-trip time to it, rather than to the one closest to the point")]
    public bool RttWeighted { get; init; }

    [Param("MAXPEERS in the CAN paper (p in its tables of the bare-bones and knobs-on-full designs): the most other nodes a node shares its zone with (§3.4, zone overloading); a joining node becomes a peer in a zone that has room, and a full zone is split with its nodes shared between the halves; a node keeps, of each neighbouring zone, the member with the lowest latency to it; 0: one node per zone", Min = 0, Max = 32)]
    public int MaxPeers { get; init; }

    [Param("k in the CAN paper: hash functions (§3.5); a key is stored at the owners of k points, and a lookup is routed to all k at once, the first answer taken", Min = 1, Max = 8)]
    public int HashFunctions { get; init; } = 1;

    [Param("how zones are made: random (the paper's join: the zone holding a random point is split in half), uniform (§3.7: the largest of that zone and its neighbours is split), grid (equal zones, N a power of two: the perfect grid of the analysis)")]
    public CanPartition Partition { get; init; } = CanPartition.Random;

    [Param("m in the CAN paper: landmarks for topologically sensitive construction (§3.6); a node orders the m landmarks by latency and joins at a random point of the 1/m! of the space (a slab along the first dimension) that belongs to its ordering; 0: off", Min = 0, Max = 7)]
    public int Landmarks { get; init; }

    [Param("static: the zones of N random joins built from the global view; dynamic: the protocol run message by message (joins routed to the owner and splits, soft-state updates, departures handing zones over, crash takeover; needed under churn). The dynamic protocol runs the bare-bones design with d dimensions and optionally rtt_weighted (see the README)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("period of a node's soft-state update (§2.3): it sends its zones and its neighbours' zones to each neighbour; a neighbour whose update cannot be delivered is taken for dead and its zones for takeover", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long UpdateEvery { get; init; } = 30_000_000;

    [Param("the takeover timer (§2.3) of a neighbour whose zones have the same volume as the dead node's: a neighbour waits this long times its own volume over the dead node's, so the one with the smallest zones claims first", Unit = ParamUnit.Time, Min = 1, Max = 3_600_000_000, Only = "protocol=dynamic")]
    public long TakeoverDelay { get; init; } = 1_000_000;

    [Param("time a hop or an update waits for its delivery to be acknowledged before the neighbour is taken for dead", Unit = ParamUnit.Time, Min = 1_000, Max = 3_600_000_000, Only = "protocol=dynamic,rpc_timeout_rtts=0")]
    public long RpcTimeout { get; init; } = 1_000_000;

    [Param("when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout", Min = 0, Max = 100, Only = "protocol=dynamic")]
    public double RpcTimeoutRtts { get; init; }

    [Param("timeouts a lookup survives (each hop retried from the same node through its next-best neighbour) before it fails", Min = 0, Max = 64, Only = "protocol=dynamic")]
    public int MaxRetries { get; init; } = 4;

    [Param("a lookup not answered by then has failed", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long LookupTimeout { get; init; } = 60_000_000;

    [Param("store the workload's keys at the node whose zone holds the key's point (keys_lost, value_found_rate): a split hands the joiner the keys of its half, a handover the keys of the zones handed over; a crash loses the keys it held (the bare-bones design keeps one copy)", Only = "protocol=dynamic")]
    public bool StoreKeys { get; init; } = true;

    [Param("size of each stored value, for the bytes of key transfers and of answers that return the value", Min = 0, Max = 1 << 30, Only = "protocol=dynamic,store_keys=true")]
    public int ValueBytes { get; init; }

    /// <summary>Whether the protocol runs (rather than the zones built from the global view).</summary>
    public bool IsDynamic => Protocol == OverlayProtocol.Dynamic;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (IsDynamic)
        {
            const string bare = "protocol: dynamic runs the bare-bones design (d dimensions, optionally rtt_weighted)";
            if (Realities > 1) yield return ("realities", $"{bare}: set realities: 1 or protocol: static");
            if (MaxPeers > 0) yield return ("max_peers", $"{bare}: set max_peers: 0 or protocol: static");
            if (HashFunctions > 1) yield return ("hash_functions", $"{bare}: set hash_functions: 1 or protocol: static");
            if (Partition != CanPartition.Random) yield return ("partition", $"{bare}, whose joins split the zone holding a random point: set partition: random or protocol: static");
            if (Landmarks > 0) yield return ("landmarks", $"{bare}: set landmarks: 0 or protocol: static");
        }
        if (Partition == CanPartition.Grid && context.Nodes > 0 && (context.Nodes & (context.Nodes - 1)) != 0)
            yield return ("partition", $"grid makes equal zones only for a power-of-two number of nodes, and there are {context.Nodes:N0}: use 2^j nodes or partition: random or uniform");
        if (Partition == CanPartition.Grid && MaxPeers > 0)
            yield return ("max_peers", "grid gives every node a zone of its own: set max_peers: 0 or partition: random or uniform");
        if (Partition == CanPartition.Grid && Landmarks > 0)
            yield return ("landmarks", "grid places no node by its join point, so landmarks have nothing to order: set landmarks: 0 or partition: random or uniform");
        if (Landmarks > 0 && context.Nodes > 0 && Landmarks > context.Nodes)
            yield return ("landmarks", $"{Landmarks} landmarks are more than the {context.Nodes:N0} nodes they are chosen from");
    }
}
