using System.Numerics;
using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>
/// Static CAN (SIGCOMM 2001): the zones of N joins tile the torus, neighbours are exactly the zones that abut along one
/// dimension and overlap along the others, every route ends at an owner of the key's point, the perfect grid gives the
/// analysis's (d/4)·N^(1/d) hops and 2d neighbours, and the design knobs of §3 move what the paper says they move.
/// The geometry here is computed independently of CanGeometry: boxes as corners and sides, by brute force.
/// </summary>
public class CanTests
{
    private static SimulationRun Build(int nodes, string parameters, string workload = "{ lookups: 3000, keys: 2000 }", int replicate = 0) =>
        ConformanceTests.Build("can", parameters, nodes, workload: workload, replicate: replicate);

    /// <summary>A zone as a box: per dimension its corner and its side, in units of 2^-64 (a side of 2^64 spans the dimension).</summary>
    private readonly record struct Box(ulong[] Lo, UInt128[] Side)
    {
        public static Box Of(ulong code, int d)
        {
            int depth = 63 - BitOperations.TrailingZeroCount(code);
            var lo = new ulong[d];
            var side = new UInt128[d];
            for (int j = 0; j < d; j++) side[j] = (UInt128)1 << 64;
            for (int i = 0; i < depth; i++)
            {
                int j = i % d;
                side[j] >>= 1;
                if (((code >> (63 - i)) & 1) != 0) lo[j] += (ulong)side[j];
            }
            return new Box(lo, side);
        }

        /// <summary>Whether coordinate x lies in the span of dimension j (half-open, on the circle).</summary>
        public bool Holds(int j, ulong x) => (UInt128)(x - Lo[j]) < Side[j];

        public bool Holds(ReadOnlySpan<ulong> point)
        {
            for (int j = 0; j < Lo.Length; j++)
                if (!Holds(j, point[j])) return false;
            return true;
        }

        /// <summary>Whether the spans along j share more than a point: for dyadic spans, one holds the other's corner.</summary>
        public bool Overlaps(Box other, int j) => Holds(j, other.Lo[j]) || other.Holds(j, Lo[j]);

        /// <summary>Whether one span ends where the other starts, along j, on the circle (a span of the whole circle abuts nothing).</summary>
        public bool Abuts(Box other, int j) =>
            Side[j] < (UInt128)1 << 64 && other.Side[j] < (UInt128)1 << 64 &&
            ((ulong)(Lo[j] + Side[j]) == other.Lo[j] || (ulong)(other.Lo[j] + other.Side[j]) == Lo[j]);
    }

    private static Can CanOf(SimulationRun run) => (Can)run.Overlay;

    /// <summary>Every zone's box and owners, reality by reality, from the node tables.</summary>
    private static Dictionary<ulong, List<int>> ZonesOf(SimulationRun run, int reality)
    {
        var zones = new Dictionary<ulong, List<int>>();
        for (int n = 0; n < run.Net.Nodes.Count; n++)
        {
            ulong code = CanOf(run).Table(n, reality).Codes.Span[0];
            if (!zones.TryGetValue(code, out List<int>? members)) zones[code] = members = [];
            members.Add(n);
        }
        return zones;
    }

