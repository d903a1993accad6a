using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using OverlaySim.Core;
using OverlaySim.Overlays;

namespace OverlaySim.Benchmarks;

/// <summary>
/// Complete lookups on a static overlay (a Chord ring, converged Kademlia buckets): routing, messages through the
/// engine, the answer, and (when <see cref="Measured"/>) the oracle check and metrics of a measured lookup.
/// </summary>
/// <remarks>
/// <para>World: built once per case exactly as <see cref="Experiment.Run"/> builds it: seed 1, replicate 0,
/// 160-bit ids from the "ids" stream, every node alive, constant 50 ms latency, K = 100,000 keys (SHA-1 of
/// "key-i"), the overlay of the derived class and <see cref="Experiment.Install"/>. No workload sink is
/// registered: the benchmark issues the lookups itself.</para>
/// <para>One operation = one complete lookup: <see cref="LookupService.BeginUser"/> + <see cref="Overlay.StartLookup"/>,
/// then <see cref="Simulator.Run"/> until the queue is empty, i.e. until the reply reached the origin. Origins
/// and keys are drawn before the measurement from the "workload" stream (uniform live origin, uniform key, as
/// <see cref="Workload"/> draws them) into a ring of 2^16 lookups that the benchmark cycles through.</para>
/// <para>Chord: events per lookup = hops + 1 (each forwarded find_successor is one event, the reply one more; a lookup
/// whose origin is responsible has none). The setup measures it over the 2^16 prepared lookups and shows it in
/// the Events/op column, so <b>events/s = Events/op × 1e9 / (ns/lookup)</b> (the Events/s column). Measured:
/// 7.953 at N = 10^4 (hops 6.953, paper_hops 5.953) and 11.267 at N = 10^6 (hops 10.267, paper_hops 9.267).
/// A real run adds one workload-arrival event per lookup, which this benchmark does not have.</para>
/// <para>Allocation: the engine, the lookup pool and the routing allocate nothing per lookup. A measured lookup
/// appends its latency to <see cref="LookupMetrics.Latencies"/>, a list that grows by doubling (8 B per lookup,
/// 16 B amortized counting the copies), so Measured=True allocates in bursts whenever the list doubles; the
/// setup prints the exact bytes per lookup over 2^16 lookups (GC.GetAllocatedBytesForCurrentThread).</para>
/// </remarks>
public abstract class LookupBenchmarks
{
    /// <summary>Lookups per benchmark invocation.</summary>
    public const int LookupsPerInvoke = 1 << 10;

    protected const int PreparedLookups = 1 << 16;
    protected const int KeyCount = 100_000;
    private const long LatencyMicros = 50_000;

    [Params(10_000, 1_000_000)]
    public int N;

    /// <summary>
    /// True: lookups inside the measurement window, as after a run's warm-up (oracle check of the answer, hop
    /// histograms, latency list). False: warm-up lookups, routing and engine only.
    /// </summary>
    [Params(true, false)]
    public bool Measured;

    private Network? _net;
    private Overlay? _overlay;
    private int[] _origins = [];
    private int[] _keys = [];
    private int _next;

    /// <summary>The overlay, with the parameters the benchmark states.</summary>
    protected abstract Overlay CreateOverlay();

    /// <summary>What the setup pass measured of the routes, for its log line (hops and the overlay's own metrics).</summary>
    protected abstract string Routes(LookupMetrics m);

