using System.Numerics;
using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// The pending-event set: a 4-ary min-heap of (time, sequence, slot) keys for the events due soon, a ring of time
/// buckets for those due later, and a second heap for those beyond the ring, over one pool of event slots.
/// </summary>
/// <remarks>
/// <para>Order: by time, then by sequence number, a counter incremented at every <see cref="Push"/>. Equal
/// times therefore dispatch first-in-first-out, and the order is total: it never depends on the heap's
/// internal layout, nor on which tier an event waited in. (.NET's <c>PriorityQueue</c> is not stable, which is why
/// the sequence is part of the key.)</para>
/// <para>Tiers: time is cut into buckets of 2^<c>bucketShift</c> ticks (16.4 ms of the engine's microseconds by
/// default). The near heap holds every event of the buckets before the <em>horizon</em>; the ring holds, unordered,
/// the events of the next 2^<c>ringBits</c> buckets (67 s by default); the far heap holds the rest. When the near
/// heap runs low (fewer than two events, so that the two due next are always known), the ring's first non-empty
/// bucket is moved into it and the horizon passes that bucket, and far events that come within the ring's reach move
/// into the ring. So the heap that every pop sifts through holds a few buckets' worth of events rather than every
/// timer of every node: under churn, 10^5 nodes keep about 5·10^5 timers pending, 30 s to an hour ahead, and a pop in
/// a heap of that size misses the cache at most of its ten levels. A bucket is a chain of 32-key chunks from a shared
/// pool, so moving it is a sequential read and memory follows the events pending, not the busiest bucket ever.</para>
/// <para>Memory: 16 bytes of key (in one of the tiers) + 32 of slot (the event and its stamp) + 8 of sequence + 4 of
/// free list per pending event; arrays grow by doubling and never shrink, so steady state allocates nothing.
/// Push and pop are O(log4 n) in the near heap's size, plus O(1) amortised for a pass through the ring.</para>
/// <para>Cancel sets a flag on the slot (ns-3's lazy cancel); the event is skipped when it reaches the top.</para>
/// </remarks>
public sealed class EventQueue
{
    /// <summary>
    /// Bytes a pending event takes: 16 of key, 32 of slot (the event and its version and cancel flag), 8 of sequence
    /// and 4 of free list. The arrays grow by doubling, so a queue of n events holds up to twice this per event.
    /// </summary>
    public const int BytesPerPendingEvent = 60;

    /// <summary>
    /// Room the ring may hold beyond <see cref="BytesPerPendingEvent"/> (whose doubling covers the chunks' growth): a
    /// partly filled chunk (32 keys, 512 bytes, and its two links) in each of its 2^12 buckets, about 2.1 MB. Reached when
    /// timers are spread over the ring's whole reach, as a protocol's periodic timers are: with 20,000 nodes of one timer
    /// each, a bucket holds about 5 keys in a chunk of 32.
    /// </summary>
    public const long RingSlackBytes = (1L << DefaultRingBits) * (ChunkSize * 16 + 2 * sizeof(int));

    /// <summary>Default bucket width: 2^14 ticks (16.4 ms when a tick is a microsecond).</summary>
    public const int DefaultBucketShift = 14;

    /// <summary>Default ring size: 2^12 buckets (67 s at the default width).</summary>
    public const int DefaultRingBits = 12;

    private const int ChunkBits = 5;
    private const int ChunkSize = 1 << ChunkBits;

    // 16 bytes, so that the four children of a heap node share one 64-byte cache line. The sequence number
    // lives beside the event (in _seq) and is read only when two times are equal.
    private struct Key
    {
        public long Time;
        public int Slot;
    }

    // 32 bytes: an event and its stamp share a cache line. Stamp: version << 1 | cancelled.
    private struct Slot
    {
        public Event Ev;
        public uint Stamp;
    }

    private Key[] _heap;         // near tier: every pending event of a bucket before _base
    private int _count;
    private Key[] _far = new Key[16];   // far tier: events of buckets at or past _base + ring size
    private int _farCount;

    private readonly int _shift;
    private readonly int _ringMask;
    private long _base;          // the ring's first bucket; every bucket before it is in the near heap
    private readonly int[] _head;     // first chunk of each ring bucket, -1 when empty
    private readonly int[] _tail;     // last chunk, which holds _fill[b] keys
    private readonly int[] _fill;
    private readonly ulong[] _occupied;   // one bit per ring bucket
    private int _ringCount;
    private Key[] _chunks = new Key[16 * ChunkSize];
    private int[] _chunkNext = new int[16];
    private int[] _freeChunks = new int[16];
    private int _freeChunkCount;
    private int _chunksUsed;

    private Slot[] _slots;
    private long[] _seq;
    private int[] _free;
    private int _freeCount;
    private int _slotsUsed;      // slots ever handed out (high-water mark)
    private long _nextSeq;

