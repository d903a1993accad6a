using System.Numerics;
using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// The pending-event set: a 4-ary min-heap for the events due soon, a ring of time buckets for those due later, and a
/// second heap for those beyond the ring. Every tier keeps the event itself beside its order key.
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
/// a heap of that size misses the cache at most of its ten levels. A bucket is a chain of 8-entry chunks from a
/// shared pool, so moving it is a sequential read and memory follows the events pending, not the busiest bucket ever.</para>
/// <para>Where the event lives: the ring's chunks and the far heap hold whole entries (time, sequence, event, slot:
/// 48 bytes). The near tier copies a bucket's events, as the bucket is moved in, into a small store of its own, and
/// its heap orders 16-byte keys (time, place in that store) whose four children share a cache line. The events due
/// next are therefore in a few tens of kilobytes that the caches keep, not scattered over a pool of every pending
/// event, where, with half a million timers pending, reading the next event was a cache miss of its own.</para>
/// <para>Memory: 48 bytes of entry + 4 of slot stamp + 4 of free list per pending event (56); arrays grow by doubling
/// and never shrink, so steady state allocates nothing. Push and pop are O(log4 n) in the near heap's size, plus
/// O(1) amortised for a pass through the ring.</para>
/// <para>Cancel: each pending event holds a slot whose stamp is its version (its sequence number's low 31 bits) and
/// a cancelled flag (ns-3's lazy cancel); the event is skipped when it reaches the top. The stamp is read at a pop
/// only while some cancelled event is pending.</para>
/// </remarks>
public sealed class EventQueue
{
    /// <summary>
    /// Bytes a pending event takes: 48 of entry (time, sequence, event and slot, in one of the tiers), 4 of slot stamp
    /// and 4 of free list. The arrays grow by doubling, so a queue of n events holds up to twice this per event.
    /// </summary>
    public const int BytesPerPendingEvent = EntryBytes + 8;

    /// <summary>
    /// Room the ring may hold beyond <see cref="BytesPerPendingEvent"/> (whose doubling covers the chunks' growth): a
    /// partly filled chunk (8 entries, 384 bytes, and its two links) in each of its 2^12 buckets, about 1.6 MB. Reached
    /// when timers are spread over the ring's whole reach, as a protocol's periodic timers are: with 20,000 nodes of one
    /// timer each, a bucket holds about 5 entries in a chunk of 8.
    /// </summary>
    public const long RingSlackBytes = (1L << DefaultRingBits) * (ChunkSize * EntryBytes + 2 * sizeof(int));

    /// <summary>Default bucket width: 2^14 ticks (16.4 ms when a tick is a microsecond).</summary>
    public const int DefaultBucketShift = 14;

    /// <summary>Default ring size: 2^12 buckets (67 s at the default width).</summary>
    public const int DefaultRingBits = 12;

    private const int ChunkBits = 3;
    private const int ChunkSize = 1 << ChunkBits;
    private const int EntryBytes = 48;

    // 48 bytes: a pending event in the ring or the far heap, with its order key and slot.
    private struct Entry
    {
        public long Time;
        public long Seq;
        public Event Ev;
        public int Slot;
    }

    // 16 bytes, so that the four children of a near-heap node share one 64-byte cache line. The sequence number
    // lives beside the event in the near store and is read only when two times are equal.
    private struct NearKey
    {
        public long Time;
        public int At;
    }

    // 40 bytes: an event of the near tier.
    private struct NearEvent
    {
        public long Seq;
        public Event Ev;
        public int Slot;
    }

    private NearKey[] _heap;     // near tier: every pending event of a bucket before _base
    private int _count;
    private NearEvent[] _near;   // their events, at the places the keys name
    private int[] _nearFree;
    private int _nearFreeCount;
    private int _nearUsed;
    private Entry[] _far = new Entry[16];   // far tier: events of buckets at or past _base + ring size
    private int _farCount;

    private readonly int _shift;
    private readonly int _ringMask;
    private long _base;          // the ring's first bucket; every bucket before it is in the near heap
    private readonly int[] _head;     // first chunk of each ring bucket, -1 when empty
    private readonly int[] _tail;     // last chunk, which holds _fill[b] entries
    private readonly int[] _fill;
    private readonly ulong[] _occupied;   // one bit per ring bucket
    private int _ringCount;
    private Entry[] _chunks = new Entry[16 * ChunkSize];
    private int[] _chunkNext = new int[16];
    private int[] _freeChunks = new int[16];
    private int _freeChunkCount;
    private int _chunksUsed;

