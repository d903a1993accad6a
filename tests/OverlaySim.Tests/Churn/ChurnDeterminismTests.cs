using System.Collections;
using System.Globalization;
using System.Text;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Tests.Cli;
using OverlaySim.Tests.Support;
using Xunit;
using static OverlaySim.Tests.Churn.ChurnRuns;

namespace OverlaySim.Tests.Churn;

/// <summary>
/// Determinism holds with churn: the same spec gives the same trace hash and the same results, another replicate
/// gives another run, the workload moves no churn event, and through the command line a churn scenario run twice
/// (with a different number of jobs) writes byte-identical CSV files.
/// </summary>
public class ChurnDeterminismTests
{
    private static ChurnOptions Model(string name) => name switch
    {
        "lifetime" => new ChurnOptions(ChurnKind.Lifetime, LifetimeDistribution.Weibull, SessionMean: 3 * Minute, SessionShape: 0.7, DowntimeMean: 2 * Minute),
        "rate" => new ChurnOptions(ChurnKind.Rate, JoinRate: 1, FailureRate: 1, LeaveFraction: 0.5),
        "mass_failure" => new ChurnOptions(ChurnKind.MassFailure, At: 2 * Minute, FailProbability: 0.4),
        _ => new ChurnOptions(ChurnKind.Trace, Trace: Trace(200, joins: 60, leaves: 30, crashes: 30, rejoins: 10, from: 10 * Second, until: 3 * Minute)),
    };

    private static RunSpec ChurnSpec(string model, int replicate = 0, double perNodeRate = 0.05, Func<Overlay>? overlay = null)
    {
        RunSpec spec = Spec(200, Model(model), duration: 5 * Minute, lookupsFrom: Minute, lookupsUntil: 5 * Minute,
            perNodeRate: perNodeRate, replicate: replicate, sampleEvery: 30 * Second);
        return overlay is null ? spec : spec with { CreateOverlay = overlay };
    }

    /// <summary>Every property of a result, collections element by element, doubles round-trippable.</summary>
    private static string Fingerprint(RunResult r)
    {
        var sb = new StringBuilder();
        foreach (var p in typeof(RunResult).GetProperties())
        {
            object? v = p.GetValue(r);
            sb.Append(p.Name).Append('=');
            if (v is IEnumerable e and not string)
                foreach (object? item in e) sb.Append(Format(item)).Append(';');
            else sb.Append(Format(v));
            sb.Append('\n');
        }
        return sb.ToString();

        static string Format(object? v) => v switch
        {
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => v?.ToString() ?? "null",
        };
    }

    [Theory]
    [InlineData("lifetime")]
    [InlineData("rate")]
    [InlineData("mass_failure")]
    [InlineData("trace")]
    public void TheSameSpecGivesTheSameHashAndResults(string model)
    {
        RunResult one = Experiment.Run(ChurnSpec(model)), two = Experiment.Run(ChurnSpec(model));

        Assert.Equal(one.TraceHash, two.TraceHash);
        Assert.Equal(Fingerprint(one), Fingerprint(two));
        Assert.True(one.Joins + one.Crashes > 0 && one.Lookups > 0 && one.TimeSeries.Count == 10, $"{model}: the run did too little to compare");
    }

    [Theory]
    [InlineData("lifetime")]
    [InlineData("rate")]
    [InlineData("mass_failure")]
    public void AnotherReplicateIsAnotherRun(string model)
    {
        RunResult zero = Experiment.Run(ChurnSpec(model, replicate: 0)), one = Experiment.Run(ChurnSpec(model, replicate: 1));

        Assert.NotEqual(zero.TraceHash, one.TraceHash);
        Assert.NotEqual(zero.LiveNodesMean, one.LiveNodesMean); // the churn itself differs, not only the lookups
    }

    /// <summary>
    /// Churn draws only from its own stream, in the order of its own events: with four times the lookups (whose
    /// messages and timeouts change the protocol's course), the same machines join, leave and crash at the same
    /// microseconds, while the runs differ.
    /// </summary>
    [Theory]
    [InlineData("lifetime")]
    [InlineData("rate")]
    [InlineData("mass_failure")]
    public void TheLookupRateMovesNoChurnEvent(string model)
    {
        ChurnRecorder? few = null, many = null;
        RunResult a = Experiment.Run(ChurnSpec(model, perNodeRate: 0.05, overlay: () => few = new ChurnRecorder(new ChordProtocol(FastChord()))));
        RunResult b = Experiment.Run(ChurnSpec(model, perNodeRate: 0.2, overlay: () => many = new ChurnRecorder(new ChordProtocol(FastChord()))));

        Assert.NotEqual(a.TraceHash, b.TraceHash);
        Assert.NotEmpty(few!.Changes);
        Assert.Equal(few.Changes, many!.Changes);
    }
}

/// <summary>The same churn scenario run twice through the command line writes the same bytes.</summary>
[Collection("Console")]
public class ChurnCliDeterminismTests
{
    // Coordinates latency, lifetime churn with graceful leaves and crashes, a trace-free scenario so that the file
    // stands alone; two replicates so that --jobs 2 runs them at once.
    private const string Scenario = """
        name: churn-determinism
        seed: 3
        nodes: 200
        replicates: 2
        duration: 4min
        measure_after: 1min
        sample_every: 30s
        latency: { model: coordinates, dimensions: 2, mean: 30ms }
        churn: { model: lifetime, distribution: pareto, shape: 2, session_mean: 3min, downtime_mean: 2min, leave_fraction: 0.5 }
        workload: { per_node_rate: 1/20s, duration: 4min, keys: 1000 }
        overlays:
          - chord: { protocol: dynamic, successors: 4, stabilize_every: 5s, fix_fingers_every: 5s, check_predecessor_every: 5s }
        """;

    private static Dictionary<string, byte[]> Run(TempFolder dir, string outName, string jobs)
    {
        string output = dir[outName];
        CliResult r = Cli.Cli.Run("run", dir["s.yaml"], "--out", output, "--quiet", "--jobs", jobs);
        Assert.True(r.ExitCode == 0, r.ToString());
        return new[] { "runs.csv", "timeseries.csv", "hops.csv", "traffic.csv" }
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(output, f)));
    }

    [Fact]
    public void AChurnScenarioRunTwiceWritesTheSameBytes()
    {
        using var dir = new TempFolder();
        dir.Write("s.yaml", Scenario);

        var one = Run(dir, "out1", "1");
        var two = Run(dir, "out2", "2");

        foreach (string file in one.Keys) Assert.True(one[file].SequenceEqual(two[file]), $"{file} differs between the runs");

        string[] runs = Encoding.UTF8.GetString(one["runs.csv"]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] header = runs[0].Split(',');
        Assert.Equal(3, runs.Length);
        foreach (string row in runs.Skip(1))
        {
            string[] cells = row.Split(',');
            Assert.True(long.Parse(cells[Array.IndexOf(header, "joins")], CultureInfo.InvariantCulture) > 0, row);
            Assert.True(long.Parse(cells[Array.IndexOf(header, "crashes")], CultureInfo.InvariantCulture) > 0, row);
        }
        Assert.NotEqual(runs[1].Split(',')[Array.IndexOf(header, "trace_hash")], runs[2].Split(',')[Array.IndexOf(header, "trace_hash")]);
        // 8 rows of 30 s per run over 4 minutes, plus the header.
        Assert.Equal(1 + 2 * 8, Encoding.UTF8.GetString(one["timeseries.csv"]).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
