using System.Reflection;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>
/// The contract, checked for every overlay in the registry: an overlay is in this suite by being registered. Runs go
/// through the scenario loader and the runner, as a user's do: each overlay with its defaults (its static model), and
/// with its churn variant (<see cref="OverlayInfo.ChurnVariant"/>) when it has one.
/// </summary>
public class ConformanceTests
{
    public static TheoryData<string> Overlays => new(OverlayRegistry.All.Select(o => o.Name));

    public static TheoryData<string> ChurnOverlays => new(OverlayRegistry.All.Where(o => o.ChurnVariant.Count > 0).Select(o => o.Name));

    /// <summary>Every overlay on rings of 1, 2 and 3 nodes, a dense small id space, and a sparse one.</summary>
    public static TheoryData<string, int, int> StaticCases
    {
        get
        {
            var data = new TheoryData<string, int, int>();
            foreach (OverlayInfo o in OverlayRegistry.All)
                foreach (var (nodes, bits) in new[] { (1, 160), (2, 160), (3, 160), (300, 10), (3000, 160) })
                    data.Add(o.Name, nodes, bits);
            return data;
        }
    }

    /// <summary>A run of one overlay entry, through the loader and the runner.</summary>
    internal static SimulationRun Build(string overlay, string parameters = "", int nodes = 1000, int idBits = 160, int replicate = 0,
        string extra = "", string workload = "{ lookups: 3000, keys: 2000, popularity: zipf, zipf_exponent: 0.8 }")
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", $$"""
            name: conformance
            seed: 3
            nodes: {{nodes}}
            id_bits: {{idBits}}
            replicates: {{replicate + 1}}
            latency: { model: coordinates, dimensions: 2, mean: 30ms, access_min: 1ms, access_max: 3ms }
            workload: {{workload}}
            {{extra}}
            overlays:
              - {{overlay}}: { {{parameters}} }
            """);
        PlannedRun plan = Runner.Plan(ScenarioLoader.Load(path))[replicate];
        return Experiment.Build(Runner.ToSpec(plan));
    }

    /// <summary>The churn variant's parameters as YAML, e.g. "protocol: dynamic".</summary>
    private static string ChurnParameters(string overlay) =>
        string.Join(", ", OverlayRegistry.Find(overlay)!.ChurnVariant.Select(kv => $"{kv.Key}: {kv.Value}"));

    /// <summary>
    /// Lets a run finish what it has in flight: no more churn, no more maintenance, and the engine runs until nothing is
    /// left (lookup deadlines end whatever is still waiting). An overlay that reschedules work forever fails here.
    /// </summary>
    internal static void Drain(SimulationRun run)
    {
        run.Churn?.Stop();
        run.Overlay.StopMaintenance();
        long limit = run.Net.Sim.Now + 86_400_000_000;
        run.Net.Sim.Run(limit);
        if (run.Net.Sim.Queue.Count == 0) return;
        // Say what keeps going: the pending events by sink and type (message names for the overlay's).
        var kinds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int pending = run.Net.Sim.Queue.Count;
        for (int i = 0; i < 10_000 && run.Net.Sim.Queue.TryPop(out _, out Event ev, out bool cancelled); i++)
        {
            string kind = cancelled ? "cancelled" : $"sink {ev.Sink} type {ev.Type}{(ev.Lookup >= 0 ? " of a lookup" : "")}";
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }
        Assert.Fail($"{pending} events still pending a simulated day after the end: something reschedules itself forever: " +
            string.Join(", ", kinds.Select(kv => $"{kv.Key} x{kv.Value}")));
    }

    /// <summary>Nothing of any lookup is left: every slot is free and every payload block of the overlay's messages is back.</summary>
    internal static void AssertDrained(SimulationRun run)
    {
        LookupTable table = run.Net.Lookups.Table;
        Assert.Equal(0, table.InFlight);
        for (int slot = 0; slot < table.Capacity; slot++)
            Assert.False(table[slot].InUse, $"lookup slot {slot} is still in use after the run drained");
        Assert.Equal(0, run.Overlay.PayloadsInUse);
    }

    /// <summary>
    /// Parameters under which an overlay that does not promise to find every item (a flood with a TTL may miss it) reaches
    /// every node of a static network: a tree, connected by construction, flooded with a TTL beyond its diameter. Every
    /// other overlay runs with its defaults.
    /// </summary>
    internal static string Exhaustive(string overlay) => overlay switch
    {
        "gnutella" => "graph: tree, degree: 3, ttl: 255",
        _ => "",
    };

    [Theory]
    [MemberData(nameof(StaticCases))]
    public void OnAStaticNetworkEveryLookupIsAnsweredCorrectlyAndNothingIsLeft(string overlay, int nodes, int idBits)
    {
        SimulationRun run = Build(overlay, Exhaustive(overlay), nodes: nodes, idBits: idBits);
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);

        Assert.Equal(3000, r.Lookups);
        Assert.Equal(r.Lookups, r.LookupsOk);
        Assert.Equal(0, r.LookupsWrong + r.LookupsFailed + r.LookupsAbandoned);
        Assert.Equal(0, run.Net.Sim.Queue.Count); // a static run ends when nothing is left to do
        AssertDrained(run);

        // Every message of a measured lookup is counted once for the lookup and once for the machine it went to.
        LookupMetrics m = run.Net.Lookups.Metrics;
        long load = 0;
        foreach (long l in run.Net.Transport.LoadPerMachine) load += l;
        Assert.Equal(m.Messages, load);
        Assert.Equal(r.Lookups, m.Ended);
        Assert.True(m.Bytes >= 20 * m.Messages, $"{m.Bytes} bytes for {m.Messages} messages: every message has a 20-byte header");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void TheSameSeedGivesTheSameRunAndAnotherReplicateAnother(string overlay)
    {
        RunResult Run(int replicate)
        {
            SimulationRun run = Build(overlay, nodes: 800, replicate: replicate);
            Experiment.Simulate(run);
            return Experiment.Summarize(run);
        }
        RunResult a = Run(0), b = Run(0), c = Run(1);

        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(a.HopHistogram, b.HopHistogram);
        Assert.Equal(a.OverlayMetrics, b.OverlayMetrics);
        Assert.Equal((a.LatencyMeanMs, a.MsgsPerLookup, a.BytesPerLookup, a.LoadMax), (b.LatencyMeanMs, b.MsgsPerLookup, b.BytesPerLookup, b.LoadMax));
        Assert.NotEqual(a.TraceHash, c.TraceHash);
    }

    [Theory]
    [MemberData(nameof(ChurnOverlays))]
    public void UnderChurnNothingThrowsEveryLookupEndsAndNothingLeaks(string overlay)
    {
        // 300 machines with 5-minute sessions and downtimes for 15 minutes: about 900 joins and as many departures,
        // half of them crashes; a lookup per live node every 30 s.
        SimulationRun run = Build(overlay, ChurnParameters(overlay), nodes: 300,
            extra: "duration: 15min\nmeasure_after: 1min\nchurn: { model: lifetime, session_mean: 5min, downtime_mean: 5min, leave_fraction: 0.5 }",
            workload: "{ per_node_rate: 1/30s, duration: 15min, keys: 1000 }");
        int slots = run.Net.Nodes.SlotCapacity; // the machines', and the overlay's servers
        Experiment.Simulate(run);
        Drain(run);
        RunResult r = Experiment.Summarize(run);

        Assert.True(r.Joins > 400 && r.Leaves > 100 && r.Crashes > 100, $"{r.Joins} joins, {r.Leaves} leaves, {r.Crashes} crashes");
        Assert.True(r.Lookups > 3000, $"only {r.Lookups} lookups measured");
        // Every measured lookup was answered one way or the other (or abandoned, which the count excludes).
        Assert.Equal(r.Lookups, r.LookupsOk + r.LookupsWrong + r.LookupsFailed);
        Assert.Equal(r.Lookups, run.Net.Lookups.Metrics.Ended);
        AssertDrained(run);
        // Memory follows the live nodes: every rejoin took a new ordinal, but each machine holds at most one
        // unretired incarnation, so the per-node state never outgrew the slots it had when built (300, plus a server).
        Assert.True(run.Net.Nodes.Count > 600, $"only {run.Net.Nodes.Count} ordinals");
        Assert.Equal(slots, run.Net.Nodes.SlotCapacity);
        Assert.Equal(300 + OverlayRegistry.Find(overlay)!.Servers, slots);
        Assert.True(run.Net.Nodes.Retired >= run.Net.Nodes.Count - slots, $"{run.Net.Nodes.Retired} retired of {run.Net.Nodes.Count}");
    }

    /// <summary>
    /// Protocol code never reads the ground truth, and the types make that so: the network an overlay is attached to
    /// exposes no global view, the lookup service's truth cannot be set or read from outside Core, and no overlay keeps a
    /// reference to a global view or a ground truth.
    /// </summary>
    [Fact]
    public void NoOverlayCanReachTheGroundTruth()
    {
        const BindingFlags any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance;
        Assert.Null(typeof(Network).GetProperty(nameof(Oracle), BindingFlags.Public | BindingFlags.Instance));
        PropertyInfo truth = typeof(LookupService).GetProperty("Truth", any)!;
        Assert.False(truth.GetMethod!.IsPublic || truth.GetMethod.IsFamily);
        foreach (OverlayInfo info in OverlayRegistry.All)
        {
            var variants = new List<string> { "" };
            if (info.ChurnVariant.Count > 0) variants.Add(ChurnParameters(info.Name));
            foreach (string parameters in variants)
            {
                Type type = Build(info.Name, parameters, nodes: 50, extra: parameters.Length > 0 ? "duration: 1min" : "").Overlay.GetType();
                for (Type? t = type; t is not null; t = t.BaseType)
                    foreach (FieldInfo f in t.GetFields(any | BindingFlags.DeclaredOnly))
                        Assert.False(typeof(Oracle).IsAssignableFrom(f.FieldType) || typeof(GroundTruth).IsAssignableFrom(f.FieldType),
                            $"{type.Name}.{f.Name} holds a {f.FieldType.Name}: protocol code could read the ground truth");
            }
        }
    }
}

/// <summary>
/// Memory: what a built run keeps is within what the runner estimated for it before building, which is what the memory
/// check that refuses too large a run relies on. Measured as the managed heap retained after a full collection, so it
/// runs alone (no other test allocates meanwhile).
/// </summary>
[Collection("Console")]
public class ConformanceMemoryTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (OverlayInfo o in OverlayRegistry.All)
            {
                data.Add(o.Name, "");
                if (o.ChurnVariant.Count > 0) data.Add(o.Name, string.Join(", ", o.ChurnVariant.Select(kv => $"{kv.Key}: {kv.Value}")));
            }
            // CAN's state grows with d and r, and peers share a zone's neighbours.
            data.Add("can", "dimensions: 6, realities: 3");
            data.Add("can", "dimensions: 10, max_peers: 4, rtt_weighted: true, partition: uniform");
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ABuiltRunKeepsNoMoreThanItsEstimate(string overlay, string parameters)
    {
        const int nodes = 20_000;
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", $$"""
            nodes: {{nodes}}
            {{(parameters.Length > 0 ? "duration: 1min" : "")}}
            latency: { model: coordinates, dimensions: 2, mean: 30ms }
            workload: { lookups: 20000, keys: 20000 }
            overlays:
              - {{overlay}}: { {{parameters}} }
            """);
        PlannedRun plan = Runner.Plan(ScenarioLoader.Load(path))[0];
        long estimate = Runner.EstimateBytes(plan) - Runner.RuntimeBytes;

        // Built twice and the larger measurement kept: memory that something else in the process lets go meanwhile (a
        // finished test's last objects, finalizers) can only make one measurement smaller. Seen once in CI: napster
        // measured 3.0 MB where it keeps 7.2.
        long kept = 0;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long before = GC.GetTotalMemory(forceFullCollection: true);
            SimulationRun run = Experiment.Build(Runner.ToSpec(plan));
            kept = Math.Max(kept, GC.GetTotalMemory(forceFullCollection: true) - before);
            GC.KeepAlive(run);
        }
        output.WriteLine($"{overlay} {parameters}: kept {kept / 1e6:0.00} MB, estimated {estimate / 1e6:0.00} MB ({(double)estimate / kept:0.00}x)");

        Assert.True(kept <= estimate, $"{overlay} {parameters}: the built run keeps {kept / 1e6:0.0} MB, more than its estimate of {estimate / 1e6:0.0} MB");
        // The estimate is a bound, not a guess far above: measured 1.05 to 1.36 times what is kept (it also covers the
        // lookups' latencies, not there yet, and small temporaries of the build). An overlay whose build needs much for a
        // while (a graph generator) states it apart, and that part is not kept.
        long transient = (long)nodes * plan.Overlay.Info.BuildBytesPerNode(plan.Overlay.Options);
        Assert.True(estimate - transient <= 1.6 * kept, $"{overlay} {parameters}: estimate {(estimate - transient) / 1e6:0.0} MB (and {transient / 1e6:0.0} MB for the build) for {kept / 1e6:0.0} MB kept");
    }
}
