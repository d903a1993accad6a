using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>The latency models: each one's formula, its range, symmetry and stability, and its mean.</summary>
public class LatencyTests
{
    /// <summary>Mean and sample standard deviation.</summary>
    private static (double Mean, double Sd) Moments(IReadOnlyList<long> xs)
    {
        double mean = xs.Average();
        double ss = 0;
        foreach (long x in xs) ss += (x - mean) * (x - mean);
        return (mean, Math.Sqrt(ss / (xs.Count - 1)));
    }

    // ---- constant ----

    [Fact]
    public void ConstantIsTheSameForEveryPair()
    {
        var model = new ConstantLatency(80_000);
        var rng = new Xoshiro256(1);
        for (int i = 0; i < 1000; i++) Assert.Equal(80_000, model.OneWay(rng.NextInt(1 << 20), rng.NextInt(1 << 20)));
        Assert.Equal(0, model.BytesPerNode);
    }

    // ---- uniform ----

    private static List<long> AllPairs(LatencyModel m, int nodes)
    {
        var delays = new List<long>(nodes * (nodes - 1) / 2);
        for (int a = 0; a < nodes; a++)
            for (int b = a + 1; b < nodes; b++) delays.Add(m.OneWay(a, b));
        return delays;
    }

    [Fact]
    public void UniformStaysInRangeIsSymmetricAndStable()
    {
        const long min = 10_000, max = 109_999;
        const int nodes = 300;
        var model = new UniformLatency(min, max, streamSeed: 0xABCDEF);
        var again = new UniformLatency(min, max, streamSeed: 0xABCDEF);
        var other = new UniformLatency(min, max, streamSeed: 0xABCDF0);
        int differs = 0, pairs = 0;
        for (int a = 0; a < nodes; a++)
            for (int b = a + 1; b < nodes; b++)
            {
                long d = model.OneWay(a, b);
                Assert.InRange(d, min, max);
                Assert.Equal(d, model.OneWay(b, a));  // symmetric
                Assert.Equal(d, model.OneWay(a, b));  // stable: recomputed, not drawn again
                Assert.Equal(d, again.OneWay(a, b));  // a function of the stream seed only
                if (other.OneWay(a, b) != d) differs++;
                pairs++;
            }
        // Two seeds agree on a pair with probability 1/100 000: 44 850 pairs give ~0.45 agreements.
        Assert.True(differs >= pairs - 10, $"only {differs} of {pairs} pairs changed with the seed");
    }

    [Fact]
    public void UniformIsUniformOverItsRange()
    {
        const long min = 10_000, max = 109_999;              // 100 000 values: ten bins of 10 000
        List<long> delays = AllPairs(new UniformLatency(min, max, 42), 300);
        int n = delays.Count;

        // Mean: a discrete uniform on [min, max] has variance ((max - min + 1)^2 - 1) / 12; 5 standard errors.
        double sd = Math.Sqrt((Math.Pow(max - min + 1, 2) - 1) / 12);
        double se = sd / Math.Sqrt(n);
        Assert.InRange(delays.Average(), (min + max) / 2.0 - 5 * se, (min + max) / 2.0 + 5 * se);

        // Shape: ten equal bins, chi-square against 0.001 significance over 9 df (27.88, from the table).
        var bins = new long[10];
        foreach (long d in delays) bins[(d - min) / 10_000]++;
        double chi = bins.Sum(c => (c - n / 10.0) * (c - n / 10.0) / (n / 10.0));
        Assert.True(chi < 27.88, $"chi-square {chi:F1}");
    }

    [Fact]
    public void UniformReachesBothEnds()
    {
        Assert.All(AllPairs(new UniformLatency(5, 5, 7), 50), d => Assert.Equal(5, d));
        List<long> coin = AllPairs(new UniformLatency(0, 1, 7), 100);  // 4950 fair coin flips
        long ones = coin.Count(d => d == 1);
        Assert.Equal(coin.Count, coin.Count(d => d is 0 or 1));
        // Binomial(4950, 1/2): sd ~35; 5 sd around 2475.
        Assert.InRange(ones, 2475 - 176, 2475 + 176);
    }

