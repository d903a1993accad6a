using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// Everything one run shares between the engine, the overlay, the workload, churn and the metrics: the
/// simulator, the node table and its machines, the id space, the latency model, the keys, the lookup pool,
/// the traffic counters and the oracle.
/// </summary>
public sealed class Network : IEventSink
{
    private const byte LookupDeadline = 1;

    private bool[] _machineUp;
    private bool[] _joined;        // per ordinal: live and part of the overlay (in the oracle)
    private int[] _machineBase;   // first ordinal of the machine's current (or last) incarnation, -1 if none yet
    private Xoshiro256 _rejoinIds;
    private Xoshiro256 _bootstrapRng;
    private long _lastLiveChange;
    private double _liveNodeSeconds;
    private byte _sink;

    public Network(IdSpace space, NodeTable nodes, LatencyModel latency, Id[] keys, RandomStreams streams, int virtualNodes = 1)
    {
        Space = space;
        Nodes = nodes;
        Latency = latency;
        Keys = keys;
        Streams = streams;
        VirtualNodes = virtualNodes;
        Sim = new Simulator(nodes);
        Oracle = new Oracle(space);
        Oracle.Rebuild(nodes);
        MachineCount = (nodes.Count + virtualNodes - 1) / virtualNodes;
        _machineUp = new bool[MachineCount];
        _machineBase = new int[MachineCount];
        for (int m = 0; m < MachineCount; m++)
        {
            _machineBase[m] = m * virtualNodes;
            _machineUp[m] = nodes.IsAlive(m * virtualNodes);
        }
        _rejoinIds = streams.Stream("ids/rejoin");
        _bootstrapRng = streams.Stream("bootstrap");
        _joined = new bool[nodes.Capacity];
        for (int i = 0; i < nodes.Count; i++) _joined[i] = nodes.IsAlive(i);
        nodes.Grown += capacity => Array.Resize(ref _joined, capacity);
        _sink = Sim.Register(this);
    }

    public Simulator Sim { get; }
    public IdSpace Space { get; }
    public NodeTable Nodes { get; }
    public LatencyModel Latency { get; }
    public RandomStreams Streams { get; }

    /// <summary>v: node ordinals (ids) per machine.</summary>
    public int VirtualNodes { get; }

    /// <summary>Key ids by key index: key i is SHA-1("key-i") truncated to id_bits.</summary>
    public Id[] Keys { get; }

    /// <summary>Global view for metrics and static builds only; never for protocol decisions.</summary>
    public Oracle Oracle { get; }

    public LookupTable Lookups { get; } = new();
    public LookupMetrics Metrics { get; } = new();
    public TrafficMetrics Traffic { get; } = new();

    /// <summary>Lookups issued at or after this time are measured, and traffic counted (the warm-up ends here).</summary>
    public long MeasureFrom { get; set; }

    /// <summary>The end of the measurement window (the run's duration), or long.MaxValue.</summary>
    public long MeasureUntil { get; set; } = long.MaxValue;

    public Overlay Overlay { get; private set; } = null!;

    /// <summary>The churn driver of the run, if any, and which machines it started up.</summary>
    public ChurnDriver? Churn { get; set; }
    public bool[]? InitiallyUp { get; set; }

    /// <summary>The time-series sampler of the run, if any.</summary>
    public TimeSeriesSampler? Sampler { get; set; }

    public int MachineCount { get; private set; }

    public bool IsMachineUp(int machine) => _machineUp[machine];

    /// <summary>The ordinals of a machine's current (or last) incarnation.</summary>
    public int MachineBase(int machine) => _machineBase[machine];

    public bool InWindow => Sim.Now >= MeasureFrom && Sim.Now < MeasureUntil;

    public void Install(Overlay overlay)
    {
        Overlay = overlay;
        overlay.Attach(this);
    }

    /// <summary>
    /// Sends a lookup message from <paramref name="src"/> to <paramref name="dst"/>: delivered after the latency
    /// model's one-way delay between their machines, dropped if the destination dies first. Counts toward the
    /// lookup's messages and is stamped with its generation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Send(int src, int dst, Event ev)
    {
        ev.Src = src;
        ev.Dst = dst;
        if (ev.Lookup >= 0)
        {
            ref LookupRecord r = ref Lookups[ev.Lookup];
            r.Messages++;
            ev.LookupGen = r.Generation;
        }
        int[] machine = Nodes.Machine;
        Sim.Schedule(Latency.OneWay(machine[src], machine[dst]), ev);
    }

    /// <summary>
    /// Counts a lookup message that is sent but whose delivery can change nothing (an acknowledgement no timeout
    /// will wait for): it costs its message and bytes like any other, without an event.
    /// </summary>
    public void CountOnly(int lookup)
    {
        if (lookup >= 0) Lookups[lookup].Messages++;
    }

