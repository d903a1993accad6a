using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// A contact as a k-bucket gives it and a FIND_NODE reply carries it: the node and its id (32 bytes). Carrying the id
/// is what lets the receiver rank a reply without reading twenty random nodes' ids.
/// </summary>
public readonly record struct Contact(Id Id, int Node);

/// <summary>
/// What a lookup reads of a node's k-buckets, whichever way they are held: the maintained table of the protocol
/// (<see cref="KBucketTable"/>) or the converged buckets computed from the sorted ids (<see cref="ConvergedBuckets"/>).
/// Bucket b of node n holds up to k contacts whose ids share exactly b leading bits with n's (the last bucket: at
/// least b); buckets are indexed by common-prefix length up to B = ⌈log2 N⌉ + 3.
/// </summary>
public abstract class KBuckets(Network net, int k, int buckets)
{
    protected Network Net { get; } = net;

    /// <summary>k in the Kademlia paper: the most contacts a bucket holds.</summary>
    public int K { get; } = k;

    public int BucketCount { get; } = buckets;

    private Contact[]? _gather; // Closest's room for every bucket's contacts (k·B): a field, not zeroed stack at each call

    /// <summary>B = min(id_bits, ⌈log2 N⌉ + 3) buckets per node.</summary>
    public static int Buckets(long nodes, int bits) => Math.Min(bits, (int)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 3);

    /// <summary>The bucket of n that <paramref name="other"/> belongs in: its common-prefix length with n, capped at B − 1.</summary>
    public int BucketOf(int n, Id other)
    {
        int cpl = Net.Space.Bits - (Net.Nodes.Ids[n] ^ other).BitLength;
        return Math.Min(cpl, BucketCount - 1);
    }

    /// <summary>The number of contacts in bucket b of n.</summary>
    public abstract int Count(int n, int b);

    /// <summary>Appends the contacts of bucket b of n to <paramref name="buffer"/> at <paramref name="count"/>.</summary>
    protected abstract void Append(int n, int b, Span<Contact> buffer, ref int count);

    /// <summary>Appends the contacts of bucket b of n to <paramref name="buffer"/> (room for k) at <paramref name="count"/>.</summary>
    public void AppendTo(int n, int b, Span<Contact> buffer, ref int count) => Append(n, b, buffer, ref count);

    /// <summary>The contacts' nodes of one bucket (for tests and inspection: a new array).</summary>
    public int[] Bucket(int n, int b)
    {
        var into = new Contact[Count(n, b)];
        int count = 0;
        Append(n, b, into, ref count);
        return Array.ConvertAll(into, c => c.Node);
    }

    /// <summary>Contacts n knows (buckets never hold a contact twice).</summary>
    public virtual int Degree(int n)
    {
        int total = 0;
        for (int b = 0; b < BucketCount; b++) total += Count(n, b);
        return total;
    }

    /// <summary>Buckets of n that hold at least one contact.</summary>
    public virtual int UsedBuckets(int n)
    {
        int used = 0;
        for (int b = 0; b < BucketCount; b++) if (Count(n, b) > 0) used++;
        return used;
    }

    /// <summary>Appends the contacts of every bucket deeper than i (common-prefix length above i) to <paramref name="buffer"/>.</summary>
    protected virtual void AppendDeeper(int n, int i, Span<Contact> buffer, ref int count)
    {
        for (int j = i + 1; j < BucketCount; j++) Append(n, j, buffer, ref count);
    }

    /// <summary>
    /// A hint, before <see cref="Closest"/>(n, target) is asked with n's id already fetched: prefetch what it reads
    /// first. Nothing by default.
    /// </summary>
    public virtual void PrefetchClosest(int n, Id target)
    {
    }

    /// <summary>The up to k contacts of n closest to <paramref name="target"/> by XOR distance, into <paramref name="into"/>.</summary>
    /// <remarks>
    /// <para>With i the target's bucket (its common-prefix length with n), the buckets fall into groups that XOR
    /// distance orders as wholes: bucket i (its contacts share at least i + 1 bits with the target), then every bucket
    /// j &gt; i together (exactly i bits), then bucket i − 1, i − 2, ... (exactly j bits). Whole groups are taken while
    /// they fit in k; only the group that crosses k is ranked, and only among itself, each distance computed once. A
    /// full own bucket is the answer as it stands.</para>
    /// <para>The result is a set (the receiver sorts it into its shortlist), in no particular order; distinct ids have
    /// distinct distances, so the set is the same whatever the order the contacts were gathered in.</para>
    /// </remarks>
    public int Closest(int n, Id target, Span<Contact> into) => Closest(n, target, into, _gather ??= new Contact[K * BucketCount]);

