namespace OverlaySim.Core;

/// <summary>
/// Per-run lookup statistics, defined once for every overlay (see README, "Results"), plus the per-lookup metrics
/// an overlay registers for itself (<see cref="Register"/>). Recording allocates nothing once <see cref="Reserve"/>
/// has sized the latency list for the run (Experiment does): histograms are indexed by value, and the latency list
/// only grows, by doubling, past what was reserved.
/// </summary>
/// <remarks>
/// Two moments of a measured lookup are recorded. Its answer (<see cref="RecordAnswer"/>): the outcome, and for an
/// answered lookup its hops and latency. Its end (<see cref="RecordEnd"/>): the messages, bytes and timeouts it
/// caused, final only once nothing more is in flight for it.
/// </remarks>
public sealed class LookupMetrics
{
    private long[] _hops = new long[64];
    private long[] _latency = new long[1024];
    private long[] _timeouts = new long[16];
    private readonly List<SampleMetric> _registered = [];

    public long Issued { get; private set; }
    public long Ok { get; private set; }
    public long Wrong { get; private set; }
    public long Failed { get; private set; }

    /// <summary>Answered lookups (ok, wrong or failed).</summary>
    public long Finished => Ok + Wrong + Failed;

    /// <summary>Measured lookups that have ended (their messages, bytes and timeouts are in the sums below).</summary>
    public long Ended { get; private set; }

    /// <summary>Messages and bytes caused by the measured lookups that have ended, whatever their outcome.</summary>
    public long Messages { get; private set; }
    public long Bytes { get; private set; }

    public long LatencyCount { get; private set; }

    public ReadOnlySpan<long> HopHistogram => _hops;
    public ReadOnlySpan<long> Latencies => _latency.AsSpan(0, (int)LatencyCount);
    public ReadOnlySpan<long> TimeoutHistogram => _timeouts;

    /// <summary>Sum of hops over ok and wrong lookups (for interval means).</summary>
    public long HopSum { get; private set; }

    public long Abandoned { get; private set; }

    /// <summary>Lookups for stored keys that returned the value, and all lookups for stored keys.</summary>
    public long ValuesFound { get; private set; }
    public long ValueLookups { get; private set; }

    /// <summary>The metrics the overlay registered, in registration order.</summary>
    public IReadOnlyList<SampleMetric> Registered => _registered;

    public void CountIssued() => Issued++;

    /// <summary>A measured lookup whose origin departed before it was answered: excluded from every rate.</summary>
    public void CountAbandoned()
    {
        Issued--;
        Abandoned++;
    }

    public void RecordValue(bool found)
    {
        ValueLookups++;
        if (found) ValuesFound++;
    }

    /// <summary>
    /// Registers a per-lookup metric of the overlay's own (paper hops, rounds, RPCs...): the overlay adds one sample per
    /// answered (ok or wrong) measured lookup, and the metric's columns appear in runs.csv. Registering the same
    /// metric twice gives the same recorder.
    /// </summary>
    public SampleMetric Register(OverlayMetric spec)
    {
        foreach (SampleMetric m in _registered)
            if (m.Spec == spec) return m;
        var metric = new SampleMetric(spec);
        _registered.Add(metric);
        return metric;
    }

    /// <summary>
    /// Makes room for the latencies of <paramref name="lookups"/> answered lookups, so that recording them
    /// allocates nothing during the run. Without it the list grows by doubling, which allocates in the middle of
    /// the measurement (amortized 16 bytes per lookup) and can leave up to half of the final array unused.
    /// </summary>
    public void Reserve(long lookups)
    {
        long n = Math.Min(lookups, Array.MaxLength);
        if (n > _latency.Length) Array.Resize(ref _latency, (int)n);
    }

    /// <summary>The lookup was answered (or failed): its outcome, and for an answer its hops and latency.</summary>
    public void RecordAnswer(in LookupRecord r, LookupOutcome outcome, long latencyMicros) => RecordAnswer(in r, outcome, latencyMicros, long.MinValue);

