namespace OverlaySim.Core;

/// <summary>
/// The contract every overlay fulfils: per-node routing state (kept by the overlay in arrays indexed by
/// node ordinal), a handler for its own messages and timers, and the few questions the harness asks.
/// </summary>
/// <remarks>
/// <para>How an overlay talks: it sends messages with <see cref="Network.Send"/> (the latency model sets the
/// delay, the lookup's message count goes up), schedules timers with <see cref="Simulator.Schedule"/> for one
/// of its nodes (dropped automatically if that node dies first), and ends a lookup with
/// <see cref="Network.CompleteLookup"/> or <see cref="Network.FailLookup"/>. Whatever per-lookup state it needs
/// beyond <see cref="LookupRecord"/> (an iterative lookup's candidate set, outstanding RPCs) it keeps in its
/// own arrays indexed by lookup slot, so recursive, iterative and α-parallel lookups fit the same contract.</para>
/// <para>A static build fills the routing state from the global view, as a converged network would hold it;
/// a dynamic protocol instead grows the state through messages and timers of the same handler.</para>
/// </remarks>
public abstract class Overlay : IEventSink
{
    protected Network Net { get; private set; } = null!;

    /// <summary>The sink id to put in <see cref="Event.Sink"/> for this overlay's events.</summary>
    protected byte Sink { get; private set; }

    /// <summary>Registry name, as written in scenarios ("chord").</summary>
    public abstract string Name { get; }

    public void Attach(Network net)
    {
        Net = net;
        Sink = net.Sim.Register(this);
    }

    /// <summary>Builds converged routing state for every live node from the global view.</summary>
    public abstract void BuildStatic();

    /// <summary>Starts the lookup in <paramref name="lookup"/> (its key and origin are in the record).</summary>
    public abstract void StartLookup(int lookup);

    public abstract void Handle(ref Event ev);

    /// <summary>The live node responsible for <paramref name="key"/> under this overlay's rule, from the oracle.</summary>
    public abstract int Responsible(Id key);

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

    /// <summary>True when the overlay's paper counts path length differently and <see cref="LookupRecord.PaperHops"/> is filled.</summary>
    public virtual bool ReportsPaperHops => false;

    /// <summary>True for iterative overlays that fill <see cref="LookupRecord.Rpcs"/> and <see cref="LookupRecord.Rounds"/>.</summary>
    public virtual bool ReportsRounds => false;

    // ---- RPC timeouts, lazy where that is exact ---------------------------------------------------------
    //
    // When an RPC's timeout is at least the pair's round-trip time, a request that is delivered always has its
    // answer back before the timeout, so the timeout can only matter if the request is lost; and a request is lost
    // only by reaching a dead node, which the engine reports (IUndeliverableSink). Such a timeout is therefore
    // scheduled only then, for send time + timeout, exactly when it would have fired. A shorter timeout (a fixed
    // timeout on a long link) is scheduled when the request is sent, and may fire though the answer is on its way.

    /// <summary>An RPC timeout for the pair: <paramref name="rtts"/> round trips when &gt; 0 (at least 1 ms), else <paramref name="fixedTimeout"/>.</summary>
    protected long RpcTimeout(int from, int to, long fixedTimeout, double rtts) =>
        rtts > 0 ? Math.Max(1000, (long)(rtts * Net.RoundTrip(from, to))) : fixedTimeout;

    /// <summary>Whether a timeout of <paramref name="timeout"/> between the pair is lazy (at least one round trip).</summary>
    protected bool IsLazyTimeout(int from, int to, long timeout) => timeout >= Net.RoundTrip(from, to);

    /// <summary>Schedules a timeout event now, unless it is lazy.</summary>
    protected void ArmTimeout(int from, int to, long timeout, Event ev)
    {
        if (!IsLazyTimeout(from, to, timeout)) Net.Sim.Schedule(timeout, ev);
    }

    /// <summary>
    /// For a request from <paramref name="from"/> that reached a dead <paramref name="to"/> (now): when its lazy timeout
    /// fires, or -1 when there is none to schedule (the timeout was armed when sent, or the sender is dead too).
    /// </summary>
    protected long LostRequestTimeoutAt(int from, int to, long timeout)
    {
        if (from < 0 || !Net.Nodes.IsAlive(from) || !IsLazyTimeout(from, to, timeout)) return -1;
        return Math.Max(Net.Sim.Now, Net.Sim.Now - Net.OneWay(from, to) + timeout);
    }

    // ---- churn: implemented by overlays that run a dynamic protocol -----------------------------------

    /// <summary>Whether nodes may join and depart during the run (the scenario loader refuses churn otherwise).</summary>
    public virtual bool SupportsChurn => false;

    /// <summary>
    /// A node has come up (it is live and in the oracle) and must join through <paramref name="bootstrap"/>, a live
    /// node it knows, or -1 when it is alone.
    /// </summary>
    public virtual void OnJoin(int node, int bootstrap) =>
        throw new InvalidOperationException($"overlay '{Name}' does not support churn");

    /// <summary>A node is about to leave gracefully: it is still live and may send its goodbyes.</summary>
    public virtual void OnLeave(int node) { }

    /// <summary>A node has gone (after <see cref="OnLeave"/> for a leave; silently for a crash): drop bookkeeping.</summary>
    public virtual void OnDeparted(int node, bool graceful) { }

    /// <summary>From now on, no maintenance (stabilization, refresh): routing runs on whatever state is left.</summary>
    public virtual void StopMaintenance() { }

    /// <summary>Time after which an unfinished lookup fails, in µs; 0 for none (a static overlay never loses one).</summary>
    public virtual long LookupTimeout => 0;

    /// <summary>Called when a lookup's deadline passes, before it is freed, so the overlay can drop its own per-lookup state.</summary>
    public virtual void OnLookupAbandoned(int lookup) { }

    /// <summary>A readable name for a message type (for per-type traffic in the results).</summary>
    public virtual string MessageName(byte type) => type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // ---- stored keys ----------------------------------------------------------------------------------

    /// <summary>Whether the overlay stores the workload's keys (so that lookups can return values and keys can be lost).</summary>
    public virtual bool StoresKeys => false;

    /// <summary>Whether <paramref name="node"/> holds a copy of key <paramref name="keyIndex"/>.</summary>
    public virtual bool HoldsKey(int node, int keyIndex) => false;

    /// <summary>Keys no live node holds any more.</summary>
    public virtual long KeysLost => 0;
}
