using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>
/// Stretch of recursive routes: the latency of the route's hops summed over the direct latency from the origin to the
/// node that delivered (the Pastry paper's "relative distance", the CAN paper's latency stretch), registered as
/// stretch_mean, stretch_p50 and stretch_p99. Percentiles are nearest-rank over hundredths; lookups delivered at their
/// origin have none.
/// </summary>
internal sealed class RouteStretch
{
    public static readonly OverlayMetric Metric = new("stretch",
        "route latency (the hops' one-way latencies summed) over the direct latency from origin to the node that delivered; lookups delivered at their origin have none",
        [new("stretch_mean", MetricStat.Computed), new("stretch_p50", MetricStat.Computed), new("stretch_p99", MetricStat.Computed)]);

    private const int Bins = 10_001;                 // hundredths, the last bin holding everything above
    private readonly Network _net;
    private readonly long[] _histogram = new long[Bins];
    private long _count;
    private double _sum;

    public RouteStretch(Network net)
    {
        _net = net;
        net.Lookups.Metrics.Register(Metric).Computed = column => column switch
        {
            "stretch_mean" => _count == 0 ? 0 : _sum / _count,
            "stretch_p50" => Percentile(50),
            _ => Percentile(99),
        };
    }

    /// <summary>A measured route from <paramref name="origin"/> delivered at <paramref name="answer"/> after <paramref name="pathLatency"/> µs of hops.</summary>
    public void Add(int origin, int answer, long pathLatency)
    {
        long direct = _net.Transport.OneWay(origin, answer);
        if (answer == origin || direct <= 0) return;
        double stretch = (double)pathLatency / direct;
        _sum += stretch;
        _count++;
        _histogram[(int)Math.Min(Bins - 1, Math.Round(stretch * 100))]++;
    }

    private double Percentile(double p)
    {
        if (_count == 0) return 0;
        long rank = (long)Math.Ceiling(p / 100 * _count);
        long seen = 0;
        for (int i = 0; i < Bins; i++)
        {
            seen += _histogram[i];
            if (seen >= rank) return i / 100.0;
        }
        return (Bins - 1) / 100.0;
    }
}