    [GlobalSetup]
    public void Setup()
    {
        var clock = Stopwatch.StartNew();
        (Network net, Overlay overlay) = BuildWorld(N, CreateOverlay());
        long buildMs = clock.ElapsedMilliseconds;

        Xoshiro256 rng = net.Streams.Stream("workload");
        _origins = new int[PreparedLookups];
        _keys = new int[PreparedLookups];
        for (int i = 0; i < PreparedLookups; i++)
        {
            _origins[i] = net.Nodes.LiveAt(rng.NextInt(net.Nodes.LiveCount));
            _keys[i] = rng.NextInt(KeyCount);
        }

        // One measured pass over the prepared lookups: checks every answer against the oracle, gives the events
        // per lookup for the Events/op column, and warms the code up.
        net.Window.From = 0;
        long events = net.Sim.Dispatched;
        for (int i = 0; i < PreparedLookups; i++) Issue(net, overlay, i);
        events = net.Sim.Dispatched - events;
        LookupMetrics m = net.Lookups.Metrics;
        if (m.Ok != PreparedLookups)
            throw new InvalidOperationException($"{overlay.Name} answered {m.Ok} of {PreparedLookups} lookups correctly");
        double eventsPerLookup = (double)events / PreparedLookups;
        string routes = Routes(m);

        // A second pass in this case's mode, counting the bytes it allocates (exact, unlike one sampled iteration).
        net.Window.From = Measured ? 0 : long.MaxValue;
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < PreparedLookups; i++) Issue(net, overlay, i);
        bytes = GC.GetAllocatedBytesForCurrentThread() - bytes;
        // The in-process toolchain runs a generated subclass: the facts are filed under the benchmark class itself.
        Type benchmark = GetType();
        while (benchmark.Namespace != typeof(LookupBenchmarks).Namespace) benchmark = benchmark.BaseType!;
        CaseFacts.Register(benchmark, nameof(Lookup), eventsPerLookup, (double)bytes / PreparedLookups,
            (nameof(N), N), (nameof(Measured), Measured));

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// {overlay.Name} N={N} Measured={Measured}: world built in {buildMs} ms; over {PreparedLookups} lookups {routes}, " +
            $"events/lookup {eventsPerLookup:0.###}, messages/lookup {(double)m.Messages / m.Ended:0.###}; " +
            $"second pass allocated {bytes} B ({(double)bytes / PreparedLookups:0.##} B/lookup)"));

        _net = net;
        _overlay = overlay;
        _next = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _net = null;
        _overlay = null;
    }

    [Benchmark(OperationsPerInvoke = LookupsPerInvoke)]
    public long Lookup()
    {
        Network net = _net!;
        Overlay overlay = _overlay!;
        int next = _next;
        for (int i = 0; i < LookupsPerInvoke; i++)
        {
            Issue(net, overlay, next);
            next = (next + 1) & (PreparedLookups - 1);
        }
        _next = next;
        return net.Sim.Dispatched;
    }

    private void Issue(Network net, Overlay overlay, int i)
    {
        int slot = net.Lookups.BeginUser(_origins[i], _keys[i]);
        overlay.StartLookup(slot);
        net.Sim.Run();
    }

    /// <summary>The world of <see cref="Experiment.Run"/> for a static overlay with constant latency.</summary>
    private static (Network, Overlay) BuildWorld(int nodes, Overlay overlay)
    {
        var space = new IdSpace(160);
        var streams = new RandomStreams(seed: 1, replicate: 0);
        Id[] ids = Experiment.DrawDistinctIds(space, nodes, streams.Stream("ids"));
        var table = new NodeTable(ids);
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var net = new Network(space, table, new ConstantLatency(LatencyMicros), Experiment.KeyIds(space, KeyCount), streams);
        Experiment.Install(net, overlay);
        return (net, overlay);
    }
}

/// <summary>Static Chord, r = 8 successors (see <see cref="LookupBenchmarks"/>).</summary>
public class ChordLookupBenchmarks : LookupBenchmarks
{
    protected override Overlay CreateOverlay() => new ChordRing(new ChordOptions());

    protected override string Routes(LookupMetrics m) => string.Create(CultureInfo.InvariantCulture,
        $"hops {Stats.MeanOfHistogram(m.HopHistogram):0.###}, paper_hops {m.Registered[0].Value(MetricStat.Mean):0.###}");
}

/// <summary>
/// Static Kademlia, k = 20, α = 3, the converged buckets, node lookups for the keys' ids (store_keys: false): each
/// lookup is α-parallel iterative, so it is many events (every FIND_NODE and its answer), measured in the setup.
/// </summary>
public class KademliaLookupBenchmarks : LookupBenchmarks
{
    protected override Overlay CreateOverlay() => new Kademlia(new KademliaOptions { StoreKeys = false });

    protected override string Routes(LookupMetrics m) => string.Create(CultureInfo.InvariantCulture,
        $"hops {Stats.MeanOfHistogram(m.HopHistogram):0.###}, rounds {m.Registered[0].Value(MetricStat.Mean):0.###}, rpcs {m.Registered[1].Value(MetricStat.Mean):0.###}");
}
