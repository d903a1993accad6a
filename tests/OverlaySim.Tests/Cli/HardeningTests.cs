using System.Diagnostics;
using OverlaySim.Output;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// Faults and hostile places, one regression test each: a result folder that is not ours, special files, a
/// second run on the same folder, a process killed half way, signals. Each once deleted data, hung, crashed or
/// was found only after the whole run.
/// </summary>
[Collection("Console")]
public class HardeningTests
{
    [Fact]
    public void TheWorkingFolderAndItsAncestorsAreNeverAResultFolderEvenWithForce()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string cwd = Environment.CurrentDirectory;
        string[] before = Directory.EnumerateFileSystemEntries(cwd).Order(StringComparer.Ordinal).ToArray();

        foreach (string target in new[] { ".", "..", "./", cwd, Path.GetDirectoryName(cwd)!, "/", Path.Combine(dir.Path, "..") })
        {
            CliResult r = Cli.Run("run", scenario, "--out", target, "--force");

            Assert.True(r.ExitCode == 2, $"--out {target}: {r}");
            string error = Assert.Single(r.Errors);
            Assert.True(error.Contains("not '.', '..' or '/'") || error.Contains("is the working folder or one of its parents"), error);
        }
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(cwd).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    [Fact]
    public void AnEmptyOutIsRefusedBeforeTheScenarioIsRead()
    {
        CliResult r = Cli.Run("run", "/no/such/scenario.yaml", "--out", "");

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("--out \"\": expected a folder path for the results", Assert.Single(r.Errors));
    }

    [Fact]
    public void ASymbolicLinkAsTheResultFolderIsRefused()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        Directory.CreateDirectory(dir["real"]);
        File.CreateSymbolicLink(dir["link"], dir["real"]);

