using System.Diagnostics;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>A sweep with replicates and several overlays, and how to compare result folders byte for byte.</summary>
internal static class SweepFixture
{
    /// <summary>2 sizes × 3 overlays × 2 replicates = 12 runs of a fraction of a second each.</summary>
    public const string Yaml = """
        name: sweep
        seed: 11
        nodes: 200
        latency: { model: coordinates, dimensions: 2, mean: 50ms }
        workload: { lookups: 1500, keys: 500 }
        replicates: 2
        sweep:
          nodes: [150, 300]
        overlays:
          - chord: { successors: 4 }
          - kademlia: {}
          - gnutella: {}
        """;

    public static readonly string[] Files = ["runs.csv", "summary.csv", "hops.csv", "timeseries.csv", "traffic.csv"];

    /// <summary>The result files and figures of two folders are the same bytes, and the folders hold the same names.</summary>
    public static void AssertSameResults(string expected, string actual)
    {
        foreach (string f in Files)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, f))), $"{f} differs between {expected} and {actual}");
        string[] Names(string d) => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(d, p)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Names(expected), Names(actual));
        foreach (string figure in Directory.EnumerateFiles(Path.Combine(expected, "figures")))
            Assert.True(File.ReadAllBytes(figure).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, "figures", Path.GetFileName(figure)))), $"{figure} differs");
    }
}

public class ShardAssignmentTests
{
    private static IReadOnlyList<PlannedRun> Plan()
    {
        using var dir = new TempFolder();
        // Sizes of very different cost, so that balancing has something to do.
        string path = dir.Write("s.yaml", """
            name: plan
            nodes: 100
            latency: { model: constant, delay: 10ms }
            workload: { lookups: 1000, keys: 100 }
            replicates: 3
            sweep:
              nodes: [64, 1000, 5000, 20000]
              workload.lookups: [1000, 30000]
            overlays: [chord, kademlia]
            """);
        return Runner.Plan(ScenarioLoader.Load(path, []));
    }

    [Fact]
    public void EveryRunBelongsToExactlyOneShardForAnyNumberOfShards()
    {
        IReadOnlyList<PlannedRun> plan = Plan();
        Assert.Equal(48, plan.Count);
        for (int n = 1; n <= plan.Count + 5; n++)
        {
            int[] shardOf = Shards.Assign(plan, n);
            Assert.All(shardOf, s => Assert.InRange(s, 1, Math.Min(n, plan.Count)));
            var union = Enumerable.Range(1, n).SelectMany(i => Shards.Of(plan, new ShardSpec(i, n))).Select(r => r.Index).ToList();
            Assert.Equal(Enumerable.Range(0, plan.Count), union.Order());
            Assert.Equal(plan.Count, union.Distinct().Count());
        }
    }

    [Fact]
    public void ShardsAreBalancedByEstimatedCost()
    {
        // The longest-processing-time rule: no shard exceeds the lightest one by more than the costliest run.
        IReadOnlyList<PlannedRun> plan = Plan();
        long costliest = plan.Max(Shards.Cost);
        foreach (int n in (int[])[2, 3, 5, 8])
        {
            int[] shardOf = Shards.Assign(plan, n);
            long[] load = new long[n + 1];
            for (int i = 0; i < plan.Count; i++) load[shardOf[i]] += Shards.Cost(plan[i]);
            Assert.True(load.Skip(1).Max() - load.Skip(1).Min() <= costliest, $"{n} shards: loads {string.Join(", ", load.Skip(1))}, costliest run {costliest}");
        }
        // A dearer run costs more: 20,000 nodes against 64, 30,000 lookups against 1,000.
        Assert.True(Shards.Cost(plan.Last()) > Shards.Cost(plan[0]) * 100);
    }

    [Theory]
    [InlineData("0/3", "the shard I must be between 1 and N = 3")]
    [InlineData("4/3", "the shard I must be between 1 and N = 3")]
    [InlineData("1/0", "the number of shards N must be between 1 and 100,000")]
    [InlineData("2", "expected I/N")]
    [InlineData("a/b", "expected I/N")]
    [InlineData("-1/2", "expected I/N")]
    public void ABadShardIsNamed(string text, string message)
    {
        var e = Assert.Throws<ScenarioException>(() => ShardSpec.Parse(text));
        Assert.Contains(message, e.Diagnostics.Single().Message);
        Assert.Contains($"--shard {text}", e.Diagnostics.Single().ToString());
    }
}