    private uint[] _stamps;      // per slot: version << 1 while pending (| 1 once cancelled); 1 when free
    private int[] _free;
    private int _freeCount;
    private int _slotsUsed;      // slots ever handed out (high-water mark)
    private int _cancelled;      // cancelled events still pending
    private long _nextSeq;

    public EventQueue(int capacity = 1024, int bucketShift = DefaultBucketShift, int ringBits = DefaultRingBits)
    {
        if (bucketShift is < 0 or > 40) throw new ArgumentOutOfRangeException(nameof(bucketShift));
        if (ringBits is < 1 or > 20) throw new ArgumentOutOfRangeException(nameof(ringBits));
        capacity = Math.Max(capacity, 4);
        int near = Math.Min(capacity, 1024);
        _heap = new NearKey[near];
        _near = new NearEvent[near];
        _nearFree = new int[near];
        _stamps = new uint[capacity];
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
        long seq = _nextSeq++;
        uint version = (uint)seq & 0x7fffffff;
        _stamps[slot] = version << 1;
        long bucket = time >> _shift;
        if (bucket < _base) PushNear(time, seq, in ev, slot);
        else if (bucket - _base <= _ringMask) RingAdd(bucket, new Entry { Time = time, Seq = seq, Ev = ev, Slot = slot });
        else
        {
            if (_farCount == _far.Length) Array.Resize(ref _far, _far.Length * 2);
            SiftUp(_far, _farCount++, new Entry { Time = time, Seq = seq, Ev = ev, Slot = slot }, default(EntryOrder));
        }
        return new EventHandle(slot, version);
    }

    /// <summary>Cancels a pending event. Returns false if it already ran or was cancelled.</summary>
    public bool Cancel(EventHandle handle)
    {
        if ((uint)handle.Slot >= (uint)_slotsUsed || handle.Version > 0x7fffffff) return false;
        ref uint stamp = ref _stamps[handle.Slot];
        if (stamp != handle.Version << 1) return false;   // another event in the slot, a free slot, or cancelled already
        stamp |= 1;
        _cancelled++;
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

    /// <summary>Where the earliest pending event is held, or -1 when the queue is empty (see <see cref="At"/>).</summary>
    public int FirstSlot
    {
        get
        {
            EnsureNear();
            return _count == 0 ? -1 : _heap[0].At;
        }
    }

    /// <summary>
    /// Where the event due after the earliest is held, or -1 with fewer than two pending: the least of the root's
    /// children, whose keys share one cache line.
    /// </summary>
    public int SecondSlot
    {
        get
        {
            EnsureNear();
            int n = _count;
            if (n < 2) return -1;
            NearKey[] heap = _heap;
            var order = new NearOrder(_near);
            int best = 1, end = Math.Min(5, n);
            for (int c = 2; c < end; c++)
                if (order.Less(heap[c], heap[best])) best = c;
            return heap[best].At;
        }
    }

    /// <summary>
    /// Prefetches the events at the top of the near heap: the root and its four children, among which are the events
    /// due next and after next and often the one after that (see <see cref="CacheHint"/>).
    /// </summary>
    public void PrefetchTop()
    {
        EnsureNear();
        int end = Math.Min(5, _count);
        for (int c = 0; c < end; c++) CacheHint.Prefetch(in _near[_heap[c].At]);
    }

    /// <summary>The event held at <paramref name="at"/> (from <see cref="FirstSlot"/> or <see cref="SecondSlot"/>), until the next Push or Pop.</summary>
    public ref readonly Event At(int at) => ref _near[at].Ev;

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
        NearKey top = _heap[0];
        int last = --_count;
        if (last > 0) SiftDown(_heap, last, _heap[last], new NearOrder(_near));

        time = top.Time;
        ref NearEvent e = ref _near[top.At];
        ev = e.Ev;
        int slot = e.Slot;
        cancelled = _cancelled != 0 && TakeCancelled(slot);
        _stamps[slot] = 1;   // free: no handle matches it
        _free[_freeCount++] = slot;
        _nearFree[_nearFreeCount++] = top.At;
        return true;
    }

