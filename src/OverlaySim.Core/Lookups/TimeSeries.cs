namespace OverlaySim.Core;

/// <summary>One row of timeseries.csv: what happened during one sampling interval, ending at <see cref="TimeSeconds"/>.</summary>
public readonly record struct TimeSample(
    double TimeSeconds,
    int LiveNodes,
    long LookupsIssued,
    long LookupsFinished,
    double SuccessRate,
    double HopsMean,
    double MaintBytesPerNodeS);

/// <summary>
/// Samples the run every interval of simulated time, for plots over time. Each row covers the interval since the
/// previous one: lookups issued, lookups finished and the share of them that were ok, their mean hops, and
/// maintenance bytes per live node per second. A lookup answered at the very time of a sample is counted in the next
/// row, whatever the order of that instant's events. It samples only inside the measurement window's counters, so rows
/// before measure_after show zeros for lookups and traffic. It stops at the run's end, or when nothing else is left
/// to simulate.
/// </summary>
public sealed class TimeSeriesSampler : IEventSink
{
    private readonly Network _net;
    private readonly long _interval;
    private readonly long _end;
    private readonly List<TimeSample> _rows = [];
    private byte _sink;
    private long _issued, _finished, _ok, _hopSum, _bytes;
    private double _nodeSeconds;

    public TimeSeriesSampler(Network net, long interval, long end)
    {
        _net = net;
        _interval = interval;
        _end = end;
    }

    public IReadOnlyList<TimeSample> Rows => _rows;

    public void Start()
    {
        _sink = _net.Sim.Register(this);
        _net.Sim.Schedule(_interval, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = _sink });
    }

    public void Handle(ref Event ev)
    {
        LookupMetrics m = _net.Lookups.Metrics;
        // The answers of this very instant go to the next row: whether one of them is handled before or after the
        // sample depends only on when the events of one instant were scheduled, not on anything simulated (and a lookup
        // routed whole when it begins schedules its answer earlier than one routed hop by hop).
        var (okNow, wrongNow, failedNow, hopsNow) = m.AnsweredAt(_net.Sim.Now);
        long ok = m.Ok - okNow, wrong = m.Wrong - wrongNow, failed = m.Failed - failedNow;
        long issued = m.Issued + m.Abandoned, finished = ok + wrong + failed, hopSum = m.HopSum - hopsNow, bytes = _net.Transport.Traffic.TotalBytes;
        double nodeSeconds = _net.Population.LiveNodeSeconds;
        long dFinished = finished - _finished, dCompleted = ok - _ok;
        long completedHops = hopSum - _hopSum;
        long completed = (ok + wrong) - (_ok + _wrongAtLast);
        double dNodeSeconds = nodeSeconds - _nodeSeconds;
        _rows.Add(new TimeSample(
            _net.Sim.Now / 1e6,
            _net.Nodes.LiveCount,
            issued - _issued,
            dFinished,
            dFinished == 0 ? 0 : (double)dCompleted / dFinished,
            completed == 0 ? 0 : (double)completedHops / completed,
            dNodeSeconds <= 0 ? 0 : (bytes - _bytes) / dNodeSeconds));
        _issued = issued;
        _finished = finished;
        _ok = ok;
        _wrongAtLast = wrong;
        _hopSum = hopSum;
        _bytes = bytes;
        _nodeSeconds = nodeSeconds;

        long next = _net.Sim.Now + _interval;
        bool more = _end > 0 ? next <= _end : _net.Sim.Queue.Count > 0 || okNow + wrongNow + failedNow > 0;
        if (more) _net.Sim.Schedule(_interval, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = _sink });
    }

    private long _wrongAtLast;
}
