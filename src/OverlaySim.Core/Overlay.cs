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

    /// <summary>True when the overlay's paper counts path length differently and <see cref="LookupRecord.PaperHops"/> is filled.</summary>
    public virtual bool ReportsPaperHops => false;
}