    [Theory]
    [InlineData(600, "dimensions: 2")]
    [InlineData(600, "dimensions: 3, partition: uniform")]
    [InlineData(500, "dimensions: 5, max_peers: 3")]
    [InlineData(400, "dimensions: 1, realities: 2")]
    [InlineData(512, "dimensions: 3, partition: grid")]
    [InlineData(700, "dimensions: 2, landmarks: 4, partition: uniform, max_peers: 2")]
    [InlineData(3, "dimensions: 16")]                     // zones spanning whole dimensions
    [InlineData(2, "dimensions: 3")]
    [InlineData(200, "dimensions: 12, max_peers: 1")]
    [InlineData(256, "dimensions: 3, partition: grid, realities: 2")]
    public void ZonesTileTheTorusAndNeighboursAreExactlyTheAbuttingZones(int nodes, string parameters)
    {
        SimulationRun run = Build(nodes, parameters);
        Can can = CanOf(run);
        int d = can.Realities[0].Geometry.D;
        int maxMembers = 1 + (int)ParameterOf(parameters, "max_peers");
        for (int r = 0; r < can.Realities.Count; r++)
        {
            Dictionary<ulong, List<int>> zones = ZonesOf(run, r);
            Assert.All(zones.Values, members => Assert.InRange(members.Count, 1, maxMembers));
            ulong[] codes = zones.Keys.ToArray();
            Box[] boxes = codes.Select(c => Box.Of(c, d)).ToArray();

            // The volumes add up to the torus, and no two zones overlap: together, a tiling.
            UInt128 volume = 0;
            foreach (ulong c in codes) volume += (UInt128)1 << BitOperations.TrailingZeroCount(c);   // 2^-depth in units of 2^-63
            Assert.Equal((UInt128)1 << 63, volume);
            for (int a = 0; a < boxes.Length; a++)
                for (int b = a + 1; b < boxes.Length; b++)
                    Assert.False(Enumerable.Range(0, d).All(j => boxes[a].Overlaps(boxes[b], j)), $"zones {codes[a]:x} and {codes[b]:x} overlap");

            // Neighbours: abut along exactly one dimension and overlap along all the others; symmetric.
            var index = codes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
            for (int a = 0; a < boxes.Length; a++)
            {
                var expected = new SortedSet<ulong>();
                for (int b = 0; b < boxes.Length; b++)
                {
                    if (a == b) continue;
                    for (int j = 0; j < d; j++)
                        if (boxes[a].Abuts(boxes[b], j) && Enumerable.Range(0, d).Where(i => i != j).All(i => boxes[a].Overlaps(boxes[b], i)))
                            expected.Add(codes[b]);
                }
                foreach (int member in zones[codes[a]])
                {
                    var (tableCodes, tableNodes) = can.Table(member, r);
                    var listed = tableCodes.Span[1..].ToArray();
                    Assert.Equal(expected, new SortedSet<ulong>(listed));
                    Assert.Equal(listed.Length, listed.Distinct().Count());
                    // Each entry's node is a member of that zone: the nearest one by latency.
                    for (int e = 1; e < tableCodes.Length; e++)
                    {
                        List<int> owners = zones[tableCodes.Span[e]];
                        Assert.Contains(tableNodes.Span[e], owners);
                        long best = owners.Min(o => run.Net.Transport.OneWay(member, o));
                        Assert.Equal(best, run.Net.Transport.OneWay(member, tableNodes.Span[e]));
                    }
                }
                foreach (ulong c in expected) Assert.True(index.ContainsKey(c));
            }
        }
    }

    /// <summary>
    /// The relations the protocol computes from two codes alone (abut, overlap, sibling, parent, child), against the
    /// boxes: on random zones of random depths in 1 to 6 dimensions, shallow ones included so that whole and half
    /// dimensions occur, for both the pext/pdep and the portable bit loops.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    public void ZoneRelationsFromCodesAgreeWithTheBoxes(int d)
    {
        var rng = new Xoshiro256(77 + (ulong)d);
        ulong RandomCode()
        {
            int depth = rng.NextInt(rng.NextInt(2) == 0 ? 2 * d + 1 : 20);
            return CanGeometry.Code(depth == 0 ? 0 : rng.NextUInt64() & (~0UL << (64 - depth)), depth);
        }
        foreach (bool bmi2 in new[] { true, false })
        {
            var g = new CanGeometry(d, bmi2);
            int abutting = 0;
            for (int trial = 0; trial < 4000; trial++)
            {
                ulong a = RandomCode(), b = trial % 3 == 0 ? NearBy(a) : RandomCode();
                Box ba = Box.Of(a, d), bb = Box.Of(b, d);
                bool overlap = Enumerable.Range(0, d).All(j => ba.Overlaps(bb, j));
                bool abuts = !overlap && Enumerable.Range(0, d).Any(j => ba.Abuts(bb, j) && Enumerable.Range(0, d).Where(i => i != j).All(i => ba.Overlaps(bb, i)));
                Assert.True(overlap == CanGeometry.Overlaps(a, b), $"overlap of {a:x} and {b:x}");
                Assert.True(abuts == g.Abuts(a, b), $"abut of {a:x} and {b:x} in {d} dimensions: boxes say {abuts}");
                if (abuts) abutting++;
                if (a == CanGeometry.Whole) continue;
                ulong sibling = CanGeometry.Sibling(a), parent = CanGeometry.Parent(a);
                Assert.Equal(CanGeometry.Depth(a), CanGeometry.Depth(sibling));
                Assert.False(CanGeometry.Overlaps(a, sibling));
                Assert.Equal(CanGeometry.Depth(a) - 1, CanGeometry.Depth(parent));
                Assert.True(CanGeometry.Overlaps(parent, a) && CanGeometry.Overlaps(parent, sibling));
                ulong x = rng.NextUInt64();
                if (CanGeometry.Depth(a) < CanGeometry.MaxDepth && CanGeometry.Contains(a, x))
                {
                    ulong child = CanGeometry.Child(a, x);
                    Assert.True(CanGeometry.Contains(child, x) && CanGeometry.Parent(child) == a);
                }
            }
            Assert.True(abutting > 200, $"only {abutting} abutting pairs drawn");
        }

        // A zone of the same depth or one deeper next to a: its sibling, or a halving of a neighbour across a face.
        ulong NearBy(ulong a)
        {
            int depth = CanGeometry.Depth(a);
            if (depth == 0) return RandomCode();
            ulong near = CanGeometry.Sibling(a);
            for (int i = rng.NextInt(3); i > 0 && CanGeometry.Depth(near) < 40; i--) near = CanGeometry.Child(near, rng.NextUInt64());
            return rng.NextInt(4) == 0 ? CanGeometry.Parent(near) : near;
        }
    }

