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
    Func<Overlay> CreateOverlay);

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

    public double SuccessRate => Lookups == 0 ? 0 : (double)LookupsOk / Lookups;
}

/// <summary>Builds the world of one run, runs it to the end, and summarises it. Single-threaded and deterministic.</summary>
public static class Experiment
{
    public static RunResult Run(RunSpec spec, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        Network net = Build(spec);
        Simulate(net, spec.Workload, progress, cancel);
        return Summarize(net);
    }

    /// <summary>Starts the workload on a built world and runs the simulation to its end.</summary>
    public static void Simulate(Network net, WorkloadOptions options, Action<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        // Room for every latency the run will record, so that recording allocates nothing during the run: the
        // lookup count in count mode; in rate mode the Poisson mean λ plus 5·√λ, which the count rarely exceeds
        // (about 3·10^-7 in the normal approximation, valid for large λ); past it the list still grows.
        double expected = options.PerNodeRate * net.Nodes.LiveCount * (options.Duration / 1e6);
        net.Metrics.Reserve(options.RateMode ? (long)Math.Ceiling(expected + 5 * Math.Sqrt(expected)) : options.Lookups);

        var workload = new Workload(net, options);
        workload.Start();
        if (progress is not null)
        {
            net.Sim.Progress = sim => progress(new RunProgress(sim.Now, sim.Dispatched, options.RateMode
                ? Math.Clamp((double)sim.Now / Math.Max(1, options.Start + options.Duration), 0, 1)
                : options.Lookups == 0 ? 1 : Math.Clamp((double)net.Metrics.Finished / options.Lookups, 0, 1)));
        }
        using (cancel.Register(() => net.Sim.StopRequested = true))
            net.Sim.Run();
        cancel.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Builds the world of a run: distinct node ids from the "ids" stream, all nodes alive, the latency model,
    /// the keys, and the overlay installed with its static (converged) routing state. Nothing is scheduled yet.
    /// </summary>
    public static Network Build(RunSpec spec)
    {
        var space = new IdSpace(spec.IdBits);
        var streams = new RandomStreams(spec.Seed, spec.Replicate);
        Id[] ids = DrawDistinctIds(space, spec.Nodes, streams.Stream("ids"));
        var nodes = new NodeTable(ids);
        for (int i = 0; i < spec.Nodes; i++) nodes.SetAlive(i);

        LatencyModel latency = spec.CreateLatency(spec.Nodes, streams);
        Id[] keys = KeyIds(space, spec.Workload.Keys);

        var net = new Network(space, nodes, latency, keys, streams);
        Overlay overlay = spec.CreateOverlay();
        net.Install(overlay);
        overlay.BuildStatic();
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

        var keysPerNode = new long[net.Nodes.Count];
        foreach (Id key in net.Keys) keysPerNode[overlay.Responsible(key)]++;
        var liveCounts = new long[live];
        int zero = 0;
        for (int i = 0; i < live; i++)
        {
            liveCounts[i] = keysPerNode[net.Nodes.LiveAt(i)];
            if (liveCounts[i] == 0) zero++;
        }
        Array.Sort(liveCounts);

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
            KeysPerNodeMean = live == 0 ? 0 : (double)net.Keys.Length / live,
            KeysPerNodeP1 = Stats.PercentileOfSorted(liveCounts, 1),
            KeysPerNodeP99 = Stats.PercentileOfSorted(liveCounts, 99),
            KeysPerNodeMax = live == 0 ? 0 : liveCounts[^1],
            KeysPerNodeZeroFrac = live == 0 ? 0 : (double)zero / live,
            Events = net.Sim.Dispatched,
            TraceHash = net.Sim.TraceHash,
            HopHistogram = m.HopHistogram[..((int)Stats.MaxOfHistogram(m.HopHistogram) + 1)].ToArray(),
        };
    }
}
