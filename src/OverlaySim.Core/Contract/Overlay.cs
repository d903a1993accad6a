namespace OverlaySim.Core;

/// <summary>Zones of one volume, 2^<paramref name="Log2"/>·V_T/N, over all realities: how many, and how many nodes own one (peers included).</summary>
public readonly record struct ZoneVolumeBin(int Log2, long Zones, long Nodes);

/// <summary>
/// The contract every overlay fulfils: per-node routing state (kept by the overlay in arrays indexed by node
/// ordinal), a handler for its own messages and timers, its ground truth, and the few questions the harness asks.
/// </summary>
/// <remarks>
/// <para>How an overlay talks: it sends messages through <see cref="Network.Transport"/> with their size in bytes
/// (<see cref="Transport.Send"/> for a lookup's messages, <see cref="Transport.SendMaintenance"/> for the rest),
/// or through <see cref="SendLookupRequest"/> and <see cref="SendMaintenanceRequest"/> for requests that wait for an
/// answer up to a timeout; it schedules timers for one of its nodes with <see cref="Simulator.Schedule"/> (dropped
/// if that node dies first). It answers lookups through <see cref="Network.Lookups"/>. Per-node and
/// per-lookup state beyond <see cref="LookupRecord"/> lives in <see cref="NodeArray{T}"/> and
/// <see cref="LookupArray{T}"/>, so recursive, iterative, α-parallel and flooding lookups fit the same contract.</para>
/// <para>Stale events never reach <see cref="Receive"/>: an event stamped with a lookup that has ended since is
/// dropped first (and shown to <see cref="OnStale"/>, to free what it carries). An overlay answers its lookups
/// (<see cref="LookupService.Answer"/>, <see cref="LookupService.Fail"/>) and never ends them: a lookup ends once it is
/// answered and none of its messages is in flight, which the base class and the lookup service track together.</para>
/// <para>A static build fills the routing state from the global view, as a converged network would hold it; a
/// dynamic protocol instead grows the state through messages and timers of the same handler.</para>
/// </remarks>
public abstract class Overlay : IEventSink, IUndeliverableSink, IMembershipListener, ILookupDeadlineListener
{
    protected Network Net { get; private set; } = null!;

    /// <summary>The sink id to put in <see cref="Event.Sink"/> for this overlay's events.</summary>
    protected byte Sink { get; private set; }

    /// <summary>Registry name, as written in scenarios ("chord").</summary>
    public abstract string Name { get; }

    /// <summary>Attaches the overlay to a run's network: registers its event sink, then <see cref="OnAttached"/>.</summary>
    private LookupService _lookups = null!;   // Net.Lookups and its table, read for every event of a lookup
    private LookupTable _table = null!;

    public void Attach(Network net)
    {
        Net = net;
        _lookups = net.Lookups;
        _table = net.Lookups.Table;
        Sink = net.Sim.Register(this);
        OnAttached();
    }

    /// <summary>Called once attached: register metrics (<see cref="LookupMetrics.Register"/>) and create per-node arrays.</summary>
    protected virtual void OnAttached() { }

    /// <summary>
    /// Builds converged routing state for every joined node from the global view <paramref name="view"/> (or, for a
    /// protocol, its starting state). The view is for this build only: keep no reference to it.
    /// </summary>
    public abstract void BuildStatic(Oracle view);

    /// <summary>This overlay's ground truth over the global view, for metrics and tests (never read by the overlay).</summary>
    public abstract GroundTruth CreateTruth(Oracle view);

    /// <summary>Starts the lookup in slot <paramref name="lookup"/> (its key and origin are in the record).</summary>
    public abstract void StartLookup(int lookup);

    /// <summary>Handles one of the overlay's events (a message or a timer) that is not stale.</summary>
    protected abstract void Receive(ref Event ev);

    /// <summary>An event of a lookup that has ended since it was sent: dropped. Override to free what it carries.</summary>
    protected virtual void OnStale(ref Event ev) { }

    void IEventSink.Handle(ref Event ev)
    {
        int lookup = ev.Lookup;
        if (lookup < 0)
        {
            Receive(ref ev);
            return;
        }
        LookupService lookups = _lookups;
        if (!_table.IsCurrent(lookup, ev.LookupGen))
        {
            ev.LookupGen &= ~LookupTable.InFlightMark;
            OnStale(ref ev);
            return;
        }
        lookups.Arriving(ref ev);
        Receive(ref ev);
        lookups.Handled(lookup);
    }