    // ---- coordinates ----

    [Fact]
    public void UnitCubeMeanDistanceMatchesTheClosedForms()
    {
        double r2 = Math.Sqrt(2), r3 = Math.Sqrt(3);
        Assert.Equal(1.0 / 3, CoordinateLatency.MeanUnitCubeDistance(1), 15);
        Assert.Equal((2 + r2 + 5 * Math.Log(1 + r2)) / 15, CoordinateLatency.MeanUnitCubeDistance(2), 15);
        // Robbins' constant.
        double robbins = (4 + 17 * r2 - 6 * r3 - 7 * Math.PI) / 105 + Math.Log(1 + r2) / 5 + 2 * Math.Log(2 + r3) / 5;
        Assert.Equal(robbins, CoordinateLatency.MeanUnitCubeDistance(3), 15);
    }

    [Theory]
    [InlineData(1, 0, 0)]
    [InlineData(2, 0, 0)]
    [InlineData(3, 0, 0)]
    [InlineData(5, 0, 0)]
    [InlineData(2, 1_000, 5_000)]
    public void CoordinatesMeanOverRandomPairsIsTheConfiguredMean(int dims, long accessMin, long accessMax)
    {
        // Pairs (0,1), (2,3), ... of independently placed nodes are independent draws of "two random
        // nodes", so the sample mean of their delays has standard error sd/√pairs exactly.
        const int pairs = 200_000; // 5 standard errors stay under 1% of the mean for every case below
        const long mean = 50_000;
        var rng = new Xoshiro256(31 + (ulong)dims);
        var model = new CoordinateLatency(2 * pairs, dims, mean, accessMin, accessMax, ref rng);
        var delays = new List<long>(pairs);
        for (int i = 0; i < pairs; i++) delays.Add(model.OneWay(2 * i, 2 * i + 1));
        (double m, double sd) = Moments(delays);

        // Expected: the configured mean plus the two access delays, each uniform on [min, max].
        double expected = mean + (accessMax > 0 ? accessMin + accessMax : 0);
        double se = sd / Math.Sqrt(pairs);
        // For d >= 4 the scale uses a 2^22-pair Monte Carlo estimate of the mean distance, whose own relative
        // standard error is at most (sd/m)/√2^22; add it in quadrature. Truncating to whole µs costs < 1 µs.
        double seScale = dims >= 4 ? mean * (sd / m) / Math.Sqrt(1 << 22) : 0;
        double tolerance = 5 * Math.Sqrt(se * se + seScale * seScale) + 1;
        Assert.InRange(m, expected - tolerance, expected + tolerance);
    }

    [Fact]
    public void CoordinatesAreSymmetricWithAccessDelaysAtBothEnds()
    {
        var rng = new Xoshiro256(8);
        var model = new CoordinateLatency(200, 2, 40_000, 1_000, 3_000, ref rng);
        for (int a = 0; a < 200; a++)
        {
            long self = model.OneWay(a, a); // zero distance: the two access delays only
            Assert.InRange(self, 2_000, 6_000);
            Assert.Equal(0, self % 2);
            for (int b = a + 1; b < 200; b += 7)
            {
                Assert.Equal(model.OneWay(a, b), model.OneWay(b, a));
                // A delay is at least its two access delays, access(a) + access(b) = (self(a) + self(b)) / 2.
                Assert.True(model.OneWay(a, b) >= (self + model.OneWay(b, b)) / 2);
            }
            foreach (float x in model.Position(a)) Assert.InRange(x, 0f, 1f);
        }
        Assert.Equal(2 * sizeof(float) + sizeof(int), model.BytesPerNode);
    }

    // ---- matrix ----

    private const int Hosts = 6;