[Collection("Console")]
public class ShardMergeTests
{
    [Fact]
    public void ShardsMergeIntoTheFolderOfASingleRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q").ExitCode);
        var shards = new List<string>();
        for (int i = 1; i <= 4; i++)
        {
            string shard = dir[$"shard-{i}"];
            CliResult r = Cli.Run("run", scenario, "--shard", $"{i}/4", "--out", shard, "-q");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.False(File.Exists(Path.Combine(shard, "runs.csv")), "a shard holds records, not result files");
            shards.Add(shard);
        }
        // Shards are given in any order.
        CliResult merged = Cli.Run(["merge", shards[2], shards[0], shards[3], shards[1], "--out", dir["merged"], "-q"]);
        Assert.True(merged.ExitCode == 0, merged.ToString());
        SweepFixture.AssertSameResults(dir["plain"], dir["merged"]);
        string manifest = File.ReadAllText(Path.Combine(dir["merged"], "manifest.json"));
        Assert.Contains("\"shards\": [", manifest);
        Assert.Contains("\"shard\": \"4/4\"", manifest);
        Assert.Equal(12, File.ReadAllLines(Path.Combine(dir["merged"], "runs.csv")).Length - 1);
    }

    [Fact]
    public void MergeRefusesShardsOfOtherSweepsAndNamesMissingAndDoubledRuns()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        for (int i = 1; i <= 3; i++) Assert.Equal(0, Cli.Run("run", scenario, "--shard", $"{i}/3", "--out", dir[$"s{i}"], "-q").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--shard", "2/3", "--set", "workload.lookups=1000", "--out", dir["other"], "-q").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--shard", "2/4", "--out", dir["four"], "-q").ExitCode);

        CliResult missing = Cli.Run("merge", dir["s1"], dir["s3"], "--out", dir["m"]);
        Assert.Equal(2, missing.ExitCode);
        int shard2 = Shards.Assign(Runner.Plan(ScenarioLoader.Load(scenario, [])), 3).Count(s => s == 2);
        Assert.Equal(shard2, missing.Errors.Count(e => e.Contains("is missing: it belongs to shard 2/3, which is not given")));

        CliResult doubled = Cli.Run("merge", dir["s1"], dir["s2"], dir["s3"], dir["s2"], "--out", dir["m"]);
        Assert.Equal(2, doubled.ExitCode);
        Assert.Contains(doubled.Errors, e => e.Contains("shard 2/3 is given twice"));
        Assert.Contains(doubled.Errors, e => e.Contains("is given twice: in"));

        CliResult overrides = Cli.Run("merge", dir["s1"], dir["other"], dir["s3"], "--out", dir["m"]);
        Assert.Equal(2, overrides.ExitCode);
        Assert.Contains("overrides differ ([] and [workload.lookups=1000])", overrides.Errors.Single());

        CliResult count = Cli.Run("merge", dir["s1"], dir["four"], "--out", dir["m"]);
        Assert.Equal(2, count.ExitCode);
        Assert.Contains("it is one of 4 shards", count.Errors.Single());

        // Another OverlaySim version wrote a shard (its sweep file says so): refused by name.
        string sweep = Path.Combine(dir["s2"], "sweep.json");
        string text = File.ReadAllText(sweep);
        File.WriteAllText(sweep, System.Text.RegularExpressions.Regex.Replace(text, "\"overlaysim_version\": \"[^\"]*\"", "\"overlaysim_version\": \"0.0.1+other\""));
        CliResult version = Cli.Run("merge", dir["s1"], dir["s2"], dir["s3"], "--out", dir["m"]);
        Assert.Equal(2, version.ExitCode);
        Assert.Contains("OverlaySim versions differ", version.Errors.Single());
        File.WriteAllText(sweep, text);

        // A record gone from a shard folder.
        string record = Directory.EnumerateFiles(Path.Combine(dir["s3"], "runs")).First();
        File.Move(record, dir["kept.csv"]);
        CliResult lost = Cli.Run("merge", dir["s1"], dir["s2"], dir["s3"], "--out", dir["m"]);
        Assert.Equal(2, lost.ExitCode);
        Assert.Contains("belongs to shard 3/3, whose folder lacks it", lost.Errors.Single());
        File.Move(dir["kept.csv"], record);

        // A plain result folder is not a shard.
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q").ExitCode);
        CliResult plain = Cli.Run("merge", dir["plain"], "--out", dir["m"]);
        Assert.Equal(2, plain.ExitCode);
        Assert.Contains("is not a shard folder", plain.Errors.Single());

        Assert.False(Directory.Exists(dir["m"]), "a refused merge writes nothing");
        Assert.Equal(0, Cli.Run("merge", dir["s1"], dir["s2"], dir["s3"], "--out", dir["m"], "-q").ExitCode);
        SweepFixture.AssertSameResults(dir["plain"], dir["m"]);
    }

    [Fact]
    public void MergeRefusesAScenarioFileThatNoLongerDescribesTheShards()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("run", scenario, "--shard", "1/1", "--out", dir["s1"], "-q").ExitCode);
        dir.Write("s.yaml", SweepFixture.Yaml.Replace("lookups: 1500", "lookups: 1600"));
        CliResult r = Cli.Run("merge", dir["s1"], "--out", dir["m"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not describe the runs of the shards", r.Errors.Single());
        // The original, given with --scenario from elsewhere, is accepted (comments and layout do not count).
        string moved = dir.Write("elsewhere.yaml", "# moved\n" + SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("merge", dir["s1"], "--out", dir["m"], "--scenario", moved, "-q").ExitCode);
    }
}

