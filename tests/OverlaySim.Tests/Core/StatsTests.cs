using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// <see cref="Stats"/>: nearest-rank percentiles (the smallest sample v with at least p% of the samples ≤ v)
/// on histograms and sorted arrays, means and maxima; and what <see cref="LookupMetrics"/> records.
/// </summary>
public class StatsTests
{
    // ---- worked examples (doc comments of Stats) ----

    [Fact]
    public void HistogramPercentileWorkedExample()
    {
        // Two 1s, five 2s, three 3s: 10 samples. Rank ceil(p·10/100): p20 -> rank 2 (a 1), p21 -> rank 3 (a 2),
        // p70 -> rank 7 (the last 2), p71 -> rank 8 (a 3).
        long[] h = [0, 2, 5, 3];
        Assert.Equal(1, Stats.PercentileOfHistogram(h, 0));
        Assert.Equal(1, Stats.PercentileOfHistogram(h, 20));
        Assert.Equal(2, Stats.PercentileOfHistogram(h, 21));
        Assert.Equal(2, Stats.PercentileOfHistogram(h, 50));
        Assert.Equal(2, Stats.PercentileOfHistogram(h, 70));
        Assert.Equal(3, Stats.PercentileOfHistogram(h, 71));
        Assert.Equal(3, Stats.PercentileOfHistogram(h, 100));
    }

    [Fact]
    public void SortedPercentileWorkedExample()
    {
        long[] v = [3, 5, 8, 13];
        Assert.Equal(3, Stats.PercentileOfSorted(v, 0));
        Assert.Equal(3, Stats.PercentileOfSorted(v, 25));
        Assert.Equal(5, Stats.PercentileOfSorted(v, 26));
        Assert.Equal(8, Stats.PercentileOfSorted(v, 75));
        Assert.Equal(13, Stats.PercentileOfSorted(v, 76));
        Assert.Equal(13, Stats.PercentileOfSorted(v, 100));
    }

    [Fact]
    public void PercentileOfOneToHundredIsPForEveryWholeP()
    {
        // The p-th percentile of 1..100 is p itself. Computing the rank as p / 100 · n gave 8 for p = 7
        // (0.07 · 100 = 7.000000000000001), and likewise for p = 14, 28, 55, 56, 57, ...
        long[] values = new long[100];
        long[] hist = new long[101];
        for (int i = 0; i < 100; i++)
        {
            values[i] = i + 1;
            hist[i + 1] = 1;
        }
        for (int p = 1; p <= 100; p++)
        {
            Assert.Equal(p, Stats.PercentileOfSorted(values, p));
            Assert.Equal(p, Stats.PercentileOfHistogram(hist, p));
        }
    }

    [Fact]
    public void NoSamplesGiveZero()
    {
        Assert.Equal(0, Stats.PercentileOfSorted([], 50));
        Assert.Equal(0, Stats.PercentileOfHistogram(new long[8], 50));
        Assert.Equal(0, Stats.MeanOfHistogram(new long[8]));
        Assert.Equal(0, Stats.MaxOfHistogram(new long[8]));
        Assert.Equal(0, Stats.Mean([]));
    }

    [Fact]
    public void MeanAndMaxWorkedExamples()
    {
        long[] h = [0, 2, 5, 3];                      // (2·1 + 5·2 + 3·3) / 10 = 2.1
        Assert.Equal(2.1, Stats.MeanOfHistogram(h), 12);
        Assert.Equal(3, Stats.MaxOfHistogram([0, 2, 5, 3, 0, 0]));
        Assert.Equal(6.0, Stats.Mean([2, 4, 12]), 12);
    }