    /// <summary>RTT(h1, h2) = 2·(1000 + 100·h1 + h2) + 1 for distinct hosts (odd on purpose), 0 on the diagonal.</summary>
    private static int[] Rtt()
    {
        var rtt = new int[Hosts * Hosts];
        for (int h1 = 0; h1 < Hosts; h1++)
            for (int h2 = 0; h2 < Hosts; h2++)
                rtt[h1 * Hosts + h2] = h1 == h2 ? 0 : 2 * (1000 + 100 * h1 + h2) + 1;
        return rtt;
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)]
    public void MatrixGivesEachNodeItsOwnHostAndHalfTheRtt(int nodes)
    {
        int[] rtt = Rtt();
        var rng = new Xoshiro256(17);
        var model = new MatrixLatency(Hosts, rtt, nodes, ref rng);

        int[] hosts = Enumerable.Range(0, nodes).Select(model.HostOf).ToArray();
        Assert.All(hosts, h => Assert.InRange(h, 0, Hosts - 1));
        Assert.Equal(nodes, hosts.Distinct().Count()); // N <= H: a permutation, no host shared

        for (int a = 0; a < nodes; a++)
            for (int b = 0; b < nodes; b++)
                // One-way = RTT / 2 in whole µs: an odd RTT of 2·x + 1 gives x (the half µs is dropped).
                Assert.Equal(rtt[hosts[a] * Hosts + hosts[b]] / 2, model.OneWay(a, b));
    }

    [Fact]
    public void MatrixSharesHostsEvenlyWhenThereAreMoreNodes()
    {
        var rng = new Xoshiro256(3);
        var model = new MatrixLatency(Hosts, Rtt(), 15, ref rng);
        int[] perHost = new int[Hosts];
        for (int i = 0; i < 15; i++) perHost[model.HostOf(i)]++;
        Assert.Equal([2, 2, 2, 3, 3, 3], perHost.Order().ToArray()); // 15 = 6·2 + 3
        Assert.Equal(0, model.OneWay(0, Hosts));                     // nodes 0 and 6 share a host: the diagonal
    }

    [Fact]
    public void MatrixMappingIsAUniformPermutation()
    {
        // Host of node 0 over 6000 seeds: uniform on 6 hosts (1000 expected each). A shuffle that never leaves an
        // element in place (Sattolo's) or skips the last swap would empty or overfill host 0.
        const int seeds = 6000;
        var counts = new long[Hosts];
        int[] rtt = Rtt();
        for (int s = 0; s < seeds; s++)
        {
            var rng = new Xoshiro256((ulong)s);
            counts[new MatrixLatency(Hosts, rtt, 1, ref rng).HostOf(0)]++;
        }
        double e = seeds / (double)Hosts;
        double chi = counts.Sum(c => (c - e) * (c - e) / e);
        Assert.True(chi < 20.52, $"chi-square {chi:F1} over 5 df exceeds the 0.001 critical value 20.52");
    }

    // ---- symmetry, which round trips rely on ----

    [Fact]
    public void ModelsThatSayTheyAreSymmetricAreSoBitForBitAndTheMatrixDoesNotSaySo()
    {
        var rng = new Xoshiro256(11);
        var coords = new CoordinateLatency(500, 3, 40_000, 1_000, 3_000, ref rng);
        var models = new LatencyModel[]
        {
            new ConstantLatency(50_000), new UniformLatency(1_000, 90_000, 5), coords,
            new JitteredLatency(coords, 2_000, new Xoshiro256(3)),
        };
        foreach (LatencyModel m in models)
        {
            Assert.True(m.Symmetric, m.GetType().Name);
            for (int i = 0; i < 5000; i++)
            {
                int a = rng.NextInt(500), b = rng.NextInt(500);
                Assert.Equal(m.OneWay(a, b), m.OneWay(b, a));
            }
        }
        // A measured matrix may be asymmetric (here it is), so a round trip there adds both directions.
        int[] rtt = [0, 10_000, 30_000, 0];
        var matrix = new MatrixLatency(2, rtt, 2, ref rng);
        Assert.False(matrix.Symmetric);
        Assert.NotEqual(matrix.OneWay(0, 1), matrix.OneWay(1, 0));
        Assert.False(new JitteredLatency(matrix, 1_000, new Xoshiro256(4)).Symmetric);
    }
}
