namespace OverlaySim.Core;

/// <summary>
/// The simulated network of one run, as an overlay sees it: the engine, the id space, the random streams, the
/// workload's keys, and three services split by role.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="Transport"/>: latency, sending, the bytes and load of every message.</item>
/// <item><see cref="Population"/>: machines and their nodes, joins and departures, the bootstrap service.</item>
/// <item><see cref="Lookups"/>: the lookup lifecycle (begin, answer, end), deadlines, the measurement window and
/// what is measured.</item>
/// </list>
/// <para>Nothing here points back at the experiment that drives the run (workload, churn, sampler): those hold
/// references to these services, not the other way round. The overlay is reached only through the interfaces it
/// implements (its event sink, <see cref="IMembershipListener"/>, <see cref="ILookupDeadlineListener"/>) and its
/// ground truth, installed by the experiment. The global view (<see cref="Oracle"/>) is internal: an overlay receives
/// it only as the argument of its static build and of its ground truth.</para>
/// </remarks>
public sealed class Network
{
    public Network(IdSpace space, NodeTable nodes, LatencyModel latency, Id[] keys, RandomStreams streams, int virtualNodes = 1)
    {
        Space = space;
        Nodes = nodes;
        Keys = keys;
        Streams = streams;
        Sim = new Simulator(nodes);
        Window = new MeasurementWindow(Sim);
        // The lookup service registers the first event sink (its deadlines), before the overlay's.
        Lookups = new LookupService(Sim, nodes, Window, keys);
        int machines = (nodes.Count + virtualNodes - 1) / virtualNodes;
        Transport = new Transport(Sim, nodes, latency, Lookups.Table, Window, machines);
        Population = new Population(space, nodes, streams, virtualNodes, Window, Sim, Transport);
    }

    public Simulator Sim { get; }
    public IdSpace Space { get; }
    public NodeTable Nodes { get; }
    public RandomStreams Streams { get; }

    /// <summary>Key ids by key index: key i is SHA-1("key-i") truncated to id_bits.</summary>
    public Id[] Keys { get; }

    public MeasurementWindow Window { get; }

    /// <summary>
    /// Whether an overlay may route a lookup whole when it begins (compute every hop, count its messages, and simulate
    /// only the answer's arrival), because nothing between a lookup's start and its answer can change its route or how
    /// it is measured: no node can join or die (no churn), every pair's delay is fixed (no per-message delays), no
    /// lookup has a deadline (or the overlay checks every lookup against it: <see cref="ILookupPlanner.ChecksDeadline"/>),
    /// and the run has no end that could cut a lookup short (the time series counts an answer at
    /// the instant it arrives, whenever its event was scheduled). Set by the experiment when the run starts; false for a run driven otherwise (tests
    /// that step the engine themselves) and for <see cref="RunSpec.HopByHop"/>. The results are the same either way but
    /// for the count of events and the trace hash.
    /// </summary>
    public bool RoutesAhead { get; internal set; }
    public LookupService Lookups { get; }
    public Transport Transport { get; }
    public Population Population { get; }

    /// <summary>The keys stored by the overlay, if it stores them (<see cref="CreateKeyStore"/>).</summary>
    public KeyStore? KeyStore { get; private set; }

    /// <summary>The global view, for static builds, the ground truth, metrics and tests (see <see cref="Oracle"/>).</summary>
    internal Oracle Oracle => Population.View;

    /// <summary>
    /// Creates the store of the workload's keys for an overlay that stores them, wired to the run: it grows with the
    /// node table, a departed node's copies go with it, keys_lost and value_found_rate are reported.
    /// </summary>
    /// <param name="timed">Whether copies remember when they were stored (for overlays whose copies expire).</param>
    public KeyStore CreateKeyStore(int maxHolders, bool timed = false) => Wire(new KeyStore(Keys.Length, maxHolders, Nodes.Capacity, timed));

    /// <summary>A key store in which key i has room for <paramref name="capacities"/>[i] copies (a replica placement), wired like the other.</summary>
    public KeyStore CreateKeyStore(ReadOnlySpan<int> capacities) => Wire(new KeyStore(capacities, Nodes.Capacity));

    private KeyStore Wire(KeyStore store)
    {
        if (KeyStore is not null) throw new InvalidOperationException("the run already has a key store");
        Nodes.Grown += store.EnsureNodes;
        Population.Store = store;
        Lookups.ReportsValues = true;
        KeyStore = store;
        return store;
    }

    /// <summary>
    /// The workload's replication, for overlays without a placement rule (<see cref="Core.Replication"/>), or null when the
    /// scenario sets none; with the keys' query popularity it is drawn by.
    /// </summary>
    public ReplicationOptions? Replication { get; internal set; }

    /// <summary>Query popularity of each key (set with <see cref="Replication"/>).</summary>
    public double[] KeyPopularity { get; internal set; } = [];

    /// <summary>Places the workload's items by <see cref="Replication"/> and returns the store (see <see cref="Core.Replication.Place"/>).</summary>
    public KeyStore PlaceReplicas() =>
        Core.Replication.Place(this, Replication ?? throw new InvalidOperationException("the scenario sets no workload.replication"), KeyPopularity);

    /// <summary>A per-node array of <paramref name="stride"/> entries per node, grown with the node table; rows of retired nodes are reused.</summary>
    public NodeArray<T> NodeArray<T>(int stride = 1, T fill = default!) => new(Nodes, stride, fill);

    /// <summary>A per-lookup array of <paramref name="stride"/> entries per lookup slot, grown with the lookup table.</summary>
    public LookupArray<T> LookupArray<T>(int stride = 1) => new(Lookups.Table, stride);
}