        CliResult r = Cli.Run("run", scenario, "--out", dir["link"], "--force");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is a symbolic link", Assert.Single(r.Errors));
    }

    [Fact]
    public void APlaceThatCannotBeWrittenIsFoundBeforeAnythingRuns()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        dir.Write("afile", "x");

        // The parent is a file: no folder can be made there (a read-only folder would do too, but not as root).
        CliResult r = Cli.Run("run", scenario, "--out", Path.Combine(dir["afile"], "out"));

        Assert.Equal(3, r.ExitCode);
        Assert.Contains("cannot create the folder", Assert.Single(r.Errors));
        Assert.Equal("", r.Out); // refused before running: no summary table
    }

    [Fact]
    public void ASecondRunOnTheSameFolderIsRefusedAtOnce()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        using (ResultFolder first = ResultFolder.Open(dir["out"], force: false))
        {
            CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

            Assert.Equal(3, r.ExitCode);
            Assert.Contains("another overlaysim run is writing to", Assert.Single(r.Errors));
            Assert.Equal("", r.Out);
        }
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode); // the lock went with the first
        Assert.Equal(["out", "s.yaml"], dir.Entries());
    }

    [Fact]
    public void StagingFoldersOfAKilledRunAreCleanedUpByTheNextRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        Directory.CreateDirectory(dir[".out.partial-999999"]);
        File.WriteAllText(Path.Combine(dir[".out.partial-999999"], "runs.csv"), "trunc");
        Directory.CreateDirectory(dir[".other.partial-999999"]); // another target's: not ours to touch
        File.WriteAllText(dir[".out.lock"], "999999\n");          // a lock file whose holder died (no flock held)

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal([".other.partial-999999", "out", "s.yaml"], dir.Entries());
    }

    [Fact]
    public void FoldersThatOnlyLookLikeStagingAreTheUsersAndLeftAlone()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        // Named like ours, but not a process id's, or holding what OverlaySim never writes: the user's.
        Directory.CreateDirectory(dir[".out.partial-mine"]);
        File.WriteAllText(Path.Combine(dir[".out.partial-mine"], "notes.txt"), "mine");
        Directory.CreateDirectory(dir[".out.partial-123"]);
        File.WriteAllText(Path.Combine(dir[".out.partial-123"], "notes.txt"), "mine");
        Directory.CreateDirectory(dir[".out.old-backup"]);
        File.WriteAllText(Path.Combine(dir[".out.old-backup"], "data.txt"), "mine");
        Directory.CreateDirectory(dir[".out.old-456"]);
        File.WriteAllText(Path.Combine(dir[".out.old-456"], "data.txt"), "mine");

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal([".out.old-456", ".out.old-backup", ".out.partial-123", ".out.partial-mine", "out", "s.yaml"], dir.Entries());
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir[".out.old-456"], "data.txt")));
    }

    [Fact]
    public void AnEmptyTargetIsReplacedWithoutBeingSetAsideAndAnEmptyLeftoverIsCleanedUp()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        Directory.CreateDirectory(dir["out"]);
        Directory.CreateDirectory(dir[".out.old-777"]); // what a kill after moving an empty target aside used to leave

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["out", "s.yaml"], dir.Entries());
    }

    [Fact]
    public void AnUnwritableLockIsNotMistakenForASecondRunAndALongNameIsRefused()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        CliResult r = Cli.Run("run", scenario, "--out", "/proc/overlaysim-results");
        Assert.Equal(3, r.ExitCode);
        Expect.StartsWith("cannot write results beside '/proc/overlaysim-results'", Assert.Single(r.Errors));

        string name = new('é', ResultFolder.MaxNameLength / 2 + 1); // counted in UTF-8 bytes, as the file system does
        r = Cli.Run("run", scenario, "--out", dir[name]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"at most {ResultFolder.MaxNameLength} bytes", Assert.Single(r.Errors));
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    /// <summary>
    /// Valid but pathological: a 1 ms timeout against a 20 ms round trip fires before every answer, each hop retries
    /// beside a request still being served, and the messages multiply. It used to run for minutes into gigabytes;
    /// the engine's bound on pending events stops it in seconds.
    /// </summary>
    [Fact]
    public void ARunWhoseEventsMultiplyIsStoppedWithExit3()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: runaway
            nodes: 50
            duration: 1s
            latency: { model: constant, delay: 10ms }
            workload: { lookups: 10, keys: 100 }
            overlays:
              - chord: { protocol: dynamic, rpc_timeout: 1ms }
            """);
        var clock = Stopwatch.StartNew();

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "-q");

        Assert.True(r.ExitCode == 3, r.ToString());
        Expect.StartsWith("the run was stopped: 4,194,304 events were pending", Assert.Single(r.Errors));
        Assert.Contains("RPC timeout shorter than a round trip", r.Errors[0]);
        Assert.Equal(["s.yaml"], dir.Entries());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    [Fact]
    public void AResultMovedAsideByACommitThatWasCutShortIsPutBack()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q").ExitCode);
        string runs = File.ReadAllText(Path.Combine(dir["out"], "runs.csv"));
        // A process killed between the commit's two renames: the old result aside, the new one still staged.
        Directory.Move(dir["out"], dir[".out.old-999999"]);
        Directory.CreateDirectory(dir[".out.partial-999999"]);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

        Assert.Equal(2, r.ExitCode); // the old result is back, and not replaced without --force
        Assert.Contains("exists and is not empty", Assert.Single(r.Errors));
        Assert.Equal(["out", "s.yaml"], dir.Entries());
        Assert.Equal(runs, File.ReadAllText(Path.Combine(dir["out"], "runs.csv")));
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/dev/null")]
    public void ADeviceIsRefusedAsAScenarioAMatrixAndATrace(string device)
    {
        using var dir = new TempFolder();
        string matrix = dir.Write("m.yaml", $"nodes: 50\nlatency: {{ model: matrix, file: {device} }}\noverlays: [chord]\n");
        string trace = dir.Write("t.yaml", $"nodes: 50\nduration: 1h\nchurn: {{ model: trace, file: {device} }}\noverlays:\n  - chord: {{ protocol: dynamic }}\n");

        foreach (string scenario in new[] { device, matrix, trace })
        {
            CliResult r = Cli.Run("validate", scenario);

            Assert.True(r.ExitCode == 2, $"{scenario}: {r}");
            Assert.Contains($"{device}: ", r.Errors[0]);
            Assert.Contains("is not a regular file", r.Errors[0]);
        }
    }

    [Fact]
    public void AFifoIsRefusedWithoutWaitingForAWriter()
    {
        using var dir = new TempFolder();
        string fifo = dir["s.yaml"];
        using (Process mkfifo = Process.Start("mkfifo", fifo)!) mkfifo.WaitForExit();
        Assert.True(File.Exists(fifo));

        CliResult r = Cli.Run("validate", fifo); // opening a FIFO for reading blocks until someone writes

        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"{fifo}: scenario file is not a regular file (a FIFO, socket or device cannot be read as input)", Assert.Single(r.Errors));
    }

    [Fact]
    public void ADanglingLinkAndAFolderAreNamedForWhatTheyAre()
    {
        using var dir = new TempFolder();
        File.CreateSymbolicLink(dir["s.yaml"], dir["gone.yaml"]);
        Directory.CreateDirectory(dir["rtt"]);
        string matrix = dir.Write("m.yaml", "nodes: 50\nlatency: { model: matrix, file: rtt }\noverlays: [chord]\n");

        CliResult dangling = Cli.Run("validate", dir["s.yaml"]);
        CliResult folder = Cli.Run("validate", matrix);

        Assert.Equal(2, dangling.ExitCode);
        Assert.Equal($"{dir["s.yaml"]}: scenario file is a symbolic link to '{dir["gone.yaml"]}', which does not exist", Assert.Single(dangling.Errors));
        Assert.Equal(2, folder.ExitCode);
        Assert.Contains("latency matrix file is a folder, not a file", Assert.Single(folder.Errors));
    }

    [Fact]
    public void AFileThatNeverEndsALineIsCutOffAtTheLineBound()
    {
        using var dir = new TempFolder();
        dir.Write("trace.csv", new string('1', InputFile.MaxTraceLine + 10));
        string scenario = dir.Write("s.yaml", "nodes: 50\nduration: 1h\nchurn: { model: trace, file: trace.csv }\noverlays:\n  - chord: { protocol: dynamic }\n");

        CliResult r = Cli.Run("validate", scenario);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("line 1 of the churn trace file is longer than 4,096 characters", Assert.Single(r.Errors));
    }

    [Fact]
    public void AScenarioFileLargerThanTheBoundIsRefusedUnread()
    {
        using var dir = new TempFolder();
        string scenario = dir["s.yaml"];
        using (var f = File.Create(scenario)) f.SetLength(InputFile.MaxScenarioBytes + 1);

        CliResult r = Cli.Run("validate", scenario);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("the most OverlaySim reads is 4,194,304", Assert.Single(r.Errors));
    }

    [Fact]
    public void ErrorsEchoNoMegabytesAndNoControlCharactersAndStopAfterAFewScreens()
    {
        using var dir = new TempFolder();
        string huge = new string('x', 1 << 20);
        string many = string.Concat(Enumerable.Range(0, 200).Select(i => $"unknown{i}: 1\n"));
        string scenario = dir.Write("s.yaml", $"nodes: {huge}\n{many}overlays: [chord]\n");

        CliResult r = Cli.Run("validate", scenario, "--set", "description=a\u001b[2Jb", "--set", "seed=1\u0007");

        Assert.Equal(2, r.ExitCode);
        Assert.True(r.Error.Length < 40_000, $"{r.Error.Length} characters of errors");
        Assert.Equal(Diagnostic.MaxReported, r.Errors.Length - 1);
        Assert.Contains("more problems", r.Errors[^1]);
        Assert.Contains(r.Errors, e => e.Contains("xxx…"));
        Assert.DoesNotContain('\u001b', r.Error);
        Assert.DoesNotContain('\u0007', r.Error);
    }
}

/// <summary>
/// Signals, sent to a real child process: SIGTERM (a batch system's time limit) ends a run like Ctrl+C, with its
/// own exit code, and nothing is left behind.
/// </summary>
public class SignalTests
{
    [Theory]
    [InlineData("TERM", 143)]
    [InlineData("INT", 130)]
    public void ASignalStopsTheRunAndLeavesNothingBehind(string signal, int exit)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: long
            nodes: 200000
            latency: { model: constant, delay: 10ms }
            workload: { lookups: 50000000, keys: 1000 }
            overlays: [chord]
            """);
        // Into folders that do not exist yet: the run creates them, and an interrupted run removes them again.
        string parent = dir["new/deeper"];
        var start = ChildCli.Start("run", scenario, "--out", Path.Combine(parent, "out"), "-q");
        using Process p = Process.Start(start)!;
        try
        {
            // Wait until the run holds its folder (the staging folder exists), then signal it.
            var clock = Stopwatch.StartNew();
            bool Staged() => Directory.Exists(parent) && Directory.EnumerateDirectories(parent, ".out.partial-*").Any();
            while (!Staged() && clock.Elapsed < TimeSpan.FromSeconds(60) && !p.HasExited)
                Thread.Sleep(20);
            if (p.HasExited) Assert.Fail("the run ended before it could be signalled: " + p.StandardError.ReadToEnd()); // read only once it has ended
            Thread.Sleep(300);
            Assert.True(ChildCli.Signal(p.Id, signal == "TERM" ? 15 : 2), "kill(2) failed");
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "the run did not stop within 30 s of the signal");
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true); // a failed test leaves no run behind
        }

        Assert.Equal(exit, p.ExitCode);
        Assert.Contains($"interrupted (SIG{signal}): nothing was written", p.StandardError.ReadToEnd());
        Assert.Equal(["s.yaml"], dir.Entries());
    }
}