    /// <summary>
    /// Sends a maintenance message (not part of a lookup) and counts it, with its size in bytes, under its
    /// message type when inside the measurement window.
    /// </summary>
    public void SendMaintenance(int src, int dst, Event ev, int bytes)
    {
        ev.Src = src;
        ev.Dst = dst;
        ev.Lookup = -1;
        if (InWindow) Traffic.Count(ev.Type, bytes);
        int[] machine = Nodes.Machine;
        Sim.Schedule(Latency.OneWay(machine[src], machine[dst]), ev);
    }

    /// <summary>One-way delay from one node's machine to another's.</summary>
    public long OneWay(int src, int dst) => Latency.OneWay(Nodes.Machine[src], Nodes.Machine[dst]);

    /// <summary>Round-trip time between two nodes' machines (for timeouts set as a multiple of the RTT).</summary>
    public long RoundTrip(int a, int b)
    {
        int[] machine = Nodes.Machine;
        return Latency.OneWay(machine[a], machine[b]) + Latency.OneWay(machine[b], machine[a]);
    }

    /// <summary>Whether a lookup message is for a lookup still in flight (its slot was not freed and reused since).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCurrent(in Event ev) => Lookups.IsCurrent(ev.Lookup, ev.LookupGen);

    /// <summary>Creates a lookup for key <paramref name="keyIndex"/> issued now by <paramref name="origin"/>.</summary>
    public int BeginLookup(int origin, int keyIndex)
    {
        int slot = Lookups.Allocate();
        ref LookupRecord r = ref Lookups[slot];
        r.Key = Keys[keyIndex];
        r.KeyIndex = keyIndex;
        r.Origin = origin;
        r.Start = Sim.Now;
        r.Measured = InWindow;
        if (r.Measured) Metrics.CountIssued();
        long deadline = Overlay.LookupTimeout;
        if (deadline > 0)
            Sim.Schedule(deadline, new Event { Dst = -1, Src = -1, Lookup = slot, LookupGen = r.Generation, Sink = _sink, Type = LookupDeadline });
        return slot;
    }

    /// <summary>
    /// Creates a lookup the overlay makes for itself (a join, a finger refresh): routed like any other, never
    /// measured, and ended with <see cref="EndInternalLookup"/> (or failed at the overlay's lookup deadline).
    /// </summary>
    public int BeginInternalLookup(int origin, Id key)
    {
        int slot = Lookups.Allocate();
        ref LookupRecord r = ref Lookups[slot];
        r.Key = key;
        r.KeyIndex = -1;
        r.Origin = origin;
        r.Start = Sim.Now;
        r.Measured = false;
        long deadline = Overlay.LookupTimeout;
        if (deadline > 0)
            Sim.Schedule(deadline, new Event { Dst = -1, Src = -1, Lookup = slot, LookupGen = r.Generation, Sink = _sink, Type = LookupDeadline });
        return slot;
    }

    public void EndInternalLookup(int slot) => Lookups.Free(slot);

    /// <summary>
    /// Ends a lookup now: the origin has learned that <paramref name="answer"/> is responsible for the key.
    /// The outcome is judged against the oracle at this instant.
    /// </summary>
    public void CompleteLookup(int slot, int answer)
    {
        ref LookupRecord r = ref Lookups[slot];
        if (r.Measured)
        {
            int truth = Overlay.Responsible(r.Key);
            var outcome = answer == truth ? LookupOutcome.Ok : LookupOutcome.Wrong;
            Metrics.Record(in r, outcome, Sim.Now - r.Start);
            if (Overlay.StoresKeys) Metrics.RecordValue(Overlay.HoldsKey(answer, r.KeyIndex));
        }
        Lookups.Free(slot);
    }

    /// <summary>Ends a lookup as failed (timed out, dropped, retry budget spent).</summary>
    public void FailLookup(int slot)
    {
        ref LookupRecord r = ref Lookups[slot];
        if (r.Measured)
        {
            if (Nodes.IsAlive(r.Origin))
            {
                Metrics.Record(in r, LookupOutcome.Failed, 0);
                if (Overlay.StoresKeys) Metrics.RecordValue(false);
            }
            else Metrics.CountAbandoned(); // its origin left: nobody is waiting for the answer
        }
        Lookups.Free(slot);
    }

    /// <summary>The lookup deadline: a lookup still in flight when it fires has failed.</summary>
    public void Handle(ref Event ev)
    {
        if (ev.Type == LookupDeadline && Lookups.IsCurrent(ev.Lookup, ev.LookupGen))
        {
            Overlay.OnLookupAbandoned(ev.Lookup);
            FailLookup(ev.Lookup);
        }
    }

    // ---- churn -------------------------------------------------------------------------------------------

    /// <summary>Adds a machine that has never been up (rate churn, traces); returns its index.</summary>
    public int AddMachine()
    {
        int m = MachineCount++;
        if (m == _machineUp.Length)
        {
            Array.Resize(ref _machineUp, Math.Max(16, m * 2));
            int old = _machineBase.Length;
            Array.Resize(ref _machineBase, _machineUp.Length);
            Array.Fill(_machineBase, -1, old, _machineBase.Length - old);
        }
        _machineBase[m] = -1;
        Latency.EnsureMachines(MachineCount);
        return m;
    }

