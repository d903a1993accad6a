using OverlaySim.Core;

namespace OverlaySim.Overlays;

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

    [Param("proximity neighbour selection: candidates examined for each routing-table entry (all of them when fewer), the closest by the latency model kept; 0: no proximity, the first candidate in id order. 65536 is the complete choice up to about 10^6 nodes (a row-0 entry has N/2^b candidates) and costs time in proportion", Min = 0, Max = 65_536)]
    public int ProximitySamples { get; init; } = 32;

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        if (LeafSet % 2 != 0)
            yield return ("leaf_set", $"{LeafSet} cannot be split into |L|/2 smaller and |L|/2 larger ids: use an even leaf set size");
    }
}
