using MathNet.Numerics.Distributions;

namespace OverlaySim.Core;

/// <summary>Which churn model drives a run (scenario section <c>churn:</c>).</summary>
public enum ChurnKind : byte
{
    None,
    /// <summary>Each machine alternates sessions and downtimes drawn from a distribution (OverSim's LifetimeChurn).</summary>
    Lifetime,
    /// <summary>Joins and failures as Poisson processes (the Chord paper's dynamic experiments).</summary>
    Rate,
    /// <summary>At one instant each live node fails with probability p.</summary>
    MassFailure,
    /// <summary>Replay of a (time, machine, join|leave|crash) trace.</summary>
    Trace,
}

/// <summary>Distribution family of session and downtime lengths.</summary>
public enum LifetimeDistribution : byte
{
    Exponential,
    Pareto,
    Weibull,
}

/// <summary>What happens to a machine at a churn event.</summary>
public enum ChurnAction : byte
{
    Join = 1,
    Leave = 2,
    Crash = 3,
}

/// <summary>One line of a churn trace: at <paramref name="Time"/> µs, machine <paramref name="Machine"/> joins, leaves or crashes.</summary>
public readonly record struct ChurnTraceEvent(long Time, int Machine, ChurnAction Action);

/// <summary>The churn of a run, validated. Times in µs, rates per second.</summary>
/// <param name="SessionMean">Lifetime: mean session length.</param>
/// <param name="SessionShape">Lifetime: shape of the Pareto (α &gt; 1) or Weibull (k) distribution; unused for exponential.</param>
/// <param name="DowntimeMean">Lifetime: mean downtime between sessions (same family and shape as sessions).</param>
/// <param name="LeaveFraction">Share of departures that are graceful leaves; the rest are crashes.</param>
/// <param name="NewIdOnRejoin">Whether a machine that comes back takes a new id (and a new node ordinal).</param>
/// <param name="JoinRate">Rate: joins of new machines per second.</param>
/// <param name="FailureRate">Rate: departures of random live machines per second.</param>
/// <param name="At">Mass failure: when it strikes.</param>
/// <param name="FailProbability">Mass failure: p, the chance that each live machine fails.</param>
/// <param name="StopMaintenance">Mass failure: stop the overlay's maintenance from then on (routing on stale state).</param>
public sealed record ChurnOptions(
    ChurnKind Kind,
    LifetimeDistribution Distribution = LifetimeDistribution.Exponential,
    long SessionMean = 3_600_000_000,
    double SessionShape = 2.0,
    long DowntimeMean = 3_600_000_000,
    double LeaveFraction = 0.5,
    bool NewIdOnRejoin = true,
    double JoinRate = 0,
    double FailureRate = 0,
    long At = 0,
    double FailProbability = 0,
    bool StopMaintenance = false,
    IReadOnlyList<ChurnTraceEvent>? Trace = null)
{
    public static readonly ChurnOptions None = new(ChurnKind.None);

    /// <summary>Long-run share of time a machine is up under lifetime churn: E[session] / (E[session] + E[downtime]).</summary>
    public double Availability => (double)SessionMean / (SessionMean + DowntimeMean);
}

/// <summary>
/// Draws session and downtime lengths with MathNet.Numerics, parameterised by their mean.
/// Pareto(α, x_m) has mean α·x_m/(α−1), so x_m = mean·(α−1)/α (α must exceed 1 for a finite mean);
/// Weibull(k, λ) has mean λ·Γ(1 + 1/k), so λ = mean / Γ(1 + 1/k).
/// </summary>
public sealed class LifetimeSampler
{
    private readonly LifetimeDistribution _family;
    private readonly double _shape;
    private readonly StreamRandom _random;

    public LifetimeSampler(LifetimeDistribution family, double shape, StreamRandom random)
    {
        _family = family;
        _shape = shape;
        _random = random;
    }

    /// <summary>A length with the given mean, in µs (at least 1).</summary>
    public long Next(long meanMicros)
    {
        double mean = meanMicros;
        double x = _family switch
        {
            LifetimeDistribution.Exponential => Exponential.Sample(_random, 1.0 / mean),
            LifetimeDistribution.Pareto => Pareto.Sample(_random, mean * (_shape - 1) / _shape, _shape),
            _ => Weibull.Sample(_random, _shape, mean / MathNet.Numerics.SpecialFunctions.Gamma(1 + 1 / _shape)),
        };
        return Math.Max(1, (long)Math.Min(x, long.MaxValue / 4.0));
    }