    /// <summary>Distinct other nodes in the routing state of <paramref name="node"/>.</summary>
    public abstract int Degree(int node);

    /// <summary>
    /// How many distinct nodes other than <paramref name="self"/> appear in <paramref name="entries"/> (sorted in
    /// place): the degree of a node, given every entry of its routing state, duplicates and all.
    /// </summary>
    protected static int CountDistinct(Span<int> entries, int self)
    {
        entries.Sort();
        int distinct = 0;
        for (int j = 0; j < entries.Length; j++)
            if (entries[j] != self && (j == 0 || entries[j] != entries[j - 1])) distinct++;
        return distinct;
    }

    /// <summary>
    /// The most events one lookup can have pending at once (its messages in flight and its timers), for the runaway
    /// bound of the event queue: 8 for overlays that keep a few requests per lookup in flight; a flooding overlay returns
    /// what a flood over the current graph can have in flight.
    /// </summary>
    public virtual long EventsPerLookupBound => 8;

    /// <summary>A readable name for a message type (for per-type traffic in the results).</summary>
    public virtual string MessageName(byte type) => type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// For an overlay that cuts a coordinate space into zones (CAN): how many zones of each volume it holds at the end,
    /// by volume_log2 = k for zones of volume 2^k·V_T/N (N rounded to the nearest power of two); null for the others.
    /// </summary>
    public virtual IReadOnlyList<ZoneVolumeBin>? ZoneVolumes() => null;

    /// <summary>Payload blocks of the overlay's messages still in use (0 once nothing is in flight): for leak checks.</summary>
    public virtual int PayloadsInUse => 0;

    // ---- requests and their timeouts ----------------------------------------------------------------------
    //
    // A request waits for its answer up to a timeout. When the timeout is at least the pair's round-trip time, a
    // request that is delivered always has its answer back in time, so the timeout can only matter if the request is
    // lost; and a request is lost only by reaching a dead node, which the engine reports (IUndeliverableSink). Such a
    // timeout ("lazy") is therefore scheduled only then, for send time + timeout, exactly when it would have fired (one
    // exception: a sender that dies and comes back with the same ordinal within one message delay, which takes
    // new_id_on_rejoin: false and a downtime shorter than a one-way delay, receives its old incarnation's timeout). A
    // shorter timeout (a fixed timeout on a long link) is scheduled when the request is sent, and may fire though the
    // answer is on its way. The overlay says which events are requests and what their timeout event is
    // (TimeoutFor), and how long it waits (RequestTimeout); the rest is done here, once for every overlay.

    /// <summary>
    /// Whether a timeout that fires after its request was answered is recognised and ignored (by a token, or by the
    /// request's state), so that timeouts can be real timers. With per-message delays (<see cref="LatencyModel.PerMessage"/>)
    /// an answer may come after any timeout, and such an overlay's timeouts are all armed when the request is sent; for
    /// the others they stay lazy (armed only for a lost request, when it would have fired by the pair's expected delay),
    /// which takes every answer to beat its timeout.
    /// </summary>
    protected virtual bool ChecksLateTimeouts => false;

    private bool EagerTimeouts => Net.Transport.Latency.PerMessage && ChecksLateTimeouts;

    /// <summary>How long the sender waits for the answer to a request of this type, µs, given the pair's round-trip time.</summary>
    protected virtual long RequestTimeout(byte type, long roundTrip) =>
        throw new InvalidOperationException($"overlay '{Name}' sends requests but sets no request timeout");

    /// <summary>
    /// The timeout event for <paramref name="request"/> (as sent: Src, Dst and lookup generation set), delivered to the
    /// sender if no answer comes; false if events of this type are not requests.
    /// </summary>
    protected virtual bool TimeoutFor(in Event request, out Event timeout)
    {
        timeout = default;
        return false;
    }