    [Fact]
    public void PercentilesFollowTheirDefinitionOnRandomData()
    {
        // Definition with whole numbers only: the smallest sample v with 100 · #{x ≤ v} ≥ p · n.
        var cases = Gen.Zip(Gen.Choose(0, 20).ArrayOf().Where(a => a.Length > 0), Gen.Choose(0, 100));
        Prop.ForAll(Arb.From(cases), ((int[] Data, int P) c) =>
        {
            long[] sorted = c.Data.Select(x => (long)x).Order().ToArray();
            long n = sorted.Length;
            long expected = sorted.First(v => 100 * sorted.LongCount(x => x <= v) >= c.P * n);
            var hist = new long[21];
            foreach (long x in sorted) hist[x]++;
            Assert.Equal(expected, Stats.PercentileOfSorted(sorted, c.P));
            Assert.Equal(expected, Stats.PercentileOfHistogram(hist, c.P));
            Assert.Equal(sorted.Average(), Stats.MeanOfHistogram(hist), 9);
            Assert.Equal(sorted[^1], Stats.MaxOfHistogram(hist));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(1000));
    }

    [Fact]
    public void LookupMetricsRecordHopsAndLatencyAtTheAnswerAndMessagesAtTheEnd()
    {
        var m = new LookupMetrics();
        var r = new LookupRecord { Hops = 3, Messages = 4, Bytes = 100, Timeouts = 1 };
        m.RecordAnswer(in r, LookupOutcome.Ok, 1500);
        m.RecordAnswer(in r, LookupOutcome.Wrong, 2500);
        m.RecordAnswer(new LookupRecord { Hops = 70 }, LookupOutcome.Ok, 100); // grows the histogram
        m.RecordAnswer(new LookupRecord { Hops = 5 }, LookupOutcome.Failed, 0);
        Assert.Equal((2L, 1L, 1L, 4L), (m.Ok, m.Wrong, m.Failed, m.Finished));
        Assert.Equal(0, m.Messages);                          // nothing has ended yet
        Assert.Equal([1500L, 2500L, 100L], m.Latencies.ToArray()); // a failed lookup has no latency
        Assert.Equal(2, m.HopHistogram[3]);
        Assert.Equal(1, m.HopHistogram[70]);
        Assert.Equal(0, m.HopHistogram[5]);                  // nor a route length

        m.RecordEnd(in r);
        m.RecordEnd(new LookupRecord { Messages = 9, Bytes = 300, Timeouts = 0 });
        Assert.Equal((2L, 13L, 400L), (m.Ended, m.Messages, m.Bytes));
        Assert.Equal([1L, 1L], m.TimeoutHistogram[..2].ToArray());
    }

    [Fact]
    public void ARegisteredMetricGivesItsColumnsStatisticsAndIsRegisteredOnce()
    {
        var m = new LookupMetrics();
        var spec = new OverlayMetric("x", "a test metric", [new("x_mean", MetricStat.Mean), new("x_p99", MetricStat.P99), new("x_max", MetricStat.Max)]);
        SampleMetric a = m.Register(spec);
        Assert.Same(a, m.Register(spec));
        for (int v = 0; v < 100; v++) a.Add(v);
        a.Add(1000);                                          // grows past the initial histogram
        Assert.Equal(5950.0 / 101, a.Value(MetricStat.Mean), 9);
        Assert.Equal(99, a.Value(MetricStat.P99));            // nearest rank: the 100th of 101 samples
        Assert.Equal(1000, a.Value(MetricStat.Max));
        Assert.Single(m.Registered);
    }

    [Theory]
    [InlineData(10, 100)]            // too few to count
    [InlineData(5000, 3000)]         // a narrow range: counted
    [InlineData(5000, 1_000_000)]    // a wide range: sorted
    [InlineData(20_000, 0)]          // all equal
    public void SortGivesTheOrderOfArraySort(int count, int range)
    {
        var rng = new Random(count + range);
        long[] values = new long[count];
        for (int i = 0; i < count; i++) values[i] = 1_000_000 + rng.NextInt64(range + 1);
        long[] expected = (long[])values.Clone();
        Array.Sort(expected);
        Stats.Sort(values);
        Assert.Equal(expected, values);
    }
}
