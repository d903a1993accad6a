using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>Command-line mistakes other than the scenario file's: --set, --jobs, a bad matrix file, usage.</summary>
[Collection("Console")]
public class OptionTests
{
    [Theory]
    [InlineData("nodes=abc", "key 'nodes'")]
    [InlineData("workload.keys=0", "key 'workload.keys'")]
    [InlineData("overlays.chord.sucessors=4", "did you mean 'overlays.chord.successors'?")]
    [InlineData("nodes", "expected key.path=value")]
    [InlineData("overlays.chord.label=x", "cannot be overridden: an overlay's label names its entry")]
    [InlineData("latency.delay=0.1us", "shorter than the clock's resolution of 1us")]
    public void ABadSetExitsWith2AndWritesNothing(string set, string fragment)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--set", set);

        Assert.Equal(2, r.ExitCode);
        string error = Assert.Single(r.Errors);
        Expect.StartsWith($"--set {set}: ", error);
        Assert.Contains(fragment, error);
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    [Fact]
    public void GoodSetsAreAppliedToTheRun()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--set", "nodes=400", "--set", "workload.lookups=200", "--seed", "99");

        Assert.True(r.ExitCode == 0, r.ToString());
        string[] row = File.ReadAllLines(Path.Combine(dir["out"], "runs.csv"))[1].Split(',');
        string[] header = File.ReadAllLines(Path.Combine(dir["out"], "runs.csv"))[0].Split(',');
        Assert.Equal("400", row[Array.IndexOf(header, "nodes")]);
        Assert.Equal("200", row[Array.IndexOf(header, "lookups")]);
        Assert.Equal("99", row[Array.IndexOf(header, "seed")]);
    }

    [Fact]
    public void ABadMatrixFileExitsWith2AtItsOwnPositionAndWritesNothing()
    {
        using var dir = new TempFolder();
        string matrix = dir.Write("rtt.txt", "0 10 20\n10 0 30\n20 -30 0\n");
        string scenario = dir.Write("s.yaml", SmallScenario.Chord.Replace("{ model: constant, delay: 10ms }", "{ model: matrix, file: rtt.txt }"));

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

        Assert.Equal(2, r.ExitCode);
        string error = Assert.Single(r.Errors);
        Expect.StartsWith($"{matrix}:3:4: negative RTT -30", error);
        Assert.Contains($"named at {scenario}:3:33", error);
        Assert.Equal(["rtt.txt", "s.yaml"], dir.Entries());
    }

    [Theory]
    [InlineData("abc", "--seed abc: expected an integer seed")]
    [InlineData("5", "--seed 5: --seed and --set seed=... are both given; give one")]
    public void ABadSeedIsNamedInPlainWords(string value, string message)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], "--set", " seed = 6", "--seed", value);

        Assert.Equal(2, r.ExitCode);
        Assert.Equal(message, Assert.Single(r.Errors));
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    [Theory]
    [InlineData("--jobs", "0")]
    [InlineData("--jobs", "-3")]
    [InlineData("--jobs", "two")]
    [InlineData("--seed", "-1")]
    [InlineData("--seed", "x")]
    [InlineData("--frobnicate", "1")]
    public void ABadOptionExitsWith2AndWritesNothing(string option, string value)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", SmallScenario.Chord);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"], option, value);

        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.NotEqual("", r.Error);
        Assert.Equal(["s.yaml"], dir.Entries());
    }

    [Theory]
    [InlineData("")]
    [InlineData("frobnicate")]
    [InlineData("run")]
    [InlineData("validate")]
    public void BadUsageExitsWith2(string commandLine)
    {
        CliResult r = Cli.Run(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        Assert.Equal(2, r.ExitCode);
        Assert.NotEqual("", r.Error);
    }
}
