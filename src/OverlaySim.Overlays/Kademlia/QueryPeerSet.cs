using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Where a contact stands in one lookup (compare libp2p's qpeerset: heard, waiting, queried, unreachable).</summary>
public enum PeerState : byte
{
    /// <summary>Heard of (from the origin's buckets or a reply), not asked yet.</summary>
    Heard,
    /// <summary>Asked; its reply is awaited.</summary>
    Waiting,
    /// <summary>It replied.</summary>
    Answered,
    /// <summary>Its RPC timed out.</summary>
    Unreachable,
}

/// <summary>
/// The shortlist of every lookup in flight: the closest contacts heard of, sorted by XOR distance to the target, at
/// most 2k per lookup, each with its state, its referral depth (1 for a contact the origin knew) and the round in which
/// it was asked. The node lookup of the Kademlia paper (§2.3) is run over it by <see cref="Kademlia"/>.
/// </summary>
/// <remarks>
/// Distances are kept beside the contacts, so that inserting reads no ids; XOR with the target is a bijection, so an
/// equal distance means the contact is already there. One 32-byte entry per contact (distance, contact, state, depth,
/// round): memory per lookup slot 2k·32 + 8 bytes.
/// </remarks>
public sealed class QueryPeerSet
{
    private struct Entry
    {
        public Id Distance;
        public int Peer;
        public PeerState State;
        public byte Depth;
        public byte Round;
    }

    private readonly int _k, _s;
    private readonly LookupArray<Entry> _list;
    private readonly LookupArray<int> _count;
    private readonly LookupArray<int> _waiting;
    private Entry[] _fresh, _merged; // OfferAll's room (fields: a stackalloc is zeroed at every call)

    public QueryPeerSet(Network net, int k) : this(k, net.LookupArray<Entry>(2 * k), net.LookupArray<int>(), net.LookupArray<int>())
    {
    }

    /// <summary>A set of <paramref name="slots"/> lookups of its own, tied to no lookup table (a lookup computed when it begins).</summary>
    public QueryPeerSet(int slots, int k) : this(k, new LookupArray<Entry>(slots, 2 * k), new LookupArray<int>(slots, 1), new LookupArray<int>(slots, 1))
    {
    }

    private QueryPeerSet(int k, LookupArray<Entry> list, LookupArray<int> count, LookupArray<int> waiting)
    {
        _k = k;
        _s = 2 * k;
        _list = list;
        _count = count;
        _waiting = waiting;
        _fresh = new Entry[k];
        _merged = new Entry[_s];
    }

    /// <summary>Empties the set of a lookup that starts.</summary>
    public void Reset(int lookup)
    {
        _count[lookup] = 0;
        _waiting[lookup] = 0;
    }

    public int Count(int lookup) => _count[lookup];

    /// <summary>Contacts of the lookup in state <see cref="PeerState.Waiting"/> that are still on the list.</summary>
    public int Waiting(int lookup) => _waiting[lookup];

    public int Peer(int lookup, int i) => _list.At(lookup, i).Peer;
    public PeerState State(int lookup, int i) => _list.At(lookup, i).State;
    public int Depth(int lookup, int i) => _list.At(lookup, i).Depth;
    public int Round(int lookup, int i) => _list.At(lookup, i).Round;

    /// <summary>The lookup's entries on the list, closest first.</summary>
    private Span<Entry> Live(int lookup) => _list.Row(lookup)[.._count[lookup]];

    /// <summary>The first position on the sorted list whose distance is not below <paramref name="d"/>.</summary>
    private static int Position(ReadOnlySpan<Entry> list, Id d)
    {
        int lo = 0, hi = list.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (list[mid].Distance < d) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// Adds a contact at distance <paramref name="d"/> from the target, kept sorted and at most 2k long: a contact already
    /// there, or farther than the 2k closest, is ignored; the farthest is pushed off when the list is full (if it was
    /// waiting, its reply will find it gone).
    /// </summary>
    public void Offer(int lookup, int contact, Id d, int depth)
    {
        Span<Entry> row = _list.Row(lookup);
        int count = _count[lookup];
        int pos = Position(row[..count], d);
        if (pos < count && row[pos].Distance == d) return;
        if (pos == _s) return;
        int last = Math.Min(count, _s - 1);
        if (count == _s && row[_s - 1].State == PeerState.Waiting) _waiting[lookup]--;
        row[pos..last].CopyTo(row[(pos + 1)..]);
        row[pos] = new Entry { Peer = contact, Distance = d, State = PeerState.Heard, Depth = (byte)Math.Min(255, depth) };
        _count[lookup] = Math.Min(count + 1, _s);
    }

    /// <summary>
    /// Adds a reply's contacts at once, the same as offering each in turn (<see cref="Offer"/>) but by one merge: the
    /// contacts are sorted by their distance to <paramref name="key"/> (from the ids they carry) among themselves, and
    /// the list keeps the 2k closest distinct ones of both. Contacts equal to <paramref name="exclude"/> (the lookup's
    /// origin) are left out.
    /// </summary>
    public void OfferAll(int lookup, ReadOnlySpan<Contact> contacts, Id key, int depth, int exclude)
    {
        if (_fresh.Length < contacts.Length) _fresh = new Entry[contacts.Length];
        Span<Entry> fresh = _fresh;
        int m = 0;
        byte d = (byte)Math.Min(255, depth);
        for (int c = 0; c < contacts.Length; c++)
        {
            if (contacts[c].Node == exclude) continue;
            var e = new Entry { Peer = contacts[c].Node, Distance = contacts[c].Id ^ key, State = PeerState.Heard, Depth = d };
            int at = m++;
            while (at > 0 && e.Distance < fresh[at - 1].Distance)
            {
                fresh[at] = fresh[at - 1];
                at--;
            }
            fresh[at] = e;
        }
        if (m == 0) return;
        Span<Entry> row = _list.Row(lookup);
        int count = _count[lookup];
        // Entries closer than every fresh contact stay where they are; the merge starts at the first fresh one's place.
        int i = Position(row[..count], fresh[0].Distance);
        if (i == _s) return;
        Span<Entry> merged = _merged.AsSpan(0, _s - i);
        int start = i, o = 0, j = 0;
        while (o < merged.Length && (i < count || j < m))
        {
            if (j < m && j > 0 && fresh[j].Distance == fresh[j - 1].Distance) { j++; continue; }
            if (j >= m || (i < count && row[i].Distance <= fresh[j].Distance))
            {
                if (j < m && row[i].Distance == fresh[j].Distance) j++;
                merged[o++] = row[i++];
            }
            else merged[o++] = fresh[j++];
        }
        for (; i < count; i++) if (row[i].State == PeerState.Waiting) _waiting[lookup]--;  // pushed off
        merged[..o].CopyTo(row[start..]);
        _count[lookup] = start + o;
    }

    /// <summary>
    /// The contacts to ask next, into <paramref name="targets"/>: the closest heard ones among the k closest that are not
    /// unreachable, as long as fewer than <paramref name="alpha"/> are waiting. They become waiting, asked in
    /// <paramref name="round"/>. Returns how many.
    /// </summary>
    public int SelectToAsk(int lookup, int alpha, int round, Span<int> targets)
    {
        Span<Entry> list = Live(lookup);
        ref int waiting = ref _waiting[lookup];
        int considered = 0, chosen = 0;
        for (int i = 0; i < list.Length && considered < _k && waiting < alpha; i++)
        {
            ref Entry e = ref list[i];
            if (e.State == PeerState.Unreachable) continue;
            considered++;
            if (e.State != PeerState.Heard) continue;
            e.State = PeerState.Waiting;
            e.Round = (byte)Math.Min(255, round);
            waiting++;
            targets[chosen++] = e.Peer;
        }
        return chosen;
    }

    /// <summary>The position of a contact on the list, or -1.</summary>
    public int IndexOf(int lookup, int contact)
    {
        Span<Entry> list = Live(lookup);
        for (int i = 0; i < list.Length; i++)
            if (list[i].Peer == contact) return i;
        return -1;
    }

    /// <summary>A waiting contact replied.</summary>
    public void MarkAnswered(int lookup, int i)
    {
        ref Entry e = ref _list.At(lookup, i);
        if (e.State != PeerState.Waiting) return;
        e.State = PeerState.Answered;
        _waiting[lookup]--;
    }

    /// <summary>A waiting contact's RPC timed out: it is unreachable. Returns false if it was not waiting.</summary>
    public bool MarkUnreachable(int lookup, int i)
    {
        ref Entry e = ref _list.At(lookup, i);
        if (e.State != PeerState.Waiting) return false;
        e.State = PeerState.Unreachable;
        _waiting[lookup]--;
        return true;
    }

    /// <summary>The position of the closest contact that answered, or -1.</summary>
    public int ClosestAnswered(int lookup)
    {
        Span<Entry> list = Live(lookup);
        for (int i = 0; i < list.Length; i++)
            if (list[i].State == PeerState.Answered) return i;
        return -1;
    }

    /// <summary>The lookup's result: the up to k closest contacts that answered, closest first, into <paramref name="into"/>.</summary>
    public int Result(int lookup, Span<int> into)
    {
        Span<Entry> list = Live(lookup);
        int seen = 0;
        for (int i = 0; i < list.Length && seen < into.Length; i++)
            if (list[i].State == PeerState.Answered) into[seen++] = list[i].Peer;
        return seen;
    }
}