    /// <summary>
    /// <see cref="Closest(int, Id, Span{Contact})"/> with room of the caller's for every bucket's contacts (k·B): for a
    /// thread of its own reading the converged buckets, which nothing changes (Kademlia.Planned.cs).
    /// </summary>
    public int Closest(int n, Id target, Span<Contact> into, Span<Contact> buffer)
    {
        int k = K;
        int i = BucketOf(n, target);
        int count = 0;
        Append(n, i, into, ref count); // (read once: the converged buckets compute a bucket's range on each read)
        if (count == k) return k;
        into[..count].CopyTo(buffer);
        int group = count;
        AppendDeeper(n, i, buffer, ref count);
        for (int j = i - 1; count < k && j >= 0; j--)
        {
            group = count;
            Append(n, j, buffer, ref count);
        }
        if (count > k) SelectClosest(buffer[group..count], k - group, target);
        count = Math.Min(count, k);
        buffer[..count].CopyTo(into);
        return count;
    }

    /// <summary>Moves the <paramref name="take"/> contacts of <paramref name="group"/> closest to the target to its front.</summary>
    private static void SelectClosest(Span<Contact> group, int take, Id target)
    {
        Span<Id> distance = group.Length <= 512 ? stackalloc Id[group.Length] : new Id[group.Length];
        for (int c = 0; c < group.Length; c++) distance[c] = group[c].Id ^ target;
        for (int a = 0; a < take; a++)
        {
            int best = a;
            for (int c = a + 1; c < group.Length; c++)
                if (distance[c] < distance[best]) best = c;
            (group[a], group[best]) = (group[best], group[a]);
            (distance[a], distance[best]) = (distance[best], distance[a]);
        }
    }
}

/// <summary>
/// The converged k-buckets (protocol: static), held as no contacts at all: bucket b of n is the range of the sorted ids
/// that share exactly b leading bits with n's (the last bucket: at least b), found in O(1) through an index of the
/// first rank of every ⌈log2 N⌉-bit prefix, and its contacts are the whole range when it holds at most k other nodes,
/// else k of them by stratified sampling: one from each of k equal strata, at an offset drawn per node and bucket
/// from the run's seed (every id of the range equally likely, no repeats), as a long-running network holds them.
/// </summary>
/// <remarks>
/// Memory: the sorted ids with their nodes (32 bytes per node) and the prefix index (4·2^⌈log2 N⌉ bytes, at most 8 per
/// node): what makes 10^7 nodes fit, where k·B stored contacts would take over 2 KB per node. Reading a bucket costs
/// two reads of the index (and, for buckets deeper than the index, a short binary search in its range).
/// </remarks>
public sealed class ConvergedBuckets : KBuckets
{
    private readonly Contact[] _ranked; // the joined nodes in ring order, each with its id: a bucket's contact is one read
    private readonly int[] _index;    // _index[v]: the first rank whose top _p bits are >= v; _index[2^_p] = N
    private readonly int _p;
    private readonly ulong _seed;

    public ConvergedBuckets(Network net, int k, int buckets, Oracle view, ulong seed) : base(net, k, buckets)
    {
        ReadOnlySpan<Id> sorted = view.SortedIds;
        ReadOnlySpan<int> nodes = view.SortedNodes;
        _ranked = new Contact[sorted.Length];
        for (int r = 0; r < _ranked.Length; r++) _ranked[r] = new Contact(sorted[r], nodes[r]);
        _seed = seed;
        int live = _ranked.Length;
        _p = Math.Clamp((int)Math.Ceiling(Math.Log2(Math.Max(2, live))), 1, Math.Min(net.Space.Bits, 30));
        _index = IdSearch.PrefixIndex(sorted, net.Space, _p);
    }

    /// <summary>The joined nodes in ring order with their ids, as at the build (shared, not to be changed).</summary>
    internal ReadOnlySpan<Contact> Ranked => _ranked;

    /// <summary>Bytes per node: the ranked contacts (32), the prefix index (at most 8 per node), and the degree summary (3).</summary>
    public const long BytesPerNode = 32 + 8 + 3;

    private ushort[]? _degree;   // per node ordinal, computed once when first asked (the end-of-run summary)
    private byte[]? _used;

    public override int Degree(int n)
    {
        Summarize();
        return _degree![n];
    }

    public override int UsedBuckets(int n)
    {
        Summarize();
        return _used![n];
    }

    /// <summary>
    /// Every node's degree and used buckets, in one pass in rank order: neighbouring ranks share their prefixes, so the
    /// index entries their buckets read are the same few, where asking node by node in ordinal order made two random
    /// reads of the index per bucket (at 10^7 nodes, most of a minute).
    /// </summary>
    private void Summarize()
    {
        if (_degree is not null) return;
        var degree = new ushort[Net.Nodes.Count];
        var used = new byte[Net.Nodes.Count];
        for (int r = 0; r < _ranked.Length; r++)
        {
            int n = _ranked[r].Node, total = 0, buckets = 0;
            for (int b = 0; b < BucketCount; b++)
            {
                int c = Count(n, b);
                total += c;
                if (c > 0) buckets++;
            }
            degree[n] = (ushort)total;
            used[n] = (byte)buckets;
        }
        (_degree, _used) = (degree, used);
    }

