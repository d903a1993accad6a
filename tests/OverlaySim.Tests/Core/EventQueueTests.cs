using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// <see cref="EventQueue"/> against a reference model: .NET's <see cref="PriorityQueue{TElement,TPriority}"/>
/// keyed by (time, push sequence), plus a set of cancelled events.
/// </summary>
/// <remarks>
/// PriorityQueue is not stable, but with the push sequence in the priority no two keys are equal, so the
/// model's order is total and must match the queue's exactly: by time, and first-in-first-out at equal times.
/// </remarks>
public class EventQueueTests
{
    private enum OpKind { Push, Pop, Cancel }

    /// <summary>Push at <see cref="Time"/>; Pop; or Cancel the event pushed <see cref="Target"/>-th (mod pushes so far).</summary>
    private readonly record struct Op(OpKind Kind, long Time, int Target)
    {
        public override string ToString() => Kind switch
        {
            OpKind.Push => $"push@{Time}",
            OpKind.Pop => "pop",
            _ => $"cancel#{Target}",
        };
    }

    // Times come from a small range so that equal times (the FIFO case) are common.
    private static readonly Gen<Op> OpGen = Gen.Frequency(
        (5, Gen.Choose(0, 12).Select(t => new Op(OpKind.Push, t, 0))),
        (3, Gen.Constant(new Op(OpKind.Pop, 0, 0))),
        (2, Gen.Choose(0, 1000).Select(k => new Op(OpKind.Cancel, 0, k))));

    /// <summary>Op lists up to 5x the FsCheck size; shrinks by dropping one op at a time.</summary>
    private static readonly Arbitrary<Op[]> Ops = Arb.From(
        Gen.Sized(size => Gen.Choose(0, 5 * size).SelectMany(n => Gen.ArrayOf(OpGen, n))),
        ops => Enumerable.Range(0, ops.Length).Select(i => ops.Where((_, j) => j != i).ToArray()));

