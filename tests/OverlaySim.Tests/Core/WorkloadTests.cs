using OverlaySim.Core;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// <see cref="Workload"/>: the Zipf CDF, and the lookups it issues (keys by popularity, uniform live origins,
/// Poisson arrivals) observed through a stub overlay that answers every lookup at once.
/// </summary>
public class WorkloadTests
{
    // ---- Zipf CDF ----

    /// <summary>H_{K,s} = Σ_{r=1..K} r^-s, summed smallest term first (a different order from the code's).</summary>
    private static double Harmonic(int keys, double s)
    {
        double h = 0;
        for (int r = keys; r >= 1; r--) h += Math.Pow(r, -s);
        return h;
    }

    [Theory]
    [InlineData(1, 1.0)]
    [InlineData(5, 0.0)]
    [InlineData(10, 1.0)]
    [InlineData(1000, 0.8)]
    [InlineData(100_000, 1.2)]
    public void ZipfCdfIsMonotoneEndsAtOneAndStartsAtOneOverH(int keys, double s)
    {
        double[] cdf = Workload.ZipfCdf(keys, s);
        double h = Harmonic(keys, s);
        // Summing 10^5 terms in two orders differs by at most ~K·2^-53 relative: 1e-10 is ample.
        const double rel = 1e-10;

        Assert.Equal(keys, cdf.Length);
        Assert.Equal(1.0, cdf[^1]);                                   // exactly, so a draw u < 1 always finds a key
        Assert.Equal(1.0 / h, cdf[0], 1.0 / h * rel);
        for (int r = 1; r < keys; r++)
        {
            Assert.True(cdf[r] > cdf[r - 1], $"not increasing at rank {r + 1}");
            double p = Math.Pow(r + 1, -s) / h;                        // P(rank r + 1)
            Assert.Equal(p, cdf[r] - cdf[r - 1], p * rel + 4e-16);      // + a few ulps of the cdf's magnitude
        }
    }

    [Fact]
    public void ZipfWithExponentZeroIsUniform()
    {
        double[] cdf = Workload.ZipfCdf(8, 0.0);
        for (int r = 0; r < 8; r++) Assert.Equal((r + 1) / 8.0, cdf[r], 15);
    }

    // ---- the issued lookups ----

    /// <summary>Answers each lookup at its origin the moment it starts, and records what it saw.</summary>
    private sealed class Recorder(int nodes, int keys) : Overlay
    {
        public readonly long[] Keys = new long[keys];
        public readonly long[] Origins = new long[nodes];
        public readonly long[] Targets = new long[nodes];   // targets: nodes: lookups for each node's id
        public long TargetIsOrigin;
        public readonly List<long> Times = [];

        public override string Name => "recorder";
        public override void BuildStatic(Oracle view) { }
        public override GroundTruth CreateTruth(Oracle view) => new AnyAnswerIsCorrect();

        public override void StartLookup(int lookup)
        {
            ref LookupRecord r = ref Net.Lookups[lookup];
            if (r.KeyIndex >= 0) Keys[r.KeyIndex]++;
            else
            {
                int target = Array.IndexOf(Net.Nodes.Ids, r.Key);
                Targets[target]++;
                if (target == r.Origin) TargetIsOrigin++;
            }
            Origins[r.Origin]++;
            Times.Add(Net.Sim.Now);
            Net.Lookups.Answer(lookup, r.Origin);
        }

        protected override void Receive(ref Event ev) { }
        public override int Degree(int node) => 0;
    }

    private static (Network Net, Recorder Overlay, Workload Workload) World(int nodes, WorkloadOptions options, long seed = 1)
    {
        var space = new IdSpace(32);
        var streams = new RandomStreams(seed, 0);
        var table = new NodeTable(Experiment.DrawDistinctIds(space, nodes, streams.Stream("ids")));
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var net = new Network(space, table, new ConstantLatency(1000), Experiment.KeyIds(space, options.Keys), streams);
        var overlay = new Recorder(nodes, options.Keys);
        Experiment.Install(net, overlay);
        var workload = new Workload(net, options, overlay.StartLookup);
        return (net, overlay, workload);
    }

    /// <summary>Chi-square critical value at significance 0.001 (Wilson–Hilferty; see RandomStreamTests).</summary>
    private static double ChiSquareCritical(int df)
    {
        double k = 2.0 / (9.0 * df);
        return df * Math.Pow(1 - k + 3.0902 * Math.Sqrt(k), 3);
    }

    private static void AssertFits(long[] observed, Func<int, double> probability, string what)
    {
        long n = observed.Sum();
        double chi = 0;
        for (int i = 0; i < observed.Length; i++)
        {
            double e = n * probability(i);
            Assert.True(e >= 5, "every cell needs an expected count of at least 5 for the chi-square test");
            chi += (observed[i] - e) * (observed[i] - e) / e;
        }
        double critical = ChiSquareCritical(observed.Length - 1);
        Assert.True(chi < critical, $"{what}: chi-square {chi:F1} over {observed.Length - 1} df exceeds {critical:F1}");
    }

