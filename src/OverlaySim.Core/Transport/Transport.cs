using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// The transport of a run: it delivers messages between nodes after the latency model's delay, and accounts for
/// every message it carries, with its size in bytes, once: to its lookup (messages, bytes, and the load of the
/// receiving machine) or to the maintenance traffic of its type.
/// </summary>
/// <remarks>
/// <para>Which account a message goes to: a message of one of the workload's lookups counts toward that lookup
/// (<c>msgs_per_lookup</c>, <c>bytes_per_lookup</c>) and, when the lookup is measured, toward the load of the machine
/// it is sent to; a message of an internal lookup (a join, a finger refresh) and every other message count as
/// maintenance traffic by message type, inside the measurement window.</para>
/// <para>Sizes are the overlay's: each overlay keeps one size table for its messages (header plus payload).</para>
/// <para>Load: per machine, the messages of measured lookups sent to it (delivered, or lost because it had died).
/// Counted at the send, where the destination's machine is read anyway for the latency, but not at once: the machine
/// goes into a small buffer, and a full buffer is added to the per-machine counts in one tight loop. An increment in
/// the middle of a hop was a cache and TLB miss on the hop's critical path (40% of the simulation time of static
/// Chord at 10^7 nodes); in the loop the misses of many increments overlap. Sums commute, so the counts are exact
/// and the same whatever the buffer size.</para>
/// </remarks>
public sealed class Transport
{
    private readonly Simulator _sim;
    private readonly NodeTable _nodes;
    private readonly LookupTable _lookups;
    private readonly MeasurementWindow _window;
    private long[] _load;
    private readonly int[] _loadBuffer = new int[LoadBatch];
    private int _loadPending;

    /// <summary>Destinations buffered before their loads are added (32 KB of machine indices: fits in L1/L2).</summary>
    private const int LoadBatch = 8192;

    public Transport(Simulator sim, NodeTable nodes, LatencyModel latency, LookupTable lookups, MeasurementWindow window, int machines)
    {
        _sim = sim;
        _nodes = nodes;
        Latency = latency;
        _perMessage = latency.PerMessage; // asked once: most models have fixed pair delays, and a send makes one virtual call
        _symmetric = latency.Symmetric;
        _lookups = lookups;
        _window = window;
        _load = LargeArray.Zeroed<long>(Math.Max(1, machines));
    }

    public LatencyModel Latency { get; }

    private readonly bool _symmetric;   // a round trip is twice one way (see LatencyModel.Symmetric)
    private readonly bool _perMessage;

    /// <summary>Maintenance messages and bytes by message type, inside the measurement window.</summary>
    public TrafficMetrics Traffic { get; } = new();

    /// <summary>Messages of measured lookups sent to each machine (see remarks).</summary>
    public ReadOnlySpan<long> LoadPerMachine
    {
        get
        {
            FlushLoad();
            return _load;
        }
    }

    private void FlushLoad()
    {
        long[] load = _load;
        int[] buffer = _loadBuffer;
        for (int i = 0; i < _loadPending; i++) load[buffer[i]]++;
        _loadPending = 0;
    }

    /// <summary>
    /// Sends a message of lookup <c>ev.Lookup</c> from <paramref name="src"/> to <paramref name="dst"/>: delivered after
    /// the one-way delay between their machines, dropped if the destination dies first. Stamped with the lookup's
    /// generation, counted toward the lookup (or, for an internal lookup, as maintenance), and in flight for it
    /// until delivered or lost: the lookup does not end before that.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Send(int src, int dst, Event ev, int bytes)
    {
        int from = MachineOf(src), to = MachineOf(dst);
        SendIn(src, dst, to, ev, bytes, _perMessage ? Latency.MessageDelay(from, to) : Latency.OneWay(from, to));
    }

    /// <summary>
    /// <see cref="Send"/>, delivered <paramref name="delay"/> µs from now, as the caller computed it: the reply of a
    /// lookup routed before it began (<see cref="ILookupPlanner"/>), sent when it begins to arrive after the delays of
    /// the hops before it (<see cref="MachineDelay"/>) and its own one-way delay (<see cref="OneWay"/>). Only where delays are
    /// fixed per pair (<see cref="Network.RoutesAhead"/>).
    /// </summary>
    public void SendPlanned(int src, int dst, Event ev, int bytes, long delay) => SendIn(src, dst, MachineOf(dst), ev, bytes, delay);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SendIn(int src, int dst, int toMachine, Event ev, int bytes, long delay)
    {
        CountLookupMessage(ref _lookups[ev.Lookup], ev.Type, toMachine, bytes);
        ScheduleInFlight(src, dst, ev, delay);
    }

    /// <summary>Schedules a message of lookup <c>ev.Lookup</c>, stamped in flight for it, to arrive <paramref name="delay"/> µs from now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ScheduleInFlight(int src, int dst, Event ev, long delay)
    {
        ev.Src = src;
        ev.Dst = dst;
        ref LookupRecord r = ref _lookups[ev.Lookup];
        ev.LookupGen = r.Generation | LookupTable.InFlightMark;
        r.InFlight++;
        _sim.Schedule(delay, ev);
    }

    /// <summary>
    /// The loads of messages of lookups routed before they begin (<see cref="ILookupPlanner"/>), one machine per
    /// message sent to it in a lookup that will be measured; added when the first of those lookups begins (loads are
    /// sums, so when they are added does not change them). Their messages and bytes are counted against each lookup
    /// once it has begun (<see cref="CountPlanned"/>).
    /// </summary>
    public void AddLoads(ReadOnlySpan<int> machines)
    {
        long[] load = _load;
        foreach (int m in machines) load[m]++;
    }

