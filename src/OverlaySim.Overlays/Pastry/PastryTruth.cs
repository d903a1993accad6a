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

    /// <summary>
    /// The <paramref name="into"/>.Length numerically closest joined nodes to <paramref name="key"/> (all of them when
    /// fewer), closest first, by the same rule as <see cref="Closest"/>: where the protocol keeps a key's k copies.
    /// </summary>
    internal static int KClosest(Oracle view, in PastryGeometry geometry, Id key, Span<int> into)
    {
        int n = view.Count, take = Math.Min(n, into.Length);
        int after = view.RankOf(key), before = after - 1;
        for (int i = 0; i < take; i++)
        {
            bool right = geometry.Closer(view.IdAtRank(after), view.IdAtRank(before), key);
            into[i] = view.AtRank(right ? after++ : before--);
        }
        return take;
    }
}
