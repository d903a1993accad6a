using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>Receives the events scheduled for it (an overlay, the workload, a churn model).</summary>
public interface IEventSink
{
    void Handle(ref Event ev);
}

/// <summary>
/// A sink that wants to know when one of its events could not be delivered because its target was dead: the
/// protocol's way to learn, at the instant it happens, that a request is lost (see ChordProtocol's timeouts).
/// </summary>
public interface IUndeliverableSink
{
    /// <summary>Called (at the time the event would have been delivered) instead of dropping it silently.</summary>
    void Undeliverable(ref Event ev);
}

/// <summary>
/// A sink whose handlers read state of a random node (its routing table, say) that is likely not in the caches: the
/// engine tells it, before it dispatches an event, of the two events due next, so that it can prefetch what they will
/// read (see <see cref="CacheHint"/>) while the current one is handled. A hint only: the events pushed meanwhile may
/// come first, and nothing a sink does here may change state or results.
/// </summary>
public interface IPrefetchingSink
{
    /// <summary>
    /// Whether the hints are worth their cost now (read when a run starts): a sink whose state fits in the caches (a
    /// small network) says no, and the engine then makes no calls.
    /// </summary>
    bool WantsHints { get; }

    /// <summary>The event due after the next: prefetch what can be found from the event alone (its target's row, say).</summary>
    void PrefetchFar(in Event ev);

    /// <summary>The next event: prefetch what it will read, which may be found through what <see cref="PrefetchFar"/> brought in.</summary>
    void PrefetchNear(in Event ev);
}

/// <summary>
/// The discrete-event engine: a clock in integer microseconds, the pending-event queue, and the dispatch loop.
/// </summary>
/// <remarks>
/// <para>Total order: events run by (time, sequence of scheduling), see <see cref="EventQueue"/>. Nothing in
/// a run depends on wall-clock time or on other threads; one run is single-threaded.</para>
/// <para>Dispatch costs one interface call: the sink is looked up by the event's <see cref="Event.Sink"/>
/// byte in a small array. Events for a node that is dead, or whose epoch has moved on since they were scheduled
/// (it died or rejoined since), are dropped here, before any handler sees them.</para>
/// <para>Trace hash: every dispatched event's (time, sink, type, dst, src, lookup, arg, aux) is folded into a
/// 64-bit FNV-1a style hash, so that two runs can be compared in one line.</para>
/// </remarks>
public sealed class Simulator
{
    private const ulong FnvPrime = 0x100000001b3UL;
    private const int ProgressEvery = 1 << 16;

    private readonly EventQueue _queue;
    private readonly IEventSink?[] _sinks = new IEventSink?[256];
    private readonly IPrefetchingSink?[] _prefetchSinks = new IPrefetchingSink?[256];
    private readonly IPrefetchingSink?[] _prefetchers = new IPrefetchingSink?[256];   // those that want hints in this run
    private bool _prefetching;     // some sink is an IPrefetchingSink that wants hints (set when Run starts)
    private bool _prefetchEvents;  // the pending events outgrow the caches: fetch the next ones' slots (see PrefetchEvents)
    private int _sinkCount = 1; // sink 0 is reserved so that a default(Event) is never dispatched by mistake
    private readonly uint[]? _fixedEpoch;
    private readonly NodeTable? _nodes;
    private const uint Unstamped = uint.MaxValue;   // an event scheduled while frozen (no real epoch gets this high)
    private bool _frozen;          // no epoch has changed since FreezeEpochs: events are neither stamped nor checked
    private bool _thawed;          // frozen once and thawed since: the freeze is not taken again
    private uint[] _frozenEpochs = [];   // the epochs when they thawed: what an unstamped event was meant for
    private ulong _trace = 0xcbf29ce484222325UL;

    /// <summary>An engine for a fixed set of nodes whose epochs are in <paramref name="epochByNode"/>.</summary>
    public Simulator(uint[] epochByNode, int queueCapacity = 1024)
    {
        _fixedEpoch = epochByNode;
        _queue = new EventQueue(queueCapacity);
    }

