using OverlaySim.Core;
using OverlaySim.Overlays;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// Small dynamic-Chord runs under churn, built in code, shared by the churn tests: a spec builder, a generator of
/// churn traces that stop, and the checks of what a finished run leaves behind.
/// </summary>
internal static class ChurnRuns
{
    public const long Second = 1_000_000, Minute = 60 * Second;

    /// <summary>Fast maintenance (every 5 s) so that a few minutes of simulated time are many rounds.</summary>
    public static ChordOptions FastChord(ChordLookupStyle lookup = ChordLookupStyle.Recursive) => new()
    {
        Protocol = OverlayProtocol.Dynamic,
        Successors = 4,
        Replicas = 4,
        Lookup = lookup,
        StabilizeEvery = 5 * Second,
        FixFingersEvery = 5 * Second,
        CheckPredecessorEvery = 5 * Second,
        RpcTimeout = 500_000,
        LookupTimeout = 30 * Second,
    };

    /// <summary>Pastry's protocol with fast maintenance (keep-alive every 5 s, M probed every 10 s), as FastChord.</summary>
    public static PastryOptions FastPastry(PastryRepair repair = PastryRepair.All) => new()
    {
        Protocol = OverlayProtocol.Dynamic,
        LeafKeepaliveEvery = 5 * Second,
        NeighbourProbeEvery = 10 * Second,
        Repair = repair,
        RpcTimeout = 500_000,
        LookupTimeout = 30 * Second,
    };

    /// <summary>
    /// A run of <paramref name="nodes"/> machines under <paramref name="churn"/> for <paramref name="duration"/>:
    /// coordinates latency (mean 40 ms one way, so that message delays differ), and lookups at
    /// <paramref name="perNodeRate"/> per live node from <paramref name="lookupsFrom"/> to <paramref name="lookupsUntil"/>,
    /// measured from <paramref name="lookupsFrom"/>.
    /// </summary>
    public static RunSpec Spec(int nodes, ChurnOptions churn, long duration, long lookupsFrom, long lookupsUntil,
        double perNodeRate = 0.05, ChordOptions? chord = null, long seed = 11, int replicate = 0, int virtualNodes = 1,
        long sampleEvery = 0, Func<Overlay>? overlay = null)
    {
        ChordOptions o = chord ?? FastChord();
        return new RunSpec(nodes, 160, seed, replicate,
            (n, streams) =>
            {
                Xoshiro256 rng = streams.Stream("latency");
                return new CoordinateLatency(n, 2, 40_000, 1_000, 5_000, ref rng);
            },
            new WorkloadOptions(0, Rate: 1, PerNodeRate: perNodeRate, Duration: lookupsUntil - lookupsFrom, Keys: 5000,
                Popularity.Uniform, 1.0, Start: lookupsFrom),
            overlay ?? (() => new ChordProtocol(o)))
        {
            Churn = churn,
            Duration = duration,
            MeasureAfter = lookupsFrom,
            VirtualNodes = virtualNodes,
            SampleEvery = sampleEvery,
        };
    }

    /// <summary>The churn models every overlay protocol's tests survive on 300 machines for 8 minutes (names for theories).</summary>
    public static Xunit.TheoryData<string> ProtocolModels => new()
    {
        "lifetime-exponential", "lifetime-weibull-same-id", "rate", "mass-failure", "mass-failure-stop-maintenance",
        "trace-everyone-crashes-then-new-machines-join",
    };

