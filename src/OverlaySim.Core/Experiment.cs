namespace OverlaySim.Core;

/// <summary>Everything one run needs, already validated: the world, the workload and the overlay.</summary>
/// <param name="CreateLatency">Builds the latency model for the given node count from the "latency" stream.</param>
/// <param name="CreateOverlay">Builds a fresh overlay instance for this run.</param>
public sealed record RunSpec(
    int Nodes,
    int IdBits,
    long Seed,
    int Replicate,
    Func<int, RandomStreams, LatencyModel> CreateLatency,
    WorkloadOptions Workload,
    Func<Overlay> CreateOverlay)
{
    /// <summary>Churn of the run (none by default).</summary>
    public ChurnOptions Churn { get; init; } = ChurnOptions.None;

    /// <summary>v: ids (node ordinals) per machine; <see cref="Nodes"/> counts machines.</summary>
    public int VirtualNodes { get; init; } = 1;

    /// <summary>End of the run in µs; 0 runs until nothing is left to do (static overlays only).</summary>
    public long Duration { get; init; }

    /// <summary>Start of the measurement window (warm-up before it), µs.</summary>
    public long MeasureAfter { get; init; }

    /// <summary>Interval of timeseries.csv rows, µs; 0 for none.</summary>
    public long SampleEvery { get; init; }

    /// <summary>Server nodes the overlay adds to the peers at its build (a central index: 1), for which the node table keeps room.</summary>
    public int ServerNodes { get; init; }

    /// <summary>
    /// Simulates every message of a lookup as an event even where the overlay could route the lookup whole when it
    /// begins (<see cref="Network.RoutesAhead"/>): the same results, more events. For tests that compare the two.
    /// </summary>
    public bool HopByHop { get; init; }
}

/// <summary>Where a run stands, for progress display.</summary>
/// <param name="Fraction">Share of the run done, 0..1 (lookups finished, or simulated time in rate mode).</param>
public readonly record struct RunProgress(long SimTime, long Events, double Fraction);

/// <summary>One value of a metric an overlay registered (a column of runs.csv beyond the common ones).</summary>
public readonly record struct OverlayMetricValue(string Column, double Value);

/// <summary>The measured outcome of one run (one row of runs.csv plus its distributions).</summary>
public sealed record RunResult
{
    public required long Lookups { get; init; }
    public required long LookupsOk { get; init; }
    public required long LookupsWrong { get; init; }
    public required long LookupsFailed { get; init; }
    public required double HopsMean { get; init; }
    public required long HopsP1 { get; init; }
    public required long HopsP50 { get; init; }
    public required long HopsP99 { get; init; }
    public required long HopsMax { get; init; }
    public required double LatencyMeanMs { get; init; }
    public required double LatencyP50Ms { get; init; }
    public required double LatencyP99Ms { get; init; }
    public required double DegreeMean { get; init; }
    public required int DegreeMax { get; init; }
    public required double MsgsPerLookup { get; init; }
    public required double BytesPerLookup { get; init; }
    /// <summary>Whether keys have responsible nodes (the keys_per_node columns are empty otherwise).</summary>
    public required bool HasKeysPerNode { get; init; }
    public required double KeysPerNodeMean { get; init; }
    public required long KeysPerNodeP1 { get; init; }
    public required long KeysPerNodeP99 { get; init; }
    public required long KeysPerNodeMax { get; init; }
    public required double KeysPerNodeZeroFrac { get; init; }
    /// <summary>Messages of measured lookups sent to a machine, per measured lookup: mean, p99 and max over machines.</summary>
    public required double LoadMean { get; init; }
    public required double LoadP99 { get; init; }
    public required double LoadMax { get; init; }
    /// <summary>The busiest machine's share of all messages of measured lookups.</summary>
    public required double LoadMaxNodeShare { get; init; }
    public required long Events { get; init; }
    public required ulong TraceHash { get; init; }
    public required long[] HopHistogram { get; init; }
    public required double TimeoutsMean { get; init; }
    public required long TimeoutsP99 { get; init; }
    public required double MaintMsgsPerNodeS { get; init; }
    public required double MaintBytesPerNodeS { get; init; }
    /// <summary>Maintenance traffic by message type name: (messages, bytes) inside the window.</summary>
    public required IReadOnlyList<(string Type, long Messages, long Bytes)> TrafficByType { get; init; }
    public required bool StoresKeys { get; init; }
    public required long KeysLost { get; init; }
    /// <summary>Share of lookups for stored keys that returned the value.</summary>
    public required double ValueFoundRate { get; init; }
    public required long LookupsAbandoned { get; init; }
    public required double LiveNodesMean { get; init; }
    public required long Joins { get; init; }
    public required long Leaves { get; init; }
    public required long Crashes { get; init; }
    public required IReadOnlyList<TimeSample> TimeSeries { get; init; }
    /// <summary>The overlay's registered metrics, column by column, in registration order.</summary>
    public required IReadOnlyList<OverlayMetricValue> OverlayMetrics { get; init; }

