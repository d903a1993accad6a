using OverlaySim.Tests.Cli;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// Bad churn parameters and bad trace files, through the real command line: exit code 2, a first error line
/// <c>FILE:LINE:COL: message</c> at the exact position of the mistake, naming the key (or the trace field) and what
/// was expected, and nothing written: neither the result folder nor a staging folder.
/// </summary>
/// <remarks>Columns are 1-based and were counted by hand; each case says what is there.</remarks>
[Collection("Console")]
public class ChurnScenarioErrorTests
{
    private const string Dynamic = "overlays:\n  - chord: { protocol: dynamic }\n";

    public static TheoryData<string, string, int, int, string[]> Cases => new()
    {
        // name, YAML, line, column, fragments the first error message must hold
        { "misspelled churn model", "nodes: 300\nduration: 10min\nchurn: { model: lifetme }\n" + Dynamic, 3, 17,
            ["key 'churn.model'", "none|lifetime|rate|mass_failure|trace", "did you mean 'lifetime'?"] },
        { "unknown churn model", "nodes: 300\nduration: 10min\nchurn: { model: gnutella }\n" + Dynamic, 3, 17,
            ["key 'churn.model'", "expected one of none|lifetime|rate|mass_failure|trace", "'gnutella'"] },
        { "lifetime parameter under model rate", "nodes: 300\nduration: 10min\nchurn: { model: rate, session_mean: 1h }\n" + Dynamic, 3, 23,
            ["unknown key 'churn.session_mean'", "churn model 'rate'", "expected one of: model, rate, join_rate, failure_rate, leave_fraction"] },
        { "rate parameter under model lifetime", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, join_rate: 1/s }\n" + Dynamic, 3, 27,
            ["unknown key 'churn.join_rate'", "churn model 'lifetime'", "session_mean"] },
        { "mass failure parameter under model trace", "nodes: 300\nduration: 10min\nchurn: { model: trace, probability: 0.5, file: t.csv }\n" + Dynamic, 3, 24,
            ["unknown key 'churn.probability'", "churn model 'trace'", "expected one of: model, file"] },
        { "leave_fraction above 1", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, leave_fraction: 1.5 }\n" + Dynamic, 3, 43,
            ["key 'churn.leave_fraction'", "1.5 is out of range", "0..1"] },
        { "negative leave_fraction", "nodes: 300\nduration: 10min\nchurn: { model: rate, leave_fraction: -0.1 }\n" + Dynamic, 3, 39,
            ["key 'churn.leave_fraction'", "-0.1 is out of range", "0..1"] },
        { "Pareto shape 1", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, distribution: pareto, shape: 1 }\n" + Dynamic, 3, 56,
            ["key 'churn.shape'", "Pareto", "shape > 1"] },
        { "Pareto shape below 1", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, distribution: pareto, shape: 0.5 }\n" + Dynamic, 3, 56,
            ["key 'churn.shape'", "Pareto", "shape > 1"] },
        { "misspelled distribution", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, distribution: paretto }\n" + Dynamic, 3, 41,
            ["key 'churn.distribution'", "exponential|pareto|weibull", "did you mean 'pareto'?"] },
        { "session_mean without unit", "nodes: 300\nduration: 10min\nchurn: { model: lifetime, session_mean: 30 }\n" + Dynamic, 3, 41,
            ["key 'churn.session_mean'", "no unit"] },
        { "join_rate that is not a rate", "nodes: 300\nduration: 10min\nchurn: { model: rate, join_rate: fast }\n" + Dynamic, 3, 34,
            ["key 'churn.join_rate'", "not a rate"] },
        { "probability above 1", "nodes: 300\nduration: 10min\nchurn: { model: mass_failure, probability: 2 }\n" + Dynamic, 3, 44,
            ["key 'churn.probability'", "2 is out of range", "0..1"] },
        { "churn that is not a mapping", "nodes: 300\nduration: 10min\nchurn: 5\n" + Dynamic, 3, 8,
            ["key 'churn'", "expected a mapping"] },
        { "churn without duration", "nodes: 300\nchurn: { model: rate, join_rate: 1/s }\n" + Dynamic, 1, 1,
            ["key 'duration'", "churn model 'rate' needs the run's duration"] },
        { "churn with duration 0", "nodes: 300\nduration: 0\nchurn: { model: lifetime }\n" + Dynamic, 2, 11,
            ["key 'duration'", "churn model 'lifetime' needs the run's duration"] },
        { "churn with protocol static", "nodes: 300\nduration: 10min\nchurn: { model: rate, join_rate: 1/s }\noverlays:\n  - chord: { protocol: static }\n", 5, 5,
            ["overlay 'chord'", "converged (static) model", "cannot follow churn", "protocol: dynamic"] },
        { "churn with the default (static) protocol", "nodes: 300\nduration: 10min\nchurn: { model: mass_failure }\noverlays: [chord]\n", 4, 12,
            ["overlay 'chord'", "cannot follow churn", "protocol: dynamic"] },
        { "measure_after equal to duration", "nodes: 300\nduration: 10min\nmeasure_after: 10min\nchurn: { model: rate, join_rate: 1/s }\n" + Dynamic, 3, 16,
            ["key 'measure_after'", "before the run does (duration)"] },
        { "measure_after past duration", "nodes: 300\nduration: 10min\nmeasure_after: 1h\nchurn: { model: lifetime }\n" + Dynamic, 3, 16,
            ["key 'measure_after'", "before the run does (duration)"] },
        { "trace without file", "nodes: 300\nduration: 10min\nchurn: { model: trace }\n" + Dynamic, 3, 8,
            ["needs key 'churn.file'"] },
        { "trace file not found", "nodes: 300\nduration: 10min\nchurn: { model: trace, file: nope.csv }\n" + Dynamic, 3, 30,
            ["key 'churn.file'", "'nope.csv' not found"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RunReportsTheChurnMistakeWhereItIsAndWritesNothing(string what, string yaml, int line, int column, string[] fragments)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", yaml);
        string output = dir["out"];

        CliResult r = Cli.Cli.Run("run", scenario, "--out", output);

        Assert.True(r.ExitCode == 2, $"{what}: {r}");
        Assert.NotEmpty(r.Errors);
        Expect.StartsWith($"{scenario}:{line}:{column}: ", r.Errors[0]);
        foreach (string f in fragments) Assert.Contains(f, r.Errors[0]);
        Assert.False(Directory.Exists(output), $"{what}: the result folder was created");
        Assert.Equal(["s.yaml"], dir.Entries());
        Assert.Equal("", r.Out);

        CliResult v = Cli.Cli.Run("validate", scenario);
        Assert.True(v.ExitCode == 2, $"{what} (validate): {v}");
        Assert.Equal(r.Errors[0], v.Errors[0]);
    }

    // Lines 1-2 of every trace are good; the mistake is on the line given.
    public static TheoryData<string, string, int, int, string[]> TraceCases => new()
    {
        // name, trace, line, column, fragments
        { "too few fields", "time, node, event\n10, 3, crash\n20, 4\n", 3, 1, ["expected 3 fields 'time, node, event', found 2"] },
        { "too many fields", "10, 3, crash\n20, 4, join, now\n", 2, 1, ["expected 3 fields", "found 4"] },
        { "time that is not a time", "10, 3, crash\nsoon, 4, join\n", 2, 1, ["time", "'soon' is not a duration"] },
        { "time with leading blanks", "10, 3, crash\n  soon, 4, join\n", 2, 3, ["time", "'soon' is not a duration"] },
        { "negative time in seconds", "10, 3, crash\n-5, 4, join\n", 2, 1, ["time '-5'", ">= 0"] },
        { "time that is not a number", "10, 3, crash\nNaN, 4, join\n", 2, 1, ["time 'NaN'", "finite"] },
        { "time going backwards", "10, 3, crash\n20s, 4, join\n15, 5, join\n", 3, 1, ["time 15 goes back in time", "sort the trace by time"] },
        { "time going backwards across units", "10, 3, crash\n2min, 4, join\n1.5e1, 3, join\n", 3, 1, ["time 1.5e1 goes back in time"] },
        { "negative node index", "10, 3, crash\n20, -1, join\n", 2, 5, ["node '-1' is not a machine index", "whole number >= 0"] },
        { "node index that is a word", "10, 3, crash\n20, x, join\n", 2, 5, ["node 'x' is not a machine index"] },
        { "fractional node index", "10, 3, crash\n20, 1.5, join\n", 2, 5, ["node '1.5' is not a machine index"] },
        { "node index past int", "10, 3, crash\n20, 99999999999, join\n", 2, 5, ["node '99999999999' is not a machine index"] },
        { "node index past the largest ring", "10, 3, crash\n20, 2000000000, join\n", 2, 5, ["node 2000000000", "out of range", "0..99999999"] },
        { "misspelled event", "10, 3, crash\n20, 4, jion\n", 2, 8, ["event 'jion' is not join, leave or crash"] },
        { "capitalised event", "10,3,crash\n20,4,Join\n", 2, 6, ["event 'Join' is not join, leave or crash"] },
        { "event among blanks", "10, 3, crash\n 20 , 4 , fail\n", 2, 11, ["event 'fail' is not join, leave or crash"] },
    };

    [Theory]
    [MemberData(nameof(TraceCases))]
    public void ATraceFileMistakeIsReportedInTheTraceAndNothingIsWritten(string what, string trace, int line, int column, string[] fragments)
    {
        using var dir = new TempFolder();
        string traceFile = dir.Write("t.csv", trace);
        string scenario = dir.Write("s.yaml", "nodes: 300\nduration: 10min\nchurn: { model: trace, file: t.csv }\n" + Dynamic);
        string output = dir["out"];

        CliResult r = Cli.Cli.Run("run", scenario, "--out", output);

        Assert.True(r.ExitCode == 2, $"{what}: {r}");
        Assert.NotEmpty(r.Errors);
        Expect.StartsWith($"{traceFile}:{line}:{column}: ", r.Errors[0]);
        foreach (string f in fragments) Assert.Contains(f, r.Errors[0]);
        Assert.EndsWith($"(churn trace named at {scenario}:3:30)", r.Errors[0]); // where the scenario names the file
        Assert.False(Directory.Exists(output), $"{what}: the result folder was created");
        Assert.Equal(["s.yaml", "t.csv"], dir.Entries());
        Assert.Equal("", r.Out);
    }

    /// <summary>The mistakes above are mistakes: the same file with them corrected runs (a header, comments, units).</summary>
    [Fact]
    public void AGoodTraceRuns()
    {
        using var dir = new TempFolder();
        dir.Write("t.csv", "time, node, event\n# machine 3 crashes, a new machine joins\n10, 3, crash\n\n20s, 300, join\n1.5min, 4, leave\n 2min , 3 , join\n");
        string scenario = dir.Write("s.yaml", "nodes: 50\nduration: 3min\nworkload: { lookups: 100 }\nchurn: { model: trace, file: t.csv }\n" + Dynamic);

        CliResult r = Cli.Cli.Run("run", scenario, "--out", dir["out"], "--quiet");

        Assert.True(r.ExitCode == 0, r.ToString());
        string[] runs = File.ReadAllLines(Path.Combine(dir["out"], "runs.csv"));
        string[] header = runs[0].Split(','), row = runs[1].Split(',');
        Assert.Equal(("2", "1", "1"), (row[Array.IndexOf(header, "joins")], row[Array.IndexOf(header, "leaves")], row[Array.IndexOf(header, "crashes")]));
    }
}
