using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// CAN's protocol under churn: every churn model is survived without a leak; once churn stops the live nodes' zones
/// tile the torus exactly and every node's neighbours are exactly the zones that abut its own; a crashed node's zone
/// is taken over; runs are determined by their seed; without churn it routes as the static model.
/// </summary>
public class CanChurnTests
{
    /// <summary>Updates every 5 s, as FastChord and FastPastry, so that a few minutes are many rounds.</summary>
    private static CanOptions FastCan(int dimensions = 2) => new()
    {
        Protocol = OverlayProtocol.Dynamic,
        Dimensions = dimensions,
        UpdateEvery = 5 * Second,
        TakeoverDelay = Second,
        RpcTimeout = 500_000,
        LookupTimeout = 30 * Second,
    };

    private static RunSpec CanSpec(int nodes, ChurnOptions churn, long duration, long lookupsFrom, long lookupsUntil,
        CanOptions? options = null, double perNodeRate = 0.1, long seed = 11)
    {
        CanOptions o = options ?? FastCan();
        return Spec(nodes, churn, duration, lookupsFrom, lookupsUntil, perNodeRate, seed: seed, overlay: () => new CanProtocol(o));
    }

    public static TheoryData<string> Models => ProtocolModels;

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryChurnModelIsSurvivedAndNothingLeaks(string model)
    {
        ChurnOptions churn = ProtocolModel(model);
        SimulationRun run = Experiment.Build(CanSpec(300, churn, duration: 8 * Minute, lookupsFrom: 30 * Second, lookupsUntil: 8 * Minute));
        Network net = run.Net;
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);

