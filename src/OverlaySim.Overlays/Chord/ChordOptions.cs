using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>How a lookup travels (protocol: dynamic).</summary>
public enum ChordLookupStyle : byte
{
    /// <summary>Each node forwards the request to the next hop; the responsible node replies to the origin.</summary>
    Recursive,
    /// <summary>The origin asks each hop in turn for the next one.</summary>
    Iterative,
}

/// <summary>How the ring begins (protocol: dynamic).</summary>
public enum ChordStart : byte
{
    /// <summary>From the converged ring.</summary>
    Converged,
    /// <summary>Grown by joins: the first live node founds the ring, the others join through it over <see cref="ChordOptions.JoinOver"/>.</summary>
    Joins,
}

/// <summary>What a fix_fingers round refreshes.</summary>
public enum ChordFixFingers : byte
{
    /// <summary>One finger per round, round robin over the kept levels (ToN Fig. 7).</summary>
    One,
    /// <summary>Every finger each round.</summary>
    All,
}

/// <summary>How the routing state is kept fresh (protocol: dynamic).</summary>
public enum ChordMaintenance : byte
{
    /// <summary>Stabilize copies the successor's whole successor list; fix_fingers runs on a timer of its own.</summary>
    Separate,
    /// <summary>
    /// The ToN paper's simulations (§V): each stabilize refreshes the successor and then one other entry, a finger or
    /// a successor-list entry, in round robin; no fix_fingers timer.
    /// </summary>
    Ton,
}

/// <summary>
/// Chord's scenario parameters, for both models (<c>protocol: static</c>, the converged ring; <c>protocol: dynamic</c>, the
/// protocol): this record is the schema, its initial values the defaults. Times in µs.
/// </summary>
public sealed record ChordOptions : IOptionsCheck
{
    [Param("r in the Chord paper: length of each node's successor list", Min = 1, Max = 64)]
    public int Successors { get; init; } = 8;

    [Param("static: the converged ring built from the global view; dynamic: the protocol run message by message (needed under churn)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("v: ids (virtual nodes) per machine, for load balance; nodes counts machines", Min = 1, Max = 256)]
    public int VirtualNodes { get; init; } = 1;

    [Param("recursive (forwarded hop by hop, each hop acknowledged) or iterative (the origin asks each hop)", Only = "protocol=dynamic")]
    public ChordLookupStyle Lookup { get; init; } = ChordLookupStyle.Recursive;

    [Param("start from the converged ring, or grow it by joins over join_over", Only = "protocol=dynamic")]
    public ChordStart Start { get; init; } = ChordStart.Converged;

    [Param("the initial nodes join at uniform random times in [0, join_over)", Unit = ParamUnit.Time, Min = 0, Max = 86_400_000_000, Only = "protocol=dynamic,start=joins")]
    public long JoinOver { get; init; } = 60_000_000;

    [Param("period of stabilize (successor, predecessor and successor list)", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long StabilizeEvery { get; init; } = 30_000_000;

    [Param("separate: stabilize copies the successor's successor list and fix_fingers has its own timer; ton: as the ToN paper's simulations, each stabilize refreshes the successor and then ONE finger or successor-list entry (asking entry j-1 for its successor), round robin over the r-1 list entries then the F fingers, passing over fingers that are the successor (set without a message)", Only = "protocol=dynamic")]
    public ChordMaintenance Maintenance { get; init; } = ChordMaintenance.Separate;

    [Param("period of fix_fingers", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic,maintenance=separate")]
    public long FixFingersEvery { get; init; } = 30_000_000;

    [Param("refresh one finger per round (round robin) or all of them", Only = "protocol=dynamic,maintenance=separate")]
    public ChordFixFingers FixFingers { get; init; } = ChordFixFingers.One;

    [Param("a node that has joined copies its successor's finger table as hints (SIGCOMM 2001, §4.4: 'a practical optimization'), one request and one reply of F entries, counted as a FingerCopy message and taking effect at once; false: its fingers start empty and fill one maintenance round at a time", Only = "protocol=dynamic")]
    public bool CopyFingers { get; init; }

    [Param("period of check_predecessor", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long CheckPredecessorEvery { get; init; } = 30_000_000;

    [Param("draw each period uniformly in [0.5, 1.5] times its value", Only = "protocol=dynamic")]
    public bool RandomizePeriods { get; init; } = true;

    [Param("time an RPC (a hop, a stabilize, a ping) waits for its answer", Unit = ParamUnit.Time, Min = 1_000, Max = 3_600_000_000, Only = "protocol=dynamic,rpc_timeout_rtts=0")]
    public long RpcTimeout { get; init; } = 1_000_000;

    [Param("when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout", Min = 0, Max = 100, Only = "protocol=dynamic")]
    public double RpcTimeoutRtts { get; init; }

    [Param("a lookup's RPC timeout removes the dead node from the finger table too (true), or leaves it there (false: the ToN paper's Table II, 'fingers to failed nodes are not removed'; the lookup itself avoids the nodes it found dead, and later lookups meet them again); the successor list and predecessor drop it either way", Only = "protocol=dynamic")]
    public bool ForgetDead { get; init; } = true;

    [Param("a node asked as the key's successor whose predecessor pointer shows that a node joined since the asker's last stabilize owns the key passes the request back to that predecessor (true); false: it answers anyway, as find_successor's n'.successor does in the papers' simulators, and such lookups end at the old successor (wrong answers)", Only = "protocol=dynamic")]
    public bool PassBack { get; init; } = true;

    [Param("timeouts a lookup survives (each retried through the next-best entry) before it fails", Min = 0, Max = 64, Only = "protocol=dynamic")]
    public int MaxRetries { get; init; } = 4;

    [Param("a lookup not answered by then has failed", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long LookupTimeout { get; init; } = 60_000_000;

    [Param("F: finger levels kept (the top F of id_bits); 0 = 2*log2(N) + 8", Min = 0, Max = 160, Only = "protocol=dynamic")]
    public int Fingers { get; init; }

    [Param("store the workload's keys at their responsible node and replicas (keys_lost, value_found_rate)", Only = "protocol=dynamic")]
    public bool StoreKeys { get; init; } = true;

    [Param("successors that keep a copy of each key (r in the paper's replication scheme), refreshed at every stabilize; at most successors (default: all of them)", Min = 0, Max = 64, DefaultFrom = "successors", Only = "protocol=dynamic,store_keys=true")]
    public int Replicas { get; init; } = 8;

    [Param("size of each stored value, for the bytes of key transfers and of answers that return the value", Min = 0, Max = 1 << 30, Only = "protocol=dynamic,store_keys=true")]
    public int ValueBytes { get; init; }

    /// <summary>Whether the protocol runs (rather than the converged ring).</summary>
    public bool IsDynamic => Protocol == OverlayProtocol.Dynamic;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (IsDynamic && StoreKeys && Replicas > Successors)
            yield return ("replicas", $"{Replicas} replicas need a successor list at least that long (the copies live on it), but successors is {Successors}: raise successors or lower replicas");
        if (IsDynamic && Fingers > context.IdBits)
            yield return ("fingers", $"{Fingers} finger levels do not fit in an id space of id_bits {context.IdBits} (at most {context.IdBits})");
        if (VirtualNodes > 1 && context.IdBits < 62 && context.Nodes * VirtualNodes * 2 > 1L << context.IdBits)
            yield return ("virtual_nodes", $"{context.Nodes} machines × {VirtualNodes} virtual nodes need an id space of at least {context.Nodes * VirtualNodes * 2} ids; id_bits {context.IdBits} gives {1L << context.IdBits} (raise id_bits)");
    }
}
