namespace OverlaySim.Core;

/// <summary>How a lookup was answered.</summary>
public enum LookupOutcome : byte
{
    /// <summary>The answer is correct by the overlay's ground truth (e.g. Chord: the key's successor).</summary>
    Ok,
    /// <summary>The lookup was answered by a node the ground truth does not accept.</summary>
    Wrong,
    /// <summary>The lookup got no answer: timed out, dropped, or its retry budget was spent.</summary>
    Failed,
}

/// <summary>The state of one lookup in flight, shared by every overlay.</summary>
/// <remarks>
/// A lookup lives from <see cref="LookupService.BeginUser"/> (or <see cref="LookupService.BeginInternal"/>) until it
/// ends. It is answered once (<see cref="LookupService.Answer"/> or <see cref="LookupService.Fail"/>): outcome,
/// latency and hops are taken then. Messages may still be in flight after the answer (an α-parallel lookup's other
/// RPCs, a flood's copies, a retried hop's first copy); they keep counting against this lookup, and it ends when the
/// last of them has been delivered or lost. Only then is the slot freed for another lookup.
/// </remarks>
public struct LookupRecord
{
    public Id Key;
    /// <summary>Index of the workload key (0..K-1), or -1 for an internal lookup of an arbitrary id.</summary>
    public int KeyIndex;
    public int Origin;
    /// <summary>The origin's incarnation when it issued the lookup (see <see cref="NodeTable.Epoch"/>).</summary>
    public uint OriginEpoch;
    /// <summary>Simulated time the origin issued it, in µs.</summary>
    public long Start;
    /// <summary>Overlay messages on the route so far (the <c>hops</c> metric; what a hop is, each overlay documents).</summary>
    public int Hops;
    /// <summary>Every message this lookup caused, replies included (set by <see cref="Transport.Send"/>).</summary>
    public int Messages;
    /// <summary>Bytes of those messages: header plus payload, by the overlay's size table.</summary>
    public long Bytes;
    /// <summary>Request timeouts this lookup met (each one retried or ended it).</summary>
    public int Timeouts;
    /// <summary>Its messages sent through the transport and not yet delivered or lost.</summary>
    public int InFlight;
    /// <summary>Purpose-defined argument of an internal lookup (a finger level, a key index, a bootstrap node).</summary>
    public int Arg;
    /// <summary>Bumped each time the slot is allocated; events carry it to tell a stale lookup from a live one.</summary>
    public uint Generation;
    /// <summary>What the lookup is for: <see cref="LookupService.UserLookup"/> for the workload's, an overlay-defined value otherwise.</summary>
    public byte Purpose;
    /// <summary>False for a lookup issued outside the measurement window, for an internal lookup, and once abandoned.</summary>
    public bool Measured;
    /// <summary>Set by the first answer (or failure); later answers are ignored.</summary>
    public bool Answered;
    public bool InUse;

    /// <summary>Whether this is one of the workload's lookups (not one the overlay made for itself).</summary>
    public readonly bool IsUser => Purpose == LookupService.UserLookup;
}

/// <summary>
/// A pool of <see cref="LookupRecord"/> slots, referred to by index from events. Grows by doubling; a slot is
/// reused once its lookup has ended, so the number of slots is the peak number of lookups in flight.
/// </summary>
public sealed class LookupTable
{
    private LookupRecord[] _items = new LookupRecord[256];
    private int[] _free = new int[256];
    private int _freeCount;
    private int _used;

    /// <summary>Lookups begun and not yet ended.</summary>
    public int InFlight => _used - _freeCount;

    /// <summary>Current number of slots (per-lookup arrays are sized by this, see <see cref="LookupArray{T}"/>).</summary>
    public int Capacity => _items.Length;

    /// <summary>Raised after the slots grew, with the new capacity.</summary>
    public event Action<int>? Grown;

    public ref LookupRecord this[int slot] => ref _items[slot];

    public int Allocate()
    {
        int slot;
        if (_freeCount > 0) slot = _free[--_freeCount];
        else
        {
            if (_used == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
                Array.Resize(ref _free, _free.Length * 2);
                Grown?.Invoke(_items.Length);
            }
            slot = _used++;
        }
        uint generation = (_items[slot].Generation + 1) & ~InFlightMark;
        if (generation == 0) generation = 1;
        _items[slot] = default;
        _items[slot].Generation = generation;
        _items[slot].InUse = true;
        return slot;
    }

    /// <summary>
    /// The top bit of an event's <see cref="Event.LookupGen"/>: set by <see cref="Transport.Send"/> on a lookup's
    /// message while it is in flight (so that its delivery or loss can be counted), cleared before an overlay sees
    /// the event. Generations use the other 31 bits.
    /// </summary>
    public const uint InFlightMark = 0x8000_0000;

    /// <summary>Whether an event stamped with (<paramref name="slot"/>, <paramref name="generation"/>) belongs to a lookup still in flight.</summary>
    public bool IsCurrent(int slot, uint generation) => _items[slot].InUse && _items[slot].Generation == (generation & ~InFlightMark);

    public void Free(int slot)
    {
        if (!_items[slot].InUse) throw new InvalidOperationException($"lookup slot {slot} freed twice");
        _items[slot].InUse = false;
        _free[_freeCount++] = slot;
    }
}
