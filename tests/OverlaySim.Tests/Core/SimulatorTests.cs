using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>The dispatch loop of <see cref="Simulator"/>: stale-epoch drops, cancels, the clock and the stop time.</summary>
public class SimulatorTests
{
    /// <summary>Records what it receives; can run an action at dispatch (to kill a node mid-run, for instance).</summary>
    private sealed class Recorder(Simulator sim) : IEventSink
    {
        public readonly List<(long Time, int Dst, int Arg)> Seen = [];
        public Action<Event>? OnEvent;

        public void Handle(ref Event ev)
        {
            Seen.Add((sim.Now, ev.Dst, ev.Arg));
            OnEvent?.Invoke(ev);
        }
    }

    private static (NodeTable Nodes, Simulator Sim, Recorder Sink, byte SinkId) World(int nodes)
    {
        var table = new NodeTable(new Id[nodes]);
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var sim = new Simulator(table.Epoch);
        var sink = new Recorder(sim);
        return (table, sim, sink, sim.Register(sink));
    }

    private static Event For(int dst, byte sink, int arg) => new() { Dst = dst, Src = -1, Lookup = -1, Sink = sink, Arg = arg };

    /// <summary>Logs the hints it is given and the events it handles, in order.</summary>
    private sealed class HintRecorder : IEventSink, IPrefetchingSink
    {
        public readonly List<string> Log = [];

        public bool WantsHints { get; set; } = true;

        public void PrefetchFar(in Event ev) => Log.Add($"far {ev.Arg}");

        public void PrefetchNear(in Event ev) => Log.Add($"near {ev.Arg}");

        public void Handle(ref Event ev) => Log.Add($"handle {ev.Arg}");
    }

    [Fact]
    public void APrefetchingSinkIsToldOfTheTwoEventsDueNextBeforeEachDispatch()
    {
        var table = new NodeTable(new Id[2]);
        for (int i = 0; i < 2; i++) table.SetAlive(i);
        var sim = new Simulator(table.Epoch);
        var sink = new HintRecorder();
        byte id = sim.Register(sink);
        var other = new Recorder(sim);
        byte otherId = sim.Register(other);   // a plain sink's events are named to no one
        sim.Schedule(10, For(0, id, 1));
        sim.Schedule(30, For(1, id, 3));
        sim.Schedule(20, For(1, otherId, 2));
        sim.Schedule(30, For(0, id, 4));      // same time as 3: due after it
        sim.Run();
        // before 1: 2 is next (another sink's) and 3 after it; before 2 (handled by the other sink): 3, then 4;
        // before 3: only 4 is left; before 4: nothing
        Assert.Equal(["far 3", "handle 1", "far 4", "near 3", "near 4", "handle 3", "handle 4"], sink.Log);
        Assert.Equal([(20L, 1, 2)], other.Seen);
    }

    [Fact]
    public void ASinkThatWantsNoHintsIsToldNothing()
    {
        var table = new NodeTable(new Id[1]);
        table.SetAlive(0);
        var sim = new Simulator(table.Epoch);
        var sink = new HintRecorder { WantsHints = false };
        byte id = sim.Register(sink);
        for (int i = 1; i <= 3; i++) sim.Schedule(10 * i, For(0, id, i));
        sim.Run(15);
        sink.WantsHints = true;   // read again when the run goes on
        sim.Run();
        Assert.Equal(["handle 1", "near 3", "handle 2", "handle 3"], sink.Log);
    }

    [Fact]
    public void EventsForANodeThatDiedAreDroppedAndCounted()
    {
        var (nodes, sim, sink, id) = World(3);
        sim.Schedule(10, For(0, id, 100));
        sim.Schedule(20, For(1, id, 101));
        sim.Schedule(25, For(1, id, 102));
        sim.Schedule(30, For(2, id, 103));
        sim.Schedule(40, For(-1, id, 104)); // belongs to no node: never stale

        nodes.SetDead(1);
        sim.Run();

        Assert.Equal([(10L, 0, 100), (30L, 2, 103), (40L, -1, 104)], sink.Seen);
        Assert.Equal(3, sim.Dispatched);
        Assert.Equal(2, sim.Dropped);
        Assert.Equal(0, sim.Queue.SlotsInUse);
    }

