using System.Xml.Linq;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.Statistics;
using OverlaySim.Output;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// <c>overlaysim check</c>: expectations from the scenario, verdicts and their exit code, the statistical mode against
/// Student's t, the JUnit report, golden hashes rewritten in place, and a result folder checked without rerunning.
/// </summary>
[Collection("Console")]
public class CheckTests
{
    /// <summary>Dynamic Chord started converged (its fingers from the global view), so that fingers: 1 breaks its routing.</summary>
    private const string Chord = """
        name: check-test
        seed: 4
        nodes: 512
        duration: 2min
        latency: { model: constant, delay: 5ms }
        workload: { per_node_rate: 1/30s, duration: 2min, keys: 1000 }
        overlays:
          - chord: { protocol: dynamic, successors: 4 }
        expect:
          - { metric: success_rate, at_least: 0.99 }
          - { metric: paper_hops_mean, overlay: chord, near: "0.5 * log2(nodes)", within: 0.5 }
        """;

    [Fact]
    public void AWorkingChordPassesAndOneWithoutFingersFailsWithExitCodeFourAndSaysWhy()
    {
        using var dir = new TempFolder();
        string file = dir.Write("c.yaml", Chord);

        CliResult good = Cli.Run("check", file);
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Contains("2 of 2 expectation(s) passed", good.Out);

        // One finger level: routing walks the successor lists, so paths grow as N / 8 instead of ½·log2 N.
        CliResult broken = Cli.Run("check", file, "--set", "overlays.chord.fingers=1");
        Assert.True(broken.ExitCode == 4, broken.ToString());
        string[] lines = broken.Out.Split('\n');
        int fail = Array.FindIndex(lines, l => l.Contains("FAIL") && l.Contains("paper_hops_mean near 0.5 * log2(nodes) ± 0.5"));
        Assert.True(fail >= 0, broken.Out);
        Assert.Contains("expected 4.5 ± 0.5; measured", lines[fail + 1]);
        Assert.Contains($"is above 5 ({file}:11:5)", lines[fail + 1]);
        Assert.Contains("1 of 2 expectation(s) passed, 1 failed", broken.Out);
    }

    [Fact]
    public void TheJUnitReportHasTheUsualShape()
    {
        using var dir = new TempFolder();
        string file = dir.Write("c.yaml", Chord);
        CliResult r = Cli.Run("check", file, "--set", "overlays.chord.fingers=1", "--junit", dir["report.xml"]);
        Assert.Equal(4, r.ExitCode);

        XElement suites = XDocument.Load(dir["report.xml"]).Root!;
        Assert.Equal("testsuites", suites.Name.LocalName);
        XElement suite = Assert.Single(suites.Elements("testsuite"));
        Assert.Equal("check-test", (string?)suite.Attribute("name"));
        XElement[] cases = suite.Elements("testcase").ToArray();
        Assert.Equal(2, cases.Length);
        Assert.Equal("2", (string?)suite.Attribute("tests"));
        Assert.Equal("1", (string?)suite.Attribute("failures"));
        Assert.Equal("2", (string?)suites.Attribute("tests"));
        Assert.Equal("1", (string?)suites.Attribute("failures"));
        Assert.All(cases, c => Assert.Equal("check-test.chord", (string?)c.Attribute("classname")));
        XElement failure = Assert.Single(cases.SelectMany(c => c.Elements("failure")));
        Assert.StartsWith($"{file}:11:5: ", (string?)failure.Attribute("message"));
        Assert.StartsWith("expected 4.5 ± 0.5, measured ", failure.Value);
        Assert.Null(cases[0].Element("failure"));
    }

