namespace OverlaySim.Core;

/// <summary>
/// Per-run lookup statistics, defined once for every overlay (see README, "Metrics"). Recording a lookup
/// allocates nothing once <see cref="Reserve"/> has sized the latency list for the run (Experiment does): histograms
/// are indexed by hop count, and the latency list only grows, by doubling, past what was reserved.
/// </summary>
public sealed class LookupMetrics
{
    private long[] _hops = new long[64];
    private long[] _paperHops = new long[64];
    private long[] _latency = new long[1024];

    public long Issued { get; private set; }
    public long Ok { get; private set; }
    public long Wrong { get; private set; }
    public long Failed { get; private set; }
    /// <summary>Messages caused by all finished measured lookups, whatever their outcome.</summary>
    public long Messages { get; private set; }

    public long Finished => Ok + Wrong + Failed;
    public long LatencyCount { get; private set; }
    public bool AnyPaperHops { get; private set; }

    public ReadOnlySpan<long> HopHistogram => _hops;
    public ReadOnlySpan<long> PaperHopHistogram => _paperHops;
    public ReadOnlySpan<long> Latencies => _latency.AsSpan(0, (int)LatencyCount);

    public void CountIssued() => Issued++;

    /// <summary>A measured lookup whose origin departed before it ended: excluded from every rate.</summary>
    public void CountAbandoned()
    {
        Issued--;
        Abandoned++;
    }

    public long Abandoned { get; private set; }

    /// <summary>Sum of hops over ok and wrong lookups (for interval means).</summary>
    public long HopSum { get; private set; }

    /// <summary>Sums of RPCs and rounds over ok and wrong lookups (iterative overlays).</summary>
    public long RpcSum { get; private set; }
    public long RoundSum { get; private set; }

    private long[] _timeouts = new long[16];
    public ReadOnlySpan<long> TimeoutHistogram => _timeouts;

    /// <summary>Lookups for stored keys that returned the value, and all lookups for stored keys.</summary>
    public long ValuesFound { get; private set; }
    public long ValueLookups { get; private set; }

    public void RecordValue(bool found)
    {
        ValueLookups++;
        if (found) ValuesFound++;
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

    public void Record(in LookupRecord r, LookupOutcome outcome, long latencyMicros)
    {
        Messages += r.Messages;
        Add(ref _timeouts, r.Timeouts);
        switch (outcome)
        {
            case LookupOutcome.Ok: Ok++; break;
            case LookupOutcome.Wrong: Wrong++; break;
            default: Failed++; return; // a failed lookup has no route length and no latency
        }
        Add(ref _hops, r.Hops);
        HopSum += r.Hops;
        RpcSum += r.Rpcs;
        RoundSum += r.Rounds;
        if (r.PaperHops >= 0)
        {
            AnyPaperHops = true;
            Add(ref _paperHops, r.PaperHops);
        }
        if (LatencyCount == _latency.Length) Array.Resize(ref _latency, _latency.Length * 2);
        _latency[LatencyCount++] = latencyMicros;
    }

    private static void Add(ref long[] histogram, int value)
    {
        if (value >= histogram.Length) Array.Resize(ref histogram, Math.Max(histogram.Length * 2, value + 1));
        histogram[value]++;
    }
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

    public static double Mean(ReadOnlySpan<long> values)
    {
        if (values.Length == 0) return 0;
        double sum = 0;
        foreach (long v in values) sum += v;
        return sum / values.Length;
    }
}