    [Fact]
    public void ANodeKilledDuringTheRunLosesItsPendingEvents()
    {
        var (nodes, sim, sink, id) = World(2);
        sim.Schedule(10, For(0, id, 1));     // its handler kills node 1
        sim.Schedule(20, For(1, id, 2));     // scheduled while node 1 was alive: must be dropped
        sink.OnEvent = ev => { if (ev.Arg == 1) nodes.SetDead(1); };
        sim.Run();

        Assert.Equal([(10L, 0, 1)], sink.Seen);
        Assert.Equal(1, sim.Dropped);
    }

    [Fact]
    public void ARejoinedNodeGetsOnlyEventsOfItsNewIncarnation()
    {
        var (nodes, sim, sink, id) = World(2);
        sim.Schedule(10, For(1, id, 1));     // for the old incarnation
        nodes.SetDead(1);
        nodes.SetAlive(1);                   // rejoined: the epoch moved on twice
        sim.Schedule(20, For(1, id, 2));     // for the new incarnation
        sim.Run();

        Assert.Equal([(20L, 1, 2)], sink.Seen);
        Assert.Equal(1, sim.Dropped);
    }

    [Fact]
    public void EnoughPendingEventsForTheEnginesOwnPrefetchDispatchInOrderAndDropTheStaleOnes()
    {
        // More pending events than Simulator.PrefetchEventsFrom, for nodes some of which die before their events are
        // due, so the engine fetches slots and epochs ahead of itself: the run must be exactly what it would be without.
        const int nodes = 1000, events = 3 * Simulator.PrefetchEventsFrom;
        var table = new NodeTable(new Id[nodes]);
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var sim = new Simulator(table);
        var sink = new Recorder(sim);
        byte id = sim.Register(sink);
        var rng = new Xoshiro256(3);
        var expected = new List<(long Time, int Dst, int Arg)>();
        for (int i = 0; i < events; i++)
        {
            int dst = rng.NextInt(nodes);
            long at = 1 + rng.NextInt(1_000_000);
            sim.Schedule(at, For(dst, id, i));
            if (dst % 10 != 0) expected.Add((at, dst, i));   // nodes 0, 10, 20 ... die at time 0
        }
        sim.Schedule(0, For(0, id, -1));
        sink.OnEvent = ev =>
        {
            if (ev.Arg != -1) return;
            for (int n = 0; n < nodes; n += 10) table.SetDead(n);
        };
        sim.Run();

        Assert.Equal([(0L, 0, -1), .. expected.OrderBy(e => e.Time).ThenBy(e => e.Arg)], sink.Seen);
        Assert.Equal(events - expected.Count, sim.Dropped);   // every event of a node that died
    }

    /// <summary>The same world on an engine that follows the node table (the one runs use), with its epochs frozen.</summary>
    private static (NodeTable Nodes, Simulator Sim, Recorder Sink, byte SinkId) FrozenWorld(int nodes)
    {
        var table = new NodeTable(new Id[nodes]);
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        var sim = new Simulator(table);
        var sink = new Recorder(sim);
        byte id = sim.Register(sink);
        sim.FreezeEpochs();
        return (table, sim, sink, id);
    }

    [Fact]
    public void FrozenEpochsDropExactlyWhatStampedEpochsDrop()
    {
        // Scheduled while frozen (no stamp), then node 1 dies and node 2 dies and comes back: the events meant for
        // their old incarnations are dropped as if stamped, the others delivered, and later events are stamped.
        var (nodes, sim, sink, id) = FrozenWorld(4);
        sim.Schedule(10, For(0, id, 1));
        sim.Schedule(20, For(1, id, 2));
        sim.Schedule(30, For(2, id, 3));
        sink.OnEvent = ev =>
        {
            if (ev.Arg != 1) return;
            nodes.SetDead(1);                          // thaws
            nodes.SetDead(2);
            nodes.SetAlive(2);
            sim.Schedule(25, For(2, id, 4));           // stamped: for node 2's new incarnation
            sim.Schedule(26, For(3, id, 5));           // stamped: node 3 never changed
        };
        sim.Run();

        Assert.Equal([(10L, 0, 1), (35L, 2, 4), (36L, 3, 5)], sink.Seen);
        Assert.Equal(2, sim.Dropped);
    }

