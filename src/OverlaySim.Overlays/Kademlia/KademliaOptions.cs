using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Kademlia's scenario parameters, for both models (<c>protocol: static</c>, converged buckets; <c>protocol: dynamic</c>,
/// the protocol): this record is the schema, its initial values the defaults. Times in µs.
/// </summary>
public sealed record KademliaOptions : IOptionsCheck
{
    [Param("k in the Kademlia paper: bucket size and number of copies of each value", Min = 1, Max = 200)]
    public int K { get; init; } = 20;

    [Param("α in the Kademlia paper: parallel RPCs of a lookup (at most k)", Min = 1, Max = 64)]
    public int Alpha { get; init; } = 3;

    [Param("static: converged buckets from the global view, no maintenance; dynamic: joins, pings, bucket refresh and republish (needed under churn)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("time an RPC waits for its answer", Unit = ParamUnit.Time, Min = 1_000, Max = 3_600_000_000, Only = "rpc_timeout_rtts=0")]
    public long RpcTimeout { get; init; } = 1_000_000;

    [Param("when > 0, an RPC waits this many round-trip times of the pair instead of rpc_timeout", Min = 0, Max = 100)]
    public double RpcTimeoutRtts { get; init; }

    [Param("a lookup not finished by then has failed", Unit = ParamUnit.Time, Min = 1_000, Max = 86_400_000_000)]
    public long LookupTimeout { get; init; } = 60_000_000;

    [Param("tRefresh in the Kademlia paper: a bucket without a lookup for this long is refreshed", Unit = ParamUnit.Time, Min = 1_000_000, Max = 365L * 86_400_000_000, Only = "protocol=dynamic")]
    public long BucketRefresh { get; init; } = 3_600_000_000;

    [Param("tRepublish in the Kademlia paper: period at which each key is looked up and stored again on the k closest", Unit = ParamUnit.Time, Min = 1_000_000, Max = 365L * 86_400_000_000, Only = "protocol=dynamic,store_keys=true")]
    public long Republish { get; init; } = 3_600_000_000;

    [Param("tExpire in the Kademlia paper: a copy not stored again for this long no longer answers FIND_VALUE", Unit = ParamUnit.Time, Min = 1_000_000, Max = 365L * 86_400_000_000, Only = "protocol=dynamic,store_keys=true")]
    public long Expire { get; init; } = 86_400_000_000;

    [Param("replacement cache entries per bucket (0: a newcomer to a full bucket is forgotten)", Min = 0, Max = 64, Only = "protocol=dynamic")]
    public int ReplacementCache { get; init; } = 5;

    [Param("store the workload's keys on their k closest nodes (FIND_VALUE, keys_lost, value_found_rate); false: node lookups (FIND_NODE)")]
    public bool StoreKeys { get; init; } = true;

    [Param("size of each stored value, for the bytes of STORE and FIND_VALUE replies", Min = 0, Max = 1 << 30, Only = "store_keys=true")]
    public int ValueBytes { get; init; }

    /// <summary>Whether the protocol runs (rather than the converged buckets alone).</summary>
    public bool Dynamic => Protocol == OverlayProtocol.Dynamic;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (Alpha > K)
            yield return ("alpha", $"alpha {Alpha} cannot take effect: a lookup queries only among the k = {K} closest contacts, so at most k RPCs are in flight (set alpha <= k)");
    }
}
