using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Pastry's ground truth: the node responsible for a key is the joined node whose id is numerically closest to it on
/// the circular id space (Middleware 2001, §2); of two at the same distance, the one clockwise after the key.
/// </summary>
public sealed class PastryTruth(Oracle view) : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup) => answer >= 0 && answer == Closest(lookup.Key);

    public override int Responsible(Id key, int keyIndex) => Closest(key);

    /// <summary>The numerically closest joined node to <paramref name="key"/>, or -1 on an empty network.</summary>
    /// <example>Ids {10, 20, 30} (m = 8): Closest(14) = 10, Closest(15) = 20 (a tie: clockwise), Closest(250) = 10.</example>
    public int Closest(Id key)
    {
        if (view.Count == 0) return -1;
        int after = view.FirstAtOrAfter(key, out Id afterId);
        if (after < 0) after = view.First(out afterId);
        int before = view.LastBefore(key, out Id beforeId);
        if (before < 0) before = view.Last(out beforeId);
        IdSpace space = view.Space;
        return space.Distance(beforeId, key) < space.Distance(key, afterId) ? before : after;
    }
}