    [Fact]
    public void ANewNodeThawsTheFreezeAndAMessageToItWhileItIsDownIsDropped()
    {
        var (nodes, sim, sink, id) = FrozenWorld(2);
        sim.Schedule(10, For(0, id, 1));                 // unstamped, for a node that stays alive
        int fresh = nodes.Add(default, 2);               // a new machine, not yet up: thaws
        sim.Schedule(20, For(fresh, id, 2));             // stamped with its even epoch: dropped
        sim.Schedule(30, For(1, id, 3));
        sim.Run();

        Assert.Equal([(10L, 0, 1), (30L, 1, 3)], sink.Seen);
        Assert.Equal(1, sim.Dropped);
    }

    [Fact]
    public void FreezingNeedsEveryNodeAlive()
    {
        var table = new NodeTable(new Id[3]);
        table.SetAlive(0);
        table.SetAlive(1);                             // node 2 is down: a message to it must still be dropped
        var sim = new Simulator(table);
        var sink = new Recorder(sim);
        byte id = sim.Register(sink);
        sim.FreezeEpochs();
        sim.Schedule(10, For(2, id, 1));
        sim.Schedule(20, For(0, id, 2));
        sim.Run();

        Assert.Equal([(20L, 0, 2)], sink.Seen);
        Assert.Equal(1, sim.Dropped);
    }

    [Fact]
    public void CancelledEventsAreDroppedAndCounted()
    {
        var (_, sim, sink, id) = World(1);
        EventHandle h = sim.Schedule(10, For(0, id, 1));
        sim.Schedule(20, For(0, id, 2));
        Assert.True(sim.Cancel(h));
        sim.Run();

        Assert.Equal([(20L, 0, 2)], sink.Seen);
        Assert.Equal((1L, 1L), (sim.Dispatched, sim.Dropped));
    }

    [Fact]
    public void RunStopsAtTheGivenTimeAndResumes()
    {
        var (_, sim, sink, id) = World(1);
        sim.Schedule(10, For(0, id, 1));
        sim.Schedule(50, For(0, id, 2));
        sim.Schedule(50, For(0, id, 3));

        sim.Run(until: 30);
        Assert.Equal(30, sim.Now);            // the clock stops at `until`, not at the last event
        Assert.Equal([(10L, 0, 1)], sink.Seen);
        Assert.Equal(2, sim.Queue.Count);

        // Schedule is relative to Now = 30, so this one lands at 50 too, after the two already there (FIFO).
        sim.Schedule(20, For(0, id, 4));
        sim.Run(until: 50);                   // `until` is inclusive
        Assert.Equal([(10L, 0, 1), (50L, 0, 2), (50L, 0, 3), (50L, 0, 4)], sink.Seen);
        Assert.Equal(0, sim.Queue.Count);
    }

    [Fact]
    public void SchedulingInThePastIsRefused()
    {
        var (_, sim, _, id) = World(1);
        sim.Run(until: 100);
        Assert.Throws<ArgumentOutOfRangeException>(() => sim.ScheduleAt(99, For(0, id, 0)));
        sim.ScheduleAt(100, For(0, id, 0)); // now is allowed
    }

    [Fact]
    public void TraceHashDependsOnWhatWasDispatched()
    {
        ulong Trace(int arg)
        {
            var (_, sim, _, id) = World(1);
            sim.Schedule(10, For(0, id, 7));
            sim.Schedule(20, For(0, id, arg));
            sim.Run();
            return sim.TraceHash;
        }
        Assert.Equal(Trace(1), Trace(1));
        Assert.NotEqual(Trace(1), Trace(2));
    }
}