    [Fact]
    public void MatchesPriorityQueueModelUnderPushPopCancel()
    {
        Prop.ForAll(Ops, ops =>
        {
            var queue = new EventQueue(capacity: 4); // small, so that the heap and the slot pool grow during the run
            var model = new PriorityQueue<int, (long Time, long Seq)>();
            var handles = new List<EventHandle>();
            var pending = new HashSet<int>();
            var cancelled = new HashSet<int>();
            long seq = 0;

            void PopBothAndCompare()
            {
                bool any = queue.TryPop(out long time, out Event ev, out bool wasCancelled);
                Assert.Equal(model.Count > 0, any);
                if (!any) return;
                model.TryDequeue(out int id, out var key);
                Assert.Equal(key.Time, time);
                Assert.Equal(id, ev.Arg);
                Assert.Equal(-id, ev.Src);                            // the payload comes back intact
                Assert.Equal(cancelled.Contains(id), wasCancelled);   // cancelled events never come back live
                pending.Remove(id);
            }

            foreach (Op op in ops)
            {
                switch (op.Kind)
                {
                    case OpKind.Push:
                        int id = handles.Count;
                        handles.Add(queue.Push(op.Time, new Event { Arg = id, Src = -id, Dst = -1 }));
                        model.Enqueue(id, (op.Time, seq++));
                        pending.Add(id);
                        break;
                    case OpKind.Pop:
                        PopBothAndCompare();
                        break;
                    case OpKind.Cancel when handles.Count > 0:
                        int target = op.Target % handles.Count;
                        bool expected = pending.Contains(target) && !cancelled.Contains(target);
                        Assert.Equal(expected, queue.Cancel(handles[target]));
                        if (expected) cancelled.Add(target);
                        break;
                }
                Assert.Equal(model.Count, queue.Count);
                Assert.Equal(model.Count, queue.SlotsInUse);
                Assert.Equal(model.TryPeek(out _, out var top) ? top.Time : long.MaxValue, queue.PeekTime);
                // The two events due next (what the engine's prefetch hints name), cancelled ones included.
                int[] next = model.UnorderedItems.OrderBy(e => e.Priority).Take(2).Select(e => e.Element).ToArray();
                Assert.Equal(next.Length > 0 ? next[0] : -1, queue.FirstSlot < 0 ? -1 : queue.At(queue.FirstSlot).Arg);
                Assert.Equal(next.Length > 1 ? next[1] : -1, queue.SecondSlot < 0 ? -1 : queue.At(queue.SecondSlot).Arg);
            }

            while (model.Count > 0 || queue.Count > 0) PopBothAndCompare();
            Assert.Equal(0, queue.SlotsInUse); // drained: no slot leaked, cancelled ones included
            Assert.False(queue.TryPop(out _, out _, out _));
            Assert.Equal(handles.Count, queue.Pushed);
            foreach (EventHandle h in handles) Assert.False(queue.Cancel(h)); // every handle is stale now
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void EqualTimesPopInPushOrder()
    {
        var queue = new EventQueue();
        // Interleave two times so that the heap has to reorder: pushes at 5 and 3 alternate.
        for (int i = 0; i < 100; i++) queue.Push(i % 2 == 0 ? 5 : 3, new Event { Arg = i });
        var order = new List<(long, int)>();
        while (queue.TryPop(out long t, out Event ev, out _)) order.Add((t, ev.Arg));

        var expected = new List<(long, int)>();
        for (int i = 1; i < 100; i += 2) expected.Add((3, i));
        for (int i = 0; i < 100; i += 2) expected.Add((5, i));
        Assert.Equal(expected, order);
    }

    [Fact]
    public void CancelIsLazyAndCountedOnce()
    {
        var queue = new EventQueue();
        EventHandle a = queue.Push(10, new Event { Arg = 1 });
        queue.Push(20, new Event { Arg = 2 });

        Assert.True(queue.Cancel(a));
        Assert.False(queue.Cancel(a));             // already cancelled
        Assert.Equal(2, queue.Count);              // still in the heap: cancel is a flag, not a removal
        Assert.Equal(10, queue.PeekTime);

        Assert.True(queue.TryPop(out long t, out Event ev, out bool cancelled));
        Assert.Equal((10L, 1, true), (t, ev.Arg, cancelled));
        Assert.Equal(1, queue.SlotsInUse);         // the cancelled event's slot is free again

        // The freed slot is reused by the next push; the old handle must not cancel the new event.
        EventHandle c = queue.Push(30, new Event { Arg = 3 });
        Assert.Equal(a.Slot, c.Slot);
        Assert.False(queue.Cancel(a));
        Assert.True(queue.TryPop(out _, out ev, out cancelled));
        Assert.Equal((2, false), (ev.Arg, cancelled));
        Assert.True(queue.TryPop(out _, out ev, out cancelled));
        Assert.Equal((3, false), (ev.Arg, cancelled));
    }

    [Fact]
    public void EmptyQueueReportsNothing()
    {
        var queue = new EventQueue();
        Assert.Equal(long.MaxValue, queue.PeekTime);
        Assert.False(queue.TryPop(out _, out _, out _));
        Assert.False(queue.Cancel(new EventHandle(0, 0)));
        Assert.False(queue.Cancel(new EventHandle(-1, 0)));
        Assert.Equal(0, queue.SlotsInUse);
    }

    [Fact]
    public void TheBoundIsAskedOnlyPastItsThresholdAndStopsTheGrowthItRefuses()
    {
        var q = new EventQueue(16);
        var asked = new List<int>();
        q.Bound = pending =>
        {
            asked.Add(pending);
            return pending >= 2 * EventQueue.BoundFrom ? $"{pending} pending" : null;
        };
        for (int i = 0; i < 2 * EventQueue.BoundFrom; i++) q.Push(i, new Event { Dst = -1 });
        Assert.Equal([EventQueue.BoundFrom], asked); // once, at the first growth past the threshold

        var e = Assert.Throws<RunawayException>(() => q.Push(0, new Event { Dst = -1 }));
        Assert.Equal($"{2 * EventQueue.BoundFrom} pending", e.Message);
        Assert.Equal(2 * EventQueue.BoundFrom, q.Count); // the refused event was not added
    }
}