    /// <summary>The top <paramref name="length"/> bits of an id (length ≤ 64), as a number.</summary>
    private ulong Top(Id id, int length) => Net.Space.Prefix(id, length);

    /// <summary>The ranks [lo, hi) of the ids whose top <paramref name="length"/> bits equal <paramref name="prefix"/>.</summary>
    private (int Lo, int Hi) Range(ulong prefix, int length)
    {
        if (length == 0) return (0, _ranked.Length);
        if (length <= _p)
        {
            int shift = _p - length;
            return (_index[prefix << shift], _index[(prefix + 1) << shift]);
        }
        ulong coarse = prefix >> (length - _p);
        int lo = _index[coarse], hi = _index[coarse + 1];
        return (FirstAtLeast(lo, hi, prefix, length), FirstAtLeast(lo, hi, prefix + 1, length));
    }

    private int FirstAtLeast(int lo, int hi, ulong prefix, int length)
    {
        while (lo < hi)
        {
            int mid = (int)(((uint)lo + (uint)hi) >> 1);
            if (Top(_ranked[mid].Id, length) < prefix) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>Bucket b's range of ranks, and whether n itself lies in it (only in the last bucket).</summary>
    private (int Lo, int Hi, bool Self) BucketRange(int n, int b)
    {
        Id self = Net.Nodes.Ids[n];
        if (b == BucketCount - 1)
        {
            var (lo, hi) = Range(b == 0 ? 0 : Top(self, b), b);
            return (lo, hi, true);
        }
        var (l, h) = Range(Top(self, b + 1) ^ 1, b + 1);
        return (l, h, false);
    }

    public override int Count(int n, int b)
    {
        var (lo, hi, self) = BucketRange(n, b);
        int others = hi - lo - (self ? 1 : 0);
        return others <= K ? others : self ? StratifiedCount(n, b) : K;
    }

    /// <summary>Of k strata over a range that holds n itself, those whose pick is not n (k or k − 1).</summary>
    private int StratifiedCount(int n, int b)
    {
        int count = 0;
        Span<Contact> buffer = stackalloc Contact[K];
        Append(n, b, buffer, ref count);
        return count;
    }

    /// <summary>
    /// The index entries of the target's bucket's range (the first reads of <see cref="Closest"/>, each a likely cache
    /// miss at 10^6 nodes, that can be found from n's id alone); the contacts of the range need those entries' values.
    /// </summary>
    public override void PrefetchClosest(int n, Id target)
    {
        int i = BucketOf(n, target);
        if (i == BucketCount - 1) return;
        int length = i + 1;
        ulong prefix = Top(Net.Nodes.Ids[n], length) ^ 1;
        if (length <= _p)
        {
            int shift = _p - length;
            CacheHint.Prefetch(in _index[prefix << shift]);
            CacheHint.Prefetch(in _index[(prefix + 1) << shift]);
        }
        else CacheHint.Prefetch(in _index[prefix >> (length - _p)], 2);
    }

    /// <summary>
    /// The buckets deeper than i hold every id sharing at least i + 1 leading bits with n's: one range of ranks. When
    /// it holds at most k + 1 ids (n among them) no bucket of it is sampled, and its contacts are the range without n,
    /// found with one range computation instead of one per bucket.
    /// </summary>
    protected override void AppendDeeper(int n, int i, Span<Contact> buffer, ref int count)
    {
        if (i + 1 >= BucketCount) return;
        var (lo, hi) = Range(Top(Net.Nodes.Ids[n], i + 1), i + 1);
        if (hi - lo > K + 1)
        {
            base.AppendDeeper(n, i, buffer, ref count);
            return;
        }
        for (int r = lo; r < hi; r++) if (_ranked[r].Node != n) buffer[count++] = _ranked[r];
    }

    protected override void Append(int n, int b, Span<Contact> buffer, ref int count)
    {
        var (lo, hi, self) = BucketRange(n, b);
        int size = hi - lo;
        if (size - (self ? 1 : 0) <= K)
        {
            for (int r = lo; r < hi; r++) if (_ranked[r].Node != n) buffer[count++] = _ranked[r];
            return;
        }
        double u = (Xoshiro256.Mix(_seed, (ulong)n * (ulong)BucketCount + (ulong)b) >> 11) * (1.0 / (1UL << 53));
        for (int i = 0; i < K; i++)
        {
            Contact c = _ranked[lo + (int)((i + u) * size / K)];
            if (c.Node != n) buffer[count++] = c;
        }
    }
}
