namespace OverlaySim.Core;

/// <summary>
/// The measurement window [<see cref="From"/>, <see cref="Until"/>): lookups issued inside it are measured, and
/// maintenance traffic sent inside it is counted. Before it is the warm-up.
/// </summary>
public sealed class MeasurementWindow(Simulator sim)
{
    /// <summary>Start of the window (the end of the warm-up, <c>measure_after</c>), µs.</summary>
    public long From { get; set; }

    /// <summary>End of the window (the run's duration), or long.MaxValue.</summary>
    public long Until { get; set; } = long.MaxValue;

    public bool IsOpen => Contains(sim.Now);

    /// <summary>Whether a lookup issued at <paramref name="time"/> (µs) is measured.</summary>
    public bool Contains(long time) => time >= From && time < Until;
}

/// <summary>One of the workload's lookups told to an <see cref="ILookupPlanner"/> before it begins.</summary>
/// <param name="Origin">The node that will issue it.</param>
/// <param name="Key">What it looks for (a key's id, or a node's for lookups of node ids).</param>
/// <param name="Measured">Whether it will be measured (issued inside the measurement window).</param>
public readonly record struct PlannedLookup(int Origin, Id Key, bool Measured);

/// <summary>
/// An overlay that routes the workload's lookups whole (<see cref="Network.RoutesAhead"/>) and would rather route
/// several at once: the workload tells it of its next lookups before they begin, in the order they will begin, and
/// then begins them one by one as usual (<see cref="Overlay.StartLookup"/>). At 10^6 nodes and more a hop waits for
/// a few random reads of memory; routing several lookups side by side overlaps the waits of one with the work of
/// the others. Nothing may be simulated, counted against a lookup, or sent before the lookup begins; what the route
/// found is applied then (the per-machine loads of a batch's messages, which are sums, may be added as its first
/// lookup begins). The routing itself may run on another thread while earlier lookups are simulated, as long
/// as it only reads what such a run never changes and its results do not depend on which thread found them.
/// </summary>
public interface ILookupPlanner
{
    /// <summary>The next lookups of the workload, in the order they will begin (after those told before).</summary>
    void Plan(ReadOnlySpan<PlannedLookup> upcoming);

    /// <summary>
    /// Whether it checks each lookup it routes whole against the lookup deadline (<see cref="LookupService.Timeout"/>)
    /// and leaves those that would reach it to the event queue, so that a run with a deadline may still route ahead.
    /// </summary>
    bool ChecksDeadline => false;
}

/// <summary>Told when a lookup's deadline passes, so that it can drop its own per-lookup state first.</summary>
public interface ILookupDeadlineListener
{
    /// <summary>The lookup is still unanswered at its deadline; it is failed and ended right after this call.</summary>
    void OnLookupDeadline(int lookup);
}

/// <summary>
/// The lookup service of a run: begins lookups (the workload's, and internal ones an overlay makes for itself),
/// takes their answers, ends them, enforces their deadline, and records what was measured.
/// </summary>
/// <remarks>
/// <para>Answering apart from ending. A lookup is answered once: <see cref="Answer"/> (or <see cref="Fail"/>)
/// takes its outcome, latency and hops. It ends when it is answered and its last message is done (delivered or
/// lost; <see cref="LookupRecord.InFlight"/> counts them): then its messages, bytes and timeouts are final and its
/// slot is freed. So messages still in flight after the answer (α-parallel RPCs, a flood's copies, the first copy of
/// a hop retried too early) keep counting against it, and are handled as the protocol would handle them. Once it has
/// ended, every event stamped with it is stale and is dropped before an overlay's handler sees it
/// (<see cref="Overlay"/>), so nothing can count against the next lookup in the slot. Overlays only answer; the
/// ending is done here, the same way for every overlay. Its deadline ends a lookup whatever is in flight.</para>
/// <para>The outcome of a measured answer is judged by the overlay's <see cref="GroundTruth"/>, which only the
/// experiment can install here: overlays have no way to read it.</para>
/// </remarks>
public sealed class LookupService : IEventSink
{
    /// <summary><see cref="LookupRecord.Purpose"/> of the workload's lookups; overlays number their own purposes from 1.</summary>
    public const byte UserLookup = 0;