        Assert.True(r.Crashes > 0, $"{model}: no crash");
        Assert.True(churn.Kind == ChurnKind.MassFailure || r.Joins > 0, $"{model}: no join");
        Assert.Equal(8 * Minute, net.Sim.Now);
        Assert.True(r.Lookups > 1000, $"{model}: only {r.Lookups} lookups measured");
        ChurnSurvivalTests.AssertNothingLeaked(run, r);
        OverlaySim.Tests.Overlays.ConformanceTests.Drain(run);
        OverlaySim.Tests.Overlays.ConformanceTests.AssertDrained(run);
    }

    /// <summary>
    /// Joins, leaves, crashes and rejoins during the first 4 minutes, then none: by 7 minutes (36 update rounds later)
    /// the live joined nodes' zones tile the torus (no zone unowned, none claimed twice), no node that has gone holds
    /// a zone, every node's neighbour entries are exactly the zones that abut its own with their holders, and every
    /// lookup of the last minute is answered by the holder of the key's point.
    /// </summary>
    [Theory]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(2, false)]   // rejoins under the same ordinal: the neighbours must see that the node they knew is gone
    public void AfterChurnStopsZonesTileTheTorusAndNeighboursAreExact(int dimensions, bool newIds)
    {
        var churn = new ChurnOptions(ChurnKind.Trace, Trace: Trace(400, joins: 120, leaves: 60, crashes: 60, rejoins: 30, 10 * Second, 4 * Minute, seed: newIds ? 5UL : 6UL))
        {
            NewIdOnRejoin = newIds,
        };
        SimulationRun run = Experiment.Build(CanSpec(400, churn, duration: 8 * Minute, lookupsFrom: 7 * Minute, lookupsUntil: 8 * Minute, FastCan(dimensions)));
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        var can = (CanProtocol)run.Overlay;
        Network net = run.Net;
        Assert.True(r.Crashes >= 60 && r.Leaves >= 60 && r.Joins >= 150, $"{r.Crashes} crashes, {r.Leaves} leaves, {r.Joins} joins");

        var zones = new List<(ulong Code, int Node)>();
        for (int i = 0; i < net.Nodes.LiveCount; i++)
        {
            int n = net.Nodes.LiveAt(i);
            foreach (ulong code in can.ZonesOf(n)) zones.Add((code, n));
        }
        List<string> tiling = TilingProblems(zones);
        Assert.True(tiling.Count == 0, string.Join("; ", tiling));
        Assert.True(net.Nodes.LiveCount > 350, $"{net.Nodes.LiveCount} live");
        Assert.Equal(net.Nodes.LiveCount, zones.Select(z => z.Node).Distinct().Count()); // every live node holds a zone

        CanGeometry g = can.Geometry;
        for (int i = 0; i < net.Nodes.LiveCount; i++)
        {
            int n = net.Nodes.LiveAt(i);
            var expected = zones.Where(z => z.Node != n && can.ZonesOf(n).ToArray().Any(own => g.Abuts(own, z.Code))).OrderBy(z => z).ToList();
            var actual = can.NeighboursOf(n).OrderBy(z => z).ToList();
            Assert.True(expected.SequenceEqual(actual),
                $"node {n}: neighbours [{string.Join(", ", actual.Select(z => $"{z.Code:x}@{z.Node}"))}], the zones abutting it are [{string.Join(", ", expected.Select(z => $"{z.Code:x}@{z.Node}"))}]");
        }

        // Keys moved with their zones: every key that survived is held by the node whose zone holds its point, and only by it.
        KeyStore store = can.Store!;
        Span<ulong> point = stackalloc ulong[dimensions];
        int survived = 0;
        for (int key = 0; key < net.Keys.Length; key++)
        {
            if (store.IsLost(key)) continue;
            survived++;
            Can.KeyPoint(net.Keys[key], 0, point);
            ulong x = g.Interleave(point);
            int owner = zones.Single(z => CanGeometry.Contains(z.Code, x)).Node;
            Assert.True(store.HolderCount(key) == 1 && store.Holds(owner, key), $"key {key}: {store.HolderCount(key)} copies, the owner {owner} has {(store.Holds(owner, key) ? "one" : "none")}");
        }
        Assert.True(survived > net.Keys.Length * 3 / 4, $"only {survived} keys survived 60 crashes of 400 nodes");
        Assert.True(survived < net.Keys.Length, "no key was lost, though crashes lose the keys of one copy");

        Assert.True(r.Lookups > 1000, $"only {r.Lookups} lookups");
        Assert.Equal(0, r.LookupsWrong + r.LookupsFailed);
    }

    /// <summary>Whether zones tile the torus: as intervals of the interleaved order (one per zone), sorted, they must meet end to end from 0 to 2^64.</summary>
    internal static List<string> TilingProblems(List<(ulong Code, int Node)> zones)
    {
        var problems = new List<string>();
        var sorted = zones.OrderBy(z => CanGeometry.Path(z.Code)).ToList();
        UInt128 next = 0;
        ulong last = 0;
        int lastNode = -1;
        foreach (var (code, node) in sorted)
        {
            UInt128 start = CanGeometry.Path(code), length = (UInt128)1 << (64 - CanGeometry.Depth(code));
            if (start > next) problems.Add($"unowned: [{next:x}, {start:x}) before the zone {code:x} of node {node}");
            if (start < next) problems.Add($"claimed twice: the zone {code:x} of node {node} starts at {start:x}, before {next:x}, the end of {last:x} of node {lastNode}");
            (last, lastNode) = (code, node);
            next = UInt128.Max(next, start + length);
            if (problems.Count > 10) break;
        }
        if (next != (UInt128)1 << 64 && problems.Count <= 10) problems.Add($"unowned: [{next:x}, 2^64)");
        return problems;
    }

    /// <summary>
    /// One node of 64 crashes and nothing else happens: its neighbours find it dead at their next update, the one whose
    /// timer fires first claims its zone, and then the zones again tile the torus, one of them merged back with its
    /// sibling or held beside another by the node that took it over, which was one of the dead node's neighbours.
    /// </summary>
    /// <remarks>With <paramref name="comesBack"/>, the machine rejoins under the same ordinal half a second later, before
    /// any neighbour's update could have found it dead: its neighbours must tell the new incarnation from the old.</remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ACrashedNodesZoneIsTakenOverByANeighbour(bool comesBack)
    {
        List<ChurnTraceEvent> trace = [new ChurnTraceEvent(Minute, 17, ChurnAction.Crash)];
        if (comesBack) trace.Add(new ChurnTraceEvent(Minute + 500_000, 17, ChurnAction.Join));
        var churn = new ChurnOptions(ChurnKind.Trace, Trace: trace) { NewIdOnRejoin = false };
        SimulationRun run = Experiment.Build(CanSpec(64, churn, duration: 3 * Minute, lookupsFrom: 2 * Minute, lookupsUntil: 3 * Minute));
        var can = (CanProtocol)run.Overlay;
        Network net = run.Net;
        net.Sim.Run(Minute - 1);
        ulong dead = Assert.Single(can.ZonesOf(17).ToArray());
        var neighbours = can.NeighboursOf(17).Select(z => z.Node).Distinct().ToHashSet();
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);

        var zones = new List<(ulong Code, int Node)>();
        for (int i = 0; i < net.Nodes.LiveCount; i++)
            foreach (ulong code in can.ZonesOf(net.Nodes.LiveAt(i))) zones.Add((code, net.Nodes.LiveAt(i)));
        List<string> tiling = TilingProblems(zones);
        Assert.True(tiling.Count == 0, string.Join("; ", tiling));
        var heirs = zones.Where(z => CanGeometry.Overlaps(z.Code, dead)).ToList();
        Assert.All(heirs, h => Assert.True(neighbours.Contains(h.Node) || (comesBack && h.Node == 17), $"zone {h.Code:x} of the dead one's went to {h.Node}"));
        if (!comesBack) Assert.Single(heirs);
        Assert.Equal(r.Lookups, r.LookupsOk);
    }

    /// <summary>Without churn the protocol starts from the static model's zones and routes every lookup as it does: the same hop counts.</summary>
    [Fact]
    public void WithoutChurnTheProtocolRoutesAsTheStaticModel()
    {
        RunResult Run(string protocol)
        {
            SimulationRun run = OverlaySim.Tests.Overlays.ConformanceTests.Build("can", $"protocol: {protocol}", nodes: 3000, extra: "duration: 2min",
                workload: "{ lookups: 5000, keys: 3000, rate: 100/s }");
            Experiment.Simulate(run);
            return Experiment.Summarize(run);
        }
        RunResult built = Run("static"), protocol = Run("dynamic");
        Assert.Equal(5000, protocol.Lookups);
        Assert.Equal(protocol.Lookups, protocol.LookupsOk);
        Assert.Equal(built.HopHistogram, protocol.HopHistogram);
        Assert.Equal(built.Metric("neighbours_mean"), protocol.Metric("neighbours_mean"));
    }

    [Fact]
    public void TheSameSeedGivesTheSameChurnRun()
    {
        ChurnOptions churn = ProtocolModel("lifetime-exponential");
        RunResult Run(long seed)
        {
            SimulationRun run = Experiment.Build(CanSpec(200, churn, duration: 4 * Minute, lookupsFrom: 30 * Second, lookupsUntil: 4 * Minute, seed: seed));
            Experiment.Simulate(run);
            return Experiment.Summarize(run);
        }
        RunResult a = Run(11), b = Run(11), c = Run(12);
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(a.HopHistogram, b.HopHistogram);
        Assert.NotEqual(a.TraceHash, c.TraceHash);
    }
}
