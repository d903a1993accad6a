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
}

/// <summary>Where a run stands, for progress display.</summary>
/// <param name="Fraction">Share of the run done, 0..1 (lookups finished, or simulated time in rate mode).</param>
public readonly record struct RunProgress(long SimTime, long Events, double Fraction);

/// <summary>The measured outcome of one run (one row of runs.csv plus its hop distribution).</summary>
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
    public required bool HasPaperHops { get; init; }
    public required double PaperHopsMean { get; init; }
    public required long PaperHopsP1 { get; init; }
    public required long PaperHopsP99 { get; init; }
    public required double LatencyMeanMs { get; init; }
    public required double LatencyP50Ms { get; init; }
    public required double LatencyP99Ms { get; init; }
    public required double DegreeMean { get; init; }
    public required int DegreeMax { get; init; }
    public required double MsgsPerLookup { get; init; }
    public required double KeysPerNodeMean { get; init; }
    public required long KeysPerNodeP1 { get; init; }
    public required long KeysPerNodeP99 { get; init; }
    public required long KeysPerNodeMax { get; init; }
    public required double KeysPerNodeZeroFrac { get; init; }
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
    public required bool HasRounds { get; init; }
    public required double RoundsMean { get; init; }
    public required double RpcsPerLookup { get; init; }

    public double SuccessRate => Lookups == 0 ? 0 : (double)LookupsOk / Lookups;
}

/// <summary>Builds the world of one run, runs it to the end, and summarises it. Single-threaded and deterministic.</summary>
public static class Experiment
{
    public static RunResult Run(RunSpec spec, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        Network net = Build(spec);
        Simulate(net, spec, progress, cancel);
        return Summarize(net);
    }

