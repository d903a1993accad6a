namespace OverlaySim.Core;

/// <summary>How a lookup ended.</summary>
public enum LookupOutcome : byte
{
    /// <summary>The answer is the node the oracle says is responsible for the key.</summary>
    Ok,
    /// <summary>The lookup ended at another node.</summary>
    Wrong,
    /// <summary>The lookup timed out or was dropped after its retry budget.</summary>
    Failed,
}

/// <summary>The state of one lookup in flight, shared by every overlay.</summary>
public struct LookupRecord
{
    public Id Key;
    public int KeyIndex;
    public int Origin;
    /// <summary>Simulated time the origin issued it, in µs.</summary>
    public long Start;
    /// <summary>Overlay messages on the route so far (the <c>hops</c> metric).</summary>
    public int Hops;
    /// <summary>Hops under the overlay's paper definition, or -1 while unknown.</summary>
    public int PaperHops;
    /// <summary>Every message this lookup caused, replies included.</summary>
    public int Messages;
    /// <summary>Request timeouts this lookup met (each one retried or ended it).</summary>
    public int Timeouts;
    /// <summary>Iterative overlays: requests (RPCs) the origin sent.</summary>
    public int Rpcs;
    /// <summary>Iterative overlays: parallel rounds until the node that answered was queried.</summary>
    public int Rounds;
    /// <summary>Bumped each time the slot is allocated; events carry it to tell a stale lookup from a live one.</summary>
    public uint Generation;
    /// <summary>False for a lookup issued outside the measurement window.</summary>
    public bool Measured;
    public bool InUse;
}

/// <summary>
/// A pool of <see cref="LookupRecord"/> slots, referred to by index from events. Grows by doubling; a slot is
/// reused once its lookup completes, so the number of slots is the peak number of lookups in flight.
/// </summary>
public sealed class LookupTable
{
    private LookupRecord[] _items = new LookupRecord[256];
    private int[] _free = new int[256];
    private int _freeCount;
    private int _used;

    public int InFlight => _used - _freeCount;

    /// <summary>Current number of slots (an overlay keeping per-lookup arrays sizes them by this).</summary>
    public int Capacity => _items.Length;

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
            }
            slot = _used++;
        }
        uint generation = _items[slot].Generation + 1;
        _items[slot] = default;
        _items[slot].Generation = generation;
        _items[slot].InUse = true;
        _items[slot].PaperHops = -1;
        return slot;
    }

    /// <summary>Whether an event stamped with (<paramref name="slot"/>, <paramref name="generation"/>) belongs to a lookup still in flight.</summary>
    public bool IsCurrent(int slot, uint generation) => _items[slot].InUse && _items[slot].Generation == generation;

    public void Free(int slot)
    {
        _items[slot].InUse = false;
        _free[_freeCount++] = slot;
    }
}
