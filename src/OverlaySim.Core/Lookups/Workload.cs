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

    /// <summary>
    /// Told of the lookups before they begin, <see cref="PlanAhead"/> at a time, when the overlay routes lookups whole
    /// (see <see cref="ILookupPlanner"/>); null to draw each lookup when it is issued. The draws are the same and in the
    /// same order either way: only when they are made differs, and nothing else draws from the workload's stream.
    /// </summary>
    public ILookupPlanner? Planner { get; init; }

    /// <summary>
    /// Lookups drawn and told to the <see cref="Planner"/> at once. The next batch is drawn when the one before it
    /// begins, so that a planner that routes on another thread (<see cref="ILookupPlanner"/>) has a batch's time to do it.
    /// </summary>
    public const int PlanAhead = 256;

    // Arrivals drawn ahead for the planner, up to two batches: each one's origin (-1: none was live) and key or target,
    // and the time of the arrival after it (-1: none, the workload ends there).
    private readonly (int Origin, int KeyIndex, Id Target, long Next)[] _drawn = new (int, int, Id, long)[2 * PlanAhead];
    private readonly PlannedLookup[] _plans = new PlannedLookup[PlanAhead];
    private int _drawnAt, _drawnCount;
    private long _drawnLookups;      // lookups drawn so far (begun or not): count mode stops drawing at the count
    private bool _drawnAll;          // the last arrival has been drawn

    public void Start()
    {
        _sink = _net.Sim.Register(this);
        if (!_options.RateMode && _options.Lookups == 0) return;
        ScheduleNext(_options.Start);
    }

    public void Handle(ref Event ev)
    {
        if (Planner is not null)
        {
            HandlePlanned();
            return;
        }
        var (origin, keyIndex, target) = DrawLookup();
        if (origin >= 0) Begin(origin, keyIndex, target);
        if (!_options.RateMode && _issued >= _options.Lookups) return;
        ScheduleNext(_net.Sim.Now);
    }

    /// <summary>One arrival's draws, in their order: its origin (-1: none is live), then its target (for lookups of node ids) or its key.</summary>
    private (int Origin, int KeyIndex, Id Target) DrawLookup()
    {
        int origin = DrawOrigin();
        if (origin < 0) return (-1, -1, default);
        return _options.Targets == LookupTargets.Nodes ? (origin, -1, _net.Nodes.Ids[DrawTarget(origin)]) : (origin, DrawKey(), default);
    }

    private void Begin(int origin, int keyIndex, Id target)
    {
        int slot = _options.Targets == LookupTargets.Nodes ? _net.Lookups.BeginUserForNode(origin, target) : _net.Lookups.BeginUser(origin, keyIndex);
        _issued++;
        _start(slot);
    }

    /// <summary>
    /// An arrival when the lookups are planned ahead: draws the next <see cref="PlanAhead"/> arrivals when none is
    /// left (origin, key and the gap to the next, in the order <see cref="Handle"/> draws them), and the batch after
    /// them as the first of a batch begins, tells the planner of each batch, then begins the arrival.
    /// </summary>
    private void HandlePlanned()
    {
        if (_drawnCount == 0) DrawAhead(_net.Sim.Now);
        // The batch after the one this arrival belongs to, drawn as this one begins.
        if (_drawnCount <= PlanAhead && !_drawnAll) DrawAhead(_drawn[(_drawnAt + _drawnCount - 1) % _drawn.Length].Next);
        var (origin, keyIndex, target, next) = _drawn[_drawnAt];
        _drawnAt = (_drawnAt + 1) % _drawn.Length;
        _drawnCount--;
        if (origin >= 0) Begin(origin, keyIndex, target);
        if (next >= 0) ScheduleAt(next);
    }

    /// <summary>Draws the next batch of arrivals, the first of them at <paramref name="first"/>, and tells the planner of them.</summary>
    private void DrawAhead(long first)
    {
        int planned = 0;
        long issued = _drawnLookups;
        long time = first;
        int at = (_drawnAt + _drawnCount) % _drawn.Length, drawn = 0;
        for (int i = 0; i < PlanAhead; i++)
        {
            var (origin, keyIndex, target) = DrawLookup();
            if (origin >= 0)
            {
                if (keyIndex >= 0) CacheHint.Prefetch(in _net.Keys[keyIndex]);   // read below, once every draw is made
                issued++;
                _plans[planned++] = new PlannedLookup(origin, target, _net.Window.Contains(time));
            }
            long next = !_options.RateMode && issued >= _options.Lookups ? -1 : NextArrival(time);
            _drawn[(at + i) % _drawn.Length] = (origin, keyIndex, target, next);
            drawn = i + 1;
            if (next < 0)
            {
                _drawnAll = true;
                break;
            }
            time = next;
        }
        _drawnCount += drawn;
        _drawnLookups = issued;
        if (_options.Targets == LookupTargets.Keys)
        {
            int p = 0;
            for (int i = 0; i < drawn; i++)
            {
                var entry = _drawn[(at + i) % _drawn.Length];
                if (entry.Origin < 0) continue;
                _plans[p] = _plans[p] with { Key = _net.Keys[entry.KeyIndex] };
                p++;
            }
        }
        Planner!.Plan(_plans.AsSpan(0, planned));
    }

    /// <summary>A live peer; with a server up the draw skips it (the same first draw as without one when it does not land on the server).</summary>
    private int DrawOrigin() =>
        _net.Population.LiveServers > 0 ? _net.Population.RandomLivePeer(ref _rng) : _net.Nodes.LiveCount > 0 ? _net.Nodes.LiveAt(_rng.NextInt(_net.Nodes.LiveCount)) : -1;

    private void ScheduleNext(long from)
    {
        long at = NextArrival(from);
        if (at >= 0) ScheduleAt(at);
    }

    private void ScheduleAt(long at) => _net.Sim.ScheduleAt(at, new Event { Dst = -1, Src = -1, Lookup = -1, Sink = _sink, Type = Arrival });

    /// <summary>Draws the gap to the arrival after one at <paramref name="from"/>: its time, or -1 if it falls past the workload's end.</summary>
    private long NextArrival(long from)
    {
        double ratePerSecond = _options.RateMode ? _options.PerNodeRate * Math.Max(1, _net.Nodes.LiveCount - _net.Population.LiveServers) : _options.Rate;
        long gap = (long)_rng.NextExponential(1e6 / ratePerSecond);
        long at = from + gap;
        if (_options.RateMode && at >= _options.Start + _options.Duration) return -1;
        if (at >= _end) return -1;
        return at;
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