    /// <summary>
    /// <see cref="RecordAnswer(in LookupRecord, LookupOutcome, long)"/> at simulated time <paramref name="at"/>: the
    /// answers of the latest instant are also counted apart (<see cref="AnsweredAt"/>).
    /// </summary>
    public void RecordAnswer(in LookupRecord r, LookupOutcome outcome, long latencyMicros, long at)
    {
        if (at != _instant)
        {
            _instant = at;
            _instantOk = _instantWrong = _instantFailed = _instantHops = 0;
        }
        switch (outcome)
        {
            case LookupOutcome.Ok: Ok++; _instantOk++; break;
            case LookupOutcome.Wrong: Wrong++; _instantWrong++; break;
            default: Failed++; _instantFailed++; return; // a failed lookup has no route length and no latency
        }
        Add(ref _hops, r.Hops);
        HopSum += r.Hops;
        _instantHops += r.Hops;
        if (LatencyCount == _latency.Length) Array.Resize(ref _latency, _latency.Length * 2);
        _latency[LatencyCount++] = latencyMicros;
    }

    private long _instant = long.MinValue, _instantOk, _instantWrong, _instantFailed, _instantHops;

    /// <summary>
    /// What of <see cref="Ok"/>, <see cref="Wrong"/>, <see cref="Failed"/> and <see cref="HopSum"/> was recorded at
    /// simulated time <paramref name="time"/> (zeros unless it is the latest time an answer was recorded): for the time
    /// series, which counts an instant's answers after the instant, whatever the order of its events.
    /// </summary>
    public (long Ok, long Wrong, long Failed, long HopSum) AnsweredAt(long time) =>
        time == _instant ? (_instantOk, _instantWrong, _instantFailed, _instantHops) : (0, 0, 0, 0);

    /// <summary>The lookup ended: nothing more is in flight for it, so its messages, bytes and timeouts are final.</summary>
    public void RecordEnd(in LookupRecord r)
    {
        Ended++;
        Messages += r.Messages;
        Bytes += r.Bytes;
        Add(ref _timeouts, r.Timeouts);
    }

    internal static void Add(ref long[] histogram, int value)
    {
        if (value >= histogram.Length) Array.Resize(ref histogram, Math.Max(histogram.Length * 2, value + 1));
        histogram[value]++;
    }
}

/// <summary>A summary statistic of a registered metric, written as one column.</summary>
public enum MetricStat : byte
{
    Mean,
    P1,
    P50,
    P99,
    Max,
    /// <summary>A value the overlay computes itself at the end of the run (<see cref="SampleMetric.Computed"/>), e.g. a server's utilisation.</summary>
    Computed,
}

/// <summary>One column of a registered metric: its name in runs.csv and the statistic it holds.</summary>
public readonly record struct MetricColumn(string Name, MetricStat Stat);

/// <summary>
/// A per-lookup metric an overlay reports beyond the common ones (the Chord paper's path length, Kademlia's rounds
/// and RPCs): its name, what it counts, and the columns it adds to runs.csv. Declared once by the overlay, listed by
/// <c>overlaysim list</c>, and registered with <see cref="LookupMetrics.Register"/> when the overlay is attached.
/// </summary>
/// <param name="Name">Short name, e.g. <c>paper_hops</c>.</param>
/// <param name="Description">What one sample counts, for <c>list</c> and the README.</param>
/// <param name="Columns">The columns it adds, e.g. (paper_hops_mean, Mean), (paper_hops_p99, P99).</param>
/// <param name="Distribution">Whether the metric's whole distribution is written beside the hop counts (hops.csv's
/// column NAME_count): for path lengths, such as Chord's paper_hops.</param>
public sealed record OverlayMetric(string Name, string Description, IReadOnlyList<MetricColumn> Columns, bool Distribution = false);

/// <summary>The samples of one registered metric in one run: a histogram of whole values (0, 1, 2...).</summary>
public sealed class SampleMetric
{
    private long[] _histogram = new long[64];

    internal SampleMetric(OverlayMetric spec) => Spec = spec;

    public OverlayMetric Spec { get; }

    public ReadOnlySpan<long> Histogram => _histogram;

    /// <summary>Adds one sample (a count: at least 0).</summary>
    public void Add(int value) => LookupMetrics.Add(ref _histogram, Math.Max(0, value));

