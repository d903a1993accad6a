using System.Globalization;
using System.Numerics;

namespace OverlaySim.Scenarios;

/// <summary>A shard of a sweep: <c>--shard I/N</c>, the I-th of N (from 1).</summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    /// <summary>The most shards a sweep may be split into (as many as it may have runs).</summary>
    public const int MaxCount = 100_000;

    public override string ToString() => $"{Index.ToString(CultureInfo.InvariantCulture)}/{Count.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses "I/N" with 1 ≤ I ≤ N ≤ <see cref="MaxCount"/>; throws <see cref="ScenarioException"/> naming the option otherwise.</summary>
    public static ShardSpec Parse(string text)
    {
        Origin at = Origin.FromCommandLine($"--shard {Diagnostic.Clip(text, 40)}");
        string[] parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new ScenarioException(at, "expected I/N, the I-th of N shards (for example --shard 2/8)");
        if (n < 1 || n > MaxCount) throw new ScenarioException(at, $"the number of shards N must be between 1 and {MaxCount:N0}");
        if (i < 1 || i > n) throw new ScenarioException(at, $"the shard I must be between 1 and N = {n}");
        return new ShardSpec(i, n);
    }
}

/// <summary>
/// Which shard carries out which run. The assignment depends on the plan alone, so every machine of a sweep computes
/// the same one: runs are taken in decreasing order of <see cref="Cost"/> (ties in plan order) and each goes to the
/// shard with the least cost so far (ties to the lowest shard), the longest-processing-time rule. Every run belongs to
/// exactly one shard; with more shards than runs some shards have none.
/// </summary>
public static class Shards
{
    /// <summary>The shard (from 1) of every run of <paramref name="plan"/>, in plan order.</summary>
    public static int[] Assign(IReadOnlyList<PlannedRun> plan, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count));
        var order = Enumerable.Range(0, plan.Count).Select(i => (Index: i, Cost: Cost(plan[i])))
            .OrderByDescending(r => r.Cost).ThenBy(r => r.Index).ToList();
        var load = new PriorityQueue<int, (long Load, int Shard)>();
        for (int s = 1; s <= Math.Min(count, plan.Count); s++) load.Enqueue(s, (0, s));
        var shardOf = new int[plan.Count];
        foreach (var (index, cost) in order)
        {
            load.TryDequeue(out int shard, out var current);
            shardOf[index] = shard;
            load.Enqueue(shard, (SaturatingAdd(current.Load, cost), shard));
        }
        return shardOf;
    }

    /// <summary>The runs of one shard, in plan order.</summary>
    public static IReadOnlyList<PlannedRun> Of(IReadOnlyList<PlannedRun> plan, ShardSpec shard)
    {
        int[] shardOf = Assign(plan, shard.Count);
        return plan.Where(r => shardOf[r.Index] == shard.Index).ToList();
    }

    /// <summary>
    /// A run's estimated cost in arbitrary units, in integers so that it is the same on every machine: building the
    /// overlay, N·(⌊log2 N⌋ + 1); each lookup, ⌊log2 N⌋ + 1; and when the run lasts a set simulated time (maintenance,
    /// churn), N per simulated second. It only balances the shards: the results never depend on it.
    /// </summary>
    public static long Cost(PlannedRun run)
    {
        ScenarioPoint p = run.Point;
        long n = Math.Max(1, p.Nodes);
        long log = BitOperations.Log2((ulong)n) + 1;
        OverlaySim.Core.WorkloadOptions w = p.Workload;
        double lookups = w.RateMode ? w.PerNodeRate * n * (w.Duration / 1e6) : w.Lookups;
        long seconds = p.Duration / 1_000_000;
        long cost = SaturatingAdd(n * log, (long)Math.Min(Math.Round(lookups) * log, long.MaxValue / 4));
        return SaturatingAdd(cost, seconds > long.MaxValue / 4 / n ? long.MaxValue / 4 : n * seconds);
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}
