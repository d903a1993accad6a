using MathNet.Numerics.Distributions;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Tests.Churn;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>The unstructured overlay: floods against graph theory, the generators' degree laws, walks, rings and churn.</summary>
public class GnutellaTests
{
    private static SimulationRun Build(string parameters, int nodes, string workload = "{ lookups: 0, keys: 100, replication: uniform, replicas: 1 }", string extra = "") =>
        ConformanceTests.Build("gnutella", parameters, nodes: nodes, workload: workload, extra: extra);

    private static Gnutella Overlay(SimulationRun run) => (Gnutella)run.Overlay;

    /// <summary>Runs one query of key <paramref name="key"/> from <paramref name="origin"/> to its end; returns its (visited, duplicates, hits).</summary>
    private static (long Visited, long Duplicates, long Hits, RunResult Result) OneQuery(SimulationRun run, int origin, int key)
    {
        run.Net.Sim.Queue.Bound = null;
        int slot = run.Net.Lookups.BeginUser(origin, key);
        run.Overlay.StartLookup(slot);
        run.Net.Sim.Run();
        RunResult r = Experiment.Summarize(run);
        return ((long)r.Metric("visited_mean")!, (long)r.Metric("duplicates_mean")!, (long)r.Metric("hits_mean")!, r);
    }

    /// <summary>A key the node does not hold, so that the query leaves it.</summary>
    private static int KeyNotHeldBy(SimulationRun run, int node)
    {
        for (int k = 0; ; k++)
            if (!run.Net.KeyStore!.NodeHolds(node, k)) return k;
    }

    private static int Edges(Gnutella g, SimulationRun run)
    {
        long entries = 0;
        for (int i = 0; i < run.Net.Nodes.LiveCount; i++) entries += g.Degree(run.Net.Nodes.LiveAt(i));
        return (int)(entries / 2);
    }

    [Theory]
    [InlineData("graph: preferential, attach: 2", 2000)]
    [InlineData("graph: preferential, attach: 3", 500)]
    [InlineData("graph: tree, degree: 4", 1000)]
    public void AFullFloodOfAConnectedGraphSendsTwoEMinusNMinusOneQueriesAndReachesEveryNode(string graph, int n)
    {
        // Preferential attachment and trees are connected by construction; TTL 255 exceeds their diameter. Each node
        // forwards once, to all neighbours but the sender: the origin deg(o), the others deg(v) − 1, in all 2|E| − (N − 1).
        SimulationRun run = Build(graph + ", ttl: 255", n);
        Gnutella g = Overlay(run);
        int origin = run.Net.Nodes.LiveAt(7);
        var (visited, duplicates, hits, r) = OneQuery(run, origin, KeyNotHeldBy(run, origin));

        long queries = 2L * Edges(g, run) - (n - 1);
        Assert.Equal(n - 1, visited);
        Assert.Equal(queries, visited + duplicates); // every copy is a first arrival or a duplicate
        Assert.Equal(1, hits);                         // replicas: 1, and the origin is not the holder
        // The one hit came back along the reverse path: as many messages as the hop count.
        Assert.Equal(queries + r.HopsMean, r.MsgsPerLookup);
        Assert.Equal(1, r.LookupsOk);
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(3, 4)]
    [InlineData(3, 7)]
    [InlineData(4, 2)]
    [InlineData(4, 5)]
    [InlineData(6, 3)]
    public void OnATreeOfDegreeDAFloodOfTtlTFromTheRootReachesExactlyTheBall(int d, int ttl)
    {
        // Deep enough that the ball of radius T around the root is complete: more nodes than it holds.
        long ball = d * ((long)Math.Pow(d - 1, ttl) - 1) / (d - 2);
        int n = (int)Math.Min(200_000, 4 * ball + 10);
        SimulationRun run = Build($"graph: tree, degree: {d}, ttl: {ttl}", n);
        int root = run.Oracle.SortedNodes[0]; // vertex 0 of the tree is the first node in id order
        Assert.Equal(d, run.Overlay.Degree(root));
        var (visited, duplicates, _, _) = OneQuery(run, root, KeyNotHeldBy(run, root));
        Assert.Equal(ball, visited);
        Assert.Equal(0, duplicates); // a tree has no second path
    }