    public EventQueue(int capacity = 1024, int bucketShift = DefaultBucketShift, int ringBits = DefaultRingBits)
    {
        if (bucketShift is < 0 or > 40) throw new ArgumentOutOfRangeException(nameof(bucketShift));
        if (ringBits is < 1 or > 20) throw new ArgumentOutOfRangeException(nameof(ringBits));
        capacity = Math.Max(capacity, 4);
        _heap = new Key[capacity];
        _slots = new Slot[capacity];
        _seq = new long[capacity];
        _free = new int[capacity];
        _shift = bucketShift;
        int ring = 1 << ringBits;
        _ringMask = ring - 1;
        _head = new int[ring];
        _tail = new int[ring];
        _fill = new int[ring];
        Array.Fill(_head, -1);
        Array.Fill(_tail, -1);
        _occupied = new ulong[Math.Max(1, ring / 64)];
        _base = 1;   // bucket 0 (times from 0 to the first bucket's end) starts in the near heap
    }

    /// <summary>Events pending, cancelled ones included, in every tier.</summary>
    public int Count => _count + _ringCount + _farCount;

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
        ref Slot s = ref _slots[slot];
        s.Ev = ev;
        s.Stamp &= ~1u;
        _seq[slot] = _nextSeq++;
        var key = new Key { Time = time, Slot = slot };
        long bucket = time >> _shift;
        if (bucket < _base)
        {
            if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
            SiftUp(_heap, _seq, _count++, key);
        }
        else if (bucket - _base <= _ringMask) RingAdd(bucket, key);
        else
        {
            if (_farCount == _far.Length) Array.Resize(ref _far, _far.Length * 2);
            SiftUp(_far, _seq, _farCount++, key);
        }
        return new EventHandle(slot, s.Stamp >> 1);
    }

    /// <summary>Cancels a pending event. Returns false if it already ran or was cancelled.</summary>
    public bool Cancel(EventHandle handle)
    {
        if ((uint)handle.Slot >= (uint)_slotsUsed) return false;
        ref uint stamp = ref _slots[handle.Slot].Stamp;
        if (stamp != handle.Version << 1) return false;   // another version of the slot, or cancelled already
        stamp |= 1;
        return true;
    }

    /// <summary>Time of the earliest pending event, cancelled or not; long.MaxValue when empty.</summary>
    public long PeekTime
    {
        get
        {
            EnsureNear();
            return _count == 0 ? long.MaxValue : _heap[0].Time;
        }
    }

    /// <summary>The earliest pending event's slot, or -1 when the queue is empty (see <see cref="At"/>).</summary>
    public int FirstSlot
    {
        get
        {
            EnsureNear();
            return _count == 0 ? -1 : _heap[0].Slot;
        }
    }

    /// <summary>
    /// The slot of the event due after the earliest, or -1 with fewer than two pending: the least of the root's
    /// children, whose keys share one cache line.
    /// </summary>
    public int SecondSlot
    {
        get
        {
            EnsureNear();
            int n = _count;
            if (n < 2) return -1;
            int best = 1, end = Math.Min(5, n);
            for (int c = 2; c < end; c++)
                if (Less(_heap[c], _heap[best], _seq)) best = c;
            return _heap[best].Slot;
        }
    }

    /// <summary>
    /// Prefetches the slots of the events at the top of the near heap: the root and its four children, among which are
    /// the events due next and after next and often the one after that (see <see cref="CacheHint"/>).
    /// </summary>
    public void PrefetchTop()
    {
        EnsureNear();
        int end = Math.Min(5, _count);
        for (int c = 0; c < end; c++) CacheHint.Prefetch(in _slots[_heap[c].Slot]);
    }

    /// <summary>The event pending in <paramref name="slot"/> (from <see cref="FirstSlot"/> or <see cref="SecondSlot"/>), until the next Push or Pop.</summary>
    public ref readonly Event At(int slot) => ref _slots[slot].Ev;

    /// <summary>
    /// Removes the earliest event. Returns false when the queue is empty. A cancelled event is returned with
    /// <paramref name="cancelled"/> set, so that the caller can count it; its slot is already free.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPop(out long time, out Event ev, out bool cancelled)
    {
        EnsureNear();
        if (_count == 0)
        {
            time = 0;
            ev = default;
            cancelled = false;
            return false;
        }
        Key top = _heap[0];
        int last = --_count;
        if (last > 0) SiftDown(_heap, _seq, last, _heap[last]);

        time = top.Time;
        int slot = top.Slot;
        ref Slot s = ref _slots[slot];
        ev = s.Ev;
        cancelled = (s.Stamp & 1) != 0;
        s.Stamp = (s.Stamp | 1) + 1;   // the next version, not cancelled: handles of this event are stale now
        _free[_freeCount++] = slot;
        return true;
    }

    /// <summary>Keeps at least two events in the near heap while any are pending elsewhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureNear()
    {
        if (_count < 2 && (_ringCount | _farCount) != 0) Refill();
    }

    private void Refill()
    {
        while (_count < 2 && (_ringCount | _farCount) != 0)
        {
            if (_ringCount == 0)
            {
                // Nothing within the ring's reach: it jumps to the far heap's first bucket.
                _base = _far[0].Time >> _shift;
                PullFar();
            }
            long bucket = FirstOccupied();
            Drain((int)(bucket & _ringMask));
            _base = bucket + 1;
            PullFar();
        }
    }

    /// <summary>The first non-empty ring bucket (there is one); every ring event lies in [_base, _base + ring).</summary>
    private long FirstOccupied()
    {
        int start = (int)(_base & _ringMask);
        int words = _occupied.Length;
        int w = start >> 6;
        ulong bits = _occupied[w] & (ulong.MaxValue << (start & 63));
        for (int i = 0; i <= words; i++)
        {
            if (bits != 0)
            {
                int pos = ((w << 6) | BitOperations.TrailingZeroCount(bits)) & _ringMask;
                return _base + ((pos - start) & _ringMask);
            }
            w = w + 1 == words ? 0 : w + 1;
            bits = _occupied[w];
        }
        throw new InvalidOperationException("ring count and bucket map disagree");
    }

    /// <summary>Moves the far events that the ring now reaches into it.</summary>
    private void PullFar()
    {
        while (_farCount > 0 && (_far[0].Time >> _shift) - _base <= _ringMask)
        {
            Key key = _far[0];
            int last = --_farCount;
            if (last > 0) SiftDown(_far, _seq, last, _far[last]);
            RingAdd(key.Time >> _shift, key);
        }
    }

    private void RingAdd(long bucket, Key key)
    {
        int b = (int)(bucket & _ringMask);
        int tail = _tail[b];
        if (tail < 0 || _fill[b] == ChunkSize)
        {
            int chunk = NewChunk();
            if (tail < 0)
            {
                _head[b] = chunk;
                _occupied[b >> 6] |= 1UL << (b & 63);
            }
            else _chunkNext[tail] = chunk;
            _tail[b] = tail = chunk;
            _fill[b] = 0;
        }
        _chunks[(tail << ChunkBits) + _fill[b]++] = key;
        _ringCount++;
    }

    /// <summary>Moves one ring bucket's events into the near heap and gives its chunks back.</summary>
    private void Drain(int b)
    {
        Key[] chunks = _chunks;
        int tail = _tail[b];
        for (int c = _head[b]; c >= 0;)
        {
            int n = c == tail ? _fill[b] : ChunkSize;
            if (_count + n > _heap.Length) Array.Resize(ref _heap, Math.Max(_heap.Length * 2, _count + n));
            int from = c << ChunkBits;
            for (int i = 0; i < n; i++) SiftUp(_heap, _seq, _count++, chunks[from + i]);
            _ringCount -= n;
            int next = c == tail ? -1 : _chunkNext[c];
            _freeChunks[_freeChunkCount++] = c;
            c = next;
        }
        _head[b] = _tail[b] = -1;
        _fill[b] = 0;
        _occupied[b >> 6] &= ~(1UL << (b & 63));
    }

    private int NewChunk()
    {
        if (_freeChunkCount > 0) return _freeChunks[--_freeChunkCount];
        if (_chunksUsed == _chunkNext.Length)
        {
            int n = _chunkNext.Length * 2;
            Array.Resize(ref _chunkNext, n);
            Array.Resize(ref _freeChunks, n);
            Array.Resize(ref _chunks, n << ChunkBits);
        }
        return _chunksUsed++;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Less(in Key a, in Key b, long[] seq) => a.Time < b.Time || (a.Time == b.Time && seq[a.Slot] < seq[b.Slot]);

    private static void SiftUp(Key[] heap, long[] seq, int i, Key key)
    {
        while (i > 0)
        {
            int parent = (i - 1) >> 2;
            if (!Less(key, heap[parent], seq)) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = key;
    }

    /// <summary>Puts <paramref name="key"/> at the root of a heap of <paramref name="n"/> keys and sifts it down.</summary>
    private static void SiftDown(Key[] heap, long[] seq, int n, Key key)
    {
        int i = 0;
        while (true)
        {
            int first = (i << 2) + 1;
            if (first >= n) break;
            int best = first;
            int end = Math.Min(first + 4, n);
            for (int c = first + 1; c < end; c++)
                if (Less(heap[c], heap[best], seq)) best = c;
            if (!Less(heap[best], key, seq)) break;
            heap[i] = heap[best];
            i = best;
        }
        heap[i] = key;
    }

    private int AllocateSlot()
    {
        if (_freeCount > 0) return _free[--_freeCount];
        if (_slotsUsed == _slots.Length)
        {
            if (_slotsUsed >= BoundFrom && Bound?.Invoke(_slotsUsed) is { } why) throw new RunawayException(why);
            int n = _slots.Length * 2;
            Array.Resize(ref _slots, n);
            Array.Resize(ref _seq, n);
            Array.Resize(ref _free, n);
        }
        return _slotsUsed++;
    }
}

/// <summary>Names one scheduled event so that it can be cancelled; stale once the event ran.</summary>
public readonly record struct EventHandle(int Slot, uint Version);

/// <summary>A run stopped because its pending events grew beyond any need of its nodes and lookups.</summary>
public sealed class RunawayException(string message) : Exception(message);
