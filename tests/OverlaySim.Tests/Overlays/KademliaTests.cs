using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;
using Xunit.Abstractions;

namespace OverlaySim.Tests.Overlays;

public class KademliaTests(ITestOutputHelper output)
{
    private static readonly Gen<Id> Ids160 =
        from hi in Gen.Choose(0, int.MaxValue)
        from mid in ArbMap.Default.GeneratorFor<ulong>()
        from lo in ArbMap.Default.GeneratorFor<ulong>()
        select new Id((ulong)(uint)hi, mid, lo);

    private static RunSpec Spec(int nodes, int idBits, KademliaOptions options, long lookups, int keys = 5000, int replicate = 0,
        ChurnOptions? churn = null, long duration = 0, long measureAfter = 0, WorkloadOptions? workload = null) =>
        new(nodes, idBits, 7, replicate, (_, _) => new ConstantLatency(20_000),
            workload ?? new WorkloadOptions(lookups, Rate: 1000, PerNodeRate: 0, Duration: 0, keys, Popularity.Uniform, 1.0, Start: 0),
            () => new Kademlia(options))
        {
            Churn = churn ?? ChurnOptions.None,
            Duration = duration,
            MeasureAfter = measureAfter,
        };

    // ---- the XOR metric (Kademlia paper, section 2.1) ----------------------------------------------------

    [Theory]
    [InlineData(16, 2500, false)]
    [InlineData(160, 5000, false)]
    [InlineData(160, 3000, true)]     // ids bunched under a few long prefixes: runs past the scan limit
    public void XorClosestIsTheLeastXorOnAFlatViewAndAfterChanges(int bits, int count, bool bunched)
    {
        var rng = new Xoshiro256(11);
        var space = new IdSpace(bits);
        Id[] prefixes = [space.Random(ref rng), space.Random(ref rng), space.Random(ref rng)];
        Id Draw()
        {
            Id x = space.Random(ref rng);
            if (!bunched) return x;
            Id low = Id.Pow2(12) - Id.FromUInt64(1);              // the same top 148 bits, 12 random ones below
            Id p = prefixes[rng.NextInt(prefixes.Length)];
            return p ^ (p & low) ^ (x & low);
        }
        Id[] ids = Enumerable.Range(0, count).Select(_ => Draw()).Distinct().ToArray();
        var nodes = new NodeTable(ids);
        for (int i = 0; i < ids.Length; i++) nodes.SetAlive(i);
        var view = new Oracle(space);
        view.Rebuild(nodes);
        var truth = new KademliaTruth(view, null, new KademliaOptions(), new Simulator(nodes.Epoch));
        var joined = Enumerable.Range(0, ids.Length).ToHashSet();

        void Check()
        {
            for (int probe = 0; probe < 400; probe++)
            {
                Id key = probe % 4 == 0 ? ids[rng.NextInt(ids.Length)] : probe % 4 == 1 ? Draw() : space.Random(ref rng);
                int expected = joined.MinBy(n => ids[n] ^ key);
                Assert.Equal(expected, truth.XorClosest(key));
            }
        }

        Check();                                   // flat view: the nearby scan (and its fallback when bunched)
        foreach (int n in Enumerable.Range(0, ids.Length).Where(n => n % 3 == 0).ToArray())
        {
            joined.Remove(n);
            view.Remove(ids[n]);
        }
        Check();                                   // changed view: the walk down the bits
    }

