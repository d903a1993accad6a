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
/// equal distance means the contact is already there. Memory per lookup slot: 2k·(4 + 24 + 3) + 8 bytes.
/// </remarks>
public sealed class QueryPeerSet
{
    private readonly int _k, _s;
    private readonly LookupArray<int> _peer;
    private readonly LookupArray<Id> _distance;
    private readonly LookupArray<PeerState> _state;
    private readonly LookupArray<byte> _depth;
    private readonly LookupArray<byte> _round;
    private readonly LookupArray<int> _count;
    private readonly LookupArray<int> _waiting;

    public QueryPeerSet(Network net, int k)
    {
        _k = k;
        _s = 2 * k;
        _peer = net.LookupArray<int>(_s);
        _distance = net.LookupArray<Id>(_s);
        _state = net.LookupArray<PeerState>(_s);
        _depth = net.LookupArray<byte>(_s);
        _round = net.LookupArray<byte>(_s);
        _count = net.LookupArray<int>();
        _waiting = net.LookupArray<int>();
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

    public int Peer(int lookup, int i) => _peer[lookup * _s + i];
    public PeerState State(int lookup, int i) => _state[lookup * _s + i];
    public int Depth(int lookup, int i) => _depth[lookup * _s + i];
    public int Round(int lookup, int i) => _round[lookup * _s + i];

    /// <summary>
    /// Adds a contact at distance <paramref name="d"/> from the target, kept sorted and at most 2k long: a contact already
    /// there, or farther than the 2k closest, is ignored; the farthest is pushed off when the list is full (if it was
    /// waiting, its reply will find it gone).
    /// </summary>
    public void Offer(int lookup, int contact, Id d, int depth)
    {
        int b = lookup * _s, count = _count[lookup];
        int lo = 0, hi = count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_distance[b + mid] < d) lo = mid + 1;
            else hi = mid;
        }
        int pos = lo;
        if (pos < count && _distance[b + pos] == d) return;
        if (pos == _s) return;
        int last = Math.Min(count, _s - 1);
        if (count == _s && _state[b + _s - 1] == PeerState.Waiting) _waiting[lookup]--;
        for (int i = last; i > pos; i--)
        {
            _peer[b + i] = _peer[b + i - 1];
            _distance[b + i] = _distance[b + i - 1];
            _state[b + i] = _state[b + i - 1];
            _depth[b + i] = _depth[b + i - 1];
            _round[b + i] = _round[b + i - 1];
        }
        _peer[b + pos] = contact;
        _distance[b + pos] = d;
        _state[b + pos] = PeerState.Heard;
        _depth[b + pos] = (byte)Math.Min(255, depth);
        _round[b + pos] = 0;
        _count[lookup] = Math.Min(count + 1, _s);
    }

    /// <summary>
    /// The contacts to ask next, into <paramref name="targets"/>: the closest heard ones among the k closest that are not
    /// unreachable, as long as fewer than <paramref name="alpha"/> are waiting. They become waiting, asked in
    /// <paramref name="round"/>. Returns how many.
    /// </summary>
    public int SelectToAsk(int lookup, int alpha, int round, Span<int> targets)
    {
        int b = lookup * _s, count = _count[lookup];
        int considered = 0, chosen = 0;
        for (int i = 0; i < count && considered < _k && _waiting[lookup] < alpha; i++)
        {
            PeerState state = _state[b + i];
            if (state == PeerState.Unreachable) continue;
            considered++;
            if (state != PeerState.Heard) continue;
            _state[b + i] = PeerState.Waiting;
            _round[b + i] = (byte)Math.Min(255, round);
            _waiting[lookup]++;
            targets[chosen++] = _peer[b + i];
        }
        return chosen;
    }

    /// <summary>The position of a contact on the list, or -1.</summary>
    public int IndexOf(int lookup, int contact)
    {
        int b = lookup * _s, count = _count[lookup];
        for (int i = 0; i < count; i++)
            if (_peer[b + i] == contact) return i;
        return -1;
    }

    /// <summary>A waiting contact replied.</summary>
    public void MarkAnswered(int lookup, int i)
    {
        int at = lookup * _s + i;
        if (_state[at] != PeerState.Waiting) return;
        _state[at] = PeerState.Answered;
        _waiting[lookup]--;
    }

    /// <summary>A waiting contact's RPC timed out: it is unreachable. Returns false if it was not waiting.</summary>
    public bool MarkUnreachable(int lookup, int i)
    {
        int at = lookup * _s + i;
        if (_state[at] != PeerState.Waiting) return false;
        _state[at] = PeerState.Unreachable;
        _waiting[lookup]--;
        return true;
    }

    /// <summary>The position of the closest contact that answered, or -1.</summary>
    public int ClosestAnswered(int lookup)
    {
        int b = lookup * _s, count = _count[lookup];
        for (int i = 0; i < count; i++)
            if (_state[b + i] == PeerState.Answered) return i;
        return -1;
    }

    /// <summary>The lookup's result: the up to k closest contacts that answered, closest first, into <paramref name="into"/>.</summary>
    public int Result(int lookup, Span<int> into)
    {
        int b = lookup * _s, count = _count[lookup], seen = 0;
        for (int i = 0; i < count && seen < into.Length; i++)
            if (_state[b + i] == PeerState.Answered) into[seen++] = _peer[b + i];
        return seen;
    }
}
