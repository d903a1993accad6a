using OverlaySim.Core;

namespace OverlaySim.Scenarios;

/// <summary>One run of a scenario: a sweep point, an overlay and a replicate.</summary>
public sealed record PlannedRun(int Index, ScenarioPoint Point, OverlayConfig Overlay, int Replicate)
{
    public string Describe() =>
        $"{Overlay.Label}, {Point.Nodes} nodes, replicate {Replicate}" +
        (Point.Swept.Count == 0 ? "" : ", " + string.Join(", ", Point.Swept.Select(kv => $"{kv.Key}={kv.Value}")));
}

/// <summary>A finished run with its measurements and the wall time of its phases (for the manifest only).</summary>
public sealed record CompletedRun(PlannedRun Plan, RunResult Result, TimeSpan Wall, TimeSpan BuildWall = default, TimeSpan SimulateWall = default);

/// <summary>What the runner tells its caller while it works (the CLI shows it on stderr).</summary>
public interface IRunObserver
{
    /// <summary>The run is about to be built.</summary>
    void Started(PlannedRun run);

    /// <summary>The run is built and its simulation starts.</summary>
    void Built(PlannedRun run) { }

    /// <summary>Every 2^16 dispatched events of the run's simulation.</summary>
    void Progress(PlannedRun run, RunProgress progress);

    /// <summary>The simulation has ended and the run is being summarised.</summary>
    void Simulated(PlannedRun run) { }

    void Finished(CompletedRun run);
}

/// <summary>
/// Turns a scenario into runs and carries them out, several at once with <c>jobs</c> &gt; 1. Each run is
/// single-threaded (apart from deterministic parallel static builds) and independent of the others, so the
/// results are the same whatever the number of jobs; they are returned in plan order.
/// </summary>
public static class Runner
{
    /// <summary>Runs in order: sweep point, then overlay, then replicate.</summary>
    public static IReadOnlyList<PlannedRun> Plan(Scenario scenario)
    {
        var runs = new List<PlannedRun>();
        foreach (ScenarioPoint point in scenario.Points)
            foreach (OverlayConfig overlay in point.Overlays)
                for (int r = 0; r < point.Replicates; r++)
                    runs.Add(new PlannedRun(runs.Count, point, overlay, r));
        return runs;
    }

    public static RunSpec ToSpec(PlannedRun run)
    {
        ScenarioPoint p = run.Point;
        OverlayConfig o = run.Overlay;
        return new RunSpec(p.Nodes, p.IdBits, p.Seed, run.Replicate, (n, streams) => CreateLatency(p, n, streams), p.Workload, () => o.Info.Create(o.Options))
        {
            Churn = p.Churn,
            VirtualNodes = o.Info.VirtualNodes(o.Options),
            ServerNodes = o.Info.Servers,
            Duration = p.Duration,
            MeasureAfter = p.MeasureAfter,
            SampleEvery = p.SampleEvery,
        };
    }

    public static LatencyModel CreateLatency(ScenarioPoint p, int nodes, RandomStreams streams)
    {
        ParamValues v = p.LatencyValues;
        Xoshiro256 rng = streams.Stream("latency");
        LatencyModel pair = p.Latency.Name switch
        {
            "exponential" => new ConstantLatency(0),
            "constant" => new ConstantLatency(v.Duration("delay")),
            "uniform" => new UniformLatency(v.Duration("min"), v.Duration("max"), streams.StreamSeed("latency")),
            "coordinates" => new CoordinateLatency(nodes, (int)v.Int("dimensions"), v.Duration("mean"), v.Duration("access_min"), v.Duration("access_max"), ref rng),
            "matrix" => new MatrixLatency(p.Matrix!.Hosts, p.Matrix.RttMicros, nodes, ref rng),
            _ => throw new InvalidOperationException($"latency model '{p.Latency.Name}' has no factory"),
        };
        long jitter = p.Latency.Name == "exponential" ? v.Duration("mean") : v.Duration("jitter");
        // Per-message draws come from a stream of their own, so that a model's pair delays are the same with and without them.
        return jitter > 0 ? new JitteredLatency(pair, jitter, streams.Stream("message-delay")) : pair;
    }

    /// <summary>
    /// Core memory per node ordinal in a run without churn: 40 of node table (id, epoch, machine, live list and index), 1
    /// of join flag, 34 of global view (its flat sorted copy of ids and ordinals, 28, which is the sort that made the ids
    /// distinct, its rank map, 4, and its bucket index, at most 2), 8 of the counting sort's buckets while distinct ids
    /// are drawn, and 4 of the engine's copy of the epochs should its skipped epoch checks thaw: 87. The last two are not
    /// always there at the peak (the sort's buckets are let go before the overlay is built, the epochs are copied only
    /// when a node joins or dies): the estimates of static Chord and Kademlia at 10^6 and 10^7 nodes are 4-8% above the
    /// measured peaks (with the 18 bytes of slack this kept from when the ids were sorted twice, 9-19% above).
    /// </summary>
    public const long CoreBytesPerOrdinal = 87;