    /// <summary>
    /// For columns of stat <see cref="MetricStat.Computed"/>: the value of each such column by name, asked once at the end
    /// of the run (for quantities that are not one whole sample per lookup: a utilisation, a delay in µs).
    /// </summary>
    public Func<string, double>? Computed { get; set; }

    /// <summary>The value of one of its statistics over the samples so far (0 without samples).</summary>
    public double Value(MetricStat stat) => stat switch
    {
        MetricStat.Mean => Stats.MeanOfHistogram(_histogram),
        MetricStat.P1 => Stats.PercentileOfHistogram(_histogram, 1),
        MetricStat.P50 => Stats.PercentileOfHistogram(_histogram, 50),
        MetricStat.P99 => Stats.PercentileOfHistogram(_histogram, 99),
        _ => Stats.MaxOfHistogram(_histogram),
    };
}

/// <summary>Summary statistics with one documented percentile definition.</summary>
public static class Stats
{
    /// <summary>
    /// Nearest-rank percentile: the smallest value v such that at least p% of the samples are ≤ v
    /// (p = 0 gives the minimum). Returns 0 when there are no samples.
    /// </summary>
    /// <remarks>
    /// The rank is ceil(p·n / 100), computed in that order: p·n is exact for whole p, and dividing an exact
    /// multiple of 100 gives an exact integer. The other order, p / 100 · n, rounds 0.07 first and gives
    /// 7.000000000000001 for p = 7, n = 100, whose ceiling is one rank too high.
    /// </remarks>
    /// <example>Hop histogram [0, 2, 5, 3] (two 1s, five 2s, three 3s): p20 = 1, p21 = 2, p70 = 2, p71 = 3.</example>
    public static long PercentileOfHistogram(ReadOnlySpan<long> histogram, double p)
    {
        long total = 0;
        foreach (long c in histogram) total += c;
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(p * total / 100.0));
        long seen = 0;
        for (int v = 0; v < histogram.Length; v++)
        {
            seen += histogram[v];
            if (seen >= rank) return v;
        }
        return histogram.Length - 1;
    }

    public static double MeanOfHistogram(ReadOnlySpan<long> histogram)
    {
        long total = 0;
        double sum = 0;
        for (int v = 0; v < histogram.Length; v++)
        {
            total += histogram[v];
            sum += (double)v * histogram[v];
        }
        return total == 0 ? 0 : sum / total;
    }

    public static long MaxOfHistogram(ReadOnlySpan<long> histogram)
    {
        for (int v = histogram.Length - 1; v >= 0; v--)
            if (histogram[v] != 0) return v;
        return 0;
    }

    /// <summary>Nearest-rank percentile of values already sorted ascending (same definition and rank as above).</summary>
    /// <example>[3, 5, 8, 13]: p0 = 3, p25 = 3, p26 = 5, p75 = 8, p76 = 13, p100 = 13.</example>
    public static long PercentileOfSorted(ReadOnlySpan<long> sorted, double p)
    {
        if (sorted.Length == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(p * sorted.Length / 100.0));
        return sorted[(int)(rank - 1)];
    }

    /// <summary>
    /// Sorts <paramref name="values"/> in place: by counting when they span at most four times as many values as there
    /// are (lookup latencies in µs: about 10^6 of them within a few seconds), which is a few passes instead of a sort's
    /// n·log n comparisons; otherwise with <see cref="Array.Sort{T}(T[])"/>. The same order either way.
    /// </summary>
    public static void Sort(long[] values)
    {
        if (values.Length < 1024)
        {
            Array.Sort(values);
            return;
        }
        long min = long.MaxValue, max = long.MinValue;
        foreach (long v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if ((ulong)(max - min) >= 4UL * (ulong)values.Length)
        {
            Array.Sort(values);
            return;
        }
        int[] counts = new int[max - min + 1];
        foreach (long v in values) counts[v - min]++;
        int at = 0;
        for (int i = 0; i < counts.Length; i++)
            for (int c = counts[i]; c > 0; c--) values[at++] = min + i;
    }

    public static double Mean(ReadOnlySpan<long> values)
    {
        if (values.Length == 0) return 0;
        double sum = 0;
        foreach (long v in values) sum += v;
        return sum / values.Length;
    }
}