    [Fact]
    public void UpdateGoldenRewritesOnlyTheHashValues()
    {
        using var dir = new TempFolder();
        string text = """
            # A golden run: its comments and layout survive --update-golden.
            name: golden
            nodes: 200
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 300, keys: 500 }
            overlays:
              - chord: {}
              - kademlia: {}
            expect:
              - { trace_hash: "0123456789abcdef", overlay: chord }   # quoted
              - overlay: kademlia
                trace_hash: 0123456789abcdef                         # plain
              - { metric: success_rate, at_least: 1 }
            """.Replace("\r\n", "\n");
        string file = dir.Write("g.yaml", text);

        CliResult first = Cli.Run("check", file);
        Assert.Equal(4, first.ExitCode);
        Assert.Contains("2 failed", first.Out);
        CliResult update = Cli.Run("check", file, "--update-golden");
        Assert.True(update.ExitCode == 0, update.ToString());
        string after = File.ReadAllText(file);
        string[] before = text.Split('\n'), now = after.Split('\n');
        Assert.Equal(before.Length, now.Length);
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] == now[i]) continue;
            // Only the 16 hex digits changed, nothing around them.
            Assert.Contains("0123456789abcdef", before[i]);
            int at = before[i].IndexOf("0123456789abcdef", StringComparison.Ordinal);
            Assert.Equal(before[i][..at], now[i][..at]);
            Assert.Equal(before[i][(at + 16)..], now[i][(at + 16)..]);
            Assert.Matches("^[0-9a-f]{16}$", now[i].Substring(at, 16));
        }
        Assert.Equal(2, before.Zip(now).Count(p => p.First != p.Second));
        Assert.Equal(0, Cli.Run("check", file).ExitCode); // and now the golden hashes hold

        // Hashes of runs with overrides are not the file's: writing them is refused, and the file is left alone.
        CliResult overridden = Cli.Run("check", file, "--update-golden", "--set", "nodes=150");
        Assert.Equal(2, overridden.ExitCode);
        Expect.StartsWith("--set nodes=150: --update-golden writes the hashes", Assert.Single(overridden.Errors));
        Assert.Equal(after, File.ReadAllText(file));
    }

    [Fact]
    public void AResultFolderIsCheckedWithoutRerunningAndGivesTheSameVerdicts()
    {
        using var dir = new TempFolder();
        string file = dir.Write("c.yaml", Chord);
        Assert.Equal(0, Cli.Run("run", file, "--out", dir["out"], "-q").ExitCode);
        CliResult fromFolder = Cli.Run("check", file, "--results", dir["out"]);
        CliResult fromRuns = Cli.Run("check", file);
        Assert.Equal(0, fromFolder.ExitCode);
        Assert.Equal(fromRuns.Out, fromFolder.Out);

        // A folder of another scenario (here: other overrides) is refused, not checked against the wrong runs.
        CliResult other = Cli.Run("check", file, "--results", dir["out"], "--set", "seed=9");
        Assert.Equal(2, other.ExitCode);
        Expect.StartsWith($"--results {dir["out"]}: the folder holds the results of other runs: it was run with overrides []", Assert.Single(other.Errors));
    }

    [Theory]
    [InlineData("  - { metric: sucess_rate, at_least: 1 }", "s.yaml:8:15: expect[1]: key 'metric': 'sucess_rate' is not a metric of runs.csv (did you mean 'success_rate'?)")]
    [InlineData("  - { metric: hops_mean, at_most: \"log2(node)\" }", "s.yaml:8:41: expect[1]: unknown parameter 'node' in 'log2(node)' (did you mean 'nodes'?)")]
    [InlineData("  - { metric: hops_mean, at_most: \"2 * (nodes\" }", "s.yaml:8:40: expect[1]: key 'at_most': unclosed '(' in '2 * (nodes'")]
    [InlineData("  - { metric: hops_mean, near: 3, within: 8 percent }", "s.yaml:8:43: expect[1]: key 'within': '8 percent' is not a tolerance")]
    [InlineData("  - { metric: hops_mean, near: 3 }", "s.yaml:8:5: expect[1]: 'near' needs 'within'")]
    [InlineData("  - { metric: rounds_mean, at_most: 3 }", "s.yaml:8:15: expect[1]: key 'metric': no overlay of this scenario reports 'rounds_mean'")]
    [InlineData("  - { metric: hops_mean, overlay: pastry, at_most: 3 }", "s.yaml:8:35: expect[1]: key 'overlay': 'pastry' is not an overlay of this scenario")]
    [InlineData("  - { metric: hops_mean, at_most: 3, confidence: 0.95 }", "s.yaml:8:50: expect[1]: key 'confidence' takes effect only with replicates >= 2")]
    [InlineData("  - { metric: hops_mean, at_most: 3, slope: [0, 1] }", "s.yaml:8:38: expect[1]: 'slope' takes effect only with 'grows_like'")]
    [InlineData("  - hops_mean >= 3", "s.yaml:8:5: expect[1]: expected a mapping")]
    [InlineData("  - { metric: hops_mean, at_most: \"1/0\" }", "s.yaml:8:35: expect[1]: '1/0' is Infinity, not a finite number")]
    [InlineData("  - { metric: hops_mean, between: [2, 0] }", "s.yaml:8:35: expect[1]: between [2, 0] is empty (2 > 0)")]
    public void ABadExpectationIsReportedAtItsPlaceByValidateRunAndCheck(string entry, string message)
    {
        using var dir = new TempFolder();
        string file = dir.Write("s.yaml", $"""
            name: bad
            nodes: 100
            latency: {"{"} model: constant, delay: 5ms {"}"}
            workload: {"{"} lookups: 10, keys: 10 {"}"}
            overlays:
              - chord: {"{"}{"}"}
            expect:
            {entry}
            """);
        foreach (string command in new[] { "validate", "run", "check" })
        {
            CliResult r = command == "run" ? Cli.Run(command, file, "--out", dir["out"]) : Cli.Run(command, file);
            Assert.True(r.ExitCode == 2, $"{command}: {r}");
            Expect.StartsWith(dir.Path + "/" + message, Assert.Single(r.Errors));
            Assert.False(Directory.Exists(dir["out"]));
        }
    }

    [Fact]
    public void AConfidenceBeyondWhatTheTQuantileGivesIsRefusedWhenLoaded()
    {
        using var dir = new TempFolder();
        string file = dir.Write("s.yaml", "nodes: 100\nreplicates: 2\nlatency: { model: constant, delay: 5ms }\nworkload: { lookups: 10, keys: 10 }\noverlays:\n  - chord: {}\nexpect:\n  - { metric: hops_mean, at_most: 9, confidence: 0.9999 }\n");
        CliResult r = Cli.Run("validate", file);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("key 'confidence': expected a probability above 0 and at most 0.999", Assert.Single(r.Errors));
    }

    [Fact]
    public void UpdateGoldenLeavesAHashWrittenWithEscapesAlone()
    {
        using var dir = new TempFolder();
        string text = "nodes: 100\nlatency: { model: constant, delay: 5ms }\nworkload: { lookups: 10, keys: 10 }\noverlays:\n  - chord: {}\nexpect:\n  - { trace_hash: \"\\x30000000000000000\" }\n";
        string file = dir.Write("g.yaml", text);
        CliResult r = Cli.Run("check", file, "--update-golden");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("written with escapes", Assert.Single(r.Errors));
        Assert.Equal(text, File.ReadAllText(file));
    }

    [Fact]
    public void AScenarioWithoutExpectationsIsNothingToCheck()
    {
        using var dir = new TempFolder();
        string file = dir.Write("s.yaml", "nodes: 100\nlatency: { model: constant, delay: 5ms }\nworkload: { lookups: 10, keys: 10 }\noverlays:\n  - chord: {}\n");
        CliResult r = Cli.Run("check", file);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("has no expect: list", Assert.Single(r.Errors));
    }

    /// <summary>
    /// The statistical mode on constructed samples: a comparison fails exactly when the t-interval of the mean lies wholly
    /// outside what is expected. The samples are fed in as the rows of a 5-replicate scenario, no run needed.
    /// </summary>
    [Theory]
    // Mean 4.1, standard deviation 0.158, 95% interval 4.1 ± 2.776 · 0.0707 = [3.904, 4.296].
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "at_least: 4.25", true)]      // the mean is below, the interval reaches it
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "at_least: 4.3", false)]
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "at_most: 3.95", true)]
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "at_most: 3.9", false)]
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "near: 4.5, within: 0.25", true)]
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "near: 4.6, within: 0.25", false)]
    [InlineData(new[] { 4.0, 4.2, 3.9, 4.1, 4.3 }, "near: 4.4, within: 5%", true)]  // [4.18, 4.62]
    [InlineData(new[] { 5.0, 5.0, 5.0, 5.0, 5.0 }, "between: [5, 6]", true)]
    [InlineData(new[] { 5.0, 5.0, 5.0, 5.0, 5.0 }, "between: [5.001, 6]", false)]
    public void TheStatisticalModeFailsOnlyWhenTheTIntervalExcludesTheExpectation(double[] sample, string comparison, bool passes)
    {
        // The interval, independently: mean ± t(0.975, n − 1) · s / √n, with MathNet's statistics.
        double mean = sample.Mean(), s = sample.StandardDeviation();
        double half = StudentT.InvCDF(0, 1, sample.Length - 1, 0.975) * s / Math.Sqrt(sample.Length);
        var (m, h) = Checks.MeanInterval(sample, 0.95);
        Assert.Equal(mean, m, 12);
        Assert.Equal(double.IsNaN(half) ? 0 : half, h, 12);

        using var dir = new TempFolder();
        string file = dir.Write("s.yaml", $$"""
            name: stats
            nodes: 100
            replicates: {{sample.Length}}
            latency: { model: constant, delay: 5ms }
            workload: { lookups: 10, keys: 10 }
            overlays:
              - chord: {}
            expect:
              - { metric: hops_mean, {{comparison}} }
            """);
        Scenario scenario = ScenarioLoader.Load(file);
        ExpectationSet set = Checks.Load(scenario);
        var rows = Runner.Plan(scenario).Select((p, i) => (p, (IReadOnlyDictionary<string, string>)new Dictionary<string, string>
        {
            ["hops_mean"] = sample[i].ToString(System.Globalization.CultureInfo.InvariantCulture),
        })).ToList();
        CheckOutcome outcome = Assert.Single(Checks.Evaluate(scenario, set, rows));
        Assert.True(outcome.Passed == passes, $"{comparison}: mean {mean}, interval [{mean - half}, {mean + half}]: {outcome}");
        if (!passes) Assert.Contains("confidence interval of the mean over 5 replicates lies wholly", outcome.Message);
    }

    [Fact]
    public void TheSlopeOfAFitIsTheLeastSquaresSlopeWithItsStandardError()
    {
        double[] x = [10, 12, 14, 10, 12, 14], y = [4.9, 5.9, 6.8, 4.8, 5.9, 6.9];
        var (slope, se) = Checks.Fit(x, y);
        var (intercept, expectedSlope) = MathNet.Numerics.Fit.Line(x, y);
        Assert.Equal(expectedSlope, slope, 12);
        double sse = x.Zip(y).Sum(p => Math.Pow(p.Second - (intercept + expectedSlope * p.First), 2));
        double sxx = x.Sum(v => Math.Pow(v - x.Average(), 2));
        Assert.Equal(Math.Sqrt(sse / (x.Length - 2) / sxx), se, 12);
    }
}