    /// <summary>A whole-number parameter of an overlay entry written as "a: 1, b: 2" (0 when absent).</summary>
    private static long ParameterOf(string parameters, string name) =>
        parameters.Split(',').Select(p => p.Split(':')).Where(kv => kv[0].Trim() == name).Select(kv => long.Parse(kv[1].Trim())).FirstOrDefault();

    [Fact]
    public void RealitiesOfTheGridAreDifferentLayouts()
    {
        SimulationRun run = Build(256, "dimensions: 2, partition: grid, realities: 2");
        int same = Enumerable.Range(0, 256).Count(n => CanOf(run).Table(n, 0).Codes.Span[0] == CanOf(run).Table(n, 1).Codes.Span[0]);
        Assert.True(same < 16, $"{same} of 256 nodes hold the same zone in both realities");
    }

    [Theory]
    [InlineData("dimensions: 2")]
    [InlineData("dimensions: 4, realities: 3")]
    [InlineData("dimensions: 3, rtt_weighted: true, max_peers: 2")]
    [InlineData("dimensions: 2, hash_functions: 3, partition: uniform")]
    [InlineData("dimensions: 1")]
    [InlineData("dimensions: 6, landmarks: 3")]
    public void EveryRouteEndsAtTheOwnerOfThePointFoundByBruteForce(string parameters)
    {
        SimulationRun run = Build(1500, parameters);
        Can can = CanOf(run);
        int d = can.Realities[0].Geometry.D, realities = can.Realities.Count;
        var boxes = Enumerable.Range(0, realities).Select(r => ZonesOf(run, r).ToDictionary(kv => Box.Of(kv.Key, d), kv => kv.Value)).ToList();
        var rng = new Xoshiro256(7);
        var point = new ulong[d];
        for (int t = 0; t < 300; t++)
        {
            for (int j = 0; j < d; j++) point[j] = rng.NextUInt64();
            int node = rng.NextInt(run.Net.Nodes.Count), hops = 0;
            for (int next; (next = can.NextHop(node, point)) >= 0; node = next)
                Assert.True(++hops < 100_000, "the route does not end");
            var owners = boxes.SelectMany(b => b.Where(kv => kv.Key.Holds(point)).SelectMany(kv => kv.Value)).ToList();
            Assert.Equal(realities, boxes.Sum(b => b.Count(kv => kv.Key.Holds(point)))); // one zone per reality holds it
            Assert.Contains(node, owners);
        }

        // The ground truth agrees with the brute-force owners: an answer is correct exactly when its zone, in some
        // reality, holds one of the key's points.
        int k = (int)Math.Max(1, ParameterOf(parameters, "hash_functions"));
        for (int t = 0; t < 200; t++)
        {
            var key = new Id(rng.NextUInt64(), rng.NextUInt64(), rng.NextUInt64() >> 32);
            var points = Enumerable.Range(0, k).Select(h =>
            {
                var p = new ulong[d];
                Can.KeyPoint(key, h, p);
                return p;
            }).ToList();
            var lookup = new LookupRecord { Key = key };
            int answer = rng.NextInt(run.Net.Nodes.Count);
            bool owner = boxes.Any(b => b.Any(kv => kv.Value.Contains(answer) && points.Any(p => kv.Key.Holds(p))));
            Assert.Equal(owner, run.Truth.IsCorrect(answer, in lookup));
            // And the owner of the first point (a peer of it, in another reality too) is correct.
            int holder = boxes[realities - 1].First(kv => kv.Key.Holds(points[0])).Value[^1];
            Assert.True(run.Truth.IsCorrect(holder, in lookup));
        }

        // And through the engine: every lookup is answered by an owner (the ground truth's Locate).
        Experiment.Simulate(run);
        RunResult result = Experiment.Summarize(run);
        Assert.Equal(3000, result.Lookups);
        Assert.Equal(result.Lookups, result.LookupsOk);
    }

