using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Observes the result of a node lookup: its origin, its target and the k closest nodes it returned, closest first.</summary>
public delegate void NodeLookupObserver(int origin, Id target, ReadOnlySpan<int> result);

/// <summary>
/// Kademlia's ground truth. A node lookup (FIND_NODE) is answered correctly by the joined node XOR-closest to the
/// key (Maymounkov and Mazières, §2.1); a value lookup (FIND_VALUE, when keys are stored) by a node that holds a
/// live copy: one that has not departed and whose copy has not expired. The node responsible for a key, for
/// keys_per_node, is the XOR-closest.
/// </summary>
public sealed class KademliaTruth(Oracle view, KeyStore? store, KademliaOptions options, Simulator sim) : GroundTruth
{
    public override bool IsCorrect(int answer, in LookupRecord lookup)
    {
        if (store is null || lookup.KeyIndex < 0) return answer == XorClosest(lookup.Key); // a node lookup (or workload.targets: nodes)
        return answer >= 0 && store.Holds(answer, lookup.KeyIndex)
            && (!options.Dynamic || store.StoredAt(answer, lookup.KeyIndex) + options.Expire > sim.Now);
    }

    public override int Responsible(Id key, int keyIndex) => XorClosest(key);

    /// <summary>The joined node closest to <paramref name="key"/> in the XOR metric, or -1 when none is.</summary>
    /// <remarks>
    /// Walks down the bits of the id space: the joined ids that share the current prefix with the key form one value
    /// range; its lower and upper halves (by the next bit) are probed with <see cref="Oracle.FirstAtOrAfter"/>, and the
    /// half that agrees with the key's bit is kept when it holds any id. It stops as soon as the range holds a single
    /// id, which is after about log2 N bits: O(log² N) comparisons, on the blocked list as well as on a flat one.
    /// On a view unchanged since it was flattened (no churn) a shorter way is tried first (<see cref="XorClosestNearby"/>).
    /// </remarks>
    public int XorClosest(Id key)
    {
        if (view.Count == 0) return -1;
        if (view.TryRankUnchanged(key, out int rank) && XorClosestNearby(key, rank) is int near and >= 0) return near;
        int bits = view.Space.Bits;
        Id lo = Id.Zero;                       // the current prefix range is [lo, lo + 2^(b+1))
        for (int b = bits - 1; b >= 0; b--)
        {
            Id width = Id.Pow2(b + 1);
            Id mid = lo + Id.Pow2(b);
            Id end = lo + width;
            int first = view.FirstAtOrAfter(lo, out Id firstId);
            // A single id left in the range: it is the answer.
            if (first >= 0 && firstId < end)
            {
                Id next = firstId + Id.FromUInt64(1);
                int second = view.FirstAtOrAfter(next, out Id secondId);
                if (second < 0 || !(secondId < end)) return first;
            }
            int upper = view.FirstAtOrAfter(mid, out Id upperId);
            bool upperHas = upper >= 0 && upperId < end;
            bool lowerHas = first >= 0 && firstId < mid;
            bool wantUpper = key.Bit(b) == 1;
            if (wantUpper ? upperHas : !lowerHas) lo = mid;
        }
        return view.FirstAtOrAfter(lo, out _);
    }

    /// <summary>
    /// The XOR-closest id from the key's sorted position <paramref name="rank"/>, on a flat view; -1 when the ids that
    /// tie for it are too many to scan (ids bunched under one prefix), and the caller walks the bits instead.
    /// </summary>
    /// <remarks>
    /// The ids that share a prefix with the key are a contiguous run of the sorted ids around the key's position, so
    /// the longest prefix any id shares is shared by a sorted neighbour of the key (the one just below or at/above it;
    /// not both, as they would then differ from the key's next bit in opposite ways). All ids sharing exactly that
    /// prefix lie on that neighbour's side, next to it: about one or two for random ids. The closest by XOR is the
    /// least XOR among them.
    /// </remarks>
    private int XorClosestNearby(Id key, int rank)
    {
        const int MaxRun = 64;
        ReadOnlySpan<Id> ids = view.SortedIds;
        ReadOnlySpan<int> nodes = view.SortedNodes;
        int n = ids.Length;
        int below = rank - 1, above = rank;
        int lengthBelow = below >= 0 ? (ids[below] ^ key).BitLength : int.MaxValue;   // shorter XOR = longer shared prefix
        int lengthAbove = above < n ? (ids[above] ^ key).BitLength : int.MaxValue;
        int step = lengthAbove <= lengthBelow ? 1 : -1;
        int j = step > 0 ? above : below;
        int length = Math.Min(lengthAbove, lengthBelow);
        int best = j;
        Id bestDistance = ids[j] ^ key;
        for (int scanned = 1; ; scanned++)
        {
            j += step;
            if (j < 0 || j >= n) return nodes[best];
            Id d = ids[j] ^ key;
            if (d.BitLength != length) return nodes[best];
            if (scanned == MaxRun) return -1;
            if (d < bestDistance)
            {
                best = j;
                bestDistance = d;
            }
        }
    }

    /// <summary>The up to <c>into.Length</c> joined nodes closest to <paramref name="key"/> by XOR, closest first.</summary>
    public int KClosest(Id key, Span<int> into) => KClosest(view.SortedIds, view.SortedNodes, view.Space, key, into);

    /// <summary>
    /// The up to <c>into.Length</c> nodes closest to <paramref name="key"/> by XOR among sorted ids: the smallest prefix
    /// range around the key that holds at least that many ids, then a selection by distance (the range holds about 2k).
    /// </summary>
    internal static int KClosest(ReadOnlySpan<Id> sortedIds, ReadOnlySpan<int> sortedNodes, IdSpace space, Id key, Span<int> into)
    {
        int m = space.Bits, live = sortedIds.Length;
        int from = 0, to = live;
        for (int cpl = 1; cpl <= m; cpl++)
        {
            Id mask = space.Mask - (Id.Pow2(m - cpl) - Id.FromUInt64(1));
            Id lo = key & mask;
            Id hi = lo + Id.Pow2(m - cpl);
            int f = IdSearch.LowerBound(sortedIds, lo), t = hi == Id.Pow2(m) ? live : IdSearch.LowerBound(sortedIds, hi);
            if (t - f < into.Length) break;
            from = f;
            to = t;
        }
        int count = to - from;
        Span<int> idx = count <= 4096 ? stackalloc int[count] : new int[count];
        for (int i = 0; i < count; i++) idx[i] = from + i;
        int take = Math.Min(into.Length, count);
        for (int i = 0; i < take; i++)
        {
            int best = i;
            for (int j = i + 1; j < count; j++)
                if ((sortedIds[idx[j]] ^ key) < (sortedIds[idx[best]] ^ key)) best = j;
            (idx[i], idx[best]) = (idx[best], idx[i]);
            into[i] = sortedNodes[idx[i]];
        }
        return take;
    }
}