    /// <summary>
    /// What churn adds per ordinal: the global view's blocks of ids and ordinals, made from its flat copy at the first
    /// join or departure and kept half full (56).
    /// </summary>
    public const long ChurnBytesPerOrdinal = 56;

    /// <summary>Core memory per machine: 6 of state (up, up in the window, first ordinal), 8 of load, 8 of keys per machine in the summary.</summary>
    public const long CoreBytesPerMachine = 22;

    /// <summary>
    /// Core memory per retired ordinal (a node that departed for good): its node-table row and slot (44), its join
    /// flag (1), the key store's list head (4), the global view's rank (4) and the growth of those arrays by doubling.
    /// </summary>
    public const long TombstoneBytes = 60;

    /// <summary>Bytes per row of the time series while the run goes (written out at the end).</summary>
    public const long TimeSeriesRowBytes = 48;

    /// <summary>
    /// Estimated peak bytes of one run: the core's per-ordinal and per-machine arrays (<see cref="CoreBytesPerOrdinal"/>,
    /// <see cref="ChurnBytesPerOrdinal"/> under churn,
    /// <see cref="CoreBytesPerMachine"/>), the latency model's and the overlay's per-machine state (the overlay's includes
    /// its virtual nodes and its pending timers), 32 bytes per key id plus what the overlay stores per key, 16 per
    /// measured lookup, the latency matrix, the time series, the event queue's ring for a protocol's timers
    /// (<see cref="EventQueue.RingSlackBytes"/>), and <see cref="RuntimeBytes"/>. Churn adds what it makes:
    /// machines that join (rate churn, a trace's new machines) count in full; incarnations that depart for good and are
    /// replaced by new ones (new ids on rejoin) count as tombstones (<see cref="TombstoneBytes"/>), since their state is
    /// reused. Checked against the machine before anything is built.
    /// </summary>
    public static long EstimateBytes(PlannedRun run)
    {
        ScenarioPoint p = run.Point;
        OverlayConfig o = run.Overlay;
        long n = p.Nodes;
        int v = o.Info.VirtualNodes(o.Options);
        var (machines, retired) = Growth(p);
        long perMachine = CoreBytesPerMachine + p.Latency.Name switch
        {
            "coordinates" => 4 * p.LatencyValues.Int("dimensions") + 4,
            "matrix" => 4,
            _ => 0,
        };
        long perOrdinal = CoreBytesPerOrdinal + (p.Churn.Kind != ChurnKind.None ? ChurnBytesPerOrdinal : 0);
        perMachine += o.Info.BytesPerNode(o.Options, n) + o.Info.BuildBytesPerNode(o.Options) + v * perOrdinal;
        WorkloadOptions w = p.Workload;
        double lookups = w.RateMode ? w.PerNodeRate * n * (w.Duration / 1e6) : w.Lookups;
        long matrix = p.Matrix is null ? 0 : 8L * p.Matrix.RttMicros.Length;
        long keys = w.Keys * (32L + o.Info.BytesPerKey(o.Options));
        // An overlay without a placement rule holds the workload's replicas: the store's slot and per-node entry of every
        // copy (about 20 bytes with the entry lists' growth), a copy in the overlay's own index (8), and per-key offsets.
        if (!o.Info.PlacesKeys && w.Replication is { } r)
            keys += 28L * (r.Strategy == ReplicationStrategy.Uniform && r.Copies > 0 ? (long)r.Copies * w.Keys : r.Budget) + 8L * w.Keys;
        double span = p.Duration > 0 ? p.Duration : w.Start + (w.RateMode ? w.Duration : w.Lookups / w.Rate * 1e6);
        double rows = p.SampleEvery > 0 ? span / p.SampleEvery : 0;
        // A protocol keeps periodic timers, spread over the event queue's ring: its room beyond the events themselves.
        long ring = o.Info.SupportsChurn(o.Options) ? EventQueue.RingSlackBytes : 0;
        double total = RuntimeBytes + machines * (double)perMachine + retired * v * (double)TombstoneBytes + keys
                       + 16 * lookups + matrix + rows * TimeSeriesRowBytes + ring;
        return (long)Math.Min(total, long.MaxValue / 2);
    }

