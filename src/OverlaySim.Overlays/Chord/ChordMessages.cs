using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Chord's size table, shared by the converged ring and the protocol: 20 bytes of header plus 4 bytes per id or
/// address carried, a node reference being both (8 bytes), as in the DHT churn literature (Li et al., IPTPS 2004).
/// </summary>
internal static class ChordSizes
{
    public const int Header = 20, NodeRef = 8, Key = 4;

    /// <summary>find_successor(k): the key and the origin's address (so that the answer can go straight back).</summary>
    public const int FindSuccessor = Header + Key + NodeRef;

    /// <summary>The answer: the node responsible.</summary>
    public const int FindSuccessorReply = Header + NodeRef;

    /// <summary>A hop's acknowledgement (recursive lookups in the protocol).</summary>
    public const int Ack = Header;

    /// <summary>The metrics Chord registers beside the common ones.</summary>
    public static readonly OverlayMetric PaperHops = new("paper_hops",
        "request messages until the key's predecessor (the node whose successor is responsible) holds the request: the Chord paper's path length",
        [new("paper_hops_mean", MetricStat.Mean), new("paper_hops_p1", MetricStat.P1), new("paper_hops_p99", MetricStat.P99)], Distribution: true);
}
