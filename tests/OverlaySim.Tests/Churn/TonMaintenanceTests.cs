using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;

namespace OverlaySim.Tests.Churn;

/// <summary>maintenance: ton: each stabilize refreshes the successor and one more entry, round robin over the r − 1 list entries and the F fingers.</summary>
public class TonMaintenanceTests
{
    [Fact]
    public void EachStabilizeRefreshesOneEntryInRoundRobinAndTheListsStayRight()
    {
        const int nodes = 500;
        ChordOptions chord = FastChord() with { Maintenance = ChordMaintenance.Ton, Successors = 6, Replicas = 6, Fingers = 14, RandomizePeriods = false };
        RunSpec spec = Spec(nodes, ChurnOptions.None, duration: 10 * Minute, lookupsFrom: 1 * Minute, lookupsUntil: 10 * Minute, perNodeRate: 0.01, chord: chord);
        SimulationRun run = Experiment.Build(spec);
        Experiment.Simulate(run);
        RunResult r = Experiment.Summarize(run);
        long Messages(string type) => r.TrafficByType.Where(t => t.Type == type).Sum(t => t.Messages);

        // Stabilize every 5 s exactly, the first at a random time in (0, 5 s]: every node makes its calls 0 … 11 before the
        // window opens at 1 minute and its calls 12 … 119 in it. Every call asks the successor for its predecessor; call k
        // then refreshes entry k mod (r − 1 + F), k mod 19: the list entries are turns 0 … 4, so a node's window holds
        // exactly as many GetSuccessor requests as there are k in 12 … 119 with k mod 19 < 5.
        Assert.Equal(108L * nodes, Messages("GetPredecessor"));
        int listTurns = Enumerable.Range(12, 108).Count(k => k % 19 < 5);
        Assert.Equal(30, listTurns);
        Assert.Equal((long)listTurns * nodes, Messages("GetSuccessor"));
        // No fix_fingers timer: the only finger lookups are the one-in-19 turns of each finger.
        Assert.Equal(0, Messages("FixFingersTimer"));
        Assert.Equal(0, Messages("GetSuccessorTimeout"));

        // Nothing failed, so every list is still the next r live nodes in ring order.
        var protocol = (ChordProtocol)run.Overlay;
        Network net = run.Net;
        int[] ring = Enumerable.Range(0, net.Nodes.Count).Where(net.Nodes.IsAlive).OrderBy(n => net.Nodes.Ids[n]).ToArray();
        for (int i = 0; i < ring.Length; i++)
        {
            ReadOnlySpan<int> list = protocol.SuccessorList(ring[i]);
            for (int j = 0; j < list.Length; j++) Assert.Equal(ring[(i + j + 1) % ring.Length], list[j]);
        }
        Assert.Equal(r.Lookups, r.LookupsOk);
    }
}