[Collection("Console")]
public class ResumeTests
{
    /// <summary>Starts the sweep in a child process and kills it (SIGKILL: no handler runs) once <paramref name="finished"/> runs have their records.</summary>
    private static string KillMidSweep(TempFolder dir, string scenario, string output, int finished, params string[] more)
    {
        using Process p = Process.Start(ChildCli.Start(["run", scenario, "--out", output, "-q", .. more]))!;
        string name = Path.GetFileName(output);
        string? staging = null;
        try
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited)
            {
                staging = Directory.EnumerateDirectories(Path.GetDirectoryName(output)!, $".{name}.partial-*").FirstOrDefault();
                if (staging is not null && Directory.Exists(Path.Combine(staging, "runs"))
                    && Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count() >= finished) break;
                Thread.Sleep(10);
            }
            if (p.HasExited) Assert.Fail("the sweep ended before it could be killed: " + p.StandardError.ReadToEnd()); // read only once it has ended
            p.Kill(); // SIGKILL
            p.WaitForExit();
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        Assert.False(Directory.Exists(output), "a killed run wrote its target");
        return staging!;
    }

    [Fact]
    public void AKilledSweepResumesToTheFolderOfAnUninterruptedRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q").ExitCode);

        string staging = KillMidSweep(dir, scenario, dir["out"], finished: 3);
        int kept = Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count();
        Assert.InRange(kept, 3, 11);

        CliResult resumed = Cli.Run("run", scenario, "--out", dir["out"], "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"resuming: {kept} of 12 run(s) already finished", resumed.Error);
        SweepFixture.AssertSameResults(dir["plain"], dir["out"]);
        Assert.Equal(["out", "plain", "s.yaml"], dir.Entries()); // the staging folder is gone, and the records with it
        Assert.False(Directory.Exists(Path.Combine(dir["out"], "runs")));

        // Resuming a finished folder does nothing.
        DateTime written = File.GetLastWriteTimeUtc(Path.Combine(dir["out"], "runs.csv"));
        CliResult again = Cli.Run("run", scenario, "--out", dir["out"], "--resume");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("nothing to do", again.Error);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(dir["out"], "runs.csv")));
    }

    [Fact]
    public void ResumeWritesAgainWhatTheInterruptedRunHadBegunToWrite()
    {
        // Killed while it wrote its files: a half-written runs.csv, a figure the resumed run will not draw (--no-figures)
        // and a record cut short mid-write are dropped; only whole records carry over.
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q", "--no-figures").ExitCode);
        string staging = KillMidSweep(dir, scenario, dir["out"], finished: 2);
        File.WriteAllText(Path.Combine(staging, "runs.csv"), "scenario,overl");
        Directory.CreateDirectory(Path.Combine(staging, "figures"));
        File.WriteAllText(Path.Combine(staging, "figures", "hops_mean.png"), "half a png");
        File.WriteAllText(Path.Combine(staging, "runs", "run-000012.csv.tmp"), "record,over");
        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--resume", "-q", "--no-figures");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Null(OverlaySim.Output.ResultFolder.NotAResultFolder(dir["out"]));
        Assert.False(Directory.Exists(Path.Combine(dir["out"], "figures")));
        foreach (string f in SweepFixture.Files)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["plain"], f)), File.ReadAllBytes(Path.Combine(dir["out"], f)));
    }

    [Fact]
    public void AKilledShardResumesAndMerges()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q").ExitCode);
        KillMidSweep(dir, scenario, dir["s1"], 1, "--shard", "1/2");
        Assert.Equal(0, Cli.Run("run", scenario, "--shard", "1/2", "--out", dir["s1"], "--resume", "-q").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--shard", "2/2", "--out", dir["s2"], "--resume", "-q").ExitCode); // nothing to resume: a plain start
        Assert.Equal(0, Cli.Run("merge", dir["s1"], dir["s2"], "--out", dir["m"], "-q").ExitCode);
        SweepFixture.AssertSameResults(dir["plain"], dir["m"]);
    }

    [Fact]
    public void ResumeRefusesTheInterruptedRunOfAnotherSweepAndARunWithoutResumeDiscardsIt()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        string staging = KillMidSweep(dir, scenario, dir["out"], 1);
        int kept = Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count();

        CliResult other = Cli.Run("run", scenario, "--out", dir["out"], "--resume", "--set", "workload.lookups=1000");
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("was of other runs: overrides differ", other.Errors.Single());
        Assert.Contains("Nothing was deleted; rerun without --resume to discard it", other.Errors.Single());
        Assert.Equal(kept, Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count());

        // A record that is not whole is named, not used.
        string record = Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").First();
        string[] lines = File.ReadAllLines(record);
        File.WriteAllLines(record, lines[..^1]);
        CliResult cut = Cli.Run("run", scenario, "--out", dir["out"], "--resume");
        Assert.Equal(2, cut.ExitCode);
        Assert.Equal(Path.GetFileName(record), Path.GetFileName(cut.Errors[0].Split(':')[0]));
        Assert.Contains("cut short", cut.Errors[0]);
        Assert.Contains("delete that record to have its run carried out again", cut.Errors[1]);
        // Nothing was lost: the records are in the (renamed) staging folder, and that record is put right again.
        staging = Directory.EnumerateDirectories(dir.Path, ".out.partial-*").Single();
        Assert.Equal(kept, Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count());
        File.WriteAllLines(Path.Combine(staging, "runs", Path.GetFileName(record)), lines);

        // Without --resume the finished runs are not thrown away unasked: refused, and --force discards them, saying so.
        CliResult plain = Cli.Run("run", scenario, "--out", dir["out"], "-q");
        Assert.Equal(2, plain.ExitCode);
        Assert.Contains($"an interrupted run on this folder left {kept} finished run(s)", plain.Errors.Single());
        Assert.Contains("pass --resume to keep them and carry out only the rest, or --force to discard them", plain.Errors.Single());
        Assert.Equal(kept, Directory.EnumerateFiles(Path.Combine(staging, "runs"), "run-*.csv").Count());
        CliResult fresh = Cli.Run("run", scenario, "--out", dir["out"], "-q", "--force");
        Assert.Equal(0, fresh.ExitCode);
        Assert.Contains($"note: discarded {kept} finished run(s) of an interrupted run", fresh.Error);
        Assert.Equal(["out", "s.yaml"], dir.Entries());
    }

    [Fact]
    public void ASignalKeepsTheFinishedRunsForResume()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        using Process p = Process.Start(ChildCli.Start("run", scenario, "--out", dir["out"], "-q"))!;
        try
        {
            var clock = Stopwatch.StartNew();
            bool Started() => Directory.EnumerateDirectories(dir.Path, ".out.partial-*").Any(s => Directory.Exists(Path.Combine(s, "runs")) && Directory.EnumerateFiles(Path.Combine(s, "runs"), "run-*.csv").Any());
            while (!Started() && !p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(10);
            if (p.HasExited) Assert.Fail("the sweep ended before it could be signalled: " + p.StandardError.ReadToEnd());
            Assert.True(ChildCli.Signal(p.Id, 15));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        string error = p.StandardError.ReadToEnd();
        Assert.Equal(143, p.ExitCode);
        Assert.Contains("interrupted (SIGTERM): nothing was written to", error);
        Assert.Contains("rerun with --resume to carry out only the rest", error);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "--resume", "-q").ExitCode);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["plain"], "-q").ExitCode);
        SweepFixture.AssertSameResults(dir["plain"], dir["out"]);
    }
}