    /// <summary>An engine for the nodes of <paramref name="nodes"/>, which may grow during the run.</summary>
    public Simulator(NodeTable nodes, int queueCapacity = 1024)
    {
        _nodes = nodes;
        _queue = new EventQueue(queueCapacity);
    }

    private uint[] EpochArray => _nodes?.Epoch ?? _fixedEpoch!;

    /// <summary>Simulated time in microseconds.</summary>
    public long Now { get; private set; }

    public long Dispatched { get; private set; }

    /// <summary>Events dropped at dispatch because their target node's epoch had moved on, or cancelled.</summary>
    public long Dropped { get; private set; }

    public ulong TraceHash => _trace;

    public EventQueue Queue => _queue;

    /// <summary>Called every 2^16 dispatched events (for progress display: a few times a second at 10^7 nodes); may be null.</summary>
    public Action<Simulator>? Progress { get; set; }

    /// <summary>Set to true (from any thread) to make <see cref="Run"/> return at the next event.</summary>
    public volatile bool StopRequested;

    public byte Register(IEventSink sink)
    {
        if (_sinkCount == _sinks.Length) throw new InvalidOperationException("too many event sinks");
        _sinks[_sinkCount] = sink;
        if (sink is IPrefetchingSink p) _prefetchSinks[_sinkCount] = p;
        return (byte)_sinkCount++;
    }

    /// <summary>Schedules <paramref name="ev"/> at Now + <paramref name="delay"/>, stamped with the target's current epoch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public EventHandle Schedule(long delay, Event ev)
    {
        if (ev.Dst >= 0) ev.Epoch = _frozen ? Unstamped : EpochArray[ev.Dst];
        return _queue.Push(Now + delay, ev);
    }

    /// <summary>Schedules <paramref name="ev"/> at an absolute time, which must not be in the past.</summary>
    public EventHandle ScheduleAt(long time, Event ev)
    {
        if (time < Now) throw new ArgumentOutOfRangeException(nameof(time), "cannot schedule in the past");
        if (ev.Dst >= 0) ev.Epoch = _frozen ? Unstamped : EpochArray[ev.Dst];
        return _queue.Push(time, ev);
    }

    /// <summary>
    /// From now until some node's epoch changes (a join or a death), nothing can be stale: events are not stamped
    /// with their target's epoch nor checked against it, which saves two reads of a random node's state per event.
    /// Allowed only when every node of the table is alive (no event can be meant for a dead one). The first epoch
    /// change (or a new node in the table) thaws it: the epochs of that moment are kept, and an event scheduled
    /// meanwhile is checked against them, which is what it would have been stamped with (no epoch changed while it was
    /// scheduled). Once thawed, the freeze is not taken again. Call it before any event is pending whose stamp may be
    /// out of date (a run calls it when it starts).
    /// </summary>
    public void FreezeEpochs()
    {
        if (_nodes is null || _frozen || _thawed || _nodes.LiveCount != _nodes.Count) return;
        _frozen = true;
        _nodes.EpochChanging -= Thaw;
        _nodes.EpochChanging += Thaw;
    }

    private void Thaw()
    {
        if (!_frozen) return;
        _frozenEpochs = (uint[])EpochArray.Clone();
        _frozen = false;
        _thawed = true;
    }

    public bool Cancel(EventHandle handle) => _queue.Cancel(handle);

