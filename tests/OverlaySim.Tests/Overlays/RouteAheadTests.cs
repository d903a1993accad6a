using OverlaySim.Core;
using OverlaySim.Output;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>
/// A lookup of the converged Chord ring, or a node lookup of the converged Kademlia buckets, routed whole when it begins
/// (<see cref="Network.RoutesAhead"/>) against the same run with every message simulated as an event
/// (<see cref="RunSpec.HopByHop"/>): every result file must be the same but for the count of events and the trace hash.
/// </summary>
public class RouteAheadTests
{
    [Theory]
    // Virtual nodes, no successor list, Zipf keys, coordinates with access links.
    [InlineData("""
        seed: 5
        nodes: 1000
        latency: { model: coordinates, dimensions: 2, mean: 40ms, access_min: 1ms, access_max: 4ms }
        workload: { lookups: 5000, keys: 2000, popularity: zipf, zipf_exponent: 0.8 }
        sample_every: 100ms
        overlays:
          - chord: { successors: 8 }
          - chord: { label: fingers-only, successors: 1, virtual_nodes: 4 }
        """)]
    // Every hop takes 3 µs and a row is sampled every 5 µs: about one answer in five arrives at the instant of a sample,
    // and one routed whole was scheduled before that sample's event, one routed hop by hop after it (its last hop came
    // less than 5 µs before). A warm-up leaves the first lookups unmeasured.
    [InlineData("""
        seed: 2
        nodes: 500
        id_bits: 20
        latency: { model: constant, delay: 3us }
        workload: { lookups: 3000, keys: 500, rate: 1000000 }
        sample_every: 5us
        measure_after: 500us
        overlays: [chord]
        """)]
    // Measured delays between PlanetLab hosts; lookups for node ids instead of keys.
    [InlineData("""
        seed: 9
        nodes: 800
        latency: { model: matrix, file: DATA/planetlab-490-rtt-ms.tsv }
        workload: { lookups: 4000, targets: nodes }
        sample_every: 2s
        overlays:
          - chord: { successors: 4 }
        """)]
    // Large enough (2^14 nodes and more) for lookups to be routed side by side in lanes, in chunks shared by two threads
    // where there are two cores; Zipf keys, so that many lookups of a chunk take the same route.
    [InlineData("""
        seed: 11
        nodes: 20000
        latency: { model: coordinates, dimensions: 2, mean: 50ms }
        workload: { lookups: 6000, keys: 3000, popularity: zipf, zipf_exponent: 1.1 }
        sample_every: 500ms
        measure_after: 1s
        overlays:
          - chord: { successors: 4 }
        """)]
    // Kademlia's node lookups run whole (Kademlia.Planned.cs): two shapes of k and α, access links, Zipf keys.
    [InlineData("""
        seed: 4
        nodes: 3000
        latency: { model: coordinates, dimensions: 2, mean: 40ms, access_min: 1ms, access_max: 4ms }
        workload: { lookups: 4000, keys: 2000, popularity: zipf, zipf_exponent: 0.8 }
        sample_every: 100ms
        overlays:
          - kademlia: { store_keys: false }
          - kademlia: { label: small, k: 6, alpha: 2, store_keys: false }
        """)]
    // Every message takes 3 µs: the replies of one round arrive at one instant, and their order is the order sent.
    [InlineData("""
        seed: 6
        nodes: 600
        id_bits: 24
        latency: { model: constant, delay: 3us }
        workload: { lookups: 3000, keys: 500, rate: 1000000 }
        sample_every: 5us
        measure_after: 500us
        overlays:
          - kademlia: { store_keys: false, lookup_timeout: 20ms }
        """)]
    // Measured delays: RPC timeouts shorter than some round trips and a deadline that some lookups reach leave those
    // lookups to the event queue, beside the others run whole.
    [InlineData("""
        seed: 8
        nodes: 900
        latency: { model: matrix, file: DATA/planetlab-490-rtt-ms.tsv }
        workload: { lookups: 3000, targets: nodes }
        sample_every: 2s
        overlays:
          - kademlia: { store_keys: false, rpc_timeout: 400ms, lookup_timeout: 1500ms }
        """)]
    public void RoutingWholeGivesTheResultsOfRoutingHopByHop(string yaml)
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", "name: ahead\n" + yaml.Replace("DATA", Path.Combine(Repository.Root, "data")));
        Scenario scenario = ScenarioLoader.Load(path);
        foreach (PlannedRun plan in Runner.Plan(scenario))
        {
            RunSpec spec = Runner.ToSpec(plan);
            SimulationRun ahead = Experiment.Build(spec);
            Experiment.Simulate(ahead);
            Assert.True(ahead.Net.RoutesAhead);
            RunResult routedWhole = Experiment.Summarize(ahead);
            RunResult hopByHop = Experiment.Run(spec with { HopByHop = true });

            Assert.True(routedWhole.Events < hopByHop.Events / 2, $"{routedWhole.Events} events routed whole, {hopByHop.Events} hop by hop");
            Assert.True(hopByHop.LookupsOk > 0);
            foreach (CsvResults.PerRunFile file in CsvResults.PerRunFiles)
            {
                var expected = CsvResults.RowsOf(scenario, file, new CompletedRun(plan, hopByHop, TimeSpan.Zero)).Select(r => Comparable(file, r)).ToList();
                var actual = CsvResults.RowsOf(scenario, file, new CompletedRun(plan, routedWhole, TimeSpan.Zero)).Select(r => Comparable(file, r)).ToList();
                Assert.Equal(expected, actual);
            }
        }
    }

    [Fact]
    public void ARunWithAnEndIsRoutedHopByHop()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            name: ended
            nodes: 300
            duration: 2s
            latency: { model: constant, delay: 10ms }
            workload: { lookups: 500, keys: 100 }
            overlays: [chord]
            """);
        SimulationRun run = Experiment.Build(Runner.ToSpec(Runner.Plan(ScenarioLoader.Load(path))[0]));
        Experiment.Simulate(run);
        Assert.False(run.Net.RoutesAhead);   // a lookup in flight at the end would have counted only the hops it made
    }

    /// <summary>A row as compared: runs.csv without its last two columns (events and trace hash), which differ.</summary>
    private static string Comparable(CsvResults.PerRunFile file, string[] row) =>
        string.Join(",", file == CsvResults.Runs ? row[..^2] : row);
}
