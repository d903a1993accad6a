using System.Reflection;
using System.Text.Json;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>What a run writes: runs.csv columns and rows for a sweep, and manifest.json's record of how it was made.</summary>
[Collection("Console")]
public class ResultFileTests
{
    private static List<Dictionary<string, string>> ReadCsv(string path, out string[] header)
    {
        string[] lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] h = lines[0].Split(',');
        header = h;
        return lines.Skip(1).Select(l => l.Split(','))
            .Select(cells => { Assert.Equal(h.Length, cells.Length); return h.Zip(cells).ToDictionary(p => p.First, p => p.Second); })
            .ToList();
    }

    [Fact]
    public void ASweepAddsOneColumnPerSweptPathThatIsNotAStandardColumn()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: sweep-columns
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 300, keys: 100 }
            overlays:
              - chord: { label: a }
              - chord: { label: b, successors: 2 }
            sweep:
              nodes: [200, 300]
              workload.keys: [100, 250]
              overlays.a.successors: [3, 5]
            """);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--quiet");

        Assert.True(r.ExitCode == 0, r.ToString());
        var rows = ReadCsv(Path.Combine(dir["out"], "runs.csv"), out string[] header);
        // 'nodes' is already a column; the other two swept paths are appended in sweep order.
        Assert.Equal([.. OverlaySim.Output.CsvResults.RunColumns(ScenarioLoader.Load(scenario)), "workload.keys", "overlays.a.successors"], header);
        Assert.Equal(16, rows.Count);
        int i = 0;
        foreach (string nodes in new[] { "200", "300" })
            foreach (string keys in new[] { "100", "250" })
                foreach (string successors in new[] { "3", "5" })
                    foreach (string overlay in new[] { "a", "b" })
                    {
                        var row = rows[i++];
                        Assert.Equal(("sweep-columns", overlay, nodes, keys), (row["scenario"], row["overlay"], row["nodes"], row["workload.keys"]));
                        // A swept overlay parameter belongs to that overlay's rows only.
                        Assert.Equal(overlay == "a" ? successors : "", row["overlays.a.successors"]);
                    }

        // hops.csv carries the same extra columns, so that its distributions can be matched to runs.csv rows
        // (overlay, nodes and replicate alone would lump four sweep points together). Rows that runs.csv itself
        // cannot tell apart (overlay b at a.successors 3 and 5: the same run) share a key; the lookups add up.
        var hops = ReadCsv(Path.Combine(dir["out"], "hops.csv"), out string[] hopHeader);
        Assert.Equal([.. OverlaySim.Output.CsvResults.KeyColumns, "hops", "count", "paper_hops_count", "workload.keys", "overlays.a.successors"], hopHeader);
        static (string, string, string, string, string) Key(Dictionary<string, string> row) =>
            (row["overlay"], row["nodes"], row["replicate"], row["workload.keys"], row["overlays.a.successors"]);
        var expected = rows.GroupBy(Key).Select(g => (g.Key, Lookups: g.Sum(row => long.Parse(row["lookups"])))).ToList();
        var actual = hops.GroupBy(Key).Select(g => (g.Key, Lookups: g.Sum(h => long.Parse(h["count"])))).ToList();
        Assert.Equal(12, expected.Count);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void SweepingOnlyStandardColumnsAddsNone()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 200, keys: 100 }
            overlays: [chord]
            sweep:
              nodes: [200, 250]
            """);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--quiet");

        Assert.True(r.ExitCode == 0, r.ToString());
        var rows = ReadCsv(Path.Combine(dir["out"], "runs.csv"), out string[] header);
        Assert.Equal(OverlaySim.Output.CsvResults.RunColumns(ScenarioLoader.Load(scenario)), header);
        Assert.Equal(["200", "250"], rows.Select(row => row["nodes"]));
        Assert.All(rows, row => Assert.Equal("s", row["scenario"])); // no name: the file name
    }

    [Fact]
    public void TheManifestRecordsTheResolvedScenarioSeedAndVersion()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: manifest-test
            description: checks the manifest
            seed: 5
            nodes: 300
            replicates: 2
            workload: { lookups: 400 }
            overlays: [chord]
            """);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--quiet", "--set", "workload.keys=300", "--seed", "11");

        Assert.True(r.ExitCode == 0, r.ToString());
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["out"], "manifest.json")));
        JsonElement m = doc.RootElement;
        Assert.Equal("manifest-test", m.GetProperty("scenario").GetString());
        Assert.Equal(scenario, m.GetProperty("scenario_file").GetString());
        Assert.Equal(11, m.GetProperty("seed").GetInt64());
        Assert.Equal(["workload.keys=300", "seed=11"], m.GetProperty("overrides").EnumerateArray().Select(e => e.GetString()));

        string version = typeof(OverlaySim.Cli.Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(version, m.GetProperty("overlaysim_version").GetString());
        Assert.StartsWith("0.1.0", version);
        Assert.False(string.IsNullOrEmpty(m.GetProperty("git_commit").GetString()));
        Assert.Contains(".NET", m.GetProperty("dotnet_version").GetString());
        Assert.Equal(1, m.GetProperty("jobs").GetInt32());
        Assert.True(m.GetProperty("wall_time_s").GetDouble() >= 0);
        Assert.Empty(m.GetProperty("sweep").EnumerateArray());

        var resolved = Assert.Single(m.GetProperty("points").EnumerateArray()).GetProperty("resolved")
            .EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        // Given in the file, by --set and by --seed:
        Assert.Equal("manifest-test", resolved["name"]);
        Assert.Equal("checks the manifest", resolved["description"]);
        Assert.Equal("300", resolved["nodes"]);
        Assert.Equal("2", resolved["replicates"]);
        Assert.Equal("400", resolved["workload.lookups"]);
        Assert.Equal("300", resolved["workload.keys"]);
        Assert.Equal("11", resolved["seed"]);
        // Left out, so documented defaults: every other parameter of the scenario, the latency model and the overlay.
        Assert.Equal("160", resolved["id_bits"]);
        Assert.Equal("coordinates", resolved["latency.model"]);
        Assert.Equal("chord", resolved["overlays.chord.overlay"]);
        Assert.Equal("chord", resolved["overlays.chord.label"]);
        var given = new HashSet<string> { "name", "description", "seed", "nodes", "replicates", "workload.lookups", "workload.keys" };
        var defaults = Schema.Top.Select(p => (p.Name, p))
            .Concat(Schema.Workload.Where(p => !Schema.ReplicationKeys.Contains(p.Name)).Select(p => ("workload." + p.Name, p)))
            .Concat(Schema.FindLatency("coordinates")!.Parameters.Select(p => ("latency." + p.Name, p)))
            .Concat(OverlayRegistry.Find("chord")!.Parameters.Where(p => p.Conditions is null).Select(p => ("overlays.chord." + p.Name, p)));
        foreach (var (path, spec) in defaults)
        {
            Assert.True(resolved.ContainsKey(path), $"manifest lacks {path}");
            if (!given.Contains(path)) Assert.Equal(spec.DefaultText, resolved[path]);
        }
        // Only overlays without a placement rule take the workload's replication: a Chord scenario records none of it.
        foreach (string key in Schema.ReplicationKeys) Assert.False(resolved.ContainsKey("workload." + key), $"manifest records workload.{key}");
        // The converged ring's entry records only the parameters that take effect in it: none of the protocol's.
        foreach (ParamSpec spec in OverlayRegistry.Find("chord")!.Parameters.Where(p => p.Conditions is not null))
            Assert.False(resolved.ContainsKey("overlays.chord." + spec.Name), $"manifest records overlays.chord.{spec.Name}, which a static ring ignores");

        // One entry per run, with the trace hash that runs.csv holds.
        var rows = ReadCsv(Path.Combine(dir["out"], "runs.csv"), out _);
        var runs = m.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(2, runs.Count);
        Assert.Equal(rows.Select(row => row["trace_hash"]), runs.Select(run => run.GetProperty("trace_hash").GetString()));
        Assert.Equal([0, 1], runs.Select(run => run.GetProperty("replicate").GetInt32()));
    }

    [Fact]
    public void TheManifestIsReadableAsWritten()
    {
        using var dir = new TempFolder();
        const string description = "mean paper_hops near ½·log2 N ≈ 4.1, \"quoted\"";
        string scenario = dir.Write("s.yaml", $"description: '{description}'\nnodes: 300\nworkload: {{ lookups: 100, keys: 100 }}\noverlays: [chord]\n");

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--quiet");

        Assert.True(r.ExitCode == 0, r.ToString());
        string text = File.ReadAllText(Path.Combine(dir["out"], "manifest.json"));
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(description, doc.RootElement.GetProperty("points")[0].GetProperty("resolved").GetProperty("description").GetString());
        // Not escaped into \uXXXX: a person reading the file sees the version and the description as they are.
        Assert.Contains($"\"overlaysim_version\": \"{OverlaySim.Output.Manifest.Version}\"", text);
        Assert.Contains("½·log2 N ≈ 4.1", text);
    }

    [Fact]
    public void TheManifestOfASweepRecordsEachPoint()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            nodes: 200
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 200, keys: 100 }
            overlays: [chord]
            sweep:
              overlays.chord.successors: [2, 6]
              latency.delay: [5ms, 1s]
            """);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--quiet", "--jobs", "2");

        Assert.True(r.ExitCode == 0, r.ToString());
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["out"], "manifest.json")));
        Assert.Equal(["overlays.chord.successors", "latency.delay"], doc.RootElement.GetProperty("sweep").EnumerateArray().Select(e => e.GetString()));
        var swept = doc.RootElement.GetProperty("points").EnumerateArray()
            .Select(p => (p.GetProperty("swept").GetProperty("overlays.chord.successors").GetString(), p.GetProperty("swept").GetProperty("latency.delay").GetString()))
            .ToArray();
        Assert.Equal([("2", "5ms"), ("2", "1s"), ("6", "5ms"), ("6", "1s")], swept);
        Assert.Equal(2, doc.RootElement.GetProperty("jobs").GetInt32());
        Assert.Equal(4, doc.RootElement.GetProperty("runs").GetArrayLength());
    }
}

