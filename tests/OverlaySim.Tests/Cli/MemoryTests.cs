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
        Assert.Contains("reduce nodes, keys, lookups or churn", error);
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

    /// <summary>
    /// The CLI runs under a managed heap limit below the machine's memory (its runtimeconfig), and its memory budget
    /// is taken from that limit: a run that outgrew its estimate would meet an OutOfMemoryException (exit 3), not
    /// the kernel's OOM killer. Checked in child processes, since the limit is the process's own.
    /// </summary>
    [Fact]
    public void TheBudgetIsTheProcessHeapLimitBelowTheMachinesMemory()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: mid
            nodes: 200000
            workload: { lookups: 200000, keys: 200000 }
            overlays: [chord]
            """);

        var (exit, stdout, _) = RunCli(["validate", scenario], heapLimit: null);
        Assert.Equal(0, exit);
        var m = System.Text.RegularExpressions.Regex.Match(stdout, @"available: ([0-9.]+) GiB");
        Assert.True(m.Success, stdout);
        double available = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * (1L << 30);
        string memTotal = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        double physical = long.Parse(memTotal.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024.0;
        Assert.True(available <= 0.91 * physical, $"the CLI's heap may take {available:0} of {physical:0} bytes: no limit below the machine's memory");

        // Under a 96 MiB heap limit the same run (about 0.14 GiB) is refused before it is built.
        var (limited, _, error) = RunCli(["run", scenario, "--out", dir["out"]], heapLimit: "0x6000000");
        Assert.True(limited == 3, error);
        Assert.Contains("85% of the 0.09 GiB available", error);
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    private static (int Exit, string Out, string Error) RunCli(string[] args, string? heapLimit)
    {
        var start = ChildCli.Start(args);
        if (heapLimit is not null) start.Environment["DOTNET_GCHeapHardLimit"] = heapLimit;
        using Process p = Process.Start(start)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60))) p.Kill(entireProcessTree: true);
        return (p.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