    /// <summary>
    /// Starts the workload, the churn and the sampler on a built world and runs the simulation to its end
    /// (<see cref="RunSpec.Duration"/>, or until nothing is left to do).
    /// </summary>
    public static void Simulate(Network net, RunSpec spec, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        WorkloadOptions options = spec.Workload;
        // Room for every latency the run will record, so that recording allocates nothing during the run: the
        // lookup count in count mode; in rate mode the Poisson mean λ plus 5·√λ, which the count rarely exceeds
        // (about 3·10^-7 in the normal approximation, valid for large λ); past it the list still grows.
        double expected = options.PerNodeRate * net.Nodes.LiveCount * (options.Duration / 1e6);
        net.Metrics.Reserve(options.RateMode ? (long)Math.Ceiling(expected + 5 * Math.Sqrt(expected)) : options.Lookups);

        var workload = new Workload(net, options, spec.Duration);
        workload.Start();
        var churn = net.Churn;
        churn?.Start(net.InitiallyUp!);
        var sampler = spec.SampleEvery > 0 ? new TimeSeriesSampler(net, spec.SampleEvery, spec.Duration) : null;
        sampler?.Start();
        net.Sampler = sampler;

        if (progress is not null)
        {
            long end = spec.Duration > 0 ? spec.Duration : options.RateMode ? options.Start + options.Duration : 0;
            net.Sim.Progress = sim => progress(new RunProgress(sim.Now, sim.Dispatched, end > 0
                ? Math.Clamp((double)sim.Now / end, 0, 1)
                : options.Lookups == 0 ? 1 : Math.Clamp((double)net.Metrics.Finished / options.Lookups, 0, 1)));
        }
        using (cancel.Register(() => net.Sim.StopRequested = true))
            net.Sim.Run(spec.Duration > 0 ? spec.Duration : long.MaxValue);
        cancel.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Builds the world of a run: distinct ids from the "ids" stream for every machine's v ordinals, the machines
    /// that are up at time 0 (all, unless churn starts some down), the latency model, the keys, and the overlay
    /// installed with its initial state. Nothing is scheduled yet.
    /// </summary>
    public static Network Build(RunSpec spec)
    {
        var space = new IdSpace(spec.IdBits);
        var streams = new RandomStreams(spec.Seed, spec.Replicate);
        int v = spec.VirtualNodes;
        Id[] ids = DrawDistinctIds(space, checked(spec.Nodes * v), streams.Stream("ids"));
        var nodes = new NodeTable(ids, v);
        bool[] up = ChurnDriver.InitialState(spec.Churn, streams, spec.Nodes);
        for (int m = 0; m < spec.Nodes; m++)
            if (up[m])
                for (int j = 0; j < v; j++) nodes.SetAlive(m * v + j);

        LatencyModel latency = spec.CreateLatency(spec.Nodes, streams);
        Id[] keys = KeyIds(space, spec.Workload.Keys);

        var net = new Network(space, nodes, latency, keys, streams, v)
        {
            MeasureFrom = spec.MeasureAfter,
            MeasureUntil = spec.Duration > 0 ? spec.Duration : long.MaxValue,
        };
        Overlay overlay = spec.CreateOverlay();
        net.Install(overlay);
        overlay.BuildStatic();
        if (spec.Churn.Kind != ChurnKind.None)
        {
            net.Churn = new ChurnDriver(net, spec.Churn);
            net.InitiallyUp = up;
        }
        return net;
    }

    /// <summary>Key i is SHA-1("key-i") truncated to id_bits.</summary>
    public static Id[] KeyIds(IdSpace space, int count)
    {
        var keys = new Id[count];
        for (int i = 0; i < count; i++) keys[i] = space.HashKey("key-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return keys;
    }

    /// <summary>
    /// n distinct uniformly random ids. Duplicates (likely only with small id_bits) are redrawn for the higher
    /// ordinal until none is left, so the result depends on the stream alone.
    /// </summary>
    public static Id[] DrawDistinctIds(IdSpace space, int n, Xoshiro256 rng)
    {
        if (n > 0 && space.Bits < 63 && (ulong)n > 1UL << space.Bits)
            throw new ArgumentException($"{n} nodes do not fit in a {space.Bits}-bit id space");
        var ids = new Id[n];
        for (int i = 0; i < n; i++) ids[i] = space.Random(ref rng);
        var sorted = new Id[n];
        var order = new int[n];
        while (true)
        {
            Array.Copy(ids, sorted, n);
            for (int i = 0; i < n; i++) order[i] = i;
            Array.Sort(sorted, order);
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
    public static RunResult Summarize(Network net)
    {
        LookupMetrics m = net.Metrics;
        Overlay overlay = net.Overlay;

        long[] latencies = m.Latencies.ToArray();
        Array.Sort(latencies);

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
        var keysPerMachine = new long[net.MachineCount];
        foreach (Id key in net.Keys)
        {
            int owner = overlay.Responsible(key);
            if (owner >= 0) keysPerMachine[net.Nodes.Machine[owner]]++;
        }
        var upMachines = new List<long>();
        for (int mach = 0; mach < net.MachineCount; mach++)
            if (net.IsMachineUp(mach)) upMachines.Add(keysPerMachine[mach]);
        long[] liveCounts = upMachines.ToArray();
        int zero = liveCounts.Count(c => c == 0);
        Array.Sort(liveCounts);
        int machinesUp = liveCounts.Length;

        double nodeSeconds = net.LiveNodeSeconds;
        var traffic = new List<(string, long, long)>();
        for (int t = 0; t < 256; t++)
            if (net.Traffic.Messages[t] > 0) traffic.Add((overlay.MessageName((byte)t), net.Traffic.Messages[t], net.Traffic.Bytes[t]));
        double windowSeconds = (Math.Min(net.Sim.Now, net.MeasureUntil) - net.MeasureFrom) / 1e6;

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
            HasPaperHops = overlay.ReportsPaperHops,
            PaperHopsMean = Stats.MeanOfHistogram(m.PaperHopHistogram),
            PaperHopsP1 = Stats.PercentileOfHistogram(m.PaperHopHistogram, 1),
            PaperHopsP99 = Stats.PercentileOfHistogram(m.PaperHopHistogram, 99),
            LatencyMeanMs = Stats.Mean(latencies) / 1000.0,
            LatencyP50Ms = Stats.PercentileOfSorted(latencies, 50) / 1000.0,
            LatencyP99Ms = Stats.PercentileOfSorted(latencies, 99) / 1000.0,
            DegreeMean = live == 0 ? 0 : (double)degreeSum / live,
            DegreeMax = degreeMax,
            MsgsPerLookup = m.Finished == 0 ? 0 : (double)m.Messages / m.Finished,
            KeysPerNodeMean = machinesUp == 0 ? 0 : (double)net.Keys.Length / machinesUp,
            KeysPerNodeP1 = Stats.PercentileOfSorted(liveCounts, 1),
            KeysPerNodeP99 = Stats.PercentileOfSorted(liveCounts, 99),
            KeysPerNodeMax = machinesUp == 0 ? 0 : liveCounts[^1],
            KeysPerNodeZeroFrac = machinesUp == 0 ? 0 : (double)zero / machinesUp,
            Events = net.Sim.Dispatched,
            TraceHash = net.Sim.TraceHash,
            HopHistogram = m.HopHistogram[..((int)Stats.MaxOfHistogram(m.HopHistogram) + 1)].ToArray(),
            TimeoutsMean = Stats.MeanOfHistogram(m.TimeoutHistogram),
            TimeoutsP99 = Stats.PercentileOfHistogram(m.TimeoutHistogram, 99),
            MaintMsgsPerNodeS = nodeSeconds <= 0 ? 0 : net.Traffic.TotalMessages / nodeSeconds,
            MaintBytesPerNodeS = nodeSeconds <= 0 ? 0 : net.Traffic.TotalBytes / nodeSeconds,
            TrafficByType = traffic,
            StoresKeys = overlay.StoresKeys,
            KeysLost = overlay.KeysLost,
            ValueFoundRate = m.ValueLookups == 0 ? 0 : (double)m.ValuesFound / m.ValueLookups,
            LookupsAbandoned = m.Abandoned,
            LiveNodesMean = windowSeconds > 0 ? nodeSeconds / windowSeconds : live,
            Joins = net.Churn?.Joins ?? 0,
            Leaves = net.Churn?.Leaves ?? 0,
            Crashes = net.Churn?.Crashes ?? 0,
            TimeSeries = net.Sampler?.Rows ?? [],
            HasRounds = overlay.ReportsRounds,
            RoundsMean = m.Ok + m.Wrong == 0 ? 0 : (double)m.RoundSum / (m.Ok + m.Wrong),
            RpcsPerLookup = m.Ok + m.Wrong == 0 ? 0 : (double)m.RpcSum / (m.Ok + m.Wrong),
        };
    }
}