    private const byte Deadline = 1;

    private readonly Simulator _sim;
    private readonly NodeTable _nodes;
    private readonly MeasurementWindow _window;
    private readonly Id[] _keys;
    private readonly byte _sink;

    public LookupService(Simulator sim, NodeTable nodes, MeasurementWindow window, Id[] keys)
    {
        _sim = sim;
        _nodes = nodes;
        _window = window;
        _keys = keys;
        _sink = sim.Register(this);
    }

    public LookupTable Table { get; } = new();

    public LookupMetrics Metrics { get; } = new();

    public ref LookupRecord this[int slot] => ref Table[slot];

    /// <summary>Time after which an unanswered lookup fails, in µs; 0 for none (the overlay's lookup timeout).</summary>
    public long Timeout { get; internal set; }

    /// <summary>Deadline events in the queue: one per lookup begun within the last <see cref="Timeout"/>, ended or not.</summary>
    public long DeadlinesPending { get; private set; }

    /// <summary>Whether answers report a value (the overlay stores the workload's keys): value_found_rate.</summary>
    public bool ReportsValues { get; internal set; }

    internal GroundTruth? Truth { get; set; }

    internal ILookupDeadlineListener? DeadlineListener { get; set; }

    /// <summary>
    /// Whether the incarnation that issued the lookup is still the origin's: alive, and not died and come back since with
    /// the same ordinal (new_id_on_rejoin: false). A join's or refresh's follow-up is for that incarnation only.
    /// </summary>
    public bool OriginIsCurrent(int slot)
    {
        ref LookupRecord r = ref Table[slot];
        return _nodes.Epoch[r.Origin] == r.OriginEpoch;
    }

    /// <summary>Whether an event stamped with a lookup belongs to that lookup still (it has not ended since).</summary>
    public bool IsCurrent(in Event ev) => Table.IsCurrent(ev.Lookup, ev.LookupGen);

    /// <summary>Begins one of the workload's lookups, for key <paramref name="keyIndex"/>, issued now by <paramref name="origin"/>.</summary>
    public int BeginUser(int origin, int keyIndex) => BeginMeasured(Allocate(origin, _keys[keyIndex], keyIndex, UserLookup, 0));

    /// <summary>Begins a workload lookup for a node's id (workload.targets: nodes): no key index (-1), no value looked for.</summary>
    public int BeginUserForNode(int origin, Id target) => BeginMeasured(Allocate(origin, target, -1, UserLookup, 0));

    private int BeginMeasured(int slot)
    {
        ref LookupRecord r = ref Table[slot];
        r.Measured = _window.IsOpen;
        if (r.Measured) Metrics.CountIssued();
        return slot;
    }

    /// <summary>
    /// Begins a lookup the overlay makes for itself (a join, a finger refresh, a republish), for
    /// <paramref name="purpose"/> (≥ 1) with an argument of the overlay's choosing. It is routed like any other,
    /// never measured, and its messages count as maintenance traffic.
    /// </summary>
    public int BeginInternal(int origin, Id key, byte purpose, int arg = 0)
    {
        if (purpose == UserLookup) throw new ArgumentOutOfRangeException(nameof(purpose), "purpose 0 is the workload's");
        return Allocate(origin, key, -1, purpose, arg);
    }

    private int Allocate(int origin, Id key, int keyIndex, byte purpose, int arg)
    {
        int slot = Table.Allocate();
        ref LookupRecord r = ref Table[slot];
        r.Key = key;
        r.KeyIndex = keyIndex;
        r.Origin = origin;
        r.OriginEpoch = _nodes.Epoch[origin];
        r.Start = _sim.Now;
        r.Purpose = purpose;
        r.Arg = arg;
        if (Timeout > 0)
        {
            _sim.Schedule(Timeout, new Event { Dst = -1, Src = -1, Lookup = slot, LookupGen = r.Generation, Sink = _sink, Type = Deadline });
            DeadlinesPending++;
        }
        return slot;
    }

