using MathNet.Numerics.Distributions;
using OverlaySim.Core;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;
using static OverlaySim.Tests.Churn.GoodnessOfFit;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// Each churn model, run by the engine, produces the churn it is configured for: lifetime churn's sessions and
/// downtimes follow the distribution and its live fraction is the availability; rate churn's joins and failures are
/// Poisson processes of the configured rates; a mass failure takes a binomial share of the machines; a trace is
/// replayed exactly. The overlay is <see cref="ChurnRecorder"/> with no protocol, so hours of churn cost milliseconds.
/// </summary>
/// <remarks>Every tolerance is two-sided at α = 0.001 (z = 3.29) unless stated; seeds are fixed.</remarks>
public class ChurnModelTests
{
    private static (RunResult Result, ChurnRecorder Recorder, SimulationRun Run) Run(int machines, ChurnOptions churn, long duration,
        long measureAfter = 0, int virtualNodes = 1, long seed = 31)
    {
        var recorder = new ChurnRecorder();
        var spec = new RunSpec(machines, 160, seed, 0, (_, _) => new ConstantLatency(10_000),
            new WorkloadOptions(0, Rate: 1, PerNodeRate: 0, Duration: 0, Keys: 10, Popularity.Uniform, 1.0, Start: 0),
            () => recorder)
        {
            Churn = churn,
            Duration = duration,
            MeasureAfter = measureAfter,
            VirtualNodes = virtualNodes,
        };
        SimulationRun run = Experiment.Build(spec);
        Experiment.Simulate(run);
        return (Experiment.Summarize(run), recorder, run);
    }

    /// <summary>
    /// Sessions and downtimes of a lifetime-churn run, measured from the recorded joins and departures, pass a KS
    /// test against the configured distribution. Every interval is a fresh draw (the first ones at time 0 too, see
    /// ChurnDriver.Start), so the lengths are independent draws; to avoid the bias of censoring (long intervals
    /// still running at the end would be missed) only intervals that began in the first 10 minutes count, and the run
    /// goes on for 2 hours more. With means of 1 (sessions) and 2 minutes (downtimes), P(an interval > 120 min) is at
    /// most e^-60 (exponential), (1.33/120)^3 ≈ 1.4·10^-6 (Pareto α = 3, x_m = 4/3 min for downtimes), or less
    /// (Weibull k = 2); over the ~16,000 intervals the chance of any censoring is about 1%, and the test checks there
    /// is none.
    /// </summary>
    [Theory]
    [InlineData(LifetimeDistribution.Exponential, 2.0)]
    [InlineData(LifetimeDistribution.Pareto, 3.0)]
    [InlineData(LifetimeDistribution.Weibull, 2.0)]
    public void LifetimeChurnSessionsAndDowntimesFollowTheConfiguredDistribution(LifetimeDistribution family, double shape)
    {
        var churn = new ChurnOptions(ChurnKind.Lifetime, family, SessionMean: Minute, SessionShape: shape, DowntimeMean: 2 * Minute);
        var (_, recorder, run) = Run(2000, churn, duration: 130 * Minute);
        Network net = run.Net;

        var (sessions, downtimes, censored) = recorder.Intervals(run.InitiallyUp, start => start < 10 * Minute);
        Assert.Equal(0, censored);
        foreach (var (name, sample, mean) in new[] { ("sessions", sessions, Minute), ("downtimes", downtimes, 2 * Minute) })
        {
            Assert.True(sample.Count > 3000, $"{name}: only {sample.Count} intervals");
            double d = KolmogorovSmirnov(sample.Select(x => (double)x), x => LifetimeSampler.Cdf(family, shape, mean, x));
            double critical = KsCritical(sample.Count, Alpha);
            Assert.True(d <= critical, $"{family} {name}: KS D = {d:0.0000} > {critical:0.0000} (n = {sample.Count})");
        }
    }

