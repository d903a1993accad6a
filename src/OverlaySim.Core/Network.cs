using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// Everything one run shares between the engine, the overlay, the workload and the metrics: the simulator,
/// the node table, the id space, the latency model, the keys, the lookup pool and the oracle.
/// </summary>
public sealed class Network
{
    public Network(IdSpace space, NodeTable nodes, LatencyModel latency, Id[] keys, RandomStreams streams)
    {
        Space = space;
        Nodes = nodes;
        Latency = latency;
        Keys = keys;
        Streams = streams;
        Sim = new Simulator(nodes.Epoch);
        Oracle = new Oracle(space);
        Oracle.Rebuild(nodes);
    }

    public Simulator Sim { get; }
    public IdSpace Space { get; }
    public NodeTable Nodes { get; }
    public LatencyModel Latency { get; }
    public RandomStreams Streams { get; }

    /// <summary>Key ids by key index: key i is SHA-1("key-i") truncated to id_bits.</summary>
    public Id[] Keys { get; }

    /// <summary>Global view for metrics and static builds only; never for protocol decisions.</summary>
    public Oracle Oracle { get; }

    public LookupTable Lookups { get; } = new();
    public LookupMetrics Metrics { get; } = new();

    /// <summary>Lookups issued at or after this time are measured (the warm-up ends here).</summary>
    public long MeasureFrom { get; set; }

    public Overlay Overlay { get; private set; } = null!;

    public void Install(Overlay overlay)
    {
        Overlay = overlay;
        overlay.Attach(this);
    }

    /// <summary>
    /// Sends a message from <paramref name="src"/> to <paramref name="dst"/>: delivered after the latency
    /// model's one-way delay, dropped if the destination dies first. Counts toward the lookup's messages.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Send(int src, int dst, Event ev)
    {
        ev.Src = src;
        ev.Dst = dst;
        if (ev.Lookup >= 0) Lookups[ev.Lookup].Messages++;
        Sim.Schedule(Latency.OneWay(src, dst), ev);
    }

    /// <summary>Creates a lookup for key <paramref name="keyIndex"/> issued now by <paramref name="origin"/>.</summary>
    public int BeginLookup(int origin, int keyIndex)
    {
        int slot = Lookups.Allocate();
        ref LookupRecord r = ref Lookups[slot];
        r.Key = Keys[keyIndex];
        r.KeyIndex = keyIndex;
        r.Origin = origin;
        r.Start = Sim.Now;
        r.Measured = Sim.Now >= MeasureFrom;
        if (r.Measured) Metrics.CountIssued();
        return slot;
    }

    /// <summary>
    /// Ends a lookup now: the origin has learned that <paramref name="answer"/> is responsible for the key.
    /// The outcome is judged against the oracle at this instant.
    /// </summary>
    public void CompleteLookup(int slot, int answer)
    {
        ref LookupRecord r = ref Lookups[slot];
        if (r.Measured)
        {
            var outcome = answer == Overlay.Responsible(r.Key) ? LookupOutcome.Ok : LookupOutcome.Wrong;
            Metrics.Record(in r, outcome, Sim.Now - r.Start);
        }
        Lookups.Free(slot);
    }

    /// <summary>Ends a lookup as failed (timed out, dropped, retry budget spent).</summary>
    public void FailLookup(int slot)
    {
        ref LookupRecord r = ref Lookups[slot];
        if (r.Measured) Metrics.Record(in r, LookupOutcome.Failed, 0);
        Lookups.Free(slot);
    }
}
