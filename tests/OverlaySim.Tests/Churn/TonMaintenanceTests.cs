using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
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
        // then refreshes the next entry of the round robin over the r − 1 = 5 list entries and the F = 14 fingers,
        // passing over (without a message) the fingers whose start lies before the successor, which are the successor.
        // On this static ring a node's cycle is therefore its 5 list entries and its E fingers that need a lookup, and
        // its window holds exactly as many GetSuccessor requests as there are k in 12 … 119 with k mod (5 + E) < 5.
        Assert.Equal(108L * nodes, Messages("GetPredecessor"));
        Network net = run.Net;
        int firstLevel = net.Space.Bits - chord.Fingers;
        long expectedListTurns = 0;
        for (int n = 0; n < nodes; n++)
        {
            int succ = ((ChordProtocol)run.Overlay).SuccessorList(n)[0];
            Id gap = net.Space.Distance(net.Nodes.Ids[n], net.Nodes.Ids[succ]);
            int remote = Enumerable.Range(firstLevel, chord.Fingers).Count(level => Id.Pow2(level) > gap);
            int cycle = chord.Successors - 1 + remote;
            int listTurns = Enumerable.Range(12, 108).Count(k => k % cycle < chord.Successors - 1);
            expectedListTurns += listTurns;
        }
        Assert.Equal(expectedListTurns, Messages("GetSuccessor"));
        // The passing over matters here: a strict round robin of all 19 entries would give 30 list turns a node.
        Assert.NotEqual(30L * nodes, expectedListTurns);
        // No fix_fingers timer: the only finger lookups are the one-in-19 turns of each finger.
        Assert.Equal(0, Messages("FixFingersTimer"));
        Assert.Equal(0, Messages("GetSuccessorTimeout"));

        // Nothing failed, so every list is still the next r live nodes in ring order.
        var protocol = (ChordProtocol)run.Overlay;
        int[] ring = Enumerable.Range(0, net.Nodes.Count).Where(net.Nodes.IsAlive).OrderBy(n => net.Nodes.Ids[n]).ToArray();
        for (int i = 0; i < ring.Length; i++)
        {
            ReadOnlySpan<int> list = protocol.SuccessorList(ring[i]);
            for (int j = 0; j < list.Length; j++) Assert.Equal(ring[(i + j + 1) % ring.Length], list[j]);
        }
        Assert.Equal(r.Lookups, r.LookupsOk);
    }

    /// <summary>
    /// Under the ton schedule one entry is refreshed per stabilize, so a node that joined with empty fingers walks the
    /// successor lists for its first quarter hour (the ToN Table III setup at R = 0.2/s gave a p99 path of about 70
    /// hops). With copy_fingers the new node starts from its successor's fingers, and the paths stay those of a ring
    /// whose fingers are a little stale: a p99 within log2 N of the ring's 1,000 nodes.
    /// </summary>
    [Fact]
    public void CopyingTheSuccessorsFingersOnJoinKeepsPathsShortUnderTheTonSchedule()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            name: ton-copy-fingers
            seed: 1
            nodes: 1000
            duration: 40min
            measure_after: 20min
            latency: { model: exponential, mean: 50ms }
            churn: { model: rate, rate: 0.2/s, leave_fraction: 0 }
            workload: { lookups: 12000, rate: 10/s, keys: 10000, start: 20min }
            overlays:
              - chord: { protocol: dynamic, successors: 8, lookup: iterative, maintenance: ton, rpc_timeout: 500ms, store_keys: false, copy_fingers: true, label: copy }
              - chord: { protocol: dynamic, successors: 8, lookup: iterative, maintenance: ton, rpc_timeout: 500ms, store_keys: false, label: empty }
            """);
        var runs = Runner.Execute(Runner.Plan(ScenarioLoader.Load(path, [])), jobs: 2);
        RunResult copy = runs.Single(r => r.Plan.Overlay.Label == "copy").Result, empty = runs.Single(r => r.Plan.Overlay.Label == "empty").Result;
        double P(RunResult r, string column) => r.Metric(column) ?? double.NaN;
        Assert.True(P(copy, "paper_hops_p99") <= 10, $"p99 paper hops with copy_fingers: {P(copy, "paper_hops_p99")}");
        Assert.True(copy.SuccessRate >= 0.999, $"success rate with copy_fingers: {copy.SuccessRate}");
        Assert.True(P(empty, "paper_hops_mean") > P(copy, "paper_hops_mean") + 0.5,
            $"mean paper hops: {P(empty, "paper_hops_mean"):0.00} with empty fingers on join, {P(copy, "paper_hops_mean"):0.00} with copies");
        // Every join copies once: one FingerCopy of 20 bytes plus 8 per finger (F = 2·log2 N + 8 = 28 at N = 1,000).
        var (_, messages, bytes) = copy.TrafficByType.Single(t => t.Type == "FingerCopy");
        Assert.True(messages > 100, $"{messages} finger copies");
        Assert.Equal(messages * (20 + 8 * 28), bytes);
        Assert.DoesNotContain(empty.TrafficByType, t => t.Type == "FingerCopy");
    }
}
