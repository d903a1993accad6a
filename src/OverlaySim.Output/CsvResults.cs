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
        "events", "trace_hash",
    ];

    public static readonly string[] HopColumns = ["scenario", "overlay", "nodes", "replicate", "hops", "count"];

    private static CsvWriterOptions Options => new() { NewLine = "\n", FormatProvider = CultureInfo.InvariantCulture };

    /// <summary>Swept parameters that are not already a standard column (sweeping <c>nodes</c> adds none).</summary>
    public static IReadOnlyList<string> ExtraColumns(Scenario scenario) =>
        scenario.SweptPaths.Where(p => !RunColumns.Contains(p)).ToList();

    public static void WriteRuns(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs)
    {
        IReadOnlyList<string> extra = ExtraColumns(scenario);
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        using var csv = CsvWriter.Create(writer, Options);
        foreach (string c in RunColumns) csv.WriteField(c);
        foreach (string c in extra) csv.WriteField(c);
        csv.EndRecord();
        foreach (CompletedRun run in runs)
        {
            RunResult r = run.Result;
            PlannedRun p = run.Plan;
            csv.WriteField(p.Point.Name);
            csv.WriteField(p.Overlay.Label);
            csv.WriteField(Int(p.Point.Nodes));
            csv.WriteField(Int(p.Replicate));
            csv.WriteField(Int(p.Point.Seed));
            csv.WriteField(Int(r.Lookups));
            csv.WriteField(Int(r.LookupsOk));
            csv.WriteField(Int(r.LookupsWrong));
            csv.WriteField(Int(r.LookupsFailed));
            csv.WriteField(Real(r.SuccessRate));
            csv.WriteField(Real(r.HopsMean));
            csv.WriteField(Int(r.HopsP1));
            csv.WriteField(Int(r.HopsP50));
            csv.WriteField(Int(r.HopsP99));
            csv.WriteField(Int(r.HopsMax));
            csv.WriteField(r.HasPaperHops ? Real(r.PaperHopsMean) : "");
            csv.WriteField(r.HasPaperHops ? Int(r.PaperHopsP1) : "");
            csv.WriteField(r.HasPaperHops ? Int(r.PaperHopsP99) : "");
            csv.WriteField(Real(r.LatencyMeanMs));
            csv.WriteField(Real(r.LatencyP50Ms));
            csv.WriteField(Real(r.LatencyP99Ms));
            csv.WriteField(Real(r.DegreeMean));
            csv.WriteField(Int(r.DegreeMax));
            csv.WriteField(Real(r.MsgsPerLookup));
            csv.WriteField(Real(r.KeysPerNodeMean));
            csv.WriteField(Int(r.KeysPerNodeP1));
            csv.WriteField(Int(r.KeysPerNodeP99));
            csv.WriteField(Int(r.KeysPerNodeMax));
            csv.WriteField(Real(r.KeysPerNodeZeroFrac));
            csv.WriteField(Int(r.Events));
            csv.WriteField(Hash(r.TraceHash));
            foreach (string c in extra) csv.WriteField(SweptValue(p, c));
            csv.EndRecord();
        }
    }

    /// <summary>
    /// The hop distribution of every run, one row per hop count that occurred. It carries the same extra
    /// swept columns as runs.csv: without them the runs of two sweep points with the same nodes (e.g. a sweep
    /// of workload.keys) could not be told apart.
    /// </summary>
    public static void WriteHops(string path, Scenario scenario, IReadOnlyList<CompletedRun> runs)
    {
        IReadOnlyList<string> extra = ExtraColumns(scenario);
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        using var csv = CsvWriter.Create(writer, Options);
        foreach (string c in HopColumns) csv.WriteField(c);
        foreach (string c in extra) csv.WriteField(c);
        csv.EndRecord();
        foreach (CompletedRun run in runs)
        {
            long[] histogram = run.Result.HopHistogram;
            for (int h = 0; h < histogram.Length; h++)
            {
                if (histogram[h] == 0) continue;
                csv.WriteField(run.Plan.Point.Name);
                csv.WriteField(run.Plan.Overlay.Label);
                csv.WriteField(Int(run.Plan.Point.Nodes));
                csv.WriteField(Int(run.Plan.Replicate));
                csv.WriteField(Int(h));
                csv.WriteField(Int(histogram[h]));
                foreach (string c in extra) csv.WriteField(SweptValue(run.Plan, c));
                csv.EndRecord();
            }
        }
    }

    /// <summary>A run's value of a swept path; empty for an overlay parameter of another overlay than the run's.</summary>
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
