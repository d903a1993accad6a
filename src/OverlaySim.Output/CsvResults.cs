using System.Globalization;
using CsvHelper;
using OverlaySim.Core;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// runs.csv and hops.csv. Everything here follows from the scenario and seed alone (no wall time, no memory,
/// no machine names), numbers are written with the invariant culture and at most six decimals, and lines end
/// with '\n', so that the same scenario and seed give byte-identical files on any machine.
/// </summary>
public static class CsvResults
{
    public static readonly string[] RunColumns =
    [
        "scenario", "overlay", "nodes", "replicate", "seed", "lookups", "lookups_ok", "lookups_wrong", "lookups_failed",
        "success_rate", "hops_mean", "hops_p1", "hops_p50", "hops_p99", "hops_max",
        "paper_hops_mean", "paper_hops_p1", "paper_hops_p99",
        "latency_mean_ms", "latency_p50_ms", "latency_p99_ms", "degree_mean", "degree_max", "msgs_per_lookup",
        "keys_per_node_mean", "keys_per_node_p1", "keys_per_node_p99", "keys_per_node_max", "keys_per_node_zero_frac",
        "timeouts_mean", "timeouts_p99", "maint_msgs_per_node_s", "maint_bytes_per_node_s", "keys_lost", "value_found_rate",
        "lookups_abandoned", "live_nodes_mean", "joins", "leaves", "crashes", "rounds_mean", "rpcs_per_lookup",
        "events", "trace_hash",
    ];

    public static readonly string[] HopColumns = ["scenario", "overlay", "nodes", "replicate", "hops", "count"];

    private static CsvWriterOptions Options => new() { NewLine = "\n", FormatProvider = CultureInfo.InvariantCulture };

    /// <summary>Swept parameters that are not already a standard column (sweeping <c>nodes</c> adds none).</summary>
    public static IReadOnlyList<string> ExtraColumns(Scenario scenario) =>
        scenario.SweptPaths.Where(p => !RunColumns.Contains(p)).ToList();

    /// <summary>runs.csv: one row per run, the columns of <see cref="RunColumns"/> then the swept parameters.</summary>
    public static void WriteRuns(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs) =>
        WritePerRun(path, scenario, runs, RunColumns[4..], run => [RunRow(run)]);

    private static string[] RunRow(CompletedRun run)
    {
        RunResult r = run.Result;
        return
        [
            Int(run.Plan.Point.Seed),
            Int(r.Lookups),
            Int(r.LookupsOk),
            Int(r.LookupsWrong),
            Int(r.LookupsFailed),
            Real(r.SuccessRate),
            Real(r.HopsMean),
            Int(r.HopsP1),
            Int(r.HopsP50),
            Int(r.HopsP99),
            Int(r.HopsMax),
            r.HasPaperHops ? Real(r.PaperHopsMean) : "",
            r.HasPaperHops ? Int(r.PaperHopsP1) : "",
            r.HasPaperHops ? Int(r.PaperHopsP99) : "",
            Real(r.LatencyMeanMs),
            Real(r.LatencyP50Ms),
            Real(r.LatencyP99Ms),
            Real(r.DegreeMean),
            Int(r.DegreeMax),
            Real(r.MsgsPerLookup),
            Real(r.KeysPerNodeMean),
            Int(r.KeysPerNodeP1),
            Int(r.KeysPerNodeP99),
            Int(r.KeysPerNodeMax),
            Real(r.KeysPerNodeZeroFrac),
            Real(r.TimeoutsMean),
            Int(r.TimeoutsP99),
            Real(r.MaintMsgsPerNodeS),
            Real(r.MaintBytesPerNodeS),
            r.StoresKeys ? Int(r.KeysLost) : "",
            r.StoresKeys ? Real(r.ValueFoundRate) : "",
            Int(r.LookupsAbandoned),
            Real(r.LiveNodesMean),
            Int(r.Joins),
            Int(r.Leaves),
            Int(r.Crashes),
            r.HasRounds ? Real(r.RoundsMean) : "",
            r.HasRounds ? Real(r.RpcsPerLookup) : "",
            Int(r.Events),
            Hash(r.TraceHash),
        ];
    }

    public static void WriteHops(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs) =>
        WritePerRun(path, scenario, runs, ["hops", "count"], run =>
        {
            long[] histogram = run.Result.HopHistogram;
            var rows = new List<string[]>();
            for (int h = 0; h < histogram.Length; h++)
                if (histogram[h] != 0) rows.Add([Int(h), Int(histogram[h])]);
            return rows;
        });

    public static readonly string[] TimeSeriesColumns =
        ["time_s", "live_nodes", "lookups_issued", "lookups_finished", "success_rate", "hops_mean", "maint_bytes_per_node_s"];

    /// <summary>timeseries.csv: one row per sampling interval of every run (see <see cref="TimeSample"/>).</summary>
    public static void WriteTimeSeries(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs) =>
        WritePerRun(path, scenario, runs, TimeSeriesColumns, run => run.Result.TimeSeries.Select(t => new[]
        {
            Real(t.TimeSeconds), Int(t.LiveNodes), Int(t.LookupsIssued), Int(t.LookupsFinished), Real(t.SuccessRate),
            Real(t.HopsMean), Real(t.MaintBytesPerNodeS),
        }));

    /// <summary>traffic.csv: maintenance messages and bytes of every run by message type, inside the measurement window.</summary>
    public static void WriteTraffic(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs) =>
        WritePerRun(path, scenario, runs, ["message", "msgs", "bytes"], run =>
            run.Result.TrafficByType.Select(t => new[] { t.Type, Int(t.Messages), Int(t.Bytes) }));

    /// <summary>
    /// A per-run detail file: the run's key columns (scenario, overlay, nodes, replicate), the file's own columns,
    /// then the swept parameters that are not standard columns, as in runs.csv.
    /// </summary>
    private static void WritePerRun(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs, string[] columns,
        Func<CompletedRun, IEnumerable<string[]>> rows)
    {
        IReadOnlyList<string> extra = ExtraColumns(scenario);
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        using var csv = CsvWriter.Create(writer, Options);
        foreach (string c in HopColumns[..4]) csv.WriteField(c);
        foreach (string c in columns) csv.WriteField(c);
        foreach (string c in extra) csv.WriteField(c);
        csv.EndRecord();
        foreach (CompletedRun run in runs)
        {
            foreach (string[] row in rows(run))
            {
                csv.WriteField(run.Plan.Point.Name);
                csv.WriteField(run.Plan.Overlay.Label);
                csv.WriteField(Int(run.Plan.Point.Nodes));
                csv.WriteField(Int(run.Plan.Replicate));
                foreach (string f in row) csv.WriteField(f);
                foreach (string c in extra) csv.WriteField(SweptValue(run.Plan, c));
                csv.EndRecord();
            }
        }
    }

    /// <summary>A swept parameter's value for this run; empty for another overlay's parameter.</summary>
    private static string SweptValue(PlannedRun p, string column)
    {
        string value = "";
        foreach (var kv in p.Point.Swept)
            if (kv.Key == column && (!column.StartsWith("overlays.", StringComparison.Ordinal) || column.StartsWith($"overlays.{p.Overlay.Label}.", StringComparison.Ordinal)))
                value = kv.Value;
        return value;
    }

    public static string Hash(ulong h) => h.ToString("x16", CultureInfo.InvariantCulture);

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Real(double v) => v.ToString("0.######", CultureInfo.InvariantCulture);
}