    /// <summary>
    /// The origin has learned its answer: <paramref name="answer"/> is the node it takes as the result (and
    /// <paramref name="valueReturned"/> whether the value came with it). The outcome is judged now by the ground truth.
    /// Only the first answer counts; the lookup ends once nothing of it is in flight. Internal lookups are answered the
    /// same way (nothing is recorded for them). Returns true when this answer was recorded as a measured one, so that
    /// the overlay records its own metrics for the same lookups.
    /// </summary>
    public bool Answer(int slot, int answer, bool valueReturned = false)
    {
        ref LookupRecord r = ref Table[slot];
        if (r.Answered) return false;
        r.Answered = true;
        bool measured = r.Measured;
        if (measured)
        {
            LookupOutcome outcome = Truth!.IsCorrect(answer, in r) ? LookupOutcome.Ok : LookupOutcome.Wrong;
            Metrics.RecordAnswer(in r, outcome, _sim.Now - r.Start, _sim.Now);
            if (ReportsValues && r.KeyIndex >= 0) Metrics.RecordValue(valueReturned);
        }
        EndIfDone(slot);
        return measured;
    }

    /// <summary>
    /// The lookup has failed (timed out, dropped, retry budget spent); it ends once nothing of it is in flight. A
    /// lookup whose origin has left (or has left and come back since) is abandoned instead: nobody waits for it.
    /// </summary>
    public void Fail(int slot)
    {
        ref LookupRecord r = ref Table[slot];
        if (r.Answered) return;
        r.Answered = true;
        if (r.Measured)
        {
            if (OriginIsCurrent(slot))
            {
                Metrics.RecordAnswer(in r, LookupOutcome.Failed, 0, _sim.Now);
                if (ReportsValues && r.KeyIndex >= 0) Metrics.RecordValue(false);
            }
            else
            {
                Metrics.CountAbandoned(); // its origin left: nobody is waiting for the answer
                r.Measured = false;
            }
        }
        EndIfDone(slot);
    }

    /// <summary>Ends the lookup: its counts become final and its slot is freed.</summary>
    internal void End(int slot)
    {
        ref LookupRecord r = ref Table[slot];
        if (r.Measured) Metrics.RecordEnd(in r);
        Table.Free(slot);
    }

    /// <summary>Ends an answered lookup once nothing of it is in flight, unless an event of it is being handled (it ends after).</summary>
    private void EndIfDone(int slot)
    {
        ref LookupRecord r = ref Table[slot];
        if (r.Answered && r.InFlight == 0 && slot != _dispatching) End(slot);
    }

    private int _dispatching = -1;

    /// <summary>
    /// An event of a current lookup is about to be handled: a message leaves flight (its mark is cleared, so the
    /// overlay never sees it). The lookup is kept until <see cref="Handled"/>, so that the handler may answer it.
    /// </summary>
    internal void Arriving(ref Event ev)
    {
        if ((ev.LookupGen & LookupTable.InFlightMark) != 0)
        {
            ev.LookupGen &= ~LookupTable.InFlightMark;
            Table[ev.Lookup].InFlight--;
        }
        _dispatching = ev.Lookup;
    }

    /// <summary>The event handed to <see cref="Arriving"/> has been handled: the lookup ends if it is answered and nothing is in flight.</summary>
    internal void Handled(int slot)
    {
        _dispatching = -1;
        if (Table[slot].InUse) EndIfDone(slot);
    }

    /// <summary>An event of a lookup could not be delivered (its target is dead): a lost message leaves flight.</summary>
    internal void Lost(ref Event ev)
    {
        if ((ev.LookupGen & LookupTable.InFlightMark) == 0) return;
        ev.LookupGen &= ~LookupTable.InFlightMark;
        if (!Table.IsCurrent(ev.Lookup, ev.LookupGen)) return;
        Table[ev.Lookup].InFlight--;
        EndIfDone(ev.Lookup);
    }

    /// <summary>The lookup deadline: a lookup still in flight when it fires is failed (if unanswered) and ended.</summary>
    public void Handle(ref Event ev)
    {
        if (ev.Type == Deadline) DeadlinesPending--;
        if (ev.Type != Deadline || !Table.IsCurrent(ev.Lookup, ev.LookupGen)) return;
        if (!Table[ev.Lookup].Answered) DeadlineListener?.OnLookupDeadline(ev.Lookup);
        Fail(ev.Lookup);
        if (Table[ev.Lookup].InUse) End(ev.Lookup); // whatever is still in flight is stale from now on
    }
}
