using System.Diagnostics;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>A valid scenario too large for this machine: exit 3 with a clear message, before anything is built.</summary>
[Collection("Console")]
public class MemoryTests
{
    [Fact]
    public void AScenarioThatCannotFitExitsWith3BeforeBuildingAnything()
    {
        using var dir = new TempFolder();
        // 10^8 nodes, 10^8 keys and 10^10 lookups: hundreds of GiB by any estimate.
        string scenario = dir.Write("huge.yaml", """
            name: huge
            nodes: 100000000
            workload: { lookups: 10000000000, keys: 100000000 }
            overlays: [chord]
            """);
        var clock = Stopwatch.StartNew();

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

        Assert.True(r.ExitCode == 3, r.ToString());
        string error = Assert.Single(r.Errors);
        Assert.Contains("100000000 nodes", error);
        Assert.Contains("needs an estimated", error);
        Assert.Contains("reduce nodes, keys or lookups", error);
        Assert.Equal(["huge.yaml"], dir.Entries());
        // Building 10^8 nodes would take minutes and gigabytes; refusing takes well under a second.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.True(GC.GetTotalMemory(false) < 2L << 30, "something large was built");
    }

    [Fact]
    public void ValidateRefusesTheSameScenarioWith3()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("huge.yaml", """
            name: huge
            nodes: 100000000
            workload: { lookups: 10000000000, keys: 100000000 }
            overlays: [chord]
            """);

        CliResult r = Cli.Run("validate", scenario);

        Assert.True(r.ExitCode == 3, r.ToString());
        Assert.Contains("needs an estimated", Assert.Single(r.Errors));
    }
}