    private bool TakeCancelled(int slot)
    {
        if ((_stamps[slot] & 1) == 0) return false;
        _cancelled--;
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
            Entry entry = _far[0];
            int last = --_farCount;
            if (last > 0) SiftDown(_far, last, _far[last], default(EntryOrder));
            RingAdd(entry.Time >> _shift, entry);
        }
    }

    private void RingAdd(long bucket, in Entry entry)
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
        _chunks[(tail << ChunkBits) + _fill[b]++] = entry;
        _ringCount++;
    }

    /// <summary>Moves one ring bucket's events into the near tier and gives its chunks back.</summary>
    private void Drain(int b)
    {
        int tail = _tail[b];
        for (int c = _head[b]; c >= 0;)
        {
            int n = c == tail ? _fill[b] : ChunkSize;
            int from = c << ChunkBits;
            for (int i = 0; i < n; i++)
            {
                ref Entry e = ref _chunks[from + i];
                PushNear(e.Time, e.Seq, in e.Ev, e.Slot);
            }
            _ringCount -= n;
            int next = c == tail ? -1 : _chunkNext[c];
            _freeChunks[_freeChunkCount++] = c;
            c = next;
        }
        _head[b] = _tail[b] = -1;
        _fill[b] = 0;
        _occupied[b >> 6] &= ~(1UL << (b & 63));
    }

    private void PushNear(long time, long seq, in Event ev, int slot)
    {
        int at;
        if (_nearFreeCount > 0) at = _nearFree[--_nearFreeCount];
        else
        {
            if (_nearUsed == _near.Length)
            {
                int n = _near.Length * 2;
                Array.Resize(ref _near, n);
                Array.Resize(ref _nearFree, n);
            }
            at = _nearUsed++;
        }
        ref NearEvent e = ref _near[at];
        e.Seq = seq;
        e.Ev = ev;
        e.Slot = slot;
        if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
        SiftUp(_heap, _count++, new NearKey { Time = time, At = at }, new NearOrder(_near));
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

    // The two heaps' orders: both by time, then by sequence, which the near tier's keys find in the near store.
    private interface IOrder<T>
    {
        bool Less(in T a, in T b);
    }

    private readonly struct NearOrder(NearEvent[] near) : IOrder<NearKey>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Less(in NearKey a, in NearKey b) => a.Time < b.Time || (a.Time == b.Time && near[a.At].Seq < near[b.At].Seq);
    }

    private readonly struct EntryOrder : IOrder<Entry>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Less(in Entry a, in Entry b) => a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq);
    }

    private static void SiftUp<T, TOrder>(T[] heap, int i, in T key, TOrder order) where TOrder : struct, IOrder<T>
    {
        while (i > 0)
        {
            int parent = (i - 1) >> 2;
            if (!order.Less(key, heap[parent])) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = key;
    }

    /// <summary>Puts <paramref name="key"/> at the root of a heap of <paramref name="n"/> keys and sifts it down
    /// (<paramref name="key"/> may be the heap's element n, which this never writes).</summary>
    private static void SiftDown<T, TOrder>(T[] heap, int n, in T key, TOrder order) where TOrder : struct, IOrder<T>
    {
        int i = 0;
        while (true)
        {
            int first = (i << 2) + 1;
            if (first >= n) break;
            int best = first;
            int end = Math.Min(first + 4, n);
            for (int c = first + 1; c < end; c++)
                if (order.Less(heap[c], heap[best])) best = c;
            if (!order.Less(heap[best], key)) break;
            heap[i] = heap[best];
            i = best;
        }
        heap[i] = key;
    }

    private int AllocateSlot()
    {
        if (_freeCount > 0) return _free[--_freeCount];
        if (_slotsUsed == _stamps.Length)
        {
            if (_slotsUsed >= BoundFrom && Bound?.Invoke(_slotsUsed) is { } why) throw new RunawayException(why);
            int n = _stamps.Length * 2;
            Array.Resize(ref _stamps, n);
            Array.Resize(ref _free, n);
        }
        return _slotsUsed++;
    }
}

/// <summary>Names one scheduled event so that it can be cancelled; stale once the event ran.</summary>
public readonly record struct EventHandle(int Slot, uint Version);

/// <summary>A run stopped because its pending events grew beyond any need of its nodes and lookups.</summary>
public sealed class RunawayException(string message) : Exception(message);