    /// <summary>An RPC timeout for a pair with round-trip time <paramref name="roundTrip"/>: <paramref name="rtts"/> round trips when &gt; 0 (at least 1 ms), else <paramref name="fixedTimeout"/>.</summary>
    protected static long RpcTimeout(long roundTrip, long fixedTimeout, double rtts) =>
        rtts > 0 ? Math.Max(1000, (long)(rtts * roundTrip)) : fixedTimeout;

    /// <summary>Sends a request of lookup <c>request.Lookup</c> and arms its timeout (now unless it is lazy).</summary>
    protected void SendLookupRequest(int src, int dst, Event request, int bytes)
    {
        Net.Transport.Send(src, dst, request, bytes);
        request.Src = src;
        request.Dst = dst;
        request.LookupGen = Net.Lookups[request.Lookup].Generation;
        ArmTimeout(in request);
    }

    /// <summary>Sends a maintenance request (part of no lookup) and arms its timeout (now unless it is lazy).</summary>
    protected void SendMaintenanceRequest(int src, int dst, Event request, int bytes)
    {
        Net.Transport.SendMaintenance(src, dst, request, bytes);
        request.Src = src;
        request.Dst = dst;
        request.Lookup = -1;
        ArmTimeout(in request);
    }

    private void ArmTimeout(in Event request)
    {
        long rtt = Net.Transport.RoundTrip(request.Src, request.Dst);
        long timeout = RequestTimeout(request.Type, rtt);
        // With per-message delays an answer may come after any timeout: an overlay that tells a late timeout arms them all.
        if ((timeout < rtt || EagerTimeouts) && TimeoutFor(in request, out Event ev)) Net.Sim.Schedule(timeout, ev);
    }

    /// <summary>An event of ours could not be delivered (its target is dead): a lost request's lazy timeout is scheduled.</summary>
    void IUndeliverableSink.Undeliverable(ref Event ev)
    {
        if (ev.Lookup >= 0) Net.Lookups.Lost(ref ev);
        OnUndeliverable(ref ev);
        int from = ev.Src, to = ev.Dst;
        if (from < 0 || !Net.Nodes.IsAlive(from) || (ev.Lookup >= 0 && !Net.Lookups.IsCurrent(in ev)) || !TimeoutFor(in ev, out Event timeout)) return;
        long rtt = Net.Transport.RoundTrip(from, to);
        long wait = RequestTimeout(ev.Type, rtt);
        if (wait < rtt || EagerTimeouts) return; // armed when it was sent
        Net.Sim.ScheduleAt(Math.Max(Net.Sim.Now, Net.Sim.Now - Net.Transport.OneWay(from, to) + wait), timeout);
    }

    /// <summary>Called for every event of ours that could not be delivered, before any timeout: free what it carries.</summary>
    protected virtual void OnUndeliverable(ref Event ev) { }

    // ---- churn: implemented by overlays that run a dynamic protocol -----------------------------------

    /// <summary>Whether nodes may join and depart during the run (the scenario loader refuses churn otherwise).</summary>
    public virtual bool SupportsChurn => false;

    /// <summary>
    /// A node has come up (it is live) and must join through <paramref name="bootstrap"/>, a joined node it knows, or
    /// -1 when it is alone; it reports its join complete with <see cref="Population.Joined"/>.
    /// </summary>
    public virtual void OnJoin(int node, int bootstrap) =>
        throw new InvalidOperationException($"overlay '{Name}' does not support churn");

    /// <summary>A node is about to leave gracefully: it is still live and may send its goodbyes.</summary>
    public virtual void OnLeave(int node) { }

    /// <summary>A node has gone (after <see cref="OnLeave"/> for a leave; silently for a crash): drop bookkeeping.</summary>
    public virtual void OnDeparted(int node, bool graceful) { }

    /// <summary>
    /// From now on, no maintenance (stabilization, refresh, republishing, retries of failed joins): routing runs on
    /// whatever state is left, and nothing reschedules itself, so a run without churn and workload drains.
    /// </summary>
    public virtual void StopMaintenance() { }

    /// <summary>Time after which an unanswered lookup fails, in µs; 0 for none (a static overlay never loses one).</summary>
    public virtual long LookupTimeout => 0;

    /// <summary>A lookup's deadline passed while it was in flight: drop its per-lookup state (it is failed and ended next).</summary>
    public virtual void OnLookupDeadline(int lookup) { }
}
