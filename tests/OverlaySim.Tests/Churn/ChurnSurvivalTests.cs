using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// Every crash and leave is survived: dynamic Chord runs through each churn model without an exception, and at the
/// end nothing has leaked: every lookup slot in use belongs to a lookup younger than the lookup timeout (older ones
/// have met their deadline), the lookup pool's count agrees with its slots, every measured lookup is accounted for
/// (ended ok, wrong or failed, abandoned, or still in flight), and once churn and maintenance stop and the run drains,
/// no lookup slot is left taken.
/// </summary>
public class ChurnSurvivalTests
{
    public static TheoryData<string, ChordLookupStyle, int> Cases => new()
    {
        { "lifetime-exponential", ChordLookupStyle.Recursive, 1 },
        { "lifetime-pareto", ChordLookupStyle.Iterative, 1 },
        { "lifetime-weibull", ChordLookupStyle.Recursive, 3 },
        { "rate", ChordLookupStyle.Recursive, 1 },
        { "rate", ChordLookupStyle.Iterative, 2 },
        { "mass-failure", ChordLookupStyle.Recursive, 1 },
        { "mass-failure-stop-maintenance", ChordLookupStyle.Iterative, 1 },
        { "trace-everyone-crashes-then-new-machines-join", ChordLookupStyle.Recursive, 1 },
    };

    private static ChurnOptions Model(string name) => name switch
    {
        // Sessions of minutes on a ring that stabilizes every 5 s: heavy churn, with leaves and crashes.
        "lifetime-exponential" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Exponential, SessionMean: 3 * Minute, DowntimeMean: 2 * Minute),
        "lifetime-pareto" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Pareto, SessionMean: 3 * Minute, SessionShape: 1.5, DowntimeMean: 2 * Minute),
        "lifetime-weibull" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Weibull, SessionMean: 3 * Minute, SessionShape: 0.5, DowntimeMean: 2 * Minute, NewIdOnRejoin: false),
        "rate" => new ChurnOptions(ChurnKind.Rate, JoinRate: 1, FailureRate: 1, LeaveFraction: 0.5),
        "mass-failure" => new ChurnOptions(ChurnKind.MassFailure, At: 3 * Minute, FailProbability: 0.5),
        "mass-failure-stop-maintenance" => new ChurnOptions(ChurnKind.MassFailure, At: 3 * Minute, FailProbability: 0.5, StopMaintenance: true),
        // The whole ring crashes at 1 min; at 2 min new machines join an empty network, the first one alone.
        _ => new ChurnOptions(ChurnKind.Trace, Trace:
            [
                .. Enumerable.Range(0, 200).Select(m => new ChurnTraceEvent(1 * Minute, m, ChurnAction.Crash)),
                .. Enumerable.Range(200, 100).Select(m => new ChurnTraceEvent(2 * Minute + m * 100_000L, m, ChurnAction.Join)),
            ]),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryCrashAndLeaveIsSurvivedAndNothingLeaks(string model, ChordLookupStyle style, int virtualNodes)
    {
        ChurnOptions churn = Model(model);
        RunSpec spec = Spec(200, churn, duration: 8 * Minute, lookupsFrom: 30 * Second, lookupsUntil: 8 * Minute,
            perNodeRate: 0.1, chord: FastChord(style), virtualNodes: virtualNodes);
        SimulationRun run = Experiment.Build(spec);
        Network net = run.Net;
        Experiment.Simulate(run); // no exception
        RunResult r = Experiment.Summarize(run);

        // The churn did happen, of each kind the model makes.
        Assert.True(r.Crashes > 0, $"{model}: no crash");
        Assert.True(churn.Kind == ChurnKind.MassFailure || r.Joins > 0, $"{model}: no join");
        Assert.True(churn.LeaveFraction == 0 || churn.Kind is ChurnKind.MassFailure or ChurnKind.Trace || r.Leaves > 0, $"{model}: no leave");
        Assert.Equal(8 * Minute, net.Sim.Now);

        AssertNothingLeaked(run, r);
        Assert.True(r.Lookups > 1000, $"{model}: only {r.Lookups} lookups measured");
        // Stop churn and maintenance and let the run finish what is in flight: every lookup ends, no slot stays taken.
        OverlaySim.Tests.Overlays.ConformanceTests.Drain(run);
        OverlaySim.Tests.Overlays.ConformanceTests.AssertDrained(run);
    }

    /// <summary>Every lookup slot still taken belongs to a lookup younger than the lookup timeout, the pool's count agrees with its slots, and every measured lookup is accounted for.</summary>
    internal static void AssertNothingLeaked(SimulationRun run, RunResult r)
    {
        Network net = run.Net;
        long timeout = run.Overlay.LookupTimeout;
        int inUse = 0, measuredInFlight = 0;
        for (int slot = 0; slot < net.Lookups.Table.Capacity; slot++)
        {
            ref LookupRecord l = ref net.Lookups[slot];
            if (!l.InUse) continue;
            inUse++;
            if (l.Measured) measuredInFlight++;
            Assert.True(net.Sim.Now - l.Start < timeout,
                $"lookup slot {slot} (origin {l.Origin}, key {l.KeyIndex}) issued at {l.Start / 1e6:0.000} s is still in use at {net.Sim.Now / 1e6:0.000} s, past the {timeout / 1e6:0} s timeout");
        }
        Assert.Equal(inUse, net.Lookups.Table.InFlight); // a slot freed twice would make these differ
        Assert.Equal(r.Lookups, r.LookupsOk + r.LookupsWrong + r.LookupsFailed + measuredInFlight);
    }

    /// <summary>
    /// Under steady lifetime churn the pending events stay proportional to the live nodes: three maintenance timers
    /// per node, lookup deadlines (kept until they fire, even for finished lookups) and messages in flight, about 13
    /// per live node here. Between 10 and 40 minutes some 12,000 joins and departures happen (30 per machine, about
    /// 200 machines up at a time); an event leaked by even one churn event in ten would add 1,200, about 6 per live
    /// node, so the ratio may not grow by more than 2 (15%); sampled every 5 minutes without a leak it stays within
    /// 13.0..13.8.
    /// </summary>
    [Fact]
    public void PendingEventsDoNotGrowWithTheNumberOfChurnEvents()
    {
        var churn = new ChurnOptions(ChurnKind.Lifetime, SessionMean: Minute, DowntimeMean: Minute);
        RunSpec spec = Spec(400, churn, duration: 40 * Minute, lookupsFrom: 0, lookupsUntil: 40 * Minute, perNodeRate: 0.05);
        SimulationRun run = Experiment.Build(spec);
        Network net = run.Net;
        var workload = new Workload(net, spec.Workload, run.Overlay.StartLookup, spec.Duration);
        workload.Start();
        run.Churn!.Start(run.InitiallyUp);

        net.Sim.Run(10 * Minute);
        long churnEvents = run.Churn.Joins + run.Churn.Leaves + run.Churn.Crashes;
        double early = (double)net.Sim.Queue.Count / net.Nodes.LiveCount;
        net.Sim.Run(40 * Minute);
        churnEvents = run.Churn.Joins + run.Churn.Leaves + run.Churn.Crashes - churnEvents;
        double late = (double)net.Sim.Queue.Count / net.Nodes.LiveCount;

        Assert.True(churnEvents > 10_000, $"only {churnEvents} churn events");
        Assert.True(late - early < 2, $"pending events per live node grew from {early:0.00} to {late:0.00} over {churnEvents} churn events");
    }
}