    [Theory]
    [InlineData(2, 8)]     // side 16: 8 hops, 4 neighbours
    [InlineData(3, 12)]    // side 16: 12 hops, 6 neighbours
    [InlineData(4, 16)]    // side 16: 16 hops, 8 neighbours
    [InlineData(2, 12)]    // side 64: 32 hops, 4 neighbours
    [InlineData(10, 10)]   // side 2: 5 hops; across a side-2 dimension the same zone lies on both faces: 10 neighbours
    [InlineData(3, 4)]     // sides 4, 2, 2: 1 + ½ + ½ = 2 hops, 2 + 1 + 1 = 4 neighbours
    public void ThePerfectGridGivesExactlyDOverFourTimesTheSideAndTwoDNeighbours(int d, int log2Nodes)
    {
        int nodes = 1 << log2Nodes;
        SimulationRun run = Build(nodes, $"dimensions: {d}, partition: grid", workload: "{ lookups: 1 }");
        Can can = CanOf(run);
        int[] sides = Enumerable.Range(0, d).Select(j => 1 << (log2Nodes / d + (j < log2Nodes % d ? 1 : 0))).ToArray();
        int neighbours = sides.Sum(s => s >= 3 ? 2 : s == 2 ? 1 : 0);
        for (int n = 0; n < nodes; n++) Assert.Equal(neighbours, can.Degree(n));

        // The grid is the same seen from every zone, so one origin's mean over every destination is the mean over all
        // pairs: per dimension the torus distance in zones averages side/4, so the sides' sum over 4 in all (d·side/4
        // when every side is the same).
        var destinations = ZonesOf(run, 0).Keys.Select(c => Box.Of(c, d)).ToList();
        var point = new ulong[d];
        foreach (int origin in new[] { 0, nodes / 3, nodes - 1 })
        {
            long total = 0;
            foreach (Box box in destinations)
            {
                for (int j = 0; j < d; j++) point[j] = box.Lo[j] + (ulong)(box.Side[j] / 2);
                int node = origin;
                for (int next; (next = can.NextHop(node, point)) >= 0; node = next) total++;
            }
            Assert.Equal(sides.Sum() / 4.0, (double)total / destinations.Count);
        }
    }

    [Fact]
    public void ZoneVolumesCountEveryZoneOnceAndTheGridHasOneVolume()
    {
        RunResult Volumes(string parameters, int nodes)
        {
            SimulationRun run = Build(nodes, parameters, workload: "{ lookups: 10 }");
            Experiment.Simulate(run);
            return Experiment.Summarize(run);
        }
        RunResult random = Volumes("dimensions: 3, realities: 2", 4096);
        Assert.Equal(2 * 4096, random.ZoneVolumes.Sum(b => b.Zones));
        Assert.Equal(2 * 4096, random.ZoneVolumes.Sum(b => b.Nodes));
        Assert.True(random.ZoneVolumes.Count >= 4, "random joins make zones of several volumes");

        RunResult grid = Volumes("partition: grid", 4096);
        Assert.Equal([new ZoneVolumeBin(0, 4096, 4096)], grid.ZoneVolumes);

        RunResult peers = Volumes("max_peers: 3", 4096);
        Assert.Equal(4096, peers.ZoneVolumes.Sum(b => b.Nodes));
        Assert.True(peers.ZoneVolumes.Sum(b => b.Zones) < 4096 / 2, "with up to 4 nodes a zone, fewer than half as many zones as nodes");
    }

    /// <summary>A knob's effect on one metric, on the same 4096 nodes and lookups: (with the knob, without).</summary>
    private static (double With, double Without) Effect(string with, string without, Func<RunResult, double> metric)
    {
        double Run(string parameters)
        {
            SimulationRun run = Build(4096, parameters, workload: "{ lookups: 4000, keys: 4000 }");
            Experiment.Simulate(run);
            return metric(Experiment.Summarize(run));
        }
        return (Run(with), Run(without));
    }

    private static double Column(RunResult r, string column) => r.Metric(column) ?? double.NaN;