    [Fact]
    public void CountModeIssuesExactlyTheLookupsWithZipfKeysUniformOriginsAndPoissonGaps()
    {
        const int nodes = 10, keys = 20, lookups = 50_000;
        const double rate = 100, s = 1.0;
        var (net, rec, workload) = World(nodes, new WorkloadOptions(lookups, rate, 0, 0, keys, Popularity.Zipf, s, Start: 5_000_000));
        workload.Start();
        net.Sim.Run();

        Assert.Equal(lookups, workload.Issued);
        Assert.Equal(lookups, net.Lookups.Metrics.Issued);
        Assert.Equal(lookups, rec.Times.Count);
        Assert.True(rec.Times[0] >= 5_000_000, "no lookup before Start");

        double h = Harmonic(keys, s);
        AssertFits(rec.Keys, i => Math.Pow(i + 1, -s) / h, "key popularity"); // key-0 is rank 1
        AssertFits(rec.Origins, _ => 1.0 / nodes, "origins");

        // Gaps are Exp(1/rate): mean 10 000 µs with standard deviation 10 000 µs, so the mean of n gaps has a
        // standard error of 10 000/√n (~45 µs here); allow 5 of them (truncation to whole µs biases by < 1 µs).
        double meanGap = (double)(rec.Times[^1] - rec.Times[0]) / (rec.Times.Count - 1);
        double expected = 1e6 / rate, se = expected / Math.Sqrt(rec.Times.Count - 1);
        Assert.InRange(meanGap, expected - 5 * se, expected + 5 * se);
    }

    [Fact]
    public void UniformPopularityDrawsEveryKeyAlike()
    {
        const int keys = 50;
        var (net, rec, workload) = World(4, new WorkloadOptions(20_000, 1000, 0, 0, keys, Popularity.Uniform, 0, 0));
        workload.Start();
        net.Sim.Run();
        AssertFits(rec.Keys, _ => 1.0 / keys, "uniform keys");
    }

    [Fact]
    public void RateModeIssuesAboutRateTimesNodesTimesDurationInsideTheWindow()
    {
        const int nodes = 40;
        const double perNode = 0.5;                   // lookups per second per node
        const long start = 2_000_000, duration = 1_000_000_000; // 1000 s
        var (net, rec, workload) = World(nodes, new WorkloadOptions(0, 0, perNode, duration, 10, Popularity.Uniform, 0, start));
        workload.Start();
        net.Sim.Run();

        // The count is Poisson with mean λ = 0.5 · 40 · 1000 = 20 000 and standard deviation √λ ≈ 141; 5 of them.
        double lambda = perNode * nodes * duration / 1e6;
        Assert.InRange(workload.Issued, lambda - 5 * Math.Sqrt(lambda), lambda + 5 * Math.Sqrt(lambda));
        Assert.All(rec.Times, t => Assert.InRange(t, start, start + duration - 1));
    }

    [Fact]
    public void DeadNodesIssueNothing()
    {
        var (net, rec, workload) = World(6, new WorkloadOptions(3000, 100, 0, 0, 5, Popularity.Uniform, 0, 0));
        net.Nodes.SetDead(2);
        net.Nodes.SetDead(5);
        workload.Start();
        net.Sim.Run();
        Assert.Equal(0, rec.Origins[2] + rec.Origins[5]);
        Assert.Equal(3000, rec.Origins.Sum());
    }

    [Fact]
    public void SameSeedSameArrivalsOtherSeedOthers()
    {
        long[] Run(long seed)
        {
            var (net, rec, workload) = World(8, new WorkloadOptions(500, 50, 0, 0, 10, Popularity.Zipf, 0.9, 0), seed);
            workload.Start();
            net.Sim.Run();
            return [.. rec.Times];
        }
        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }

    [Fact]
    public void NodeTargetsAreLiveNodesOtherThanTheOriginDrawnUniformly()
    {
        const int nodes = 12, lookups = 30_000;
        var (net, rec, workload) = World(nodes, new WorkloadOptions(lookups, 1000, 0, 0, 5, Popularity.Uniform, 0, 0) { Targets = LookupTargets.Nodes });
        net.Nodes.SetDead(3);
        workload.Start();
        net.Sim.Run();
        Assert.Equal(0, rec.Keys.Sum());                 // no key index: these lookups are for node ids
        Assert.Equal(lookups, rec.Targets.Sum());        // every key was the id of a node
        Assert.Equal(0, rec.TargetIsOrigin);
        Assert.Equal(0, rec.Targets[3]);                 // never a dead node
        // Over the 11 live nodes, origin and target are a uniform pair of distinct nodes: each is the target of 1/11.
        long[] live = [.. rec.Targets.Where((_, i) => i != 3)];
        AssertFits(live, _ => 1.0 / live.Length, "targets");
    }
}
