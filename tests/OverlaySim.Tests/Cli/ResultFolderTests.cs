using OverlaySim.Output;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>Where results go: --out or results/NAME/, never over a non-empty folder without --force.</summary>
[Collection("Console")]
public class ResultFolderCliTests
{
    private static readonly string[] ResultFiles = ["figures", "hops.csv", "manifest.json", "runs.csv", "summary.csv", "timeseries.csv", "traffic.csv"];

    private static string[] Files(string folder) =>
        Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void ARunWritesItsResultFilesIntoANewFolder()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = Path.Combine(dir["nested"], "deeper", "out");

        CliResult r = Cli.Run("run", scenario, "--out", output);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ResultFiles, Files(output));
        Assert.Equal(["deeper"], Files(dir["nested"])); // no staging or old folder left beside it
        Assert.Contains("wrote", r.Out);
    }

    [Fact]
    public void ANonEmptyFolderIsRefusedBeforeRunningAndLeftAlone()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = dir["out"];
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");

        CliResult r = Cli.Run("run", scenario, "--out", output);

        Assert.Equal(2, r.ExitCode);
        string error = Assert.Single(r.Errors);
        Expect.StartsWith($"{output}: the result folder exists and is not empty", error);
        Assert.Contains("--force", error);
        Assert.Equal(["notes.txt"], Files(output));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.Equal(["out", "s.yaml"], dir.Entries());
        Assert.Equal("", r.Out); // refused before running: no summary table
    }

    [Fact]
    public void ForceReplacesAPreviousResultFolderWhole()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = dir["out"];
        Assert.Equal(0, Cli.Run("run", scenario, "--out", output, "-q").ExitCode);
        File.WriteAllText(Path.Combine(output, "runs.csv"), "stale");

        CliResult r = Cli.Run("run", scenario, "--out", output, "--force");

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ResultFiles, Files(output));
        Assert.StartsWith("scenario,overlay,", File.ReadAllText(Path.Combine(output, "runs.csv")));
        Assert.Equal(["out", "s.yaml"], dir.Entries());
    }

    [Fact]
    public void ForceNeverReplacesAFolderThatIsNotAResultFolder()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = dir["out"];
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        File.WriteAllText(Path.Combine(output, "runs.csv"), "also mine");

        CliResult r = Cli.Run("run", scenario, "--out", output, "--force");

        Assert.Equal(2, r.ExitCode);
        Expect.StartsWith($"{output}: --force replaces only a previous result folder, and this is not one: it has no manifest.json", Assert.Single(r.Errors));
        Assert.Equal(["notes.txt", "runs.csv"], Files(output));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.Equal(["out", "s.yaml"], dir.Entries());
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void ForceNeverReplacesAResultFolderThatHoldsAFileOfTheUsers()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = dir["out"];
        Assert.Equal(0, Cli.Run("run", scenario, "--out", output, "-q").ExitCode);
        File.WriteAllText(Path.Combine(output, "analysis.ipynb"), "mine");

        CliResult r = Cli.Run("run", scenario, "--out", output, "--force");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("it holds 'analysis.ipynb', which OverlaySim did not write", Assert.Single(r.Errors));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "analysis.ipynb")));
        Assert.Equal(ResultFiles.Append("analysis.ipynb").Order(StringComparer.Ordinal), Files(output));
    }

    [Fact]
    public void AManifestNotWrittenByOverlaySimDoesNotMakeAResultFolder()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        string output = dir["out"];
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "manifest.json"), "{\"name\": \"another tool's\"}");

        CliResult r = Cli.Run("run", scenario, "--out", output, "--force");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("its manifest.json was not written by OverlaySim", Assert.Single(r.Errors));
        Assert.True(File.Exists(Path.Combine(output, "manifest.json")));
    }

    [Fact]
    public void AnEmptyFolderIsUsedWithoutForce()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        Directory.CreateDirectory(dir["out"]);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(ResultFiles, Files(dir["out"]));
    }

    [Fact]
    public void AFileInTheWayIsRefusedEvenWithForce()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);
        File.WriteAllText(dir["out"], "a file");

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--force");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is a file", Assert.Single(r.Errors));
        Assert.Equal("a file", File.ReadAllText(dir["out"]));
    }

    [Fact]
    public void WithoutOutResultsGoToResultsSlashTheScenarioName()
    {
        using var dir = new TempFolder();
        string name = "cli-default-out-" + Guid.NewGuid().ToString("N");
        string scenario = dir.Write("s.yaml", SmallScenario.Chord.Replace($"name: {SmallScenario.Name}", $"name: {name}"));
        string results = Path.Combine(Environment.CurrentDirectory, "results");
        string expected = Path.Combine(results, name);
        try
        {
            CliResult first = Cli.Run("run", scenario);
            CliResult second = Cli.Run("run", scenario);

            Assert.True(first.ExitCode == 0, first.ToString());
            Assert.Equal(ResultFiles, Files(expected));
            Assert.Equal(2, second.ExitCode); // the default folder is protected like any other
        }
        finally
        {
            if (Directory.Exists(expected)) Directory.Delete(expected, recursive: true);
            if (Directory.Exists(results) && !Directory.EnumerateFileSystemEntries(results).Any()) Directory.Delete(results);
        }
    }
}

/// <summary>The atomic folder itself: nothing appears in the target until everything is written.</summary>
public class ResultFolderTests
{
    [Fact]
    public void NothingAppearsUntilCommitAndAnUncommittedFolderLeavesNothing()
    {
        using var dir = new TempFolder();
        string target = dir["out"];

        using (ResultFolder folder = ResultFolder.Open(target, force: false))
        {
            File.WriteAllText(folder.FilePath("runs.csv"), "half");
            Assert.False(Directory.Exists(target));
            Assert.Equal([".out.lock", $".out.partial-{Environment.ProcessId}"], dir.Entries()); // the lock and the hidden staging folder
        }

        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void CommitMovesEveryFileIntoPlace()
    {
        using var dir = new TempFolder();
        string target = dir["out"];

        using (ResultFolder folder = ResultFolder.Open(target, force: false))
        {
            File.WriteAllText(folder.FilePath("a.csv"), "a");
            File.WriteAllText(folder.FilePath("b.csv"), "b");
            folder.Commit();
        }

        Assert.Equal(["out"], dir.Entries());
        Assert.Equal("a", File.ReadAllText(Path.Combine(target, "a.csv")));
        Assert.Equal("b", File.ReadAllText(Path.Combine(target, "b.csv")));
    }

    [Fact]
    public void AFolderFilledWhileRunningIsNotOverwritten()
    {
        using var dir = new TempFolder();
        string target = dir["out"];

        using (ResultFolder folder = ResultFolder.Open(target, force: false))
        {
            File.WriteAllText(folder.FilePath("runs.csv"), "ours");
            Directory.CreateDirectory(target);
            File.WriteAllText(Path.Combine(target, "theirs.txt"), "theirs");

            Assert.Throws<ScenarioException>(() => folder.Commit());
        }

        Assert.Equal(["out"], dir.Entries());
        Assert.Equal(["theirs.txt"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName));
    }
}
