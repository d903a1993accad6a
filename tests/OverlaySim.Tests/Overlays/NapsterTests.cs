using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Tests.Churn;
using Xunit;

namespace OverlaySim.Tests.Overlays;

/// <summary>The central index: one hop while the server lives, none while it is down, and its queue against M/D/1 theory.</summary>
public class NapsterTests
{
    private static RunResult Run(string parameters, int nodes = 2000, string workload = "{ lookups: 5000, keys: 500, replication: uniform, replicas: 3 }",
        string extra = "", Action<SimulationRun>? inspect = null)
    {
        SimulationRun run = ConformanceTests.Build("napster", parameters, nodes: nodes, workload: workload, extra: extra);
        Experiment.Simulate(run);
        inspect?.Invoke(run);
        return Experiment.Summarize(run);
    }

    [Fact]
    public void WhileTheServerLivesEveryQueryIsAnsweredInOneHop()
    {
        RunResult r = Run("");
        Assert.Equal(r.Lookups, r.LookupsOk);
        // One hop for every query the client could not answer itself (it holds 3 of 500 items' copies at most).
        Assert.Equal(r.LookupsOk, r.HopHistogram[0] + r.HopHistogram[1]);
        Assert.True(r.HopHistogram[1] > 0.99 * r.Lookups);
        // Degree: the server knows every peer, each peer only the server.
        Assert.Equal(2000, r.DegreeMax);
        Assert.Equal((2000 + 2000) / 2001.0, r.DegreeMean, 9);
        // The server receives one message of every query (the others go to the client and a holder).
        Assert.Equal(r.LoadMax * r.Lookups, r.HopHistogram[1], 6);
    }

    [Fact]
    public void WhileTheServerIsDownEveryQueryFailsAndAfterItRecoversEveryQueryIsAnswered()
    {
        // Queries are issued until 50 s, so that every one has ended (a lost one after rpc_timeout) by the end at 60 s.
        const string workload = "{ per_node_rate: 1/100s, duration: 50s, keys: 500, replication: uniform, replicas: 3 }";
        // Down from 10 s for the rest of the run; measured from 10 s: every measured query fails.
        RunResult down = Run("server_down_at: 10s, server_down_for: 1h", workload: workload, extra: "duration: 60s\nmeasure_after: 10s");
        Assert.True(down.Lookups > 500);
        Assert.Equal(0, down.LookupsOk + down.LookupsWrong);
        Assert.Equal(down.Lookups, down.LookupsFailed);
        // Down from 5 s to 15 s, measured from 20 s: the index survived the crash, so every query is answered again.
        RunResult after = Run("server_down_at: 5s, server_down_for: 10s", workload: workload, extra: "duration: 60s\nmeasure_after: 20s");
        Assert.True(after.Lookups > 500);
        Assert.Equal(after.Lookups, after.LookupsOk);
    }

    [Fact]
    public void AChurnTraceNamingTheServersMachineFailsItAndAMassFailureOfPeersDoesNot()
    {
        using var dir = new Support.TempFolder();
        const string workload = "{ per_node_rate: 1/100s, duration: 40s, keys: 500, replication: uniform, replicas: 3 }";
        // The server is machine 2000, the first after the 2,000 peers: the trace crashes it at 10 s.
        string trace = dir.Write("t.csv", "10s, 2000, crash\n");
        RunResult down = Run("protocol: dynamic", workload: workload, extra: $"duration: 50s\nmeasure_after: 10s\nchurn: {{ model: trace, file: {trace} }}");
        Assert.True(down.Lookups > 500);
        Assert.Equal(down.Lookups, down.LookupsFailed);
        Assert.Equal(1, down.Crashes);

        // Every live machine crashes with probability 0.5 at 10 s: the peers do, the server does not.
        int server = -1;
        RunResult mass = Run("protocol: dynamic", workload: workload,
            extra: "duration: 50s\nmeasure_after: 10s\nchurn: { model: mass_failure, at: 10s, probability: 0.5 }",
            inspect: run => server = ((Napster)run.Overlay).Server);
        Assert.True(mass.Crashes is > 900 and < 1100, $"{mass.Crashes} crashes");
        Assert.True(mass.LookupsOk > 0.8 * mass.Lookups, $"{mass.LookupsOk} of {mass.Lookups} ok after the peers' mass failure");
        Assert.Equal(2000, server); // node ordinals 0..1999 are the peers, the server's is the next
    }

