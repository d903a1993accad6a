using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// The pending-event set: a 4-ary min-heap of (time, sequence, slot) keys over a pool of event slots.
/// </summary>
/// <remarks>
/// <para>Order: by time, then by sequence number, a counter incremented at every <see cref="Push"/>. Equal
/// times therefore dispatch first-in-first-out, and the order is total: it never depends on the heap's
/// internal layout. (.NET's <c>PriorityQueue</c> is not stable, which is why the sequence is part of the key.)</para>
/// <para>Memory: 16 bytes of heap key + 28 bytes of event + 8 of sequence + 4 of version + 1 of cancel flag + 4 of free list per pending event; arrays
/// grow by doubling and never shrink, so steady state allocates nothing. Push and Pop are O(log4 n).</para>
/// <para>Cancel sets a flag on the slot (ns-3's lazy cancel); the event is skipped when it reaches the top.</para>
/// </remarks>
public sealed class EventQueue
{
    /// <summary>
    /// Bytes a pending event takes: 16 of heap key, 28 of event, 8 of sequence, 4 of version, 1 of cancel flag and 4 of
    /// free list. The arrays grow by doubling, so a queue of n events holds up to twice this per event.
    /// </summary>
    public const int BytesPerPendingEvent = 61;

    // 16 bytes, so that the four children of a heap node share one 64-byte cache line. The sequence number
    // lives beside the event (in _seq) and is read only when two times are equal.
    private struct Key
    {
        public long Time;
        public int Slot;
    }

    private Key[] _heap;
    private Event[] _events;
    private long[] _seq;
    private uint[] _version;     // bumped when a slot is freed; an EventHandle names (slot, version)
    private bool[] _cancelled;
    private int[] _free;
    private int _freeCount;
    private int _slotsUsed;      // slots ever handed out (high-water mark)
    private int _count;
    private long _nextSeq;

    public EventQueue(int capacity = 1024)
    {
        capacity = Math.Max(capacity, 4);
        _heap = new Key[capacity];
        _events = new Event[capacity];
        _seq = new long[capacity];
        _version = new uint[capacity];
        _cancelled = new bool[capacity];
        _free = new int[capacity];
    }

    public int Count => _count;

    /// <summary>
    /// Asked each time the pool of event slots would grow past <see cref="BoundFrom"/> (so never on the hot path), with
    /// the events pending: null lets it grow, a message stops the run with a <see cref="RunawayException"/>. It bounds a
    /// run whose events multiply without end (say, retries that outrun their answers) long before memory runs out.
    /// </summary>
    public Func<int, string?>? Bound { get; set; }

    /// <summary>Pending events below which <see cref="Bound"/> is not asked.</summary>
    public const int BoundFrom = 1 << 19;

    /// <summary>Slots currently holding an event (pending, including cancelled ones not yet popped).</summary>
    public int SlotsInUse => _slotsUsed - _freeCount;

    /// <summary>Number of events ever pushed (the next sequence number).</summary>
    public long Pushed => _nextSeq;

    public EventHandle Push(long time, in Event ev)
    {
        int slot = AllocateSlot();
        _events[slot] = ev;
        _cancelled[slot] = false;

        if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
        int i = _count++;
        _seq[slot] = _nextSeq++;
        var key = new Key { Time = time, Slot = slot };
        SiftUp(i, key);
        return new EventHandle(slot, _version[slot]);
    }

    /// <summary>Cancels a pending event. Returns false if it already ran or was cancelled.</summary>
    public bool Cancel(EventHandle handle)
    {
        if ((uint)handle.Slot >= (uint)_slotsUsed || _version[handle.Slot] != handle.Version || _cancelled[handle.Slot])
            return false;
        _cancelled[handle.Slot] = true;
        return true;
    }

    /// <summary>Time of the earliest pending event, cancelled or not; long.MaxValue when empty.</summary>
    public long PeekTime => _count == 0 ? long.MaxValue : _heap[0].Time;

    /// <summary>The earliest pending event's slot, or -1 when the queue is empty (see <see cref="At"/>).</summary>
    public int FirstSlot => _count == 0 ? -1 : _heap[0].Slot;

    /// <summary>
    /// The slot of the event due after the earliest, or -1 with fewer than two pending: the least of the root's
    /// children, whose keys share one cache line.
    /// </summary>
    public int SecondSlot
    {
        get
        {
            int n = _count;
            if (n < 2) return -1;
            int best = 1, end = Math.Min(5, n);
            for (int c = 2; c < end; c++)
                if (Less(_heap[c], _heap[best])) best = c;
            return _heap[best].Slot;
        }
    }

    /// <summary>The event pending in <paramref name="slot"/> (from <see cref="FirstSlot"/> or <see cref="SecondSlot"/>), until the next Push or Pop.</summary>
    public ref readonly Event At(int slot) => ref _events[slot];

    /// <summary>
    /// Removes the earliest event. Returns false when the queue is empty. A cancelled event is returned with
    /// <paramref name="cancelled"/> set, so that the caller can count it; its slot is already free.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPop(out long time, out Event ev, out bool cancelled)
    {
        if (_count == 0)
        {
            time = 0;
            ev = default;
            cancelled = false;
            return false;
        }
        Key top = _heap[0];
        int last = --_count;
        if (last > 0) SiftDown(0, _heap[last]);

        time = top.Time;
        int slot = top.Slot;
        ev = _events[slot];
        cancelled = _cancelled[slot];
        FreeSlot(slot);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Less(in Key a, in Key b) => a.Time < b.Time || (a.Time == b.Time && _seq[a.Slot] < _seq[b.Slot]);

    private void SiftUp(int i, Key key)
    {
        Key[] heap = _heap;
        while (i > 0)
        {
            int parent = (i - 1) >> 2;
            if (!Less(key, heap[parent])) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = key;
    }

    private void SiftDown(int i, Key key)
    {
        Key[] heap = _heap;
        int n = _count;
        while (true)
        {
            int first = (i << 2) + 1;
            if (first >= n) break;
            int best = first;
            int end = Math.Min(first + 4, n);
            for (int c = first + 1; c < end; c++)
                if (Less(heap[c], heap[best])) best = c;
            if (!Less(heap[best], key)) break;
            heap[i] = heap[best];
            i = best;
        }
        heap[i] = key;
    }

    private int AllocateSlot()
    {
        if (_freeCount > 0) return _free[--_freeCount];
        if (_slotsUsed == _events.Length)
        {
            if (_slotsUsed >= BoundFrom && Bound?.Invoke(_slotsUsed) is { } why) throw new RunawayException(why);
            int n = _events.Length * 2;
            Array.Resize(ref _events, n);
            Array.Resize(ref _seq, n);
            Array.Resize(ref _version, n);
            Array.Resize(ref _cancelled, n);
            Array.Resize(ref _free, n);
        }
        return _slotsUsed++;
    }

    private void FreeSlot(int slot)
    {
        _version[slot]++;
        _free[_freeCount++] = slot;
    }
}

/// <summary>Names one scheduled event so that it can be cancelled; stale once the event ran.</summary>
public readonly record struct EventHandle(int Slot, uint Version);

/// <summary>A run stopped because its pending events grew beyond any need of its nodes and lookups.</summary>
public sealed class RunawayException(string message) : Exception(message);