    /// <summary>
    /// Machines a run has at its largest (the scenario's, plus those rate churn or a trace adds) and the expected
    /// number of incarnations retired along the way (every rejoin with a new id retires the previous one; a rate
    /// churn failure retires one).
    /// </summary>
    public static (double Machines, double Retired) Growth(ScenarioPoint p)
    {
        ChurnOptions c = p.Churn;
        double seconds = p.Duration / 1e6;
        switch (c.Kind)
        {
            case ChurnKind.Rate:
                return (p.Nodes + c.JoinRate * seconds, c.NewIdOnRejoin ? c.FailureRate * seconds : 0);
            case ChurnKind.Lifetime:
                // A machine's cycle is a session and a downtime; each cycle after the first retires one incarnation.
                return (p.Nodes, c.NewIdOnRejoin ? p.Nodes * seconds / ((c.SessionMean + c.DowntimeMean) / 1e6) : 0);
            case ChurnKind.Trace:
            {
                int highest = p.Nodes - 1;
                long joins = 0;
                foreach (ChurnTraceEvent e in c.Trace!)
                {
                    highest = Math.Max(highest, e.Machine);
                    if (e.Action == ChurnAction.Join) joins++;
                }
                return (highest + 1.0, c.NewIdOnRejoin ? joins : 0);
            }
            case ChurnKind.MassFailure:
                return (p.Nodes, 0);
            default:
                return (p.Nodes, 0);
        }
    }

    /// <summary>The runtime's own share of a run's estimate (code, JIT, the GC's reserve).</summary>
    public const long RuntimeBytes = 64L * 1024 * 1024;

    /// <summary>Memory this process may use: the GC's view, which honours container limits.</summary>
    public static long AvailableBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// How many runs may go at once: at most <paramref name="jobs"/>, and no more than fit in memory together.
    /// Throws <see cref="RunFailedException"/> when even one run would not fit.
    /// </summary>
    public static int EffectiveJobs(IReadOnlyList<PlannedRun> runs, int jobs, long available)
    {
        long budget = (long)(available * 0.85);
        PlannedRun largest = runs.MaxBy(EstimateBytes)!;
        long need = EstimateBytes(largest);
        if (need > budget)
        {
            // Name what makes a run larger than its nodes, when that is where the memory goes.
            var (machines, retired) = Growth(largest.Point);
            string grown = largest.Point.Churn.Kind switch
            {
                _ when machines <= largest.Point.Nodes && retired <= largest.Point.Nodes => "",
                ChurnKind.Trace => $"; the churn trace names machines up to {machines - 1:N0} and has {retired:N0} joins with new ids",
                _ => $"; churn adds about {machines - largest.Point.Nodes:N0} machines and retires about {retired:N0} ids",
            };
            throw new RunFailedException(
                $"the run ({largest.Describe()}) needs an estimated {Gib(need)} of memory, but only {Gib(budget)} " +
                $"can be used here (85% of the {Gib(available)} available){grown}; reduce nodes, keys, lookups or churn");
        }
        return (int)Math.Clamp(budget / Math.Max(1, need), 1, Math.Max(1, jobs));
    }

    public static string Gib(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):0.00} GiB";

    /// <summary>Carries out every run, <paramref name="jobs"/> at a time; results in plan order.</summary>
    public static IReadOnlyList<CompletedRun> Execute(IReadOnlyList<PlannedRun> runs, int jobs, IRunObserver? observer = null, CancellationToken cancel = default) =>
        Execute(runs, jobs, run => run, observer, cancel);

    /// <summary>
    /// Carries out every run, <paramref name="jobs"/> at a time, and hands each finished run to <paramref name="finish"/>
    /// on the thread that ran it (which may keep what it needs, say the rows of the result files, and let the rest go);
    /// returns what it made, in the order of <paramref name="runs"/>. An exception in <paramref name="finish"/> stops the
    /// other runs as a failed run does.
    /// </summary>
    public static T[] Execute<T>(IReadOnlyList<PlannedRun> runs, int jobs, Func<CompletedRun, T> finish, IRunObserver? observer = null, CancellationToken cancel = default)
    {
        var results = new T[runs.Count];
        if (runs.Count == 0) return results;
        int next = -1;
        Exception? failure = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);

        void Worker()
        {
            while (!stop.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= runs.Count) return;
                PlannedRun run = runs[i];
                try
                {
                    observer?.Started(run);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    Action<RunProgress>? progress = observer is null ? null : p => observer.Progress(run, p);
                    RunSpec spec = ToSpec(run);
                    SimulationRun simulation = Experiment.Build(spec);
                    TimeSpan built = clock.Elapsed;
                    observer?.Built(run);
                    Experiment.Simulate(simulation, progress, stop.Token);
                    TimeSpan simulated = clock.Elapsed;
                    observer?.Simulated(run);
                    RunResult result = Experiment.Summarize(simulation);
                    var completed = new CompletedRun(run, result, clock.Elapsed, built, simulated - built);
                    results[i] = finish(completed);
                    observer?.Finished(completed);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                    stop.Cancel();
                    return;
                }
            }
        }

        int threads = Math.Clamp(jobs, 1, runs.Count);
        if (threads == 1) Worker();
        else
        {
            var workers = new Thread[threads];
            for (int t = 0; t < threads; t++)
            {
                workers[t] = new Thread(Worker) { Name = $"run-{t}", IsBackground = true };
                workers[t].Start();
            }
            foreach (Thread t in workers) t.Join();
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        cancel.ThrowIfCancellationRequested();
        return results;
    }
}