    [Fact]
    public void AfterAnOutageLongerThanTheKeepAliveTimeoutTheIndexStillAnswers()
    {
        // Down for 5 minutes with a 60-second time-out: the server heard no keep-alive meanwhile, but counts the time-out
        // from its return, so the index it kept on disk answers at once (without that, most items had no holder listed
        // until each peer's next keep-alive).
        const string workload = "{ per_node_rate: 1/30s, duration: 6min, keys: 500, replication: uniform, replicas: 3 }"; // all end by 7 min
        RunResult r = Run("protocol: dynamic, keep_alive: 30s, keep_alive_timeout: 60s, server_down_at: 10s, server_down_for: 5min",
            workload: workload, extra: "duration: 7min\nmeasure_after: 311s");
        Assert.True(r.Lookups > 1000);
        Assert.Equal(r.Lookups, r.LookupsOk);
    }

    [Fact]
    public void ACrashedPeerStaysListedUntilItsKeepAliveTimesOut()
    {
        // Peers crash (no goodbye) and their entries stay until keep_alive_timeout: clients meet dead holders and try the next.
        string churn = "duration: 20min\nmeasure_after: 5min\nchurn: { model: lifetime, session_mean: 10min, downtime_mean: 10min, leave_fraction: 0 }";
        const string workload = "{ per_node_rate: 1/60s, duration: 20min, keys: 500, replication: uniform, replicas: 5 }";
        RunResult slow = Run("protocol: dynamic, keep_alive: 60s, keep_alive_timeout: 30min", workload: workload, extra: churn);
        RunResult fast = Run("protocol: dynamic, keep_alive: 10s, keep_alive_timeout: 20s", workload: workload, extra: churn);
        double slowAttempts = slow.Metric("fetch_attempts_mean")!.Value, fastAttempts = fast.Metric("fetch_attempts_mean")!.Value;
        Assert.True(slowAttempts > 1.2, $"{slowAttempts} holders contacted per query with stale entries kept 30 minutes");
        Assert.True(fastAttempts < slowAttempts, $"{fastAttempts} against {slowAttempts}");
        Assert.True(slow.TimeoutsMean > fast.TimeoutsMean);
        // A holder confirms the item before it is taken, so an answer is wrong only if the holder crashed in the one-way
        // delay of its confirmation: about (1/10 min) · 50 ms ≈ 10^-4 of the queries.
        Assert.True(slow.LookupsWrong + fast.LookupsWrong <= 0.001 * (slow.Lookups + fast.Lookups), $"{slow.LookupsWrong} and {fast.LookupsWrong} wrong");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.8)]
    public void TheQueueingDelayOfAPoissonStreamMatchesMD1Theory(double rho)
    {
        // Poisson queries at rate λ = ρμ into a server of fixed service time 1/μ: the mean wait in the queue is
        // W_q = ρ / (2μ(1 − ρ)) (Pollaczek–Khinchine with zero service variance). Arrivals reach the server after each
        // client's own delay, independent of the arrival process, so they are still Poisson (displacement theorem).
        const double mu = 1000;
        double lambda = rho * mu;
        long[] delays = [];
        RunResult r = Run($"service_rate: {mu}/s", nodes: 5000,
            workload: $"{{ lookups: 200000, rate: {lambda}/s, keys: 500, replication: uniform, replicas: 3 }}",
            inspect: run => delays = ((Napster)run.Overlay).QueueDelays.ToArray());
        double theory = rho / (2 * mu * (1 - rho)) * 1e6; // µs
        // Waits are correlated from one query to the next, so the standard error comes from 40 batch means (batches of
        // 5,000 queries, far longer than the queue's busy periods at these loads).
        int batches = 40, size = delays.Length / batches;
        var means = new double[batches];
        for (int b = 0; b < batches; b++) means[b] = delays.AsSpan(b * size, size).ToArray().Average();
        double mean = means.Average();
        double se = Math.Sqrt(means.Sum(m => (m - mean) * (m - mean)) / (batches - 1) / batches);
        double z = GoodnessOfFit.Z(GoodnessOfFit.Alpha);
        Assert.True(Math.Abs(mean - theory) <= z * se, $"mean wait {mean:0.0} µs, M/D/1 {theory:0.0} µs, standard error {se:0.0} µs");
        Assert.Equal(delays.Average() / 1000, r.Metric("queue_delay_mean_ms")!.Value, 6);
        // Utilisation ρ: the busy share of the window.
        Assert.Equal(rho, r.Metric("server_utilisation")!.Value, 2);
    }
}
