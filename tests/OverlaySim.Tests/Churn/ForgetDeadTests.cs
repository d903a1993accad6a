using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// forget_dead: false keeps a node that a lookup found dead in the finger tables (the ToN paper's Table II: "fingers to
/// failed nodes are not removed"), so later lookups meet it again; the default drops it at the first timeout.
/// </summary>
public class ForgetDeadTests
{
    private static (RunResult Result, int DeadFingers) Run(bool forget)
    {
        // 20% of 600 nodes crash at minute 2 and maintenance stops then: routing state changes only by what lookups learn.
        ChordOptions chord = FastChord(ChordLookupStyle.Recursive) with { ForgetDead = forget, Successors = 8, Replicas = 8 };
        RunSpec spec = Spec(600, new ChurnOptions(ChurnKind.MassFailure, At: 2 * Minute, FailProbability: 0.2, StopMaintenance: true),
            duration: 12 * Minute, lookupsFrom: 3 * Minute, lookupsUntil: 12 * Minute, perNodeRate: 0.02, chord: chord);
        SimulationRun run = Experiment.Build(spec);
        Experiment.Simulate(run);
        var protocol = (ChordProtocol)run.Overlay;
        Network net = run.Net;
        int dead = 0;
        for (int i = 0; i < net.Nodes.LiveCount; i++)
            foreach (int f in protocol.Fingers(net.Nodes.LiveAt(i)))
                if (f >= 0 && !net.Nodes.IsAlive(f)) dead++;
        return (Experiment.Summarize(run), dead);
    }

    [Fact]
    public void KeptDeadFingersStayAndKeepCostingTimeouts()
    {
        var (forget, forgetDead) = Run(forget: true);
        var (keep, keepDead) = Run(forget: false);
        Assert.True(keep.Lookups > 5000, $"{keep.Lookups} lookups");
        // About a fifth of all finger entries point at crashed nodes after the failure. Kept, they are all still there at
        // the end; forgotten, every one a lookup went through is gone.
        Assert.True(keepDead > 2 * forgetDead, $"dead finger entries at the end: kept {keepDead}, forgotten {forgetDead}");
        Assert.True(keep.TimeoutsMean > 1.5 * forget.TimeoutsMean, $"timeouts per lookup: kept {keep.TimeoutsMean}, forgotten {forget.TimeoutsMean}");
        // The lookup itself passes over the nodes it found dead, so it still gets through.
        Assert.True(keep.SuccessRate > 0.97, $"success with kept dead fingers {keep.SuccessRate}");
        Assert.Equal(forget.Lookups, keep.Lookups);
    }
}
