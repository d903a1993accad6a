using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>
/// The memory check made before anything is built: <see cref="Runner.EstimateBytes"/> grows with what a run
/// holds, and <see cref="Runner.EffectiveJobs"/> refuses a run that cannot fit and runs no more at once than
/// fit together. 'available' is passed in, so a small fake value exercises every branch on any machine.
/// </summary>
public class MemoryEstimateTests
{
    private static IReadOnlyList<PlannedRun> Plan(TempFolder dir, string yaml, params string[] sets) =>
        Runner.Plan(ScenarioLoader.Load(dir.Write($"s{Guid.NewGuid():N}.yaml", yaml), sets));

    private static long Estimate(TempFolder dir, params string[] sets) => Runner.EstimateBytes(Plan(dir, Yaml.Small, sets)[0]);

    [Fact]
    public void TheEstimateGrowsWithNodesKeysAndLookups()
    {
        using var dir = new TempFolder();
        long small = Estimate(dir);

        Assert.True(small >= 64L * 1024 * 1024, "the runtime's own share is part of the estimate");
        Assert.True(Estimate(dir, "nodes=5000") > small);
        Assert.True(Estimate(dir, "workload.keys=100000") > small);
        Assert.True(Estimate(dir, "workload.lookups=100000") > small);
        // The protocol stores its successor lists; the converged ring reads its successors off the sorted ring.
        Assert.True(Estimate(dir, "overlays.chord.protocol=dynamic", "duration=1h", "overlays.chord.successors=64") > Estimate(dir, "overlays.chord.protocol=dynamic", "duration=1h"));
        Assert.Equal(small, Estimate(dir, "overlays.chord.successors=64"));
        string coordinates = Yaml.Small.Replace("{ model: constant, delay: 10ms }", "{ model: coordinates, dimensions: 16 }");
        Assert.True(Runner.EstimateBytes(Plan(dir, coordinates)[0]) > small, "coordinates hold per-node positions");
    }

    [Fact]
    public void InRateModeTheEstimateCountsTheLookupsTheRateWillIssue()
    {
        using var dir = new TempFolder();
        string[] rateMode = ["workload.per_node_rate=1/s", "workload.duration=10s"];
        string yaml = Yaml.Small.Replace("lookups: 1000, ", "");

        long shortRun = Runner.EstimateBytes(Plan(dir, yaml, rateMode)[0]);
        long longRun = Runner.EstimateBytes(Plan(dir, yaml, [.. rateMode[..1], "workload.duration=1000s"])[0]);

        // 500 nodes * 1/s * 990 s more = 495,000 more lookups, at several bytes each.
        Assert.True(longRun - shortRun >= 495_000, $"{shortRun} -> {longRun}");
    }

    [Fact]
    public void AsManyJobsAsAskedWhenMemoryIsPlentiful()
    {
        using var dir = new TempFolder();
        IReadOnlyList<PlannedRun> runs = Plan(dir, Yaml.Small + "\nreplicates: 4\n");

        Assert.Equal(3, Runner.EffectiveJobs(runs, 3, 1L << 40));
        Assert.Equal(1, Runner.EffectiveJobs(runs, 1, 1L << 40));
    }

    [Theory]
    [InlineData(8, 2.5, 2)]
    [InlineData(8, 3.99, 3)]
    [InlineData(2, 3.99, 2)]
    [InlineData(8, 1.01, 1)]
    public void JobsAreCutToWhatFitsTogether(int jobs, double runsThatFit, int expected)
    {
        using var dir = new TempFolder();
        IReadOnlyList<PlannedRun> runs = Plan(dir, Yaml.Small + "\nreplicates: 4\n");
        long need = runs.Max(Runner.EstimateBytes);
        // At most 85% of what is available may be used.
        long available = (long)(runsThatFit * need / 0.85);

        Assert.Equal(expected, Runner.EffectiveJobs(runs, jobs, available));
    }

    [Fact]
    public void ARunThatCannotFitIsRefusedWithTheRunNamed()
    {
        using var dir = new TempFolder();
        IReadOnlyList<PlannedRun> runs = Plan(dir, Yaml.Small);
        long need = Runner.EstimateBytes(runs[0]);

        var e = Assert.Throws<RunFailedException>(() => Runner.EffectiveJobs(runs, 1, (long)(0.99 * need / 0.85)));

        Assert.Contains("500 nodes", e.Message);
        Assert.Contains("memory", e.Message);
        Assert.Contains("reduce nodes, keys, lookups or churn", e.Message);
    }

    [Fact]
    public void ARefusalNamesTheChurnTraceWhenItIsWhatMakesTheRunLarge()
    {
        using var dir = new TempFolder();
        dir.Write("trace.csv", "0s,99999999,join\n");
        IReadOnlyList<PlannedRun> runs = Plan(dir, "nodes: 50\nduration: 1h\nchurn: { model: trace, file: trace.csv }\noverlays:\n  - chord: { protocol: dynamic }\n");

        var e = Assert.Throws<RunFailedException>(() => Runner.EffectiveJobs(runs, 1, 1L << 30));

        Assert.Contains("50 nodes", e.Message);
        Assert.Contains("the churn trace names machines up to 99,999,999", e.Message);
    }

    [Fact]
    public void TheLargestPointOfASweepDecides()
    {
        using var dir = new TempFolder();
        IReadOnlyList<PlannedRun> runs = Plan(dir, Yaml.Small + "\nsweep:\n  nodes: [200, 100000000]\n");
        long smallNeed = Runner.EstimateBytes(runs[0]);
        long largeNeed = Runner.EstimateBytes(runs[1]);
        Assert.True(largeNeed > 10 * smallNeed, $"{smallNeed} vs {largeNeed}");

        var e = Assert.Throws<RunFailedException>(() => Runner.EffectiveJobs(runs, 2, (long)(4.0 * smallNeed / 0.85)));

        Assert.Contains("100000000 nodes", e.Message);
        Assert.Equal(1, Runner.EffectiveJobs(runs, 2, (long)(1.5 * largeNeed / 0.85)));
    }
}