    /// <summary>
    /// Dispatches events in order until the queue is empty, the next event lies after <paramref name="until"/>
    /// (the clock then stops at <paramref name="until"/>), or a stop is requested.
    /// </summary>
    public void Run(long until = long.MaxValue)
    {
        IEventSink?[] sinks = _sinks;
        _prefetching = false;
        for (int s = 1; s < _sinkCount; s++)
        {
            _prefetchers[s] = _prefetchSinks[s] is { WantsHints: true } p ? p : null;
            _prefetching |= _prefetchers[s] is not null;
        }
        _prefetchEvents = WorthPrefetchingEvents();
        while (!StopRequested)
        {
            if (_queue.PeekTime > until)
            {
                if (until != long.MaxValue) Now = until;
                return;
            }
            if (!_queue.TryPop(out long time, out Event ev, out bool cancelled)) return;
            Now = time;
            // Stale if the node's epoch moved on since scheduling (it died or rejoined), or if it is dead now: an
            // even epoch (see NodeTable.Epoch), which also catches a message sent to a node already dead.
            if (cancelled)
            {
                Dropped++;
                continue;
            }
            if (ev.Dst >= 0 && !_frozen && Stale(in ev))
            {
                Dropped++;
                if (sinks[ev.Sink] is IUndeliverableSink u) u.Undeliverable(ref ev);
                continue;
            }
            Fold(time, in ev);
            if (_prefetchEvents) PrefetchEvents();
            if (_prefetching) PrefetchAhead();
            Dispatched++;
            sinks[ev.Sink]!.Handle(ref ev);
            if ((Dispatched & (ProgressEvery - 1)) == 0)
            {
                _prefetchEvents = WorthPrefetchingEvents();
                Progress?.Invoke(this);
            }
        }
    }

    /// <summary>
    /// Slots of pending events from which the pool (32 bytes an event) outgrows the fastest caches. Below it the hints
    /// cost more than they save. The choice is made when a run starts and every 2^16 events; it never changes a result.
    /// </summary>
    internal const int PrefetchEventsFrom = 1 << 13;

    private bool WorthPrefetchingEvents() => _queue.SlotsInUse >= PrefetchEventsFrom;

    /// <summary>
    /// While one event is handled, fetches what the engine itself will read for the next ones: the events at the top of
    /// the queue (in the near tier's small store, see <see cref="EventQueue"/>), and the epoch of the next one's target
    /// (read by the staleness check), a random node's among 10^5 or more under churn.
    /// </summary>
    private void PrefetchEvents()
    {
        EventQueue queue = _queue;
        queue.PrefetchTop();
        if (_frozen) return;
        int first = queue.FirstSlot;
        if (first < 0) return;
        int dst = queue.At(first).Dst;
        uint[] epochs = EpochArray;
        if ((uint)dst < (uint)epochs.Length) CacheHint.Prefetch(in epochs[dst]);
    }

    /// <summary>Tells the sinks of the two events due next about them (see <see cref="IPrefetchingSink"/>).</summary>
    private void PrefetchAhead()
    {
        EventQueue queue = _queue;
        int second = queue.SecondSlot;
        if (second >= 0)
        {
            ref readonly Event far = ref queue.At(second);
            _prefetchers[far.Sink]?.PrefetchFar(in far);
        }
        int first = queue.FirstSlot;
        if (first >= 0)
        {
            ref readonly Event near = ref queue.At(first);
            _prefetchers[near.Sink]?.PrefetchNear(in near);
        }
    }

    /// <summary>Whether the event's target died or rejoined since it was scheduled, or was dead then.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Stale(in Event ev)
    {
        uint stamp = ev.Epoch;
        if (stamp == Unstamped) stamp = _frozenEpochs[ev.Dst];   // scheduled while frozen, for a node that existed then
        return stamp != EpochArray[ev.Dst] || (stamp & 1) == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Fold(long time, in Event ev)
    {
        ulong h = _trace;
        h = (h ^ (ulong)time) * FnvPrime;
        h = (h ^ ((ulong)ev.Sink | (ulong)ev.Type << 8 | (ulong)ev.Aux << 16)) * FnvPrime;
        h = (h ^ ((ulong)(uint)ev.Dst | (ulong)(uint)ev.Src << 32)) * FnvPrime;
        h = (h ^ ((ulong)(uint)ev.Lookup | (ulong)(uint)ev.Arg << 32)) * FnvPrime;
        _trace = h;
    }
}
