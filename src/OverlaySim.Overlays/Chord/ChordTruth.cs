using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Chord's ground truth: the node responsible for a key is its successor, the first joined node whose id equals
/// or follows the key clockwise (SIGCOMM 2001, §4.2); an answer is correct when it is that node.
/// </summary>
public sealed class ChordTruth(Oracle view) : GroundTruth
{
    /// <summary>successor(key): the first joined node at or after the key on the ring, or -1 on an empty ring.</summary>
    /// <example>Ring of ids {10, 20, 30} (m = 8): successor(15) = 20, successor(20) = 20, successor(31) = 10.</example>
    public int Successor(Id key)
    {
        int node = view.FirstAtOrAfter(key, out _);
        return node >= 0 ? node : view.First(out _);
    }

    public override bool IsCorrect(int answer, in LookupRecord lookup) => view.IsNextOnRing(lookup.Key, answer);

    public override int Responsible(Id key, int keyIndex) => Successor(key);
}
