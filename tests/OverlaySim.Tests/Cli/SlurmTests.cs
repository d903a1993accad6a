using System.Diagnostics;
using System.Text.RegularExpressions;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>The Slurm cluster the tests submit to: OVERLAYSIM_SLURM_CONF names its configuration (tools/test.sh starts one with tools/slurm-local.sh as root).</summary>
internal static class SlurmCluster
{
    public static string? Conf =>
        Environment.GetEnvironmentVariable("OVERLAYSIM_SLURM_CONF") is { Length: > 0 } conf && File.Exists(conf) ? conf : null;

    /// <summary>Runs a command with the cluster's SLURM_CONF; returns its exit code and output.</summary>
    public static (int Exit, string Out, string Error) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["SLURM_CONF"] = Conf;
        using Process p = Process.Start(start)!;
        Task<string> error = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, error.Result);
    }

    /// <summary>overlaysim (the built CLI, as a child process) with the cluster's SLURM_CONF.</summary>
    public static (int Exit, string Out, string Error) Overlaysim(params string[] args) =>
        Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "overlaysim.dll"), .. args]);

    /// <summary>Waits until none of the jobs is pending or running any more (squeue; there is no accounting store for sacct).</summary>
    public static void WaitFor(IEnumerable<string> jobs, TimeSpan timeout)
    {
        string list = string.Join(',', jobs);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var (exit, output, _) = Run("squeue", "-h", "-j", list, "-o", "%i %T");
            if (exit != 0 || output.Trim().Length == 0) return; // squeue refuses ids it no longer knows
            Thread.Sleep(250);
        }
        Assert.Fail($"jobs {list} still queued after {timeout.TotalSeconds} s: {Run("squeue").Out}");
    }
}

/// <summary>A test that needs a Slurm cluster; skipped, with the reason shown, where there is none.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (SlurmCluster.Conf is null)
            Skip = "no Slurm cluster: 'make test' starts a local one (tools/slurm-local.sh) when run as root; or set OVERLAYSIM_SLURM_CONF to a running cluster's slurm.conf";
    }
}

/// <summary>'overlaysim slurm' on a real Slurm (a one-node cluster on this machine): the merged folder is that of a local run.</summary>
public class SlurmTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [SlurmFact]
    public void ASweepSubmittedToSlurmMergesToTheFolderOfALocalRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        var local = SlurmCluster.Overlaysim("run", scenario, "--out", dir["local"], "-q");
        Assert.True(local.Exit == 0, local.Error);

        var submitted = SlurmCluster.Overlaysim("slurm", scenario, "--out", dir["res"], "--tasks", "3", "--time", "10");
        Assert.True(submitted.Exit == 0, submitted.Out + submitted.Error);
        Match ids = Regex.Match(submitted.Out, @"submitted array job (\d+) \(3 task\(s\)\) and merge job (\d+)");
        Assert.True(ids.Success, submitted.Out);
        SlurmCluster.WaitFor([ids.Groups[1].Value, ids.Groups[2].Value], Patience);

        Assert.True(Directory.Exists(dir["res"]), "no result folder; logs: " + string.Join("\n", Directory.EnumerateFiles(Path.Combine(dir["res.slurm"], "logs")).Select(f => f + ": " + File.ReadAllText(f))));
        SweepFixture.AssertSameResults(dir["local"], dir["res"]);
        Assert.Equal(3, Directory.EnumerateDirectories(Path.Combine(dir["res.slurm"], "shards")).Count());
        Assert.False(Directory.Exists(Path.Combine(dir["res.slurm"], "failed")));
    }

    [SlurmFact]
    public void AFailedTaskCancelsTheMergeAndRerunningJustThatShardFinishesTheSweep()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SweepFixture.Yaml);
        var local = SlurmCluster.Overlaysim("run", scenario, "--out", dir["local"], "-q");
        Assert.True(local.Exit == 0, local.Error);
        var written = SlurmCluster.Overlaysim("slurm", scenario, "--out", dir["res"], "--tasks", "3", "--dry-run");
        Assert.True(written.Exit == 0, written.Error);
        Assert.Contains("dry run: nothing submitted", written.Out);
        string work = dir["res.slurm"];

        // Shard 2 cannot write its folder (a file is in the way): its task fails with exit code 2.
        string blocker = Path.Combine(work, "shards", "shard-2");
        File.WriteAllText(blocker, "in the way\n");
        var all = SlurmCluster.Run(Path.Combine(work, "rerun.sh"), "1", "2", "3");
        Assert.True(all.Exit == 0, all.Error);
        Match ids = Regex.Match(all.Out, @"array job (\d+); merge: job (\d+)");
        Assert.True(ids.Success, all.Out);
        // The merge does not wait forever: the failed dependency cancels it.
        SlurmCluster.WaitFor([ids.Groups[1].Value, ids.Groups[2].Value], Patience);
        Assert.False(Directory.Exists(dir["res"]), "the merge ran although a shard failed");
        string note = File.ReadAllText(Path.Combine(work, "failed", "shard-2.txt"));
        Assert.Contains("shard 2/3 failed with exit code 2", note);
        Assert.Contains($"{Path.Combine(work, "rerun.sh")} 2", note);
        Assert.Contains("the output path is a file", File.ReadAllText(Path.Combine(work, "logs", "shard-2.out")));
        Assert.Single(Directory.EnumerateFiles(Path.Combine(work, "failed")));

        // rerun.sh alone finds what did not finish: shard 2.
        File.Delete(blocker);
        var again = SlurmCluster.Run(Path.Combine(work, "rerun.sh"));
        Assert.True(again.Exit == 0, again.Error);
        Assert.StartsWith("shards 2: array job", again.Out);
        Match ids2 = Regex.Match(again.Out, @"array job (\d+); merge: job (\d+)");
        SlurmCluster.WaitFor([ids2.Groups[1].Value, ids2.Groups[2].Value], Patience);
        SweepFixture.AssertSameResults(dir["local"], dir["res"]);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(work, "failed")));
    }
}