    /// <summary>The whole histogram (count of each value 0, 1, 2 ...) of every registered metric that asks for it (<see cref="OverlayMetric.Distribution"/>), by metric name.</summary>
    public IReadOnlyList<(string Metric, long[] Histogram)> Distributions { get; init; } = [];

    /// <summary>Zones by volume at the end, for an overlay of zones (CAN); empty for the others.</summary>
    public IReadOnlyList<ZoneVolumeBin> ZoneVolumes { get; init; } = [];

    public double SuccessRate => Lookups == 0 ? 0 : (double)LookupsOk / Lookups;

    /// <summary>The value of a registered metric's column, or null when the overlay does not report it.</summary>
    public double? Metric(string column)
    {
        foreach (OverlayMetricValue v in OverlayMetrics)
            if (v.Column == column) return v.Value;
        return null;
    }
}

/// <summary>
/// A built run: its network and the parts of the experiment that drive it (the overlay, its ground truth, the
/// workload, churn and the sampler). The network's services hold none of the drivers; they reach the overlay only
/// through the interfaces it implements.
/// </summary>
public sealed class SimulationRun
{
    internal SimulationRun(RunSpec spec, Network net, Overlay overlay, GroundTruth truth, bool[] initiallyUp, ChurnDriver? churn)
    {
        Spec = spec;
        Net = net;
        Overlay = overlay;
        Truth = truth;
        InitiallyUp = initiallyUp;
        Churn = churn;
    }

    public RunSpec Spec { get; }
    public Network Net { get; }
    public Overlay Overlay { get; }

    /// <summary>The overlay's ground truth (for metrics and tests).</summary>
    public GroundTruth Truth { get; }

    /// <summary>Which machines were up at time 0.</summary>
    public bool[] InitiallyUp { get; }

    public ChurnDriver? Churn { get; }
    public Workload? Workload { get; internal set; }
    public TimeSeriesSampler? Sampler { get; internal set; }

    /// <summary>The global view, for tests (see <see cref="Oracle"/>).</summary>
    internal Oracle Oracle => Net.Oracle;
}

/// <summary>Builds the world of one run, runs it to the end, and summarises it. Single-threaded and deterministic.</summary>
public static class Experiment
{
    public static RunResult Run(RunSpec spec, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        SimulationRun run = Build(spec);
        Simulate(run, progress, cancel);
        return Summarize(run);
    }