    /// <summary>
    /// A churn model of <see cref="ProtocolModels"/> by name: sessions of minutes (heavy churn for maintenance every
    /// 5 s, with leaves and crashes), Weibull sessions rejoining under the same ids, rates, a mass failure with and
    /// without maintenance after it, and everyone crashing before new machines join.
    /// </summary>
    public static ChurnOptions ProtocolModel(string name) => name switch
    {
        "lifetime-exponential" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Exponential, SessionMean: 3 * Minute, DowntimeMean: 2 * Minute),
        "lifetime-weibull-same-id" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Weibull, SessionMean: 3 * Minute, SessionShape: 0.5, DowntimeMean: 2 * Minute, NewIdOnRejoin: false),
        "rate" => new ChurnOptions(ChurnKind.Rate, JoinRate: 1, FailureRate: 1, LeaveFraction: 0.5),
        "mass-failure" => new ChurnOptions(ChurnKind.MassFailure, At: 3 * Minute, FailProbability: 0.5),
        "mass-failure-stop-maintenance" => new ChurnOptions(ChurnKind.MassFailure, At: 3 * Minute, FailProbability: 0.5, StopMaintenance: true),
        _ => new ChurnOptions(ChurnKind.Trace, Trace:
            [
                .. Enumerable.Range(0, 300).Select(m => new ChurnTraceEvent(1 * Minute, m, ChurnAction.Crash)),
                .. Enumerable.Range(300, 150).Select(m => new ChurnTraceEvent(2 * Minute + (m - 300) * 200_000L, m, ChurnAction.Join)),
            ]),
    };

    /// <summary>
    /// A trace that churns a ring of <paramref name="nodes"/> machines during [<paramref name="from"/>, <paramref name="until"/>)
    /// and then stops: <paramref name="joins"/> joins of new machines (indices nodes, nodes+1, ...), and
    /// <paramref name="leaves"/> graceful leaves and <paramref name="crashes"/> crashes of distinct original
    /// machines, at times drawn uniformly (in whole ms) from a seeded stream, merged in time order. The last
    /// <paramref name="rejoins"/> of the departed machines come back (with a new id) before <paramref name="until"/>.
    /// </summary>
    public static List<ChurnTraceEvent> Trace(int nodes, int joins, int leaves, int crashes, int rejoins, long from, long until, ulong seed = 5)
    {
        var rng = new Xoshiro256(seed);
        long span = (until - from) / 1000;
        long At() => from + 1000 * (long)(rng.NextDouble() * span);
        var events = new List<ChurnTraceEvent>();
        for (int j = 0; j < joins; j++) events.Add(new ChurnTraceEvent(At(), nodes + j, ChurnAction.Join));

        // Distinct victims among the original machines: a partial Fisher-Yates shuffle.
        int[] order = Enumerable.Range(0, nodes).ToArray();
        for (int i = 0; i < leaves + crashes; i++)
        {
            int k = i + rng.NextInt(nodes - i);
            (order[i], order[k]) = (order[k], order[i]);
        }
        var departures = new List<ChurnTraceEvent>();
        for (int i = 0; i < leaves + crashes; i++)
            departures.Add(new ChurnTraceEvent(At(), order[i], i < leaves ? ChurnAction.Leave : ChurnAction.Crash));
        events.AddRange(departures);
        // Rejoins: each after its machine's departure, somewhere in what is left of the churn window.
        foreach (ChurnTraceEvent d in departures.Take(rejoins))
            events.Add(new ChurnTraceEvent(d.Time + 1000 + 1000 * (long)(rng.NextDouble() * ((until - d.Time) / 1000 - 1)), d.Machine, ChurnAction.Join));
        // Stable by time: a machine's departure stays before its rejoin even at an equal time.
        return events.Select((e, i) => (e, i)).OrderBy(x => x.e.Time).ThenBy(x => x.i).Select(x => x.e).ToList();
    }

    /// <summary>Every problem with the ring of live joined nodes, as readable lines (empty when consistent).</summary>
    public static List<string> RingProblems(Network net, ChordProtocol chord, int successors)
    {
        var problems = new List<string>();
        ReadOnlySpan<int> ring = net.Oracle.SortedNodes;
        int n = ring.Length;
        if (n != net.Nodes.LiveCount) problems.Add($"{net.Nodes.LiveCount} live nodes but {n} joined (in the oracle)");
        for (int i = 0; i < n && problems.Count < 20; i++)
        {
            int node = ring[i], next = ring[(i + 1) % n], prev = ring[(i - 1 + n) % n];
            int succ = chord.Successor(node), pred = chord.Predecessor(node);
            if (succ != next) problems.Add($"succ({node}) = {succ}, expected {next} (rank {i})");
            if (pred != prev) problems.Add($"pred({node}) = {pred}, expected {prev} (rank {i})");
            if (pred >= 0 && chord.Successor(pred) != node) problems.Add($"succ(pred({node})) = {(pred >= 0 ? chord.Successor(pred) : -1)}, not {node}");
            ReadOnlySpan<int> list = chord.SuccessorList(node);
            for (int j = 0; j < Math.Min(successors, n - 1); j++)
                if (list[j] != ring[(i + 1 + j) % n])
                {
                    problems.Add($"successor list of {node}: entry {j} is {list[j]}, expected {ring[(i + 1 + j) % n]}");
                    break;
                }
            // Routing skips fingers by the bit length kept beside each: it must be that of the finger's distance.
            ReadOnlySpan<int> fingers = chord.Fingers(node);
            ReadOnlySpan<byte> bits = chord.FingerBits(node);
            for (int j = 0; j < fingers.Length; j++)
            {
                int expected = fingers[j] < 0 ? 0 : net.Space.Distance(net.Nodes.Ids[node], net.Nodes.Ids[fingers[j]]).BitLength;
                if (bits[j] != expected)
                {
                    problems.Add($"finger {j} of {node} ({fingers[j]}): distance of {expected} bits kept as {bits[j]}");
                    break;
                }
            }
        }
        // Walk the successor pointers from the first node: n steps must visit every live node once and come back.
        if (n > 0)
        {
            var seen = new HashSet<int>();
            int at = ring[0];
            for (int step = 0; step < n; step++)
            {
                if (at < 0 || !net.Nodes.IsAlive(at) || !seen.Add(at))
                {
                    problems.Add($"successor walk from {ring[0]}: step {step} reaches {at} (dead, repeated or none)");
                    break;
                }
                at = chord.Successor(at);
            }
            if (seen.Count == n && at != ring[0]) problems.Add($"successor walk does not close: after {n} steps at {at}");
        }
        return problems;
    }
}
