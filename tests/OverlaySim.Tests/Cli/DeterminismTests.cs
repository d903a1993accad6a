using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// Same scenario and seed, same bytes: runs.csv and hops.csv are compared whole between two in-process runs,
/// so any change in the event order, the random streams or the output formatting shows up here.
/// </summary>
[Collection("Console")]
public class DeterminismTests
{
    // Coordinates latency and Zipf keys, so that the latency, id and workload streams all matter.
    private const string Scenario = """
        name: determinism
        seed: 7
        nodes: 800
        replicates: 3
        latency: { model: coordinates, dimensions: 2, mean: 40ms, access_min: 1ms, access_max: 5ms }
        workload: { lookups: 3000, keys: 2000, popularity: zipf, zipf_exponent: 0.9 }
        overlays:
          - chord: { successors: 4 }
        """;

    private static (byte[] Runs, byte[] Hops) Run(TempFolder dir, string scenario, string outName, params string[] extra)
    {
        string output = dir[outName];
        CliResult r = Cli.Run(["run", scenario, "--out", output, "--quiet", .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return (File.ReadAllBytes(Path.Combine(output, "runs.csv")), File.ReadAllBytes(Path.Combine(output, "hops.csv")));
    }

    private static string[] Column(byte[] csv, string name)
    {
        string[] lines = System.Text.Encoding.UTF8.GetString(csv).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int i = Array.IndexOf(lines[0].Split(','), name);
        Assert.True(i >= 0, $"no column {name}");
        return lines.Skip(1).Select(l => l.Split(',')[i]).ToArray();
    }

    [Fact]
    public void TheSameScenarioAndSeedGiveTheSameBytes()
    {
        using var dir = new TempFolder();
        // Two copies in different folders: where the scenario lives must not matter either.
        Directory.CreateDirectory(dir["a"]);
        Directory.CreateDirectory(dir["b"]);
        string first = dir.Write("a/s.yaml", Scenario);
        string second = dir.Write("b/s.yaml", Scenario);

        var one = Run(dir, first, "out1");
        var two = Run(dir, second, "out2");

        Assert.Equal(one.Runs, two.Runs);
        Assert.Equal(one.Hops, two.Hops);
        Assert.Equal(4, System.Text.Encoding.UTF8.GetString(one.Runs).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.All(Column(one.Runs, "trace_hash"), h => Assert.Matches("^[0-9a-f]{16}$", h));
    }

    [Fact]
    public void EachReplicateAndEachSeedIsADifferentRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", Scenario);

        var seven = Run(dir, scenario, "seed7");
        var eight = Run(dir, scenario, "seed8", "--seed", "8");

        string[] hashes = Column(seven.Runs, "trace_hash");
        Assert.Equal(["0", "1", "2"], Column(seven.Runs, "replicate"));
        Assert.Equal(3, hashes.Distinct().Count());
        Assert.Empty(hashes.Intersect(Column(eight.Runs, "trace_hash")));
        Assert.Equal(["8", "8", "8"], Column(eight.Runs, "seed"));
    }

    [Fact]
    public void TheNumberOfJobsDoesNotChangeTheResults()
    {
        using var dir = new TempFolder();
        // 2 sweep points x 2 overlays x 3 replicates = 12 runs of different lengths, finishing out of order.
        string scenario = dir.Write("s.yaml", Scenario.Replace("nodes: 800", "nodes: 400") + """

              - chord: { label: long-lists, successors: 16 }
            sweep:
              nodes: [400, 900]
            """);

        var serial = Run(dir, scenario, "jobs1", "--jobs", "1");
        var parallel = Run(dir, scenario, "jobs2", "--jobs", "2");

        Assert.Equal(12, Column(serial.Runs, "trace_hash").Length);
        Assert.Equal(serial.Runs, parallel.Runs);
        Assert.Equal(serial.Hops, parallel.Hops);
    }

    /// <summary>
    /// With one core static Chord and Kademlia route their lookups ahead on the simulating thread alone; with two, on
    /// both (AheadBatches). Each process is told its number of cores, and every result file must be the same bytes.
    /// </summary>
    [Fact]
    public void TheNumberOfCoresDoesNotChangeTheResults()
    {
        using var dir = new TempFolder();
        // 2^14 nodes and more: routed side by side in lanes; Zipf keys, so that lookups of a batch often share a route.
        string scenario = dir.Write("s.yaml", """
            name: cores
            seed: 3
            nodes: 20000
            latency: { model: coordinates, dimensions: 2, mean: 40ms, access_min: 1ms, access_max: 5ms }
            workload: { lookups: 20000, keys: 5000, popularity: zipf, zipf_exponent: 1.0 }
            sample_every: 2s
            overlays:
              - chord: { successors: 8 }
              - chord: { label: small, successors: 2, virtual_nodes: 2 }
              - kademlia: { store_keys: false }
            """);
        string[] files = ["runs.csv", "summary.csv", "hops.csv", "timeseries.csv", "traffic.csv"];
        Dictionary<string, byte[]> RunWith(string cores)
        {
            string output = dir["cores" + cores];
            var start = ChildCli.Start("run", scenario, "--out", output, "--quiet", "--no-figures");
            start.Environment["DOTNET_PROCESSOR_COUNT"] = cores;
            using var p = System.Diagnostics.Process.Start(start)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromSeconds(120))) p.Kill(entireProcessTree: true);
            Assert.True(p.ExitCode == 0, stderr.GetAwaiter().GetResult());
            return files.ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(output, f)));
        }

        var one = RunWith("1");
        var two = RunWith("2");
        foreach (string f in files) Assert.True(one[f].AsSpan().SequenceEqual(two[f]), $"{f} differs between one core and two");
        Assert.Equal(3, Column(one["runs.csv"], "trace_hash").Length);
    }
}
