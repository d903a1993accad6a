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

    // Times come from a small range so that equal times (the FIFO case) are common; a push is at a time up to
    // maxTime, or up to eight times further, so that with small buckets and a small ring it lands in every tier.
    private static Gen<Op> OpGen(int maxTime) => Gen.Frequency(
        (4, Gen.Choose(0, maxTime).Select(t => new Op(OpKind.Push, t, 0))),
        (1, Gen.Choose(0, 8 * maxTime).Select(t => new Op(OpKind.Push, t, 0))),
        (3, Gen.Constant(new Op(OpKind.Pop, 0, 0))),
        (2, Gen.Choose(0, 1000).Select(k => new Op(OpKind.Cancel, 0, k))));

    /// <summary>Op lists up to 5x the FsCheck size; shrinks by dropping one op at a time.</summary>
    private static Arbitrary<Op[]> Ops(int maxTime) => Arb.From(
        Gen.Sized(size => Gen.Choose(0, 5 * size).SelectMany(n => Gen.ArrayOf(OpGen(maxTime), n))),
        ops => Enumerable.Range(0, ops.Length).Select(i => ops.Where((_, j) => j != i).ToArray()));

    /// <summary>
    /// The default tiers (every time of the ops falls in the near heap's first bucket), and buckets of 1 to 4 ticks
    /// in rings of 2 to 8 buckets, so that events wait in the ring and beyond it, the ring jumps to the far heap
    /// and buckets drain while others fill.
    /// </summary>
    [Theory]
    [InlineData(EventQueue.DefaultBucketShift, EventQueue.DefaultRingBits, 12)]
    [InlineData(0, 1, 12)]
    [InlineData(1, 2, 40)]
    [InlineData(2, 3, 100)]
    public void MatchesPriorityQueueModelUnderPushPopCancel(int bucketShift, int ringBits, int maxTime)
    {
        Prop.ForAll(Ops(maxTime), ops =>
        {
            // Small, so that the heap and the slot pool grow during the run.
            var queue = new EventQueue(capacity: 4, bucketShift, ringBits);
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
                if (op.Target % 3 == 0) queue.PrefetchTop();   // a hint: it may move events between tiers, never reorder them
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
    public void EventsFarApartKeepTheirOrderAcrossTiers()
    {
        // Buckets of 4 ticks, a ring of 4: 16 ticks within reach, everything later in the far heap.
        var queue = new EventQueue(capacity: 4, bucketShift: 2, ringBits: 2);
        long[] times = [long.MaxValue / 2, 3, 1_000_000, 17, 16, 3, 0, 1_000_000, 64, 15];
        for (int i = 0; i < times.Length; i++) queue.Push(times[i], new Event { Arg = i });
        Assert.Equal(0, queue.PeekTime);

        var order = new List<int>();
        while (queue.TryPop(out long t, out Event ev, out _))
        {
            Assert.Equal(ev.Arg < times.Length ? times[ev.Arg] : 16, t);
            order.Add(ev.Arg);
            if (ev.Arg == 4) queue.Push(t, new Event { Arg = times.Length });   // at the time just popped: runs next
        }
        Assert.Equal([6, 1, 5, 9, 4, 10, 3, 8, 2, 7, 0], order);
        Assert.Equal(0, queue.SlotsInUse);
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