    /// <summary>
    /// Starts the workload, the churn and the sampler on a built run and runs the simulation to its end
    /// (<see cref="RunSpec.Duration"/>, or until nothing is left to do).
    /// </summary>
    public static void Simulate(SimulationRun run, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        RunSpec spec = run.Spec;
        Network net = run.Net;
        WorkloadOptions options = spec.Workload;
        // Room for every latency the run will record, so that recording allocates nothing during the run: the
        // lookup count in count mode; in rate mode the Poisson mean λ plus 5·√λ, which the count rarely exceeds
        // (about 3·10^-7 in the normal approximation, valid for large λ); past it the list still grows.
        double expected = options.PerNodeRate * (net.Nodes.LiveCount - net.Population.LiveServers) * (options.Duration / 1e6);
        net.Lookups.Metrics.Reserve(options.RateMode ? (long)Math.Ceiling(expected + 5 * Math.Sqrt(expected)) : options.Lookups);

        net.RoutesAhead = !spec.HopByHop && spec.Duration == 0 && spec.Churn.Kind == ChurnKind.None
            && !net.Transport.Latency.PerMessage && (net.Lookups.Timeout == 0 || run.Overlay is ILookupPlanner { ChecksDeadline: true });
        var workload = new Workload(net, options, run.Overlay.StartLookup, spec.Duration) { Planner = net.RoutesAhead ? run.Overlay as ILookupPlanner : null };
        run.Workload = workload;
        workload.Start();
        run.Churn?.Start(run.InitiallyUp);
        // Until a node joins or dies (churn, a failure), no event can be stale: skip the engine's epoch checks.
        net.Sim.FreezeEpochs();
        if (spec.SampleEvery > 0)
        {
            run.Sampler = new TimeSeriesSampler(net, spec.SampleEvery, spec.Duration);
            run.Sampler.Start();
        }

        if (progress is not null)
        {
            long end = spec.Duration > 0 ? spec.Duration : options.RateMode ? options.Start + options.Duration : 0;
            LookupMetrics m = net.Lookups.Metrics;
            net.Sim.Progress = sim => progress(new RunProgress(sim.Now, sim.Dispatched, end > 0
                ? Math.Clamp((double)sim.Now / end, 0, 1)
                : options.Lookups == 0 ? 1 : Math.Clamp((double)m.Finished / options.Lookups, 0, 1)));
        }
        // A run whose events multiply without end is stopped while it is still small. The bound: 2^19 pending events,
        // plus 64 per node slot, plus the lookups' deadline events (one per lookup begun within the lookup timeout),
        // plus, per lookup in flight for at most 2^17 + 16 per node slot of them, the overlay's own bound on one lookup's
        // pending events (8 for the DHTs: a few timers per node, at most α requests and their timeouts per lookup; a
        // flood's copies for flooding). A run whose messages multiply (and whose lookups, never ending, with them)
        // reaches it in seconds.
        Overlay overlay = run.Overlay;
        net.Sim.Queue.Bound = pending =>
        {
            long lookups = Math.Min(net.Lookups.Table.InFlight, (1L << 17) + 16L * net.Nodes.SlotCapacity);
            long need = EventQueue.BoundFrom + 64L * net.Nodes.SlotCapacity + net.Lookups.DeadlinesPending + overlay.EventsPerLookupBound * lookups;
            return pending <= need ? null
                : $"{pending:N0} events were pending at simulated time {Units.FormatDuration(net.Sim.Now)}, far more than its " +
                  $"{net.Nodes.LiveCount:N0} live nodes and {net.Lookups.Table.InFlight:N0} lookups in flight can need: a runaway. " +
                  "A usual cause is an RPC timeout shorter than a round trip (rpc_timeout, rpc_timeout_rtts): every request then " +
                  "times out before its answer, and each hop retries beside a request that is still being served";
        };
        using (cancel.Register(() => net.Sim.StopRequested = true))
            net.Sim.Run(spec.Duration > 0 ? spec.Duration : long.MaxValue);
        cancel.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Builds the world of a run: distinct ids from the "ids" stream for every machine's v ordinals, the machines
    /// that are up at time 0 (all, unless churn starts some down), the latency model, the keys, and the overlay
    /// attached with its initial state and its ground truth. Nothing is scheduled yet but what the overlay's build
    /// schedules.
    /// </summary>
    public static SimulationRun Build(RunSpec spec)
    {
        var space = new IdSpace(spec.IdBits);
        var streams = new RandomStreams(spec.Seed, spec.Replicate);
        int v = spec.VirtualNodes;
        Id[] ids = DrawDistinctIds(space, checked(spec.Nodes * v), streams.Stream("ids"), out Id[] sorted, out int[] order);
        var nodes = new NodeTable(ids, v, spec.ServerNodes);
        nodes.OfferSortedOrder(sorted, order);
        bool[] up = ChurnDriver.InitialState(spec.Churn, streams, spec.Nodes);
        for (int m = 0; m < spec.Nodes; m++)
            if (up[m])
                for (int j = 0; j < v; j++) nodes.SetAlive(m * v + j);

        LatencyModel latency = spec.CreateLatency(spec.Nodes, streams);
        Id[] keys = KeyIds(space, spec.Workload.Keys);

        var net = new Network(space, nodes, latency, keys, streams, v);
        net.Window.From = spec.MeasureAfter;
        net.Window.Until = spec.Duration > 0 ? spec.Duration : long.MaxValue;
        if (spec.Workload.Replication is { } replication)
        {
            net.Replication = replication;
            net.KeyPopularity = Replication.Popularity(spec.Workload);
        }
        Overlay overlay = spec.CreateOverlay();
        GroundTruth truth = Install(net, overlay);
        ChurnDriver? churn = spec.Churn.Kind != ChurnKind.None ? new ChurnDriver(net, spec.Churn, overlay.StopMaintenance) : null;
        return new SimulationRun(spec, net, overlay, truth, up, churn);
    }

    /// <summary>
    /// Attaches an overlay to a network, builds its initial state from the global view, and installs its ground truth
    /// and its hooks (churn, lookup deadlines) in the network's services. Returns the ground truth.
    /// </summary>
    public static GroundTruth Install(Network net, Overlay overlay)
    {
        overlay.Attach(net);
        net.Population.Members = overlay;
        net.Lookups.DeadlineListener = overlay;
        net.Lookups.Timeout = overlay.LookupTimeout;
        overlay.BuildStatic(net.Oracle);
        GroundTruth truth = overlay.CreateTruth(net.Oracle);
        net.Lookups.Truth = truth;
        return truth;
    }

    /// <summary>Key i is SHA-1("key-i") truncated to id_bits.</summary>
    public static Id[] KeyIds(IdSpace space, int count)
    {
        Id[] keys = LargeArray.Uninitialized<Id>(count);   // every entry is written below, by the blocks in parallel
        // Each key is hashed on its own, so blocks run in parallel and the ids are the same for any number of threads.
        // The name is formatted straight into UTF-8 bytes: no string per key.
        const int Block = 1 << 14;
        // Eight names at a time go through the 8-lane SHA-1 (Sha1.Hash8).
        const int Stride = 16;   // "key-" and at most 10 digits
        Parallel.For(0, (count + Block - 1) / Block, b =>
        {
            Span<byte> names = stackalloc byte[Stride * Sha1.Lanes];
            Span<int> lengths = stackalloc int[Sha1.Lanes];
            Span<byte> digests = stackalloc byte[20 * Sha1.Lanes];
            for (int lane = 0; lane < Sha1.Lanes; lane++) "key-"u8.CopyTo(names[(lane * Stride)..]);
            int end = Math.Min(count, (b + 1) * Block);
            int i = b * Block;
            for (; i + Sha1.Lanes <= end; i += Sha1.Lanes)
            {
                for (int lane = 0; lane < Sha1.Lanes; lane++)
                {
                    (i + lane).TryFormat(names.Slice(lane * Stride + 4, Stride - 4), out int digits, default, System.Globalization.CultureInfo.InvariantCulture);
                    lengths[lane] = 4 + digits;
                }
                Sha1.Hash8(names, Stride, lengths, digests);
                for (int lane = 0; lane < Sha1.Lanes; lane++) keys[i + lane] = space.FromDigest(digests.Slice(20 * lane, 20));
            }
            for (; i < end; i++)
            {
                i.TryFormat(names[4..Stride], out int digits, default, System.Globalization.CultureInfo.InvariantCulture);
                keys[i] = space.HashKey(names[..(4 + digits)]);
            }
        });
        return keys;
    }

    /// <summary>
    /// n distinct uniformly random ids. Duplicates (likely only with small id_bits) are redrawn for the higher
    /// ordinal until none is left, so the result depends on the stream alone.
    /// </summary>
    public static Id[] DrawDistinctIds(IdSpace space, int n, Xoshiro256 rng) => DrawDistinctIds(space, n, rng, out _, out _);

    /// <summary>
    /// <see cref="DrawDistinctIds(IdSpace, int, Xoshiro256)"/>, with the ids in increasing order and the ordinal of
    /// each (the sort that found the duplicates, for the global view to start from instead of sorting again).
    /// </summary>
    public static Id[] DrawDistinctIds(IdSpace space, int n, Xoshiro256 rng, out Id[] sorted, out int[] order)
    {
        if (n > 0 && space.Bits < 63 && (ulong)n > 1UL << space.Bits)
            throw new ArgumentException($"{n} nodes do not fit in a {space.Bits}-bit id space");
        Id[] ids = LargeArray.Zeroed<Id>(n);
        for (int i = 0; i < n; i++) ids[i] = space.Random(ref rng);
        sorted = LargeArray.Zeroed<Id>(n);
        order = LargeArray.Zeroed<int>(n);
        while (true)
        {
            IdSort.SortIndicesInto(ids, sorted, order, space);
            bool redrawn = false;
            for (int i = 1; i < n; i++)
            {
                if (sorted[i] != sorted[i - 1]) continue;
                int loser = Math.Max(order[i], order[i - 1]);
                ids[loser] = space.Random(ref rng);
                order[i] = Math.Min(order[i], order[i - 1]); // keep the survivor as the comparison base
                redrawn = true;
            }
            if (!redrawn) return ids;
        }
    }

    /// <summary>Computes the run's metrics from a finished simulation.</summary>
    public static RunResult Summarize(SimulationRun run)
    {
        Network net = run.Net;
        LookupMetrics m = net.Lookups.Metrics;
        Overlay overlay = run.Overlay;
        Population population = net.Population;

        long[] latencies = m.Latencies.ToArray();
        Stats.Sort(latencies);

        int live = net.Nodes.LiveCount;
        long degreeSum = 0;
        int degreeMax = 0;
        for (int i = 0; i < live; i++)
        {
            int d = overlay.Degree(net.Nodes.LiveAt(i));
            degreeSum += d;
            if (d > degreeMax) degreeMax = d;
        }

        // Keys per physical node: with virtual nodes a machine is responsible for the keys of all its ids.
        bool keysPerNode = run.Truth.HasResponsibleNodes;
        var keysPerMachine = new long[population.MachineCount];
        if (keysPerNode)
            for (int k = 0; k < net.Keys.Length; k++)
            {
                int owner = run.Truth.Responsible(net.Keys[k], k);
                if (owner >= 0) keysPerMachine[net.Nodes.Machine[owner]]++;
            }
        // The machines up, by how many keys each holds (at most K): percentiles from the histogram instead of a sort of
        // every machine's count (10^7 of them at 10^7 nodes).
        long mostKeys = 0;
        for (int mach = 0; mach < population.MachineCount; mach++)
            if (population.IsMachineUp(mach)) mostKeys = Math.Max(mostKeys, keysPerMachine[mach]);
        var machinesByKeys = new long[mostKeys + 1];
        int machinesUp = 0;
        for (int mach = 0; mach < population.MachineCount; mach++)
        {
            if (!population.IsMachineUp(mach)) continue;
            machinesByKeys[keysPerMachine[mach]]++;
            machinesUp++;
        }
        long zero = machinesByKeys[0];

        LoadSummary load = SummarizeLoad(net, m.Issued);

        double nodeSeconds = population.LiveNodeSeconds;
        TrafficMetrics traffic = net.Transport.Traffic;
        var byType = new List<(string, long, long)>();
        for (int t = 0; t < 256; t++)
            if (traffic.Messages[t] > 0) byType.Add((overlay.MessageName((byte)t), traffic.Messages[t], traffic.Bytes[t]));
        double windowSeconds = (Math.Min(net.Sim.Now, net.Window.Until) - net.Window.From) / 1e6;

        var registered = new List<OverlayMetricValue>();
        foreach (SampleMetric metric in m.Registered)
            foreach (MetricColumn column in metric.Spec.Columns)
                registered.Add(new OverlayMetricValue(column.Name, column.Stat == MetricStat.Computed ? metric.Computed?.Invoke(column.Name) ?? 0 : metric.Value(column.Stat)));

        KeyStore? store = net.KeyStore;
        return new RunResult
        {
            Lookups = m.Issued,
            LookupsOk = m.Ok,
            LookupsWrong = m.Wrong,
            LookupsFailed = m.Failed,
            HopsMean = Stats.MeanOfHistogram(m.HopHistogram),
            HopsP1 = Stats.PercentileOfHistogram(m.HopHistogram, 1),
            HopsP50 = Stats.PercentileOfHistogram(m.HopHistogram, 50),
            HopsP99 = Stats.PercentileOfHistogram(m.HopHistogram, 99),
            HopsMax = Stats.MaxOfHistogram(m.HopHistogram),
            LatencyMeanMs = Stats.Mean(latencies) / 1000.0,
            LatencyP50Ms = Stats.PercentileOfSorted(latencies, 50) / 1000.0,
            LatencyP99Ms = Stats.PercentileOfSorted(latencies, 99) / 1000.0,
            DegreeMean = live == 0 ? 0 : (double)degreeSum / live,
            DegreeMax = degreeMax,
            MsgsPerLookup = m.Ended == 0 ? 0 : (double)m.Messages / m.Ended,
            BytesPerLookup = m.Ended == 0 ? 0 : (double)m.Bytes / m.Ended,
            HasKeysPerNode = keysPerNode,
            KeysPerNodeMean = machinesUp == 0 || !keysPerNode ? 0 : (double)net.Keys.Length / machinesUp,
            KeysPerNodeP1 = Stats.PercentileOfHistogram(machinesByKeys, 1),
            KeysPerNodeP99 = Stats.PercentileOfHistogram(machinesByKeys, 99),
            KeysPerNodeMax = machinesUp == 0 ? 0 : mostKeys,
            KeysPerNodeZeroFrac = machinesUp == 0 ? 0 : (double)zero / machinesUp,
            LoadMean = load.Mean,
            LoadP99 = load.P99,
            LoadMax = load.Max,
            LoadMaxNodeShare = load.MaxShare,
            Events = net.Sim.Dispatched,
            TraceHash = net.Sim.TraceHash,
            HopHistogram = m.HopHistogram[..((int)Stats.MaxOfHistogram(m.HopHistogram) + 1)].ToArray(),
            TimeoutsMean = Stats.MeanOfHistogram(m.TimeoutHistogram),
            TimeoutsP99 = Stats.PercentileOfHistogram(m.TimeoutHistogram, 99),
            MaintMsgsPerNodeS = nodeSeconds <= 0 ? 0 : traffic.TotalMessages / nodeSeconds,
            MaintBytesPerNodeS = nodeSeconds <= 0 ? 0 : traffic.TotalBytes / nodeSeconds,
            TrafficByType = byType,
            StoresKeys = store is not null,
            KeysLost = store?.LostCount ?? 0,
            ValueFoundRate = m.ValueLookups == 0 ? 0 : (double)m.ValuesFound / m.ValueLookups,
            LookupsAbandoned = m.Abandoned,
            LiveNodesMean = windowSeconds > 0 ? nodeSeconds / windowSeconds : live,
            Joins = run.Churn?.Joins ?? 0,
            Leaves = run.Churn?.Leaves ?? 0,
            Crashes = run.Churn?.Crashes ?? 0,
            TimeSeries = run.Sampler?.Rows ?? [],
            OverlayMetrics = registered,
            ZoneVolumes = overlay.ZoneVolumes() ?? [],
            Distributions = m.Registered.Where(r => r.Spec.Distribution)
                .Select(r => (r.Spec.Name, r.Histogram[..((int)Stats.MaxOfHistogram(r.Histogram) + 1)].ToArray())).ToList(),
        };
    }

    private readonly record struct LoadSummary(double Mean, double P99, double Max, double MaxShare);

    /// <summary>
    /// Load per machine over the machines up at some time in the measurement window: the messages of measured lookups
    /// sent to it, divided by the measured lookups. Percentiles are nearest-rank over machines, taken on the counts
    /// (a histogram of counts when they are small, else a sort).
    /// </summary>
    private static LoadSummary SummarizeLoad(Network net, long lookups)
    {
        Population population = net.Population;
        ReadOnlySpan<long> load = net.Transport.LoadPerMachine;
        int machines = 0;
        long total = 0, max = 0;
        for (int mach = 0; mach < population.MachineCount; mach++)
        {
            if (!population.WasUpInWindow(mach)) continue;
            machines++;
            total += load[mach];
            max = Math.Max(max, load[mach]);
        }
        if (machines == 0 || lookups == 0 || total == 0) return default;
        long p99;
        if (max < 1 << 24)
        {
            var histogram = new long[max + 1];
            for (int mach = 0; mach < population.MachineCount; mach++)
                if (population.WasUpInWindow(mach)) histogram[load[mach]]++;
            p99 = Stats.PercentileOfHistogram(histogram, 99);
        }
        else
        {
            var counts = new long[machines];
            int at = 0;
            for (int mach = 0; mach < population.MachineCount; mach++)
                if (population.WasUpInWindow(mach)) counts[at++] = load[mach];
            Array.Sort(counts);
            p99 = Stats.PercentileOfSorted(counts, 99);
        }
        double perLookup = 1.0 / lookups;
        return new LoadSummary((double)total / machines * perLookup, p99 * perLookup, max * perLookup, (double)max / total);
    }
}