    /// <summary>The distribution's CDF at <paramref name="micros"/> for the given mean (for goodness-of-fit tests).</summary>
    /// <remarks>Clamped to [0, 1]: MathNet's Pareto CDF is negative below the scale x_m, where the true CDF is 0.</remarks>
    public static double Cdf(LifetimeDistribution family, double shape, long meanMicros, double micros)
    {
        double mean = meanMicros;
        return Math.Clamp(family switch
        {
            LifetimeDistribution.Exponential => Exponential.CDF(1.0 / mean, micros),
            LifetimeDistribution.Pareto => Pareto.CDF(mean * (shape - 1) / shape, shape, micros),
            _ => Weibull.CDF(shape, mean / MathNet.Numerics.SpecialFunctions.Gamma(1 + 1 / shape), micros),
        }, 0, 1);
    }
}

/// <summary>
/// A <see cref="System.Random"/> over a <see cref="Xoshiro256"/> stream, so that MathNet's samplers draw from
/// the run's named streams (and never take a lock or read a clock). Not thread-safe, by design.
/// </summary>
public sealed class StreamRandom : Random
{
    private Xoshiro256 _rng;

    public StreamRandom(Xoshiro256 rng) : base(0) => _rng = rng;

    protected override double Sample() => _rng.NextDouble();
    public override double NextDouble() => _rng.NextDouble();
    public override int Next() => (int)(_rng.NextUInt64() >> 33);
    public override int Next(int maxValue) => maxValue <= 0 ? 0 : _rng.NextInt(maxValue);
    public override int Next(int minValue, int maxValue) => minValue + Next(maxValue - minValue);

    public override void NextBytes(byte[] buffer) => NextBytes(buffer.AsSpan());

    public override void NextBytes(Span<byte> buffer)
    {
        for (int i = 0; i < buffer.Length; i++) buffer[i] = (byte)_rng.NextUInt64();
    }

    public ref Xoshiro256 Stream => ref _rng;
}

/// <summary>
/// Turns a <see cref="ChurnOptions"/> into machine joins, leaves and crashes, as events of its own sink.
/// Everything it draws comes from the "churn" stream, in the order of its own events, so the churn of a run does
/// not depend on the workload (changing the lookup rate moves no churn event).
/// </summary>
/// <remarks>
/// A machine is a physical participant: it keeps its latency coordinates across sessions. Each session of a
/// machine is one or more node ordinals (several with virtual nodes); a rejoin with a new id takes fresh ordinals,
/// so that routing entries pointing at the old incarnation stay pointing at a dead node, as they would in reality.
/// </remarks>
public sealed class ChurnDriver : IEventSink
{
    private const byte Lifetime = 1, RateJoin = 2, RateFail = 3, Mass = 4, TraceStep = 5;

    private readonly Network _net;
    private readonly Population _population;
    private readonly ChurnOptions _options;
    private readonly Action _stopMaintenance;
    private readonly StreamRandom _random;
    private readonly LifetimeSampler? _lifetimes;
    private byte _sink;
    private int _traceIndex;
    private bool _stopped;

    /// <param name="stopMaintenance">Stops the overlay's maintenance (a mass failure with <c>stop_maintenance</c>).</param>
    public ChurnDriver(Network net, ChurnOptions options, Action stopMaintenance)
    {
        _net = net;
        _population = net.Population;
        _options = options;
        _stopMaintenance = stopMaintenance;
        _random = new StreamRandom(net.Streams.Stream("churn"));
        _population.RetireDeparted = options.NewIdOnRejoin;
        if (options.Kind == ChurnKind.Lifetime)
            _lifetimes = new LifetimeSampler(options.Distribution, options.SessionShape, _random);
    }

    public long Joins { get; private set; }
    public long Leaves { get; private set; }
    public long Crashes { get; private set; }

    /// <summary>
    /// Which machines are up at time 0: lifetime churn starts in its steady state (each machine up with probability
    /// equal to the availability, drawn from the "churn/initial" stream); a trace starts down the machines whose
    /// first event is a join; otherwise every machine starts up.
    /// </summary>
    public static bool[] InitialState(ChurnOptions options, RandomStreams streams, int machines)
    {
        var up = new bool[machines];
        Xoshiro256 rng = streams.Stream("churn/initial");
        switch (options.Kind)
        {
            case ChurnKind.Lifetime:
                for (int m = 0; m < machines; m++) up[m] = rng.NextDouble() < options.Availability;
                break;
            case ChurnKind.Trace:
                // Machines that the trace first mentions with a join start down; every other machine starts up.
                Array.Fill(up, true);
                var seen = new HashSet<int>();
                foreach (ChurnTraceEvent e in options.Trace!)
                    if (seen.Add(e.Machine) && e.Action == ChurnAction.Join && e.Machine < machines) up[e.Machine] = false;
                break;
            default:
                Array.Fill(up, true);
                break;
        }
        return up;
    }

