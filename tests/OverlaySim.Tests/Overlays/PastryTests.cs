using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>
/// Static Pastry (Middleware 2001): the routing table and leaf set are those of a converged network, with proximity
/// neighbour selection, and every lookup ends at the numerically closest node within ⌈log_{2^b} N⌉ + 1 hops.
/// </summary>
public class PastryTests
{
    private static SimulationRun Build(int nodes, int idBits, string parameters, string workload = "{ lookups: 4000, keys: 3000 }") =>
        ConformanceTests.Build("pastry", parameters, nodes, idBits, workload: workload);

    /// <summary>Digit i of a 64-bit id of <paramref name="bits"/> bits read as digits of b bits (the last one padded below).</summary>
    private static int Digit(ulong id, int i, int bits, int b)
    {
        int padded = (bits + b - 1) / b * b;
        ulong aligned = id << (padded - bits);
        return (int)((aligned >> (padded - b * (i + 1))) & ((1UL << b) - 1));
    }

    private static int Shared(ulong x, ulong y, int bits, int b)
    {
        int digits = (bits + b - 1) / b, i = 0;
        while (i < digits && Digit(x, i, bits, b) == Digit(y, i, bits, b)) i++;
        return i;
    }

    [Theory]
    [InlineData(2000, 32, 4)]
    [InlineData(1500, 30, 4)]   // b does not divide id_bits: a shorter last digit
    [InlineData(1200, 24, 3)]
    public void EveryEntrySharesExactlyItsRowsDigitsAndIsTheNearestCandidate(int nodes, int idBits, int b)
    {
        // 65536 samples examine every candidate at these sizes: each entry is the nearest of all nodes with its prefix.
        SimulationRun run = Build(nodes, idBits, $"b: {b}, leaf_set: 8, proximity_samples: 65536");
        var pastry = (Pastry)run.Overlay;
        Network net = run.Net;
        int cols = 1 << b;
        ulong[] ids = net.Nodes.Ids.Select(id => id.Lo).ToArray();
        int filled = 0;
        for (int n = 0; n < nodes; n++)
        {
            for (int i = 0; i < pastry.RowsKept; i++)
            {
                int own = Digit(ids[n], i, idBits, b);
                for (int j = 0; j < cols; j++)
                {
                    int e = pastry.Entry(n, i, j);
                    if (j == own)
                    {
                        Assert.Equal(-1, e);
                        continue;
                    }
                    var candidates = Enumerable.Range(0, nodes).Where(m => Shared(ids[m], ids[n], idBits, b) >= i && Digit(ids[m], i, idBits, b) == j).ToList();
                    if (candidates.Count == 0)
                    {
                        Assert.Equal(-1, e);
                        continue;
                    }
                    filled++;
                    Assert.True(e >= 0, $"node {n} row {i} column {j}: empty, but {candidates.Count} nodes have that prefix");
                    Assert.Equal(i, Shared(ids[e], ids[n], idBits, b));
                    Assert.Equal(j, Digit(ids[e], i, idBits, b));
                    Assert.Equal(candidates.Min(m => net.Transport.OneWay(n, m)), net.Transport.OneWay(n, e));
                }
            }
        }
        Assert.True(filled > nodes * (cols - 1), "the tables hold at least a full first row each");
    }

    [Theory]
    [InlineData(500, 16)]
    [InlineData(17, 16)]    // exactly |L| other nodes: all of them
    [InlineData(5, 16)]
    public void TheLeafSetIsTheHalfLNearestOnEachSide(int nodes, int leafSet)
    {
        SimulationRun run = Build(nodes, 160, $"leaf_set: {leafSet}");
        var pastry = (Pastry)run.Overlay;
        Oracle oracle = run.Net.Oracle;
        int half = leafSet / 2;
        for (int rank = 0; rank < nodes; rank++)
        {
            int node = oracle.AtRank(rank);
            int[] leaves = pastry.LeafSet(node).ToArray();
            // Each side holds the |L|/2 nearest in its direction; in a network of at most |L| + 1 nodes that is every
            // other node, on each side (so a node can be on both), and the rest of the side is empty.
            int side = Math.Min(half, nodes - 1);
            for (int j = 0; j < half; j++)
            {
                Assert.Equal(j < side ? oracle.AtRank(rank - 1 - j) : -1, leaves[j]);
                Assert.Equal(j < side ? oracle.AtRank(rank + 1 + j) : -1, leaves[half + j]);
            }
            if (nodes - 1 <= leafSet)
                Assert.Equal(Enumerable.Range(0, nodes).Where(m => m != node).Order(), leaves.Where(m => m >= 0).Distinct().Order());
        }
    }