/// <summary>summary.csv against an independent computation (MathNet) from runs.csv.</summary>
[Collection("Console")]
public class SummaryFileTests
{
    /// <summary>summary.csv writes six decimals, like runs.csv: a value is within half the last digit of the exact one.</summary>
    private const double HalfDigit = 5.000001e-7;

    private static List<Dictionary<string, string>> Read(string path)
    {
        string[] lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] h = lines[0].Split(',');
        return lines.Skip(1).Select(l => h.Zip(l.Split(',')).ToDictionary(p => p.First, p => p.Second)).ToList();
    }

    [Fact]
    public void EachPointAndOverlayGetsTheMeanSdAndTIntervalOfItsReplicates()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: summary
            replicates: 4
            latency: { model: uniform, min: 5ms, max: 50ms }
            workload: { lookups: 300, keys: 500, replication: uniform, replicas: 2 }
            overlays:
              - chord: {}
              - gnutella: { ttl: 3 }
            sweep:
              nodes: [200, 400]
            """);
        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q");
        Assert.True(r.ExitCode == 0, r.ToString());
        var runs = Read(Path.Combine(dir["out"], "runs.csv"));
        var summary = Read(Path.Combine(dir["out"], "summary.csv"));
        Assert.Equal(4, summary.Count); // 2 points × 2 overlays
        foreach (var row in summary)
        {
            var mine = runs.Where(x => x["overlay"] == row["overlay"] && x["nodes"] == row["nodes"]).ToList();
            Assert.Equal("4", row["replicates"]);
            foreach (string metric in new[] { "hops_mean", "latency_mean_ms", "msgs_per_lookup", "success_rate" })
            {
                double[] v = mine.Select(x => double.Parse(x[metric], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                double mean = MathNet.Numerics.Statistics.Statistics.Mean(v), sd = MathNet.Numerics.Statistics.Statistics.StandardDeviation(v);
                double half = MathNet.Numerics.Distributions.StudentT.InvCDF(0, 1, v.Length - 1, 0.975) * sd / Math.Sqrt(v.Length);
                Assert.Equal(mean, double.Parse(row[$"{metric}_mean"], System.Globalization.CultureInfo.InvariantCulture), HalfDigit);
                Assert.Equal(sd, double.Parse(row[$"{metric}_sd"], System.Globalization.CultureInfo.InvariantCulture), HalfDigit);
                Assert.Equal(half, double.Parse(row[$"{metric}_ci95"], System.Globalization.CultureInfo.InvariantCulture), HalfDigit);
            }
            // A metric the overlay does not report stays empty: Gnutella has no responsible node, Chord no visited.
            string absent = row["overlay"] == "gnutella" ? "keys_per_node_mean" : "visited_mean";
            Assert.Equal(("", "", ""), (row[$"{absent}_mean"], row[$"{absent}_sd"], row[$"{absent}_ci95"]));
        }
    }

    [Fact]
    public void OneReplicateGivesAMeanAndNoInterval()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "name: one\nnodes: 200\nlatency: { model: constant, delay: 5ms }\nworkload: { lookups: 100, keys: 100 }\noverlays:\n  - chord: {}\n");
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode);
        var row = Assert.Single(Read(Path.Combine(dir["out"], "summary.csv")));
        var run = Assert.Single(Read(Path.Combine(dir["out"], "runs.csv")));
        Assert.Equal("1", row["replicates"]);
        Assert.Equal(run["hops_mean"], row["hops_mean_mean"]);
        Assert.Equal(("", ""), (row["hops_mean_sd"], row["hops_mean_ci95"]));
    }
}
