using OverlaySim.Core;
using OverlaySim.Scenarios;
using Xunit;

namespace OverlaySim.Tests.Golden;

/// <summary>
/// Golden trace hashes: small scenarios (in this folder) whose every dispatched event is folded into one 64-bit hash.
/// A change that moves a single event of these runs changes a hash, and shows here in one line. When a change is meant
/// to move them (a protocol fix, a new event), take the new hashes from the failure messages and say why in the commit.
/// </summary>
/// <remarks>
/// What they cover: static Chord (with virtual nodes, without a successor list), dynamic Chord under lifetime churn
/// (recursive with lazy timeouts, iterative with RTT timeouts, stored keys), a ring grown by joins under Poisson churn,
/// static Pastry (two digit sizes), Pastry's protocol under churn (stored keys; RTT timeouts, table probing, leaf-set repair only), static Kademlia (node and value lookups), dynamic Kademlia under churn (fixed and RTT timeouts, republish), Gnutella's
/// three searches on three graphs and a Napster index that fails for a while, and both their protocols under churn.
/// </remarks>
public class GoldenTraceTests
{
    [Theory]
    [InlineData("chord-static.yaml", "chord", "0a086a2e14437df5")]
    [InlineData("chord-static.yaml", "fingers-only", "d616757649eccfd5")]
    [InlineData("chord-churn.yaml", "chord", "15e86f02640580b7")]
    [InlineData("chord-churn.yaml", "iterative", "ecc51e946a0e2348")]
    [InlineData("chord-joins.yaml", "chord", "cd661ad392382f65")]
    [InlineData("kademlia.yaml", "kademlia", "3d1190921516b0db")]
    [InlineData("kademlia.yaml", "values", "2c2374e55844870a")]
    [InlineData("kademlia-churn.yaml", "kademlia", "3a73aa0f77589f50")]
    [InlineData("kademlia-churn.yaml", "values", "5ee4ca5d03b04508")]
    [InlineData("pastry-static.yaml", "pastry", "969dd2c9cda1a215")]
    [InlineData("pastry-static.yaml", "b2", "c4fc9c2ba627013d")]
    [InlineData("pastry-churn.yaml", "pastry", "a335cb7b5692d67c")]
    [InlineData("pastry-churn.yaml", "probed", "94e3470660477c16")]
    [InlineData("can-static.yaml", "can", "1db10b6c8c935e55")]
    [InlineData("can-static.yaml", "knobs", "ffd0cc8409085823")]
    [InlineData("unstructured.yaml", "flood", "46d634fe12083c58")]
    [InlineData("unstructured.yaml", "ring", "01d06b9b6fba7b67")]
    [InlineData("unstructured.yaml", "walk", "09753785ea015c24")]
    [InlineData("unstructured.yaml", "napster", "679997a8e62b23d6")]
    [InlineData("unstructured-churn.yaml", "gnutella", "b331ae722ff348c8")]
    [InlineData("unstructured-churn.yaml", "napster", "42c51f1dbdf26a40")]
    public void TheTraceHashOfAGoldenRunIsUnchanged(string file, string overlay, string expected) => Check(file, overlay, expected, hopByHop: false);

    /// <summary>
    /// The static runs again with every hop of a lookup simulated as an event (as in a run with an end), where the plain
    /// run routes each lookup whole when it begins (Network.RoutesAhead).
    /// </summary>
    [Theory]
    [InlineData("chord-static.yaml", "chord", "0446431bbf9a8476")]
    [InlineData("chord-static.yaml", "fingers-only", "d8dcf5d31cba1136")]
    [InlineData("kademlia.yaml", "kademlia", "9450f7c881c6ec96")]
    public void TheTraceHashOfAGoldenRunHopByHopIsUnchanged(string file, string overlay, string expected) => Check(file, overlay, expected, hopByHop: true);

    private static void Check(string file, string overlay, string expected, bool hopByHop)
    {
        Scenario scenario = ScenarioLoader.Load(Path.Combine(AppContext.BaseDirectory, "Golden", file));
        PlannedRun plan = Runner.Plan(scenario).Single(p => p.Overlay.Label == overlay);

        RunResult r = Experiment.Run(Runner.ToSpec(plan) with { HopByHop = hopByHop });

        Assert.True(expected == OverlaySim.Output.CsvResults.Hash(r.TraceHash),
            $"{file} ({overlay}): trace hash {OverlaySim.Output.CsvResults.Hash(r.TraceHash)}, expected {expected} ({r.Events} events, {r.LookupsOk}/{r.Lookups} ok)");
    }
}
