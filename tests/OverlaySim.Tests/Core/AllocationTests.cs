using OverlaySim.Core;
using OverlaySim.Overlays;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// The engine allocates nothing per event in steady state (STYLE.md §3): measured with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> around a run of many events, after a warm-up that lets
/// the pooled arrays (event slots, heap, lookup slots) reach their working size and the JIT settle.
/// </summary>
/// <remarks>
/// The counter is per thread and exact (not sampled), so other tests running in parallel do not disturb it,
/// and one byte allocated anywhere on the dispatch path makes the test fail.
/// </remarks>
public class AllocationTests
{
    [Fact]
    public void EventQueuePushPopAllocatesNothingInSteadyState()
    {
        var queue = new EventQueue(capacity: 16);
        var rng = new Xoshiro256(9);
        // Hold about 1000 events pending; each round pops one and pushes one or two, cancelling some.
        void Churn(int rounds)
        {
            for (int i = 0; i < rounds; i++)
            {
                queue.TryPop(out long now, out Event _, out bool _);
                EventHandle h = queue.Push(now + rng.NextInt(1000), new Event { Arg = i });
                if (queue.Count < 1000) queue.Push(now + rng.NextInt(1000), new Event { Arg = -i });
                if ((i & 7) == 0) queue.Cancel(h);
            }
        }
        for (int i = 0; i < 1000; i++) queue.Push(rng.NextInt(1000), new Event { Arg = i });
        Churn(50_000); // warm-up: arrays grow to their working size, methods reach their final tier

        long before = GC.GetAllocatedBytesForCurrentThread();
        Churn(500_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.InRange(queue.Count, 900, 1100);
    }

    [Fact]
    public void StaticChordRunAllocatesNothingPerEventInSteadyState()
    {
        // A world built as Experiment.Run builds it: 256 nodes, uniform latency, static Chord, Zipf workload.
        const int nodes = 256, keys = 1000;
        var space = new IdSpace(32);
        var streams = new RandomStreams(seed: 11, replicate: 0);
        var table = new NodeTable(Experiment.DrawDistinctIds(space, nodes, streams.Stream("ids")));
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var latency = new UniformLatency(10_000, 90_000, streams.StreamSeed("latency"));
        var net = new Network(space, table, latency, Experiment.KeyIds(space, keys), streams);
        var chord = new ChordRing(new ChordOptions());
        Experiment.Install(net, chord);
        // More lookups than the run reaches (it stops at a time), so the workload never winds down; the latency
        // list is reserved for all of them, as Experiment.Run does.
        const long lookups = 100_000;
        var options = new WorkloadOptions(lookups, Rate: 1000, 0, 0, keys, Popularity.Zipf, ZipfExponent: 1.0, Start: 0);
        net.Lookups.Metrics.Reserve(lookups);
        var workload = new Workload(net, options, chord.StartLookup);
        workload.Start();

        net.Sim.Run(until: 3_000_000);            // warm-up: 3 s of simulated time, ~3000 lookups
        long eventsBefore = net.Sim.Dispatched, finishedBefore = net.Lookups.Metrics.Finished;

        long before = GC.GetAllocatedBytesForCurrentThread();
        net.Sim.Run(until: 33_000_000);           // 30 s more: ~30 000 lookups, a few hundred thousand events
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        long events = net.Sim.Dispatched - eventsBefore;
        Assert.True(events > 150_000, $"only {events} events ran: the window does not measure a steady state");
        Assert.True(net.Lookups.Metrics.Finished - finishedBefore > 25_000);
        Assert.Equal(net.Lookups.Metrics.Finished, net.Lookups.Metrics.Ok);  // static Chord answers every lookup correctly
        Assert.True(allocated == 0, $"{allocated} bytes allocated over {events} events ({(double)allocated / events:F2} per event)");
    }
}