    public void Start(bool[] up)
    {
        _sink = _net.Sim.Register(this);
        switch (_options.Kind)
        {
            case ChurnKind.Lifetime:
                // Residual times: exact for the memoryless exponential; for Pareto and Weibull a full draw, which
                // over-represents short residuals at first: the measurement warm-up (measure_after) absorbs it.
                for (int m = 0; m < up.Length; m++)
                    At(_lifetimes!.Next(up[m] ? _options.SessionMean : _options.DowntimeMean), Lifetime, m);
                break;
            case ChurnKind.Rate:
                if (_options.JoinRate > 0) At(Gap(_options.JoinRate), RateJoin, -1);
                if (_options.FailureRate > 0) At(Gap(_options.FailureRate), RateFail, -1);
                break;
            case ChurnKind.MassFailure:
                At(_options.At, Mass, -1);
                break;
            case ChurnKind.Trace:
                if (_options.Trace!.Count > 0) At(_options.Trace[0].Time, TraceStep, -1);
                break;
        }
    }

    /// <summary>No more churn from now on (for tests that let a run drain): pending churn events do nothing.</summary>
    public void Stop() => _stopped = true;

    public void Handle(ref Event ev)
    {
        if (_stopped) return;
        switch (ev.Type)
        {
            case Lifetime:
            {
                int m = ev.Arg;
                if (_population.IsMachineUp(m))
                {
                    Depart(m);
                    At(_net.Sim.Now + _lifetimes!.Next(_options.DowntimeMean), Lifetime, m);
                }
                else
                {
                    Join(m);
                    At(_net.Sim.Now + _lifetimes!.Next(_options.SessionMean), Lifetime, m);
                }
                break;
            }
            case RateJoin:
                Join(_population.AddMachine());
                At(_net.Sim.Now + Gap(_options.JoinRate), RateJoin, -1);
                break;
            case RateFail:
                if (_net.Nodes.LiveCount > 0)
                {
                    int machine = _net.Nodes.Machine[_net.Nodes.LiveAt(_random.Next(_net.Nodes.LiveCount))];
                    if (!_population.IsServer(machine)) Depart(machine); // a server fails only when a trace names it
                }
                At(_net.Sim.Now + Gap(_options.FailureRate), RateFail, -1);
                break;
            case Mass:
            {
                // Decide every victim first, from the live list as it stands, then fail them.
                var victims = new List<int>();
                var seenMachines = new HashSet<int>();
                for (int i = 0; i < _net.Nodes.LiveCount; i++)
                {
                    int machine = _net.Nodes.Machine[_net.Nodes.LiveAt(i)];
                    if (seenMachines.Add(machine) && !_population.IsServer(machine) && _random.NextDouble() < _options.FailProbability) victims.Add(machine);
                }
                victims.Sort();
                foreach (int m in victims) Depart(m, forceCrash: true);
                if (_options.StopMaintenance) _stopMaintenance();
                break;
            }
            case TraceStep:
            {
                IReadOnlyList<ChurnTraceEvent> trace = _options.Trace!;
                long now = _net.Sim.Now;
                while (_traceIndex < trace.Count && trace[_traceIndex].Time == now)
                {
                    ChurnTraceEvent e = trace[_traceIndex++];
                    while (e.Machine >= _population.MachineCount) _population.AddMachine();
                    bool up = _population.IsMachineUp(e.Machine);
                    if (e.Action == ChurnAction.Join && !up) Join(e.Machine);
                    else if (e.Action != ChurnAction.Join && up) Depart(e.Machine, forceCrash: e.Action == ChurnAction.Crash, forceLeave: e.Action == ChurnAction.Leave);
                }
                if (_traceIndex < trace.Count) At(trace[_traceIndex].Time, TraceStep, -1);
                break;
            }
        }
    }

    private void Join(int machine)
    {
        Joins++;
        _population.JoinMachine(machine, newId: _options.NewIdOnRejoin);
    }

    private void Depart(int machine, bool forceCrash = false, bool forceLeave = false)
    {
        bool graceful = forceLeave || (!forceCrash && _random.NextDouble() < _options.LeaveFraction);
        if (graceful) Leaves++;
        else Crashes++;
        _population.DepartMachine(machine, graceful);
    }

    private long Gap(double perSecond) => Math.Max(1, (long)_random.Stream.NextExponential(1e6 / perSecond));

    private void At(long time, byte type, int machine) =>
        _net.Sim.ScheduleAt(time, new Event { Dst = -1, Src = -1, Lookup = -1, Arg = machine, Sink = _sink, Type = type });
}