    [Theory]
    [InlineData(3000, 160, 4, 16, "keys")]
    [InlineData(3000, 160, 4, 16, "nodes")]
    [InlineData(300, 10, 4, 16, "keys")]     // dense: 300 of 1024 ids, keys often equidistant from two nodes
    [InlineData(2000, 32, 2, 8, "keys")]
    [InlineData(2000, 64, 8, 4, "keys")]
    public void EveryStaticLookupEndsAtTheNumericallyClosestNodeWithinLogHops(int nodes, int idBits, int b, int leafSet, string targets)
    {
        SimulationRun run = Build(nodes, idBits, $"b: {b}, leaf_set: {leafSet}", $"{{ lookups: 5000, keys: 3000, targets: {targets} }}");
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.Equal(5000, r.Lookups);
        Assert.Equal(r.Lookups, r.LookupsOk);
        int bound = (int)Math.Ceiling(Math.Log(nodes) / Math.Log(1 << b)) + 1;
        Assert.True(r.HopsMax <= bound, $"longest route {r.HopsMax} hops; ⌈log_2^b N⌉ + 1 = {bound}");
    }

    /// <summary>
    /// The bound above needs a leaf set that reaches the last nodes sharing the key's prefix (about 2^b of them when the
    /// table runs out of entries). With |L| = 2 the rare case walks them one neighbour at a time: routes are still
    /// correct, the rare case is common, and some routes are longer than ⌈log_{2^b} N⌉ + 1.
    /// </summary>
    [Fact]
    public void WithATinyLeafSetTheRareCaseStillEndsEveryLookupCorrectly()
    {
        SimulationRun run = Build(4000, 160, "leaf_set: 2", "{ lookups: 5000, keys: 3000 }");
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.Equal(r.Lookups, r.LookupsOk);
        Assert.True(r.Metric("rare_hop_share") > 0.01, $"rare-case share {r.Metric("rare_hop_share")}");
    }

    [Fact]
    public void TheSameSeedBuildsTheSameTablesAndAnotherSeedOthers()
    {
        int[] Tables(int replicate)
        {
            SimulationRun run = ConformanceTests.Build("pastry", "proximity_samples: 4", 3000, 160, replicate: replicate);
            var pastry = (Pastry)run.Overlay;
            return [.. Enumerable.Range(0, 3000).SelectMany(n => Enumerable.Range(0, pastry.RowsKept).SelectMany(i => Enumerable.Range(0, 16).Select(j => pastry.Entry(n, i, j))))];
        }
        Assert.Equal(Tables(0), Tables(0));
        Assert.NotEqual(Tables(0), Tables(1));
    }

    [Fact]
    public void ProximityShortensRoutesAndMoreCandidatesShortenThemMore()
    {
        double Stretch(int samples)
        {
            SimulationRun run = Build(3000, 160, $"proximity_samples: {samples}", "{ lookups: 5000, targets: nodes }");
            Experiment.Simulate(run);
            return Experiment.Summarize(run).Metric("stretch_mean")!.Value;
        }
        double none = Stretch(0), some = Stretch(8), all = Stretch(65536);
        // Without proximity each hop crosses an average distance, so a route of about three hops is about three
        // direct distances long; with it the early hops, which have many candidates, become short.
        Assert.True(none > 2.5, $"stretch without proximity {none:0.00}");
        Assert.True(some < none && all < some, $"stretch: {none:0.00} without proximity, {some:0.00} with 8 candidates, {all:0.00} with all");
    }
}