    [Fact]
    public void XorIsAMetric()
    {
        Prop.ForAll(Ids160.ToArbitrary(), Ids160.ToArbitrary(), Ids160.ToArbitrary(), (x, y, z) =>
        {
            bool identity = (x ^ x).IsZero && ((x ^ y).IsZero == (x == y));
            bool symmetry = (x ^ y) == (y ^ x);
            // d(x,z) <= d(x,y) + d(y,z): a 161-bit sum fits in the 192-bit Id.
            bool triangle = (x ^ z) <= (x ^ y) + (y ^ z);
            return identity && symmetry && triangle;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void XorIsUnidirectional()
    {
        // For any x and distance d there is exactly one y with d(x, y) = d: equal distances from x mean equal points.
        Prop.ForAll(Ids160.ToArbitrary(), Ids160.ToArbitrary(), Ids160.ToArbitrary(), (x, y, z) =>
            ((x ^ y) == (x ^ z)) == (y == z) && (x ^ (x ^ y)) == y).QuickCheckThrowOnFailure();
    }

    // ---- k-bucket invariants --------------------------------------------------------------------------

    private static List<string> BucketProblems(Network net, Kademlia kad)
    {
        var problems = new List<string>();
        int m = net.Space.Bits;
        for (int node = 0; node < net.Nodes.Count; node++)
        {
            if (!net.Nodes.IsAlive(node)) continue;
            for (int b = 0; b < kad.Table.BucketCount; b++)
            {
                ReadOnlySpan<int> bucket = kad.Table.Bucket(node, b);
                if (bucket.Length > kad.Table.K) problems.Add($"node {node} bucket {b}: {bucket.Length} > k contacts");
                var seen = new HashSet<int>();
                foreach (int c in bucket)
                {
                    if (c == node) problems.Add($"node {node} bucket {b}: holds itself");
                    if (!seen.Add(c)) problems.Add($"node {node} bucket {b}: holds {c} twice");
                    int cpl = m - (net.Nodes.Ids[node] ^ net.Nodes.Ids[c]).BitLength;
                    bool right = b == kad.Table.BucketCount - 1 ? cpl >= b : cpl == b;
                    if (!right) problems.Add($"node {node} bucket {b}: contact {c} shares {cpl} leading bits");
                }
            }
        }
        return problems;
    }

    [Theory]
    [InlineData(2000, 160, 8)]
    [InlineData(3000, 32, 20)]
    [InlineData(300, 12, 4)]    // dense: 300 of 4096 ids
    public void StaticBucketsHoldAtMostKContactsOfTheirOwnRangeAndNeverSelf(int nodes, int bits, int k)
    {
        SimulationRun run = Experiment.Build(Spec(nodes, bits, new KademliaOptions { K = k }, lookups: 0));
        Network net = run.Net;
        var kad = (Kademlia)run.Overlay;
        List<string> problems = BucketProblems(net, kad);
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(10)));
        // A converged bucket holds min(k, the other nodes of its range): counted here node by node from the ids (the
        // last bucket takes every node sharing at least its index of leading bits).
        int b = kad.Table.BucketCount;
        for (int node = 0; node < nodes; node++)
        {
            var inRange = new int[b];
            for (int other = 0; other < nodes; other++)
            {
                if (other == node) continue;
                int cpl = bits - (net.Nodes.Ids[node] ^ net.Nodes.Ids[other]).BitLength;
                inRange[Math.Min(cpl, b - 1)]++;
            }
            for (int bucket = 0; bucket < b; bucket++)
                Assert.True(Math.Min(k, inRange[bucket]) == kad.Table.Bucket(node, bucket).Length,
                    $"node {node} bucket {bucket}: {kad.Table.Bucket(node, bucket).Length} contacts, its range holds {inRange[bucket]} other nodes (k = {k})");
        }
    }

    [Theory]
    [InlineData(3000, 160, 20, OverlayProtocol.Static)]
    [InlineData(3000, 160, 8, OverlayProtocol.Static)]
    [InlineData(300, 12, 4, OverlayProtocol.Static)]     // dense: deeper buckets together often hold more than k + 1
    [InlineData(2000, 160, 20, OverlayProtocol.Dynamic)] // the protocol's table, filled from the converged one
    public void ClosestIsTheKLeastXorOfEveryContactTheBucketsHold(int nodes, int bits, int k, OverlayProtocol protocol)
    {
        // Closest ranks only the group of buckets that crosses k; ranked here over every contact of every bucket.
        SimulationRun run = Experiment.Build(Spec(nodes, bits, new KademliaOptions { K = k, Protocol = protocol }, lookups: 0));
        Network net = run.Net;
        KBuckets table = ((Kademlia)run.Overlay).Table;
        var rng = new Xoshiro256(5);
        Span<Contact> into = stackalloc Contact[k];
        for (int probe = 0; probe < 3000; probe++)
        {
            int n = rng.NextInt(nodes);
            // Targets that share every length of prefix with n, as a lookup's hops come closer (i from 0 to the deepest).
            int differ = 1 + rng.NextInt(bits);
            Id target = net.Nodes.Ids[n] ^ (net.Space.Random(ref rng) & (Id.Pow2(differ) - Id.FromUInt64(1)));
            int[] expected = Enumerable.Range(0, table.BucketCount).SelectMany(b => table.Bucket(n, b))
                .OrderBy(c => net.Nodes.Ids[c] ^ target).Take(k).Order().ToArray();
            int found = table.Closest(n, target, into);
            Assert.Equal(expected, into[..found].ToArray().Select(c => c.Node).Order().ToArray());
            // A contact carries its node's own id, which the receiver ranks it by.
            foreach (Contact c in into[..found]) Assert.Equal(net.Nodes.Ids[c.Node], c.Id);
        }
    }

    [Theory]
    [InlineData(OverlayProtocol.Static)]
    [InlineData(OverlayProtocol.Dynamic)]
    public void PrefetchHintsReadWithinBoundsForAnyEvent(OverlayProtocol protocol)
    {
        // The hints are given from 2^14 nodes on, so not in these runs: asked here for every ordinal, for no node at
        // all, and for every lookup slot and none, a FIND_NODE (whose key they read) and other messages alike.
        SimulationRun run = Experiment.Build(Spec(500, 160, new KademliaOptions { Protocol = protocol }, lookups: 5));
        IPrefetchingSink hints = (Kademlia)run.Overlay;
        int slots = run.Net.Lookups.Table.Capacity;
        foreach (byte type in new[] { (byte)KademliaMessage.FindNode, (byte)KademliaMessage.FindNodeReply })
            for (int n = -1; n <= run.Net.Nodes.Count; n++)
            {
                int lookup = n % (slots + 2) - 1;
                hints.PrefetchFar(new Event { Dst = n, Src = n - 1, Lookup = lookup, Type = type });
                hints.PrefetchNear(new Event { Dst = n, Src = n + 1, Lookup = lookup, Type = type });
            }
        // A hint changes nothing: the run still completes every lookup at the closest node (the static model; the
        // protocol's timers never let a run without a duration end).
        if (protocol == OverlayProtocol.Dynamic) return;
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.Equal(5, r.Lookups);
        Assert.Equal(r.Lookups, r.LookupsOk);
    }

    [Fact]
    public void OfferingAReplyAtOnceIsOfferingEachContactInTurn()
    {
        // Two lookup slots of one shortlist: slot 0 takes whole replies by merge, slot 1 offers them one by one, and
        // both are asked, answered and timed out alike; small distances make repeats and ties with the list common.
        SimulationRun run = Experiment.Build(Spec(50, 160, new KademliaOptions(), lookups: 10));
        const int k = 6;
        var peers = new QueryPeerSet(run.Net, k);
        var rng = new Xoshiro256(9);
        Span<int> asked0 = stackalloc int[3], asked1 = stackalloc int[3];
        for (int trial = 0; trial < 300; trial++)
        {
            peers.Reset(0);
            peers.Reset(1);
            int exclude = rng.NextInt(60);
            for (int step = 0; step < 30; step++)
            {
                int size = rng.NextInt(2 * k + 2);
                int[] contacts = Enumerable.Range(0, size).Select(_ => rng.NextInt(60)).ToArray();
                Id[] distance = contacts.Select(c => Id.FromUInt64((ulong)(c * 7919 % 61))).ToArray();
                int depth = 1 + rng.NextInt(300);
                // Contacts whose ids are their distances to a key of zero.
                Contact[] reply = contacts.Select((c, i) => new Contact(distance[i], c)).ToArray();
                peers.OfferAll(0, reply, Id.Zero, depth, exclude);
                for (int c = 0; c < size; c++)
                    if (contacts[c] != exclude) peers.Offer(1, contacts[c], distance[c], depth);
                int round = rng.NextInt(300);
                int a0 = peers.SelectToAsk(0, 3, round, asked0), a1 = peers.SelectToAsk(1, 3, round, asked1);
                Assert.Equal(asked1[..a1].ToArray(), asked0[..a0].ToArray());
                for (int i = 0; i < peers.Count(0); i++)
                {
                    int r = rng.NextInt(4);
                    if (r == 0) { peers.MarkAnswered(0, i); peers.MarkAnswered(1, i); }
                    else if (r == 1) Assert.Equal(peers.MarkUnreachable(1, i), peers.MarkUnreachable(0, i));
                }
                Assert.Equal(peers.Count(1), peers.Count(0));
                Assert.Equal(peers.Waiting(1), peers.Waiting(0));
                for (int i = 0; i < peers.Count(0); i++)
                {
                    Assert.Equal(peers.Peer(1, i), peers.Peer(0, i));
                    Assert.Equal(peers.State(1, i), peers.State(0, i));
                    Assert.Equal(peers.Depth(1, i), peers.Depth(0, i));
                    Assert.Equal(peers.Round(1, i), peers.Round(0, i));
                }
            }
        }
    }

    // ---- lookups --------------------------------------------------------------------------------------

    [Theory]
    [InlineData(1000, 20, 3)]
    [InlineData(5000, 20, 3)]
    [InlineData(5000, 8, 1)]
    public void WithoutChurnEveryNodeLookupFindsTheClosestNode(int nodes, int k, int alpha)
    {
        SimulationRun run = Experiment.Build(Spec(nodes, 160, new KademliaOptions { K = k, Alpha = alpha, StoreKeys = false }, lookups: 3000));
        Network net = run.Net;
        var kad = (Kademlia)run.Overlay;
        var truth = (KademliaTruth)run.Truth;
        // Compare every node lookup's result with the true k closest. The origin is never in its own result: when it
        // is among the true k closest, the result must hold the other k - 1 of them.
        long checkedLookups = 0, exactLookups = 0;
        var closest = new int[k];
        kad.NodeLookupEnded = (origin, target, result) =>
        {
            int found = truth.KClosest(target, closest);
            var expected = closest[..found].Where(c => c != origin).ToHashSet();
            checkedLookups++;
            if (expected.IsSubsetOf(result.ToArray())) exactLookups++;
        };
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        Assert.Equal(3000, r.Lookups);
        Assert.Equal(r.Lookups, r.LookupsOk);
        Assert.True(r.Metric("rpcs_per_lookup")!.Value >= k, $"the termination rule waits for the k closest to answer: {r.Metric("rpcs_per_lookup")!.Value} RPCs per lookup");
        Assert.Equal(3000, checkedLookups);
        output.WriteLine($"N={nodes} k={k} alpha={alpha}: the k returned are exactly the true k closest in {(double)exactLookups / checkedLookups:P2} of {checkedLookups} lookups");
        // Measured: 100% in every configuration here. With converged buckets the k closest to a key all sit in the
        // few deepest buckets of the nodes near it, which hold every node of their range, so the lookup reaches them.
        Assert.Equal(checkedLookups, exactLookups);
    }

    [Fact]
    public void ValueLookupsOnAStaticNetworkAlwaysFindTheValue()
    {
        RunResult r = Experiment.Run(Spec(3000, 160, new KademliaOptions { K = 20 }, lookups: 3000));
        Assert.True(r.StoresKeys);
        Assert.Equal(1.0, r.ValueFoundRate);
        Assert.Equal(r.Lookups, r.LookupsOk);
        Assert.Equal(0, r.KeysLost);
    }

    // ---- churn ---------------------------------------------------------------------------------------

    private static readonly KademliaOptions Dynamic = new()
    {
        K = 8,
        Alpha = 3,
        Protocol = OverlayProtocol.Dynamic,
        RpcTimeout = 200_000,
        BucketRefresh = 600_000_000,
        Republish = 600_000_000,
        LookupTimeout = 30_000_000,
    };

    private static RunSpec ChurnSpec(int replicate = 0, double perNodeRate = 1.0 / 60) =>
        Spec(800, 160, Dynamic, 0, keys: 2000, replicate: replicate,
            churn: new ChurnOptions(ChurnKind.Lifetime, SessionMean: 600_000_000, DowntimeMean: 600_000_000, LeaveFraction: 0.5),
            duration: 3_600_000_000, measureAfter: 600_000_000,
            workload: new WorkloadOptions(0, 1, perNodeRate, 3_600_000_000, 2000, Popularity.Uniform, 1, 0));

    [Fact]
    public void UnderChurnNothingThrowsNothingLeaksAndBucketsKeepTheirInvariants()
    {
        RunSpec spec = ChurnSpec();
        SimulationRun run = Experiment.Build(spec);
        Network net = run.Net;
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        var kad = (Kademlia)run.Overlay;
        Assert.True(r.Joins > 300 && r.Crashes > 100 && r.Leaves > 100, $"{r.Joins} joins, {r.Leaves} leaves, {r.Crashes} crashes");
        for (int slot = 0; slot < net.Lookups.Table.Capacity; slot++)
            if (net.Lookups[slot].InUse)
                Assert.True(net.Sim.Now - net.Lookups[slot].Start <= 30_000_000, $"lookup slot {slot} outlived the lookup timeout");
        List<string> problems = BucketProblems(net, kad);
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(10)));
        Assert.True(r.SuccessRate > 0.95, $"success rate {r.SuccessRate} under 10-minute sessions");
        // With churn and maintenance stopped, everything in flight ends: no lookup slot and no reply's payload block is left.
        ConformanceTests.Drain(run);
        ConformanceTests.AssertDrained(run);
    }

    [Fact]
    public void ChurnRunsAreDeterministic()
    {
        RunResult a = Experiment.Run(ChurnSpec()), b = Experiment.Run(ChurnSpec()), c = Experiment.Run(ChurnSpec(replicate: 1));
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a with { TimeSeries = [], TrafficByType = [], HopHistogram = [], OverlayMetrics = [], Distributions = [] }, b with { TimeSeries = [], TrafficByType = [], HopHistogram = [], OverlayMetrics = [], Distributions = [] });
        Assert.Equal(a.OverlayMetrics, b.OverlayMetrics);
        Assert.NotEqual(a.TraceHash, c.TraceHash);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(8000)]
    public void AConvergedTableHasTheExpectedNumberOfNonEmptyBuckets(int nodes)
    {
        // Bucket j from the top (j = 1 holds the half of the id space that differs in the first bit) is non-empty when
        // any of the other N − 1 ids falls in it, each with probability 2^-j: E = Σ_j 1 − (1 − 2^-j)^(N−1). The static
        // table holds up to k of every bucket's nodes, so it is non-empty exactly then. The mean over N nodes varies by
        // about 0.3% between rings; 1.5% is five of those.
        double expected = 0;
        for (int j = 1; j <= 160; j++) expected += 1 - Math.Pow(1 - Math.Pow(2, -j), nodes - 1);
        RunResult r = Experiment.Run(Spec(nodes, 160, new KademliaOptions { K = 20 }, lookups: 100));
        double buckets = r.Metric("buckets_mean")!.Value;
        Assert.InRange(buckets, expected * 0.985, expected * 1.015);
        Assert.True(r.Metric("buckets_max") >= Math.Ceiling(buckets));
        Assert.True(r.DegreeMean > 20 * (Math.Log2(nodes / 20.0) - 1), "full buckets hold k contacts each");
    }

    [Fact]
    public void AfterChurnStopsAndRefreshesRunLookupsSucceedAgain()
    {
        // Crash and rejoin a third of the machines during the first 10 minutes, then 40 quiet minutes (refresh and
        // republish every 10 minutes); lookups measured in the last 10 minutes must all succeed and find the value.
        var rng = new Xoshiro256(3);
        var trace = new List<ChurnTraceEvent>();
        for (int i = 0; i < 250; i++)
        {
            int machine = rng.NextInt(800);
            long t = 60_000_000 + i * 2_000_000L;
            trace.Add(new ChurnTraceEvent(t, machine, ChurnAction.Crash));
            trace.Add(new ChurnTraceEvent(t + 1_000_000, 800 + i, ChurnAction.Join));
        }
        trace.Sort((x, y) => x.Time.CompareTo(y.Time));
        RunSpec spec = Spec(800, 160, Dynamic, 0, keys: 2000,
            churn: new ChurnOptions(ChurnKind.Trace, Trace: trace), duration: 3_000_000_000, measureAfter: 2_400_000_000,
            workload: new WorkloadOptions(0, 1, 1.0 / 60, 3_000_000_000, 2000, Popularity.Uniform, 1, 0));
        RunResult r = Experiment.Run(spec);
        Assert.True(r.Lookups > 500, $"{r.Lookups} lookups measured");
        Assert.Equal(r.Lookups, r.LookupsOk);
        Assert.Equal(0, r.LookupsFailed);
    }
}