    /// <summary>
    /// The initial state is the steady state: each machine starts up with probability A = S/(S+D) (a binomial count
    /// of the N machines, tolerance z·sqrt(N·A·(1−A))), and the time-averaged live fraction over the measurement
    /// window is A too. For exponential sessions and downtimes each machine is a two-state Markov chain with rates
    /// 1/S (down) and 1/D (up), c = 1/S + 1/D, started in its stationary law, whose indicator has covariance
    /// A(1−A)·e^(−c·t); the variance of its time average over a window W is (2A(1−A)/(cW))·(1 − (1 − e^(−cW))/(cW)),
    /// and of the mean over N independent machines that divided by N.
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 3)]
    public void LifetimeChurnKeepsTheAvailableShareOfMachinesLive(int sessionMinutes, int downtimeMinutes)
    {
        const int n = 2000;
        long s = sessionMinutes * Minute, dt = downtimeMinutes * Minute;
        var churn = new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Exponential, SessionMean: s, DowntimeMean: dt);
        double a = churn.Availability;
        Assert.Equal((double)s / (s + dt), a, 12);

        var (r, _, run) = Run(n, churn, duration: 40 * Minute, measureAfter: 10 * Minute);
        Network net = run.Net;

        int up = run.InitiallyUp.Count(u => u);
        double upTolerance = Z(Alpha) * Math.Sqrt(n * a * (1 - a));
        Assert.True(Math.Abs(up - n * a) <= upTolerance, $"{up} machines started up, expected {n * a:0} ± {upTolerance:0}");

        double c = 1e6 / s + 1e6 / dt, w = 30 * 60; // per second, seconds
        double variance = 2 * a * (1 - a) / (c * w) * (1 - (1 - Math.Exp(-c * w)) / (c * w)) / n;
        double tolerance = Z(Alpha) * Math.Sqrt(variance);
        double live = r.LiveNodesMean / n;
        Assert.True(Math.Abs(live - a) <= tolerance, $"mean live fraction {live:0.00000}, expected {a:0.00000} ± {tolerance:0.00000}");
        // The machines did churn: about 40 min / (S + D) cycles each, so N·40 min/(S + D) joins; half of that at least.
        double cycles = n * 40.0 * Minute / (s + dt);
        Assert.True(r.Joins > cycles / 2, $"only {r.Joins} joins, expected about {cycles:0}");
    }

    /// <summary>
    /// Rate churn: joins and failures are Poisson processes. Over T seconds the counts are Poisson(λT) (tolerance
    /// z·sqrt(λT)), the gaps between joins are exponential of mean 1/λ (KS test), and each departure is a leave with
    /// probability leave_fraction (binomial given the departures).
    /// </summary>
    [Fact]
    public void RateChurnJoinsAndFailsAtTheConfiguredRates()
    {
        const double joinRate = 2, failureRate = 1.5, leaveFraction = 0.3;
        const long duration = 30 * Minute;
        var churn = new ChurnOptions(ChurnKind.Rate, JoinRate: joinRate, FailureRate: failureRate, LeaveFraction: leaveFraction);
        var (r, recorder, _) = Run(500, churn, duration);

        double seconds = duration / 1e6;
        foreach (var (name, count, rate) in new[] { ("joins", r.Joins, joinRate), ("departures", r.Leaves + r.Crashes, failureRate) })
        {
            double expected = rate * seconds, tolerance = Z(Alpha) * Math.Sqrt(expected);
            Assert.True(Math.Abs(count - expected) <= tolerance, $"{count} {name}, expected {expected:0} ± {tolerance:0.0}");
        }
        long departures = r.Leaves + r.Crashes;
        double leaveTolerance = Z(Alpha) * Math.Sqrt(departures * leaveFraction * (1 - leaveFraction));
        Assert.True(Math.Abs(r.Leaves - departures * leaveFraction) <= leaveTolerance,
            $"{r.Leaves} of {departures} departures were leaves, expected {departures * leaveFraction:0} ± {leaveTolerance:0.0}");

        long[] joinTimes = recorder.Changes.Where(c => c.Action == ChurnAction.Join).Select(c => c.Time).ToArray();
        Assert.Equal(r.Joins, joinTimes.Length);
        double[] gaps = joinTimes.Zip(joinTimes.Skip(1), (a, b) => (double)(b - a)).ToArray();
        double d = KolmogorovSmirnov(gaps, x => Exponential.CDF(joinRate / 1e6, x));
        Assert.True(d <= KsCritical(gaps.Length, Alpha), $"join gaps: KS D = {d:0.0000} > {KsCritical(gaps.Length, Alpha):0.0000}");
        // Every join is of a new machine, every departure of a machine that was up.
        Assert.Equal(joinTimes.Length, recorder.Changes.Where(c => c.Action == ChurnAction.Join).Select(c => c.Machine).Distinct().Count());
    }

    /// <summary>
    /// A mass failure crashes each live machine with probability p at one instant: the number of victims is
    /// Binomial(N, p) (tolerance z·sqrt(N·p·(1−p))), all of them crashes at time 'at', and with virtual nodes the
    /// machines fail whole (every id of a victim, none of a survivor).
    /// </summary>
    [Theory]
    [InlineData(0.1, 1, false)]
    [InlineData(0.5, 1, true)]
    [InlineData(0.9, 1, false)]
    [InlineData(0.3, 4, false)]
    public void MassFailureCrashesABinomialShareOfTheMachines(double p, int virtualNodes, bool stopMaintenance)
    {
        const int n = 4000;
        long at = 7 * Second;
        var churn = new ChurnOptions(ChurnKind.MassFailure, At: at, FailProbability: p, StopMaintenance: stopMaintenance);
        var (r, recorder, run) = Run(n, churn, duration: 10 * Second, virtualNodes: virtualNodes);
        Network net = run.Net;

        double tolerance = Z(Alpha) * Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(r.Crashes - n * p) <= tolerance, $"{r.Crashes} of {n} machines failed, expected {n * p:0} ± {tolerance:0.0}");
        Assert.Equal(0, r.Leaves);
        Assert.Equal(0, r.Joins);
        Assert.All(recorder.Changes, c => Assert.Equal((at, ChurnAction.Crash), (c.Time, c.Action)));
        Assert.Equal((n - r.Crashes) * virtualNodes, net.Nodes.LiveCount);
        for (int m = 0; m < n; m++)
            for (int v = 0; v < virtualNodes; v++)
                Assert.Equal(net.Population.IsMachineUp(m), net.Nodes.IsAlive(net.Population.MachineBase(m) + v));
        Assert.Equal(stopMaintenance, recorder.MaintenanceStopped);
    }

    /// <summary>
    /// A trace is replayed as written: every join of a machine that is down and every leave or crash of one that is
    /// up happens at its time, in file order; a join of a machine already up and a departure of one already down
    /// change nothing; machines first mentioned by a join start down, and indices past the scenario's machines add
    /// machines.
    /// </summary>
    [Fact]
    public void ATraceIsReplayedExactly()
    {
        const int n = 50;
        var trace = new List<ChurnTraceEvent>
        {
            new(0, 3, ChurnAction.Crash),
            new(0, 4, ChurnAction.Leave),
            new(1 * Second, 7, ChurnAction.Join),      // 7 starts down (first mentioned by a join)
            new(1 * Second, 60, ChurnAction.Join),     // adds machines 50..60
            new(2 * Second, 3, ChurnAction.Join),      // back after its crash
            new(3 * Second, 3, ChurnAction.Join),      // already up: nothing happens
            new(3 * Second, 4, ChurnAction.Crash),     // already down: nothing happens
            new(4 * Second + 1, 60, ChurnAction.Crash),
            new(5 * Second, 7, ChurnAction.Leave),
        };
        var (r, recorder, run) = Run(n, new ChurnOptions(ChurnKind.Trace, Trace: trace), duration: 10 * Second);
        Network net = run.Net;

        MachineChange[] expected =
        [
            new(0, 3, ChurnAction.Crash),
            new(0, 4, ChurnAction.Leave),
            new(1 * Second, 7, ChurnAction.Join),
            new(1 * Second, 60, ChurnAction.Join),
            new(2 * Second, 3, ChurnAction.Join),
            new(4 * Second + 1, 60, ChurnAction.Crash),
            new(5 * Second, 7, ChurnAction.Leave),
        ];
        Assert.Equal(expected, recorder.Changes);
        Assert.Equal((3, 2, 2), (r.Joins, r.Leaves, r.Crashes));
        Assert.Equal(61, net.Population.MachineCount);
        Assert.False(run.InitiallyUp[7]);
        Assert.Equal(n - 2, net.Nodes.LiveCount); // 50 − {4, 7} (3 is back; 60 came and went)
    }
}