    /// <summary>
    /// One-way delay from machine <paramref name="from"/> to machine <paramref name="to"/> (<see cref="MachineOf"/>):
    /// a pure read of the latency model where delays are fixed per pair (<see cref="Network.RoutesAhead"/>), so a
    /// lookup can be routed ahead on another thread.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long MachineDelay(int from, int to) => Latency.OneWay(from, to);

    /// <summary>The <paramref name="messages"/> messages of a lookup routed before it began (<see cref="AddLoads"/>), each of <paramref name="bytes"/>, counted now that it has.</summary>
    public void CountPlanned(ref LookupRecord r, int messages, int bytes) => CountPlannedTotal(ref r, messages, (long)messages * bytes);

    /// <summary>The <paramref name="messages"/> messages of a lookup routed before it began, <paramref name="bytes"/> in all, counted now that it has.</summary>
    public void CountPlannedTotal(ref LookupRecord r, int messages, long bytes)
    {
        r.Messages += messages;
        r.Bytes += bytes;
    }

    /// <summary>
    /// A message of a lookup routed before it began, already counted with the others (<see cref="CountPlannedTotal"/>,
    /// <see cref="AddLoads"/>), delivered <paramref name="delay"/> µs from now: in flight for the lookup, so that the
    /// lookup ends when it would have, after its last message. Only where delays are fixed per pair
    /// (<see cref="Network.RoutesAhead"/>).
    /// </summary>
    public void DeliverPlanned(int src, int dst, Event ev, long delay) => ScheduleInFlight(src, dst, ev, delay);

    /// <summary>Sends a maintenance message (not part of a lookup), counted with its size under its type inside the window.</summary>
    public void SendMaintenance(int src, int dst, Event ev, int bytes)
    {
        ev.Src = src;
        ev.Dst = dst;
        ev.Lookup = -1;
        if (_window.IsOpen) Traffic.Count(ev.Type, bytes);
        int from = MachineOf(src), to = MachineOf(dst);
        _sim.Schedule(_perMessage ? Latency.MessageDelay(from, to) : Latency.OneWay(from, to), ev);
    }

    /// <summary>
    /// Counts a message of lookup <paramref name="lookup"/> that is sent but whose delivery can change nothing (an
    /// acknowledgement no timeout will wait for): it costs its message and bytes like any other, without an event.
    /// </summary>
    public void CountOnly(int lookup, int dst, byte type, int bytes) =>
        CountLookupMessage(ref _lookups[lookup], type, MachineOf(dst), bytes);

    /// <summary>Counts maintenance data whose delivery is not simulated (a key transfer that takes effect when sent).</summary>
    public void CountMaintenance(byte type, int bytes)
    {
        if (_window.IsOpen) Traffic.Count(type, bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountLookupMessage(ref LookupRecord r, byte type, int toMachine, int bytes)
    {
        if (r.IsUser)
        {
            r.Messages++;
            r.Bytes += bytes;
            if (r.Measured)
            {
                _loadBuffer[_loadPending++] = toMachine;
                if (_loadPending == LoadBatch) FlushLoad();
            }
        }
        else if (_window.IsOpen) Traffic.Count(type, bytes);
    }

    /// <summary>One-way delay from one node's machine to another's.</summary>
    public long OneWay(int src, int dst) => Latency.OneWay(MachineOf(src), MachineOf(dst));

    /// <summary>The machine node <paramref name="node"/> runs on (see <see cref="NodeTable.MachineIsOrdinal"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int MachineOf(int node) => _nodes.MachineIsOrdinal ? node : _nodes.Machine[node];

    /// <summary>
    /// The first of two prefetch hints for a delay from or to <paramref name="node"/>: fetches the node's entry of the
    /// machine map (or, where every node is its own machine, the latency model's state for it).
    /// </summary>
    public void PrefetchMachineOf(int node)
    {
        if ((uint)node >= (uint)_nodes.Count) return;
        if (_nodes.MachineIsOrdinal) Latency.Prefetch(node);
        else CacheHint.Prefetch(in _nodes.Machine[node]);
    }

    /// <summary>The second hint, an event later: the latency model's state for the node's machine.</summary>
    public void PrefetchLatency(int node)
    {
        if ((uint)node >= (uint)_nodes.Count) return;
        Latency.Prefetch(MachineOf(node));
    }

    /// <summary>Round-trip time between two nodes' machines (for timeouts set as a multiple of the RTT).</summary>
    public long RoundTrip(int a, int b)
    {
        int ma = MachineOf(a), mb = MachineOf(b);
        return _symmetric ? 2 * Latency.OneWay(ma, mb) : Latency.OneWay(ma, mb) + Latency.OneWay(mb, ma);
    }

    /// <summary>Makes room for machines added during the run (churn).</summary>
    internal void EnsureMachines(int count)
    {
        Latency.EnsureMachines(count);
        if (count > _load.Length) Array.Resize(ref _load, Math.Max(count, _load.Length * 2)); // pending indices stay valid
    }
}

/// <summary>Maintenance messages and bytes by message type, counted inside the measurement window.</summary>
public sealed class TrafficMetrics
{
    public long[] Messages { get; } = new long[256];
    public long[] Bytes { get; } = new long[256];

    public void Count(byte type, int bytes)
    {
        Messages[type]++;
        Bytes[type] += bytes;
    }

    public long TotalMessages => Messages.Sum();
    public long TotalBytes => Bytes.Sum();
}
