using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>What the harness knows about one overlay: its parameters, how to build it, and its memory cost.</summary>
/// <param name="Name">The name used in scenarios (<c>overlays: - chord: {...}</c>).</param>
/// <param name="Description">One line for <c>overlaysim list</c>.</param>
/// <param name="Parameters">Its scenario parameters, with defaults and ranges.</param>
/// <param name="HopsDefinition">What its <c>hops</c> and (if any) <c>paper_hops</c> count.</param>
/// <param name="Create">Builds a new instance from validated parameter values.</param>
/// <param name="BytesPerNode">Estimated memory per node at a given size, for the pre-run memory check.</param>
public sealed record OverlayInfo(
    string Name,
    string Description,
    IReadOnlyList<ParamSpec> Parameters,
    string HopsDefinition,
    Func<ParamValues, Overlay> Create,
    Func<ParamValues, long, long> BytesPerNode);

/// <summary>Every overlay OverlaySim can run. Adding an overlay is one file plus one entry here.</summary>
public static class OverlayRegistry
{
    public static IReadOnlyList<OverlayInfo> All { get; } =
    [
        new OverlayInfo(
            "chord",
            "Chord (Stoica et al., SIGCOMM 2001), converged ring with finger table, successor list and recursive lookups",
            [ParamSpec.Int("successors", ChordOptions.Default.Successors, 1, 64, "r: length of each node's successor list")],
            "hops: request messages until the responsible node (successor of the key) holds the request; " +
            "paper_hops: until the key's predecessor, the Chord paper's path length (mean about ½·log2 N)",
            v => new Chord(ToChordOptions(v)),
            (v, n) => Chord.BytesPerNode(ToChordOptions(v), n)),
    ];

    public static OverlayInfo? Find(string name)
    {
        foreach (OverlayInfo info in All)
            if (info.Name == name) return info;
        return null;
    }

    private static ChordOptions ToChordOptions(ParamValues v) => new(Successors: (int)v.Int("successors"));
}
