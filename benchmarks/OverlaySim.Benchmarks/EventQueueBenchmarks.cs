using BenchmarkDotNet.Attributes;
using OverlaySim.Core;

namespace OverlaySim.Benchmarks;

/// <summary>
/// The classic hold model (Vaucher and Duval 1975; Jones 1986) on <see cref="EventQueue"/>, with
/// .NET's <see cref="PriorityQueue{TElement, TPriority}"/> as the reference.
/// </summary>
/// <remarks>
/// <para>Setup: the queue is filled with <see cref="N"/> events at times drawn i.i.d. from Exp(μ).
/// One operation ("hold") = pop the earliest event, then push one new event at (popped time + increment),
/// with increments i.i.d. Exp(μ), μ = 30 s of simulated time (a stabilization-timer period; at N = 10^7 the
/// pending times are ~3 µs apart on average, so equal times, broken by the sequence number, are rare).
/// The queue size stays exactly N, the steady state of a simulation with N pending timers or messages.</para>
/// <para>Why the pre-fill is already the steady state: with exponential increments every pending event is a
/// token of its own Poisson process; by memorylessness, each token's residual time after any pop is again
/// Exp(μ), so the pending set is always N i.i.d. Exp(μ) offsets from the current time. No warm-up pass of N
/// holds is needed, which keeps setup at N = 10^7 to a couple of seconds.</para>
/// <para>Reading the numbers: one operation processes one event (one pop + one push, which is what the
/// engine does per dispatched event when a handler schedules one successor), so
/// <b>events/s = 1e9 / (ns/op)</b> (the Events/s column). Allocated must be 0: the queue is created with
/// capacity N and the hold keeps it there. The setup runs one invocation's worth of holds (2^16) before the
/// measurement, which warms the code and gives the exact bytes per hold for the Alloc/op (pass) column.</para>
/// <para>The increments are drawn before the measurement into a ring of 2^14 values (128 KB) read
/// sequentially, so the random generator and the logarithm are not measured; <see cref="OpsPerInvoke"/> holds
/// run per invocation so the call overhead is amortized.</para>
/// <para>Memory: 24 B heap key + 24 B event + 9 B slot bookkeeping ≈ 57 B per pending event for EventQueue
/// (570 MB at N = 10^7); 40 B per entry for PriorityQueue&lt;Event, (long, long)&gt;.</para>
/// </remarks>
public class EventQueueBenchmarks
{
    /// <summary>Hold operations per benchmark invocation.</summary>
    public const int OpsPerInvoke = 1 << 16;

    private const int IncrementRing = 1 << 14;

    /// <summary>μ: mean increment (and mean initial offset), µs.</summary>
    private const double MeanIncrementMicros = 30_000_000;

    /// <summary>Pending events (the queue size held constant).</summary>
    [Params(1_000, 10_000, 100_000, 1_000_000, 10_000_000)]
    public int N;

    private EventQueue? _queue;
    private PriorityQueue<Event, (long Time, long Seq)>? _reference;
    private long _referenceSeq;
    private long[] _increments = [];
    private int _next;

    [GlobalSetup(Target = nameof(Hold))]
    public void SetupEventQueue()
    {
        var rng = new Xoshiro256(0x0123_4567_89ab_cdefUL + (ulong)N);
        _increments = DrawIncrements(ref rng);
        _next = 0;
        var queue = new EventQueue(N);
        for (int i = 0; i < N; i++) queue.Push(DrawTime(ref rng), Payload(i));
        _queue = queue;
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        Hold();
        bytes = GC.GetAllocatedBytesForCurrentThread() - bytes;
        CaseFacts.Register(typeof(EventQueueBenchmarks), nameof(Hold), 1, (double)bytes / OpsPerInvoke, (nameof(N), N));
    }

    [GlobalSetup(Target = nameof(HoldPriorityQueue))]
    public void SetupPriorityQueue()
    {
        var rng = new Xoshiro256(0x0123_4567_89ab_cdefUL + (ulong)N);
        _increments = DrawIncrements(ref rng);
        _next = 0;
        var queue = new PriorityQueue<Event, (long, long)>(N);
        for (int i = 0; i < N; i++) queue.Enqueue(Payload(i), (DrawTime(ref rng), _referenceSeq++));
        _reference = queue;
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        HoldPriorityQueue();
        bytes = GC.GetAllocatedBytesForCurrentThread() - bytes;
        CaseFacts.Register(typeof(EventQueueBenchmarks), nameof(HoldPriorityQueue), 1, (double)bytes / OpsPerInvoke, (nameof(N), N));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Let the next case (up to ~570 MB at 10^7) start from a clean heap.
        _queue = null;
        _reference = null;
        _increments = [];
    }

    /// <summary>One hold on <see cref="EventQueue"/>: TryPop + Push, as the engine's dispatch + Schedule.</summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public long Hold()
    {
        EventQueue queue = _queue!;
        long[] increments = _increments;
        int next = _next;
        long time = 0;
        for (int i = 0; i < OpsPerInvoke; i++)
        {
            queue.TryPop(out time, out Event ev, out _);
            queue.Push(time + increments[next], in ev);
            next = (next + 1) & (IncrementRing - 1);
        }
        _next = next;
        return time;
    }

    /// <summary>
    /// The same hold on .NET's PriorityQueue (also a 4-ary heap) with a (time, sequence) priority, which is
    /// what EventQueue would be without its slot pool: the reference its design is judged against.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OpsPerInvoke, Baseline = true)]
    public long HoldPriorityQueue()
    {
        PriorityQueue<Event, (long Time, long Seq)> queue = _reference!;
        long[] increments = _increments;
        int next = _next;
        long seq = _referenceSeq;
        long time = 0;
        for (int i = 0; i < OpsPerInvoke; i++)
        {
            queue.TryDequeue(out Event ev, out var priority);
            time = priority.Time;
            queue.Enqueue(ev, (time + increments[next], seq++));
            next = (next + 1) & (IncrementRing - 1);
        }
        _next = next;
        _referenceSeq = seq;
        return time;
    }

    private static long[] DrawIncrements(ref Xoshiro256 rng)
    {
        var increments = new long[IncrementRing];
        for (int i = 0; i < increments.Length; i++) increments[i] = DrawTime(ref rng);
        return increments;
    }

    private static long DrawTime(ref Xoshiro256 rng) => (long)rng.NextExponential(MeanIncrementMicros);

    private static Event Payload(int i) => new() { Dst = -1, Src = -1, Lookup = -1, Arg = i, Sink = 1, Type = 1 };
}
