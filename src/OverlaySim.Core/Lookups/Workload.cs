namespace OverlaySim.Core;

/// <summary>Key popularity: uniform over the K keys, or Zipf with exponent s (key-0 the most popular).</summary>
public enum Popularity : byte
{
    Uniform,
    Zipf,
}

/// <summary>The lookup workload of a run (scenario section <c>workload:</c>).</summary>
/// <param name="Lookups">Count mode: total lookups issued, as one Poisson stream of aggregate <paramref name="Rate"/>.</param>
/// <param name="Rate">Count mode: aggregate issue rate, lookups per second of simulated time.</param>
/// <param name="PerNodeRate">Rate mode (when &gt; 0): each live node issues lookups as a Poisson process of this
/// rate per second, from <paramref name="Start"/> for <paramref name="Duration"/> µs.</param>
/// <param name="Duration">Rate mode: how long lookups are issued, µs.</param>
/// <param name="Keys">K, the number of named keys (key-0 .. key-(K-1)).</param>
/// <param name="Popularity">How keys are drawn.</param>
/// <param name="ZipfExponent">s in P(rank r) ∝ 1 / r^s (ranks from 1), with Zipf popularity.</param>
/// <param name="Start">Time of the first possible lookup, µs.</param>
public sealed record WorkloadOptions(
    long Lookups,
    double Rate,
    double PerNodeRate,
    long Duration,
    int Keys,
    Popularity Popularity,
    double ZipfExponent,
    long Start)
{
    public bool RateMode => PerNodeRate > 0;

    /// <summary>How many copies of each item exist, for overlays without a placement rule; null when not set.</summary>
    public ReplicationOptions? Replication { get; init; }

    /// <summary>What a lookup looks for: one of the K keys, or the id of a live node.</summary>
    public LookupTargets Targets { get; init; }
}

/// <summary>What the workload's lookups look for.</summary>
public enum LookupTargets : byte
{
    /// <summary>One of the K named keys, drawn by popularity.</summary>
    Keys,
    /// <summary>
    /// The id of a live peer drawn uniformly among those other than the origin: a route between a random pair of
    /// nodes (the Pastry and CAN papers' measurements). Such a lookup carries no key index and looks for no value.
    /// </summary>
    Nodes,
}

/// <summary>
/// Issues lookups: for each one, a uniformly chosen live origin (a peer: never an overlay's server) and a key drawn by popularity, both from the
/// "workload" random stream, at Poisson arrival times.
/// </summary>
/// <remarks>
/// Rate mode uses the superposition of the per-node Poisson processes: the next arrival comes after an
/// exponential gap of mean 1 / (rate · live nodes), from a uniformly chosen live node, which has the same
/// law as N independent processes and costs one pending event instead of N.
/// Only the next arrival is ever pending, so memory does not grow with the number of lookups.
/// </remarks>
public sealed class Workload : IEventSink
{
    private const byte Arrival = 1;

    private readonly Network _net;
    private readonly Action<int> _start;
    private readonly WorkloadOptions _options;
    private readonly double[]? _zipfCdf;
    private Xoshiro256 _rng;
    private byte _sink;
    private long _issued;

    private readonly long _end;

    /// <param name="start">Starts a lookup that has just begun (the overlay's <see cref="Overlay.StartLookup"/>).</param>
    /// <param name="end">The run's end (µs): no lookup is issued at or after it; 0 for no end.</param>
    public Workload(Network net, WorkloadOptions options, Action<int> start, long end = 0)
    {
        _net = net;
        _start = start;
        _options = options;
        _end = end > 0 ? end : long.MaxValue;
        _rng = net.Streams.Stream("workload");
        if (options.Popularity == Popularity.Zipf) _zipfCdf = ZipfCdf(options.Keys, options.ZipfExponent);
    }

    public long Issued => _issued;

    public void Start()
    {
        _sink = _net.Sim.Register(this);
        if (!_options.RateMode && _options.Lookups == 0) return;
        ScheduleNext(_options.Start);
    }

    public void Handle(ref Event ev)
    {
        // With a server up, the draw skips it (the same first draw as below when it does not land on the server).
        int origin = _net.Population.LiveServers > 0 ? _net.Population.RandomLivePeer(ref _rng) : _net.Nodes.LiveCount > 0 ? _net.Nodes.LiveAt(_rng.NextInt(_net.Nodes.LiveCount)) : -1;
        if (origin >= 0)
        {
            int slot = _options.Targets == LookupTargets.Nodes ? _net.Lookups.BeginUserForNode(origin, _net.Nodes.Ids[DrawTarget(origin)]) : _net.Lookups.BeginUser(origin, DrawKey());
            _issued++;
            _start(slot);
        }
        if (!_options.RateMode && _issued >= _options.Lookups) return;
        ScheduleNext(_net.Sim.Now);
    }

    private void ScheduleNext(long from)
    {
        double ratePerSecond = _options.RateMode ? _options.PerNodeRate * Math.Max(1, _net.Nodes.LiveCount - _net.Population.LiveServers) : _options.Rate;
        long gap = (long)_rng.NextExponential(1e6 / ratePerSecond);
        long at = from + gap;
        if (_options.RateMode && at >= _options.Start + _options.Duration) return;
        if (at >= _end) return;
        _net.Sim.ScheduleAt(at, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = _sink, Type = Arrival });
    }

    /// <summary>A live peer other than <paramref name="origin"/> (the origin itself when it is the only one).</summary>
    private int DrawTarget(int origin)
    {
        int peers = _net.Nodes.LiveCount - _net.Population.LiveServers;
        if (peers < 2) return origin;
        while (true)
        {
            int t = _net.Population.LiveServers > 0 ? _net.Population.RandomLivePeer(ref _rng) : _net.Nodes.LiveAt(_rng.NextInt(_net.Nodes.LiveCount));
            if (t != origin) return t;
        }
    }

    private int DrawKey()
    {
        if (_zipfCdf is null) return _rng.NextInt(_options.Keys);
        double u = _rng.NextDouble();
        int i = Array.BinarySearch(_zipfCdf, u);
        if (i < 0) i = ~i;
        return Math.Min(i, _zipfCdf.Length - 1);
    }

    /// <summary>Cumulative probabilities of ranks 1..K under Zipf(s); the last entry is exactly 1.</summary>
    public static double[] ZipfCdf(int keys, double s)
    {
        var cdf = new double[keys];
        double sum = 0;
        for (int r = 0; r < keys; r++)
        {
            sum += Math.Pow(r + 1, -s);
            cdf[r] = sum;
        }
        for (int r = 0; r < keys; r++) cdf[r] /= sum;
        cdf[keys - 1] = 1.0;
        return cdf;
    }
}