    /// <summary>
    /// Brings a machine up: its ordinals become live (fresh ordinals with new ids when <paramref name="newId"/>,
    /// or on its first session; its old ordinals, same ids, otherwise), and each joins the overlay through a
    /// bootstrap node drawn uniformly from the nodes that have joined (from the "bootstrap" stream). A node enters the
    /// oracle (becomes responsible for keys) only when the overlay reports its join complete with
    /// <see cref="Joined"/>: until then it is not part of the overlay, and a lookup cannot be expected to reach it.
    /// </summary>
    public void JoinMachine(int machine, bool newId)
    {
        if (_machineUp[machine]) return;
        AccrueLive();
        if (newId || _machineBase[machine] < 0)
        {
            int first = -1;
            for (int v = 0; v < VirtualNodes; v++)
            {
                int node = Nodes.Add(DrawFreshId(), machine);
                if (v == 0) first = node;
            }
            _machineBase[machine] = first;
        }
        _machineUp[machine] = true;
        int b = _machineBase[machine];
        for (int v = 0; v < VirtualNodes; v++)
        {
            Nodes.SetAlive(b + v);
        }
        // The bootstrap comes from a stream of its own: which nodes have joined depends on the protocol's timing,
        // so drawing it from the churn stream would let the workload move churn events.
        for (int v = 0; v < VirtualNodes; v++) Overlay.OnJoin(b + v, RandomJoined(b + v, ref _bootstrapRng));
    }

    /// <summary>Takes a machine down: a graceful leave lets the overlay say goodbye first; a crash says nothing.</summary>
    public void DepartMachine(int machine, bool graceful)
    {
        if (!_machineUp[machine]) return;
        AccrueLive();
        int b = _machineBase[machine];
        if (graceful)
            for (int v = 0; v < VirtualNodes; v++) Overlay.OnLeave(b + v);
        for (int v = 0; v < VirtualNodes; v++)
        {
            int node = b + v;
            Nodes.SetDead(node);
            if (_joined[node]) Oracle.Remove(Nodes.Ids[node]);
            _joined[node] = false;
            Overlay.OnDeparted(node, graceful);
        }
        _machineUp[machine] = false;
    }

    /// <summary>The overlay reports that a live node has finished joining: from now on it is responsible for keys.</summary>
    public void Joined(int node)
    {
        if (!Nodes.IsAlive(node) || _joined[node]) return;
        if (_joined.Length < Nodes.Capacity) Array.Resize(ref _joined, Nodes.Capacity);
        _joined[node] = true;
        Oracle.Insert(Nodes.Ids[node], node);
    }

    /// <summary>Whether a live node is part of the overlay (its join has completed).</summary>
    public bool IsJoined(int node) => node < _joined.Length && _joined[node];

    /// <summary>
    /// The overlay reports that a live node has lost its place (it knows no other node and must join again): it
    /// stops being responsible for keys until <see cref="Joined"/> is called again.
    /// </summary>
    public void Unjoined(int node)
    {
        if (!_joined[node]) return;
        _joined[node] = false;
        Oracle.Remove(Nodes.Ids[node]);
    }

    /// <summary>
    /// A uniformly chosen node that has joined the overlay, other than <paramref name="self"/>'s machine, or -1: what
    /// a bootstrap service hands a joining node.
    /// </summary>
    public int RandomJoined(int self, ref Xoshiro256 rng)
    {
        int live = Nodes.LiveCount;
        int machine = self >= 0 ? Nodes.Machine[self] : -1;
        for (int attempt = 0; live > 0 && attempt < 64; attempt++)
        {
            int c = Nodes.LiveAt(rng.NextInt(live));
            if (Nodes.Machine[c] != machine && _joined[c]) return c;
        }
        // Few joined nodes among many live ones: fall back on a scan, in live-list order (deterministic).
        for (int i = 0; i < live; i++)
        {
            int c = Nodes.LiveAt(i);
            if (Nodes.Machine[c] != machine && _joined[c]) return c;
        }
        return -1;
    }

    /// <summary>Integral of the live node count over the measurement window so far, in node·seconds.</summary>
    public double LiveNodeSeconds
    {
        get
        {
            AccrueLive();
            return _liveNodeSeconds;
        }
    }

    private void AccrueLive()
    {
        long now = Math.Min(Sim.Now, MeasureUntil);
        long from = Math.Max(_lastLiveChange, MeasureFrom);
        if (now > from) _liveNodeSeconds += Nodes.LiveCount * ((now - from) / 1e6);
        _lastLiveChange = Math.Max(_lastLiveChange, now);
    }

    private Id DrawFreshId()
    {
        while (true)
        {
            Id id = Space.Random(ref _rejoinIds);
            int s = Oracle.Successor(id);
            if (s < 0 || Nodes.Ids[s] != id) return id;
        }
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