    [Fact]
    public void ARegularGraphIsSimpleAndEveryDegreeIsD()
    {
        foreach (int d in new[] { 3, 4, 10 })
        {
            var rng = new Xoshiro256((ulong)d);
            EdgeList g = GraphGenerators.Regular(5000, d, ref rng);
            AssertSimple(g);
            Assert.All(g.Degrees(), k => Assert.Equal(d, k));
        }
    }

    [Fact]
    public void ARegularGraphOnAnOddCountGivesOneNodeOneNeighbourLessAndBeyondItTheCompleteGraph()
    {
        // Under churn the graph is built over the nodes up at time 0, whose count is drawn: 485 × 3 is odd.
        var rng = new Xoshiro256(5);
        EdgeList g = GraphGenerators.Regular(485, 3, ref rng);
        AssertSimple(g);
        int[] degrees = g.Degrees();
        Assert.Equal(484, degrees.Count(k => k == 3));
        Assert.Equal(2, degrees[484]);
        for (int n = 2; n <= 20; n++)
        {
            EdgeList complete = GraphGenerators.Regular(n, n - 1, ref rng);
            Assert.Equal(n * (n - 1) / 2, complete.Count);
            AssertSimple(complete);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AGraphBuiltOverTheNodesUpAtTimeZeroUnderChurnAlwaysExists(int replicate)
    {
        // Lifetime churn starts about half of the 1,000 machines down, a count drawn per replicate: odd ones among them.
        SimulationRun run = ConformanceTests.Build("gnutella", "protocol: dynamic, graph: regular, degree: 3, ttl: 4", nodes: 1000, replicate: replicate,
            workload: "{ per_node_rate: 1/60s, duration: 2min, keys: 100, replication: uniform, replicas: 2 }",
            extra: "duration: 2min\nchurn: { model: lifetime, session_mean: 10min, downtime_mean: 10min }");
        Experiment.Simulate(run);
        Assert.True(Experiment.Summarize(run).Lookups > 0);
    }

    [Fact]
    public void ARandomGraphHasExactlyNdOverTwoEdgesAndPoissonDegrees()
    {
        var rng = new Xoshiro256(11);
        const int n = 50_000;
        EdgeList g = GraphGenerators.Random(n, 4, ref rng);
        AssertSimple(g);
        Assert.Equal(n * 2, g.Count);
        // Degrees are Binomial(n−1, p) ≈ Poisson(4): a chi-square test over k = 0..10 and the tail.
        AssertChiSquare(g.Degrees(), 0, 10, k => Poisson.PMF(4, k));
    }

    [Fact]
    public void APowerLawGraphFollowsItsExponentAtTheDegreesWhereFewEdgesAreErased()
    {
        var rng = new Xoshiro256(12);
        const int n = 100_000;
        const double gamma = 2.5;
        int kMax = (int)Math.Sqrt(n);
        EdgeList g = GraphGenerators.PowerLaw(n, gamma, 2, kMax, ref rng);
        AssertSimple(g);
        double z = 0;
        for (int k = 2; k <= kMax; k++) z += Math.Pow(k, -gamma);
        // The erased configuration model removes a share of about k·(mean excess degree)/(2|E|) of a node's stubs
        // as self-loops and repeats, negligible for the small degrees tested here (2..8 and the tail hold 97% of nodes).
        AssertChiSquare(g.Degrees(), 2, 8, k => k < 2 || k > kMax ? 0 : Math.Pow(k, -gamma) / z);
    }

    [Fact]
    public void PreferentialAttachmentGivesTheBarabasiAlbertDegreeLaw()
    {
        var rng = new Xoshiro256(13);
        const int n = 100_000, m = 3;
        EdgeList g = GraphGenerators.Preferential(n, m, ref rng);
        AssertSimple(g);
        Assert.Equal(m * (m + 1) / 2 + (n - m - 1) * m, g.Count);
        // P(k) = 2m(m+1) / (k(k+1)(k+2)) for k ≥ m (Bollobás et al.'s exact limit of the linear model).
        AssertChiSquare(g.Degrees(), m, m + 12, k => k < m ? 0 : 2.0 * m * (m + 1) / ((double)k * (k + 1) * (k + 2)));
    }

    [Fact]
    public void TwoTiersLinkEveryLeafToItsUltrapeersOnly()
    {
        SimulationRun run = Build("graph: two_tier, degree: 6, ultrapeer_fraction: 0.1, leaf_links: 3", 3000);
        Gnutella g = Overlay(run);
        int ultrapeers = 0;
        for (int i = 0; i < run.Net.Nodes.LiveCount; i++)
        {
            int v = run.Net.Nodes.LiveAt(i);
            ReadOnlySpan<int> nbrs = g.Graph.Of(v);
            if (g.IsUltrapeer(v))
            {
                ultrapeers++;
                int mesh = 0;
                foreach (int w in nbrs) if (g.IsUltrapeer(w)) mesh++;
                Assert.Equal(6, mesh);
                continue;
            }
            Assert.Equal(3, nbrs.Length);
            foreach (int w in nbrs) Assert.True(g.IsUltrapeer(w), $"leaf {v} is linked to leaf {w}");
        }
        Assert.Equal(300, ultrapeers);
    }

    [Fact]
    public void AWalkNeverExceedsItsTtlAndWalkersCheckBack()
    {
        const int ttl = 12, walkers = 8;
        SimulationRun run = Build($"graph: random, degree: 5, search: random_walk, walkers: {walkers}, walk_ttl: {ttl}, check_every: 4", 5000,
            workload: "{ lookups: 2000, keys: 200, replication: uniform, replicas: 20 }");
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.True(r.HopsMax <= ttl, $"a hit after {r.HopsMax} steps with walk_ttl {ttl}");
        Assert.True(r.LookupsOk > 0 && r.LookupsFailed > 0, $"{r.LookupsOk} ok, {r.LookupsFailed} failed: the test should see both");
        // Per walker at most ttl steps, a check-back and its answer every 4 steps, and one hit: a bound on messages.
        Assert.True(r.MsgsPerLookup <= walkers * (ttl + 2 * (ttl / 4) + 1), $"{r.MsgsPerLookup} messages per query");
        Assert.Equal(0, r.LookupsWrong);
    }

    [Fact]
    public void AnExpandingRingFindsWhatTheFloodOfItsLastTtlFindsForFewerMessagesOnPopularItems()
    {
        RunResult Run(string search)
        {
            SimulationRun run = Build("graph: random, degree: 4, " + search, 5000,
                workload: "{ lookups: 1000, keys: 100, replication: uniform, replicas: 50 }");
            Experiment.Simulate(run);
            return Experiment.Summarize(run);
        }
        RunResult flood = Run("ttl: 6"), ring = Run("search: expanding_ring, rings: \"1,2,3,6\"");
        // The same graph, placement and queries: on a static graph ring 6 reaches what the flood does.
        Assert.Equal(flood.LookupsOk, ring.LookupsOk);
        // With 1% of the nodes holding each item most queries stop at ring 3 or earlier (Lv et al.: measured 1,540 against
        // 3,674 messages here): the queries that stop early save more than the repeated rings of the others cost.
        Assert.True(ring.MsgsPerLookup < flood.MsgsPerLookup, $"ring {ring.MsgsPerLookup} messages, flood {flood.MsgsPerLookup}");
        // Every path the last ring explores the flood explored from the start, so no query is answered sooner by the
        // ring: it pays for its savings in latency (the waits for the earlier rings to die out).
        Assert.True(ring.LatencyMeanMs > flood.LatencyMeanMs, $"ring {ring.LatencyMeanMs} ms, flood {flood.LatencyMeanMs} ms");
    }

    [Fact]
    public void AnOverlayGrownByJoinsIsConnectedAndFloodsReachEveryItem()
    {
        // 500 nodes join over a minute with 2 links each (to nodes already in: connected by construction); queries
        // from 2 minutes on with a TTL beyond any path find every item (one copy each).
        SimulationRun run = Build("protocol: dynamic, start: joins, join_over: 60s, attach: 2, ttl: 255", 500,
            workload: "{ lookups: 1000, rate: 100/s, start: 2min, keys: 100, replication: uniform, replicas: 1 }", extra: "duration: 3min");
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.Equal(500, run.Oracle.Count); // every node's join completed
        Assert.Equal(r.Lookups, r.LookupsOk);
        // Every query that left its origin reached every other node (one answered at home, at 0 hops, reached none).
        long local = r.HopHistogram[0];
        Assert.Equal(499.0 * (r.Lookups - local) / r.Lookups, r.Metric("visited_mean")!.Value, 9);
        // Each join adds up to 2 links (a repeat draw of the same node adds one): a mean degree just under 4.
        Assert.InRange(r.DegreeMean, 3.5, 4.0);
    }

    [Fact]
    public void AfterChurnStopsEveryLiveNodeForgetsItsDeadNeighbours()
    {
        // Lifetime churn with crashes and leaves for 20 minutes; then 3 ping periods without churn.
        SimulationRun run = Build("protocol: dynamic, ping_every: 20s", 400,
            workload: "{ per_node_rate: 1/60s, duration: 20min, keys: 100, replication: uniform, replicas: 5 }",
            extra: "duration: 30min\nchurn: { model: lifetime, session_mean: 5min, downtime_mean: 5min, leave_fraction: 0.5 }");
        run.Net.Sim.Queue.Bound = null;
        Experiment.Simulate(run);
        Assert.True(run.Churn!.Crashes > 100 && run.Churn.Leaves > 100);
        run.Churn.Stop();
        run.Net.Sim.Run(run.Net.Sim.Now + 60_000_000);
        Gnutella g = Overlay(run);
        int isolated = 0;
        for (int i = 0; i < run.Net.Nodes.LiveCount; i++)
        {
            int v = run.Net.Nodes.LiveAt(i);
            foreach (int w in g.Graph.Of(v)) Assert.True(run.Net.Nodes.IsAlive(w), $"live node {v} still lists dead node {w}");
            if (g.Degree(v) == 0) isolated++;
        }
        Assert.Equal(0, isolated);
    }

    [Fact]
    public void ANodeThatComesBackWithTheSameOrdinalLeavesNoOneWayLinkBehind()
    {
        // Crashes only, 10-second downtimes, the same ordinal on rejoin: a neighbour's next ping reaches the node alive
        // again, which no longer lists it, and is answered with Bye. After the churn stops, every link is two-way.
        SimulationRun run = Build("protocol: dynamic, ping_every: 20s", 400,
            workload: "{ per_node_rate: 1/60s, duration: 20min, keys: 100, replication: uniform, replicas: 5 }",
            extra: "duration: 20min\nchurn: { model: lifetime, session_mean: 5min, downtime_mean: 10s, leave_fraction: 0, new_id_on_rejoin: false }");
        run.Net.Sim.Queue.Bound = null;
        Experiment.Simulate(run);
        Assert.True(run.Churn!.Crashes > 500, $"{run.Churn.Crashes} crashes");
        run.Churn.Stop();
        run.Net.Sim.Run(run.Net.Sim.Now + 120_000_000);
        Gnutella g = Overlay(run);
        int links = 0;
        for (int i = 0; i < run.Net.Nodes.LiveCount; i++)
        {
            int v = run.Net.Nodes.LiveAt(i);
            foreach (int w in g.Graph.Of(v))
            {
                links++;
                Assert.True(g.Graph.Contains(w, v), $"{v} lists {w}, which does not list it");
            }
        }
        Assert.True(links > 1000, $"{links} link ends");
    }

    private static void AssertSimple(EdgeList g)
    {
        var seen = new HashSet<(int, int)>();
        for (int i = 0; i < g.Count; i++)
        {
            Assert.NotEqual(g.U(i), g.V(i));
            Assert.True(seen.Add((Math.Min(g.U(i), g.V(i)), Math.Max(g.U(i), g.V(i)))), "an edge appears twice");
        }
    }

    /// <summary>
    /// Pearson's chi-square test of the degrees against <paramref name="pmf"/>: one bin per degree in [from, to] and one for
    /// the rest (its probability the remainder), failing at significance <see cref="GoodnessOfFit.Alpha"/>.
    /// </summary>
    private static void AssertChiSquare(int[] degrees, int from, int to, Func<int, double> pmf)
    {
        int n = degrees.Length;
        var observed = new long[to - from + 2];
        foreach (int k in degrees) observed[k >= from && k <= to ? k - from : ^1]++;
        double chi = 0, inBins = 0;
        for (int k = from; k <= to; k++)
        {
            double p = pmf(k);
            inBins += p;
            chi += Math.Pow(observed[k - from] - n * p, 2) / (n * p);
        }
        double rest = Math.Max(1e-12, 1 - inBins);
        chi += Math.Pow(observed[^1] - n * rest, 2) / (n * rest);
        int dof = to - from + 1;
        double critical = ChiSquared.InvCDF(dof, 1 - GoodnessOfFit.Alpha);
        Assert.True(chi <= critical, $"chi-square {chi:0.0} > {critical:0.0} ({dof} degrees of freedom): observed {string.Join(",", observed)}");
    }
}