    [Fact]
    public void TheDesignKnobsMoveWhatThePaperSaysTheyMove()
    {
        // §3.1: more dimensions, shorter paths. (d/4)·N^(1/d): 32 hops for d = 2, 10 for d = 3 on a grid.
        var (d3, d2) = Effect("dimensions: 3", "dimensions: 2", r => r.HopsMean);
        Assert.True(d3 < 0.6 * d2, $"d = 3: {d3} hops against {d2} for d = 2");

        // §3.2: realities shorten paths too (a node may jump in whichever reality is closer).
        var (r3, r1) = Effect("realities: 3", "realities: 1", r => r.HopsMean);
        Assert.True(r3 < 0.8 * r1, $"r = 3: {r3} hops against {r1}");

        // §3.3: RTT weighting lowers the latency of a hop.
        var (weighted, greedy) = Effect("rtt_weighted: true", "rtt_weighted: false", r => Column(r, "hop_latency_mean_ms"));
        Assert.True(weighted < 0.9 * greedy, $"RTT-weighted: {weighted} ms a hop against {greedy}");

        // §3.4: peers make fewer, larger zones, so fewer hops, and a node keeps the nearest member of each neighbour zone.
        var (peers, alone) = Effect("max_peers: 3", "max_peers: 0", r => r.HopsMean);
        Assert.True(peers < 0.8 * alone, $"MAXPEERS 3: {peers} hops against {alone}");

        // §3.5: k hash functions, the first of k answers: lower latency.
        var (k3, k1) = Effect("hash_functions: 3", "hash_functions: 1", r => r.LatencyMeanMs);
        Assert.True(k3 < 0.8 * k1, $"k = 3: {k3} ms against {k1}");

        // §3.6: landmark ordering puts nodes near in the network near in the space: shorter hops in latency.
        var (landmarks, plain) = Effect("landmarks: 4", "landmarks: 0", r => Column(r, "hop_latency_mean_ms"));
        Assert.True(landmarks < 0.8 * plain, $"4 landmarks: {landmarks} ms a hop against {plain}");

        // §3.7: uniform partitioning makes more zones of volume V_T/N.
        var (uniform, random) = Effect("partition: uniform", "partition: random",
            r => (double)r.ZoneVolumes.Where(b => b.Log2 == 0).Sum(b => b.Zones) / r.ZoneVolumes.Sum(b => b.Zones));
        Assert.True(uniform > random + 0.2, $"share of zones of volume V_T/N: {uniform} uniform, {random} random");
    }

    [Fact]
    public void TheSameSeedBuildsTheSameZonesAndAnotherReplicateOthers()
    {
        ulong[] Codes(int replicate)
        {
            SimulationRun run = Build(3000, "dimensions: 3, max_peers: 1, partition: uniform", replicate: replicate);
            return Enumerable.Range(0, 3000).Select(n => CanOf(run).Table(n, 0).Codes.Span[0]).ToArray();
        }
        Assert.Equal(Codes(0), Codes(0));
        Assert.NotEqual(Codes(0), Codes(1));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(16)]
    public void ThePortableBitLoopsGiveWhatThePextAndPdepInstructionsGive(int d)
    {
        var fast = new CanGeometry(d, bmi2: true);
        var portable = new CanGeometry(d, bmi2: false);
        var rng = new Xoshiro256((ulong)d);
        var point = new ulong[d];
        for (int t = 0; t < 20_000; t++)
        {
            for (int j = 0; j < d; j++) point[j] = rng.NextUInt64();
            int depth = rng.NextInt(CanGeometry.MaxDepth + 1);
            ulong path = depth == 0 ? 0 : rng.NextUInt64() & ~(ulong.MaxValue >> depth);
            ulong code = CanGeometry.Code(path, depth);
            Assert.Equal(fast.Interleave(point), portable.Interleave(point));
            for (int j = 0; j < d; j++) Assert.Equal(fast.Corner(code, j), portable.Corner(code, j));
            Assert.Equal(fast.Distance2(code, point), portable.Distance2(code, point));
            // The corner read back agrees with the box made by halving, and Contains with Distance2.
            Box box = Box.Of(code, d);
            for (int j = 0; j < d; j++) Assert.Equal(box.Lo[j], portable.Corner(code, j));
            Assert.Equal(box.Holds(point), CanGeometry.Contains(code, portable.Interleave(point)));
            Assert.Equal(box.Holds(point), portable.Distance2(code, point) == 0);
        }
    }

    [Theory]
    [InlineData(1000, "partition: grid", "partition")]
    [InlineData(1024, "partition: grid, max_peers: 1", "max_peers")]
    [InlineData(1024, "partition: grid, landmarks: 3", "landmarks")]
    [InlineData(5, "landmarks: 6", "landmarks")]
    [InlineData(100, "dimensions: 17", "dimensions")]
    [InlineData(100, "hash_functions: 0", "hash_functions")]
    public void ParametersThatCannotWorkTogetherAreRefusedNamingTheKey(int nodes, string parameters, string key)
    {
        var e = Assert.Throws<OverlaySim.Scenarios.ScenarioException>(() => Build(nodes, parameters));
        Assert.Contains(key, e.Message);
    }
}
