using System.Globalization;
using CsvHelper;
using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// runs.csv and hops.csv. Everything here follows from the scenario and seed alone (no wall time, no memory,
/// no machine names), numbers are written with the invariant culture and at most six decimals, and lines end
/// with '\n', so that the same scenario and seed give byte-identical files on any machine.
/// </summary>
public static class CsvResults
{
    /// <summary>A file with rows of each run: its name, its own columns (between the key columns and the swept ones) and a run's rows of them.</summary>
    /// <remarks>A file whose <paramref name="Applies"/> is false for a scenario is not written for it (nor listed).</remarks>
    public sealed record PerRunFile(string Name, Func<Scenario, IReadOnlyList<string>> Columns, Func<Scenario, CompletedRun, IEnumerable<string[]>> Rows,
        Func<Scenario, bool>? Applies = null)
    {
        public bool AppliesTo(Scenario scenario) => Applies?.Invoke(scenario) ?? true;
    }

    /// <summary>The columns that say which run a row belongs to, first in every per-run file.</summary>
    public static readonly string[] KeyColumns = ["scenario", "overlay", "nodes", "replicate"];

    /// <summary>The columns of runs.csv every run has, after the key columns, with how each is written.</summary>
    private static readonly (string Column, Func<CompletedRun, string> Value)[] Common =
    [
        ("seed", c => Int(c.Plan.Point.Seed)),
        ("lookups", c => Int(c.Result.Lookups)),
        ("lookups_ok", c => Int(c.Result.LookupsOk)),
        ("lookups_wrong", c => Int(c.Result.LookupsWrong)),
        ("lookups_failed", c => Int(c.Result.LookupsFailed)),
        ("success_rate", c => Real(c.Result.SuccessRate)),
        ("hops_mean", c => Real(c.Result.HopsMean)),
        ("hops_p1", c => Int(c.Result.HopsP1)),
        ("hops_p50", c => Int(c.Result.HopsP50)),
        ("hops_p99", c => Int(c.Result.HopsP99)),
        ("hops_max", c => Int(c.Result.HopsMax)),
        ("latency_mean_ms", c => Real(c.Result.LatencyMeanMs)),
        ("latency_p50_ms", c => Real(c.Result.LatencyP50Ms)),
        ("latency_p99_ms", c => Real(c.Result.LatencyP99Ms)),
        ("degree_mean", c => Real(c.Result.DegreeMean)),
        ("degree_max", c => Int(c.Result.DegreeMax)),
        ("msgs_per_lookup", c => Real(c.Result.MsgsPerLookup)),
        ("bytes_per_lookup", c => Real(c.Result.BytesPerLookup)),
        ("keys_per_node_mean", c => c.Result.HasKeysPerNode ? Real(c.Result.KeysPerNodeMean) : ""),
        ("keys_per_node_p1", c => c.Result.HasKeysPerNode ? Int(c.Result.KeysPerNodeP1) : ""),
        ("keys_per_node_p99", c => c.Result.HasKeysPerNode ? Int(c.Result.KeysPerNodeP99) : ""),
        ("keys_per_node_max", c => c.Result.HasKeysPerNode ? Int(c.Result.KeysPerNodeMax) : ""),
        ("keys_per_node_zero_frac", c => c.Result.HasKeysPerNode ? Real(c.Result.KeysPerNodeZeroFrac) : ""),
        ("load_mean", c => Real(c.Result.LoadMean)),
        ("load_p99", c => Real(c.Result.LoadP99)),
        ("load_max", c => Real(c.Result.LoadMax)),
        ("load_max_node_share", c => Real(c.Result.LoadMaxNodeShare)),
        ("timeouts_mean", c => Real(c.Result.TimeoutsMean)),
        ("timeouts_p99", c => Int(c.Result.TimeoutsP99)),
        ("maint_msgs_per_node_s", c => Real(c.Result.MaintMsgsPerNodeS)),
        ("maint_bytes_per_node_s", c => Real(c.Result.MaintBytesPerNodeS)),
        ("keys_lost", c => c.Result.StoresKeys ? Int(c.Result.KeysLost) : ""),
        ("value_found_rate", c => c.Result.StoresKeys ? Real(c.Result.ValueFoundRate) : ""),
        ("lookups_abandoned", c => Int(c.Result.LookupsAbandoned)),
        ("live_nodes_mean", c => Real(c.Result.LiveNodesMean)),
        ("joins", c => Int(c.Result.Joins)),
        ("leaves", c => Int(c.Result.Leaves)),
        ("crashes", c => Int(c.Result.Crashes)),
    ];

    /// <summary>The last common columns, after the overlays' own metrics.</summary>
    private static readonly (string Column, Func<CompletedRun, string> Value)[] Trailer =
    [
        ("events", c => Int(c.Result.Events)),
        ("trace_hash", c => Hash(c.Result.TraceHash)),
    ];

    internal static CsvWriterOptions Options => new() { NewLine = "\n", FormatProvider = CultureInfo.InvariantCulture };

    /// <summary>
    /// The columns of the metrics the scenario's overlays register (Chord's paper_hops, Kademlia's rounds and RPCs), in
    /// the registry's order of overlays and each overlay's order of metrics; empty for a run whose overlay lacks one.
    /// </summary>
    public static IReadOnlyList<string> OverlayMetricColumns(Scenario scenario)
    {
        var used = new HashSet<string>(scenario.Points.SelectMany(p => p.Overlays).Select(o => o.Info.Name), StringComparer.Ordinal);
        var columns = new List<string>();
        foreach (OverlayInfo info in OverlayRegistry.All)
            if (used.Contains(info.Name))
                foreach (OverlayMetric metric in info.Metrics)
                    foreach (MetricColumn column in metric.Columns)
                        if (!columns.Contains(column.Name)) columns.Add(column.Name);
        return columns;
    }

    /// <summary>Every column of runs.csv before the swept parameters: key, common, overlay metrics, events and trace hash.</summary>
    public static IReadOnlyList<string> RunColumns(Scenario scenario) =>
        [.. KeyColumns, .. Common.Select(c => c.Column), .. OverlayMetricColumns(scenario), .. Trailer.Select(c => c.Column)];

    /// <summary>Every column runs.csv can have before the swept parameters, with every registered overlay's metrics.</summary>
    public static IReadOnlyList<string> EveryRunColumn =>
    [
        .. KeyColumns, .. Common.Select(c => c.Column),
        .. OverlayRegistry.All.SelectMany(o => o.Metrics).SelectMany(m => m.Columns).Select(c => c.Name).Distinct(),
        .. Trailer.Select(c => c.Column),
    ];

    /// <summary>Swept parameters that are not already a standard column (sweeping <c>nodes</c> adds none).</summary>
    public static IReadOnlyList<string> ExtraColumns(Scenario scenario)
    {
        IReadOnlyList<string> standard = RunColumns(scenario);
        return scenario.SweptPaths.Where(p => !standard.Contains(p)).ToList();
    }

    /// <summary>runs.csv: one row per run, the columns of <see cref="RunColumns"/> then the swept parameters.</summary>
    public static readonly PerRunFile Runs = new("runs.csv",
        scenario => [.. Common.Select(c => c.Column), .. OverlayMetricColumns(scenario), .. Trailer.Select(c => c.Column)],
        (scenario, run) =>
        {
            IReadOnlyDictionary<string, string> row = RowOf(scenario, run);
            return [[.. Common.Select(c => row[c.Column]), .. OverlayMetricColumns(scenario).Select(m => row[m]), .. Trailer.Select(c => row[c.Column])]];
        });

    /// <summary>The numeric columns of runs.csv that every overlay reports (what an expectation's metric may name, with the overlays' own).</summary>
    public static IReadOnlyList<string> MetricColumns { get; } = [.. Common.Select(c => c.Column).Where(c => c != "seed"), "events"];

    /// <summary>A run's row of runs.csv by column (the common columns, the overlays' own, events and trace hash), as written.</summary>
    public static IReadOnlyDictionary<string, string> RowOf(Scenario scenario, CompletedRun run)
    {
        var row = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (column, value) in Common) row[column] = value(run);
        foreach (string m in OverlayMetricColumns(scenario)) row[m] = run.Result.Metric(m) is double v ? Real(v) : "";
        foreach (var (column, value) in Trailer) row[column] = value(run);
        return row;
    }

    /// <summary>The statistics summary.csv gives of each metric over a point's replicates.</summary>
    public static readonly string[] SummaryStats = ["mean", "sd", "ci95"];

    /// <summary>
    /// summary.csv: one row per sweep point and overlay, in plan order, with the number of replicates and, for every
    /// numeric metric of runs.csv, its mean, sample standard deviation and the half-width of the 95% confidence interval
    /// of the mean by Student's t (n − 1 degrees of freedom). Computed from the values as runs.csv writes them, so it can
    /// be recomputed from runs.csv exactly. With one replicate sd and ci95 are empty: there is no interval to give. A
    /// metric the overlay does not report is empty throughout.
    /// </summary>
    public static void WriteSummary(string path, Scenario scenario, IReadOnlyList<RunRecord> runs)
    {
        string[] metrics = [.. MetricColumns, .. OverlayMetricColumns(scenario)];
        IReadOnlyList<string> extra = ExtraColumns(scenario);
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        using var csv = CsvWriter.Create(writer, Options);
        foreach (string c in (string[])["scenario", "overlay", "nodes", "replicates"]) csv.WriteField(c);
        foreach (string m in metrics)
            foreach (string stat in SummaryStats) csv.WriteField($"{m}_{stat}");
        foreach (string c in extra) csv.WriteField(c);
        csv.EndRecord();
        foreach (var group in runs.GroupBy(r => (r.Plan.Point, r.Plan.Overlay.Label)))
        {
            RunRecord first = group.First();
            csv.WriteField(first.Plan.Point.Name);
            csv.WriteField(first.Plan.Overlay.Label);
            csv.WriteField(Int(first.Plan.Point.Nodes));
            csv.WriteField(Int(group.Count()));
            var rows = group.Select(r => r.RunsRow(scenario)).ToList();
            foreach (string m in metrics)
            {
                var values = new List<double>();
                foreach (IReadOnlyDictionary<string, string> row in rows)
                    if (double.TryParse(row.GetValueOrDefault(m), NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) values.Add(v);
                if (values.Count == 0 || values.Count != rows.Count)
                {
                    foreach (string _ in SummaryStats) csv.WriteField("");
                    continue;
                }
                var (mean, half) = Checks.MeanInterval(values, 0.95);
                csv.WriteField(Real(mean));
                csv.WriteField(values.Count < 2 ? "" : Real(Math.Sqrt(values.Sum(x => (x - mean) * (x - mean)) / (values.Count - 1))));
                csv.WriteField(values.Count < 2 ? "" : Real(half));
            }
            foreach (string c in extra) csv.WriteField(SweptValue(first.Plan, c));
            csv.EndRecord();
        }
    }

    /// <summary>
    /// The columns hops.csv gives beside <c>count</c>: <c>NAME_count</c> for every metric of the scenario's overlays whose
    /// distribution is kept (<see cref="OverlayMetric.Distribution"/>: Chord's paper_hops), in registry order.
    /// </summary>
    public static IReadOnlyList<string> DistributionColumns(Scenario scenario)
    {
        var used = new HashSet<string>(scenario.Points.SelectMany(p => p.Overlays).Select(o => o.Info.Name), StringComparer.Ordinal);
        return OverlayRegistry.All.Where(o => used.Contains(o.Name)).SelectMany(o => o.Metrics).Where(m => m.Distribution)
            .Select(m => m.Name + "_count").Distinct().ToList();
    }

    /// <summary>
    /// hops.csv: the hop-count histogram of every run, one row per value that occurred as a hop count or as one of the
    /// distribution metrics (<see cref="DistributionColumns"/>, empty for an overlay that does not report it).
    /// </summary>
    public static readonly PerRunFile Hops = new("hops.csv", scenario => ["hops", "count", .. DistributionColumns(scenario)], (scenario, run) =>
    {
        long[] histogram = run.Result.HopHistogram;
        IReadOnlyList<string> columns = DistributionColumns(scenario);
        long[]?[] others = columns.Select(c => run.Result.Distributions.FirstOrDefault(d => d.Metric + "_count" == c).Histogram).ToArray();
        int length = Math.Max(histogram.Length, others.Select(o => o?.Length ?? 0).DefaultIfEmpty(0).Max());
        var rows = new List<string[]>();
        for (int h = 0; h < length; h++)
        {
            long Of(long[]? hist) => hist is not null && h < hist.Length ? hist[h] : 0;
            if (Of(histogram) == 0 && others.All(o => Of(o) == 0)) continue;
            rows.Add([Int(h), Int(Of(histogram)), .. others.Select(o => o is null ? "" : Int(Of(o)))]);
        }
        return rows;
    });

    public static readonly string[] TimeSeriesColumns =
        ["time_s", "live_nodes", "lookups_issued", "lookups_finished", "success_rate", "hops_mean", "maint_bytes_per_node_s"];

    /// <summary>timeseries.csv: one row per sampling interval of every run (see <see cref="TimeSample"/>).</summary>
    public static readonly PerRunFile TimeSeries = new("timeseries.csv", _ => TimeSeriesColumns, (_, run) =>
        run.Result.TimeSeries.Select(t => new[]
        {
            Real(t.TimeSeconds), Int(t.LiveNodes), Int(t.LookupsIssued), Int(t.LookupsFinished), Real(t.SuccessRate),
            Real(t.HopsMean), Real(t.MaintBytesPerNodeS),
        }));

    /// <summary>traffic.csv: maintenance messages and bytes of every run by message type, inside the measurement window.</summary>
    public static readonly PerRunFile Traffic = new("traffic.csv", _ => ["message", "msgs", "bytes"], (_, run) =>
        run.Result.TrafficByType.Select(t => new[] { t.Type, Int(t.Messages), Int(t.Bytes) }));

    /// <summary>
    /// zones.csv, for scenarios with an overlay of zones (CAN): every run's zones at the end by volume, the CAN paper's
    /// Fig. 9: volume_log2 = k for zones of volume 2^k·V_T/N, volume = 2^k, how many zones (all realities), the nodes that own them (members, peers included),
    /// and the zones' share of the run's zones.
    /// </summary>
    public static readonly PerRunFile Zones = new("zones.csv", _ => ["volume_log2", "volume", "zones", "members", "zone_share"], (_, run) =>
    {
        IReadOnlyList<ZoneVolumeBin> bins = run.Result.ZoneVolumes;
        long total = bins.Sum(b => b.Zones);
        return bins.Select(b => new[] { Int(b.Log2), Real(Math.ScaleB(1.0, b.Log2)), Int(b.Zones), Int(b.Nodes), Real(total == 0 ? 0 : (double)b.Zones / total) });
    }, scenario => scenario.Points.SelectMany(p => p.Overlays).Any(o => o.Info.HasZones));

    /// <summary>The files with rows of each run, in the order a result folder lists them (summary.csv, derived, comes after runs.csv).</summary>
    public static readonly IReadOnlyList<PerRunFile> PerRunFiles = [Runs, Hops, TimeSeries, Traffic, Zones];

    /// <summary>A per-run file's header: the key columns, the file's own columns, then the swept parameters that are not standard columns.</summary>
    public static IReadOnlyList<string> Header(Scenario scenario, PerRunFile file) =>
        [.. KeyColumns, .. file.Columns(scenario), .. ExtraColumns(scenario)];

    /// <summary>A run's whole rows of a per-run file, as written: key columns, the file's own, the swept parameters.</summary>
    public static IReadOnlyList<string[]> RowsOf(Scenario scenario, PerRunFile file, CompletedRun run)
    {
        IReadOnlyList<string> extra = ExtraColumns(scenario);
        PlannedRun p = run.Plan;
        return file.Rows(scenario, run)
            .Select(row => (string[])[p.Point.Name, p.Overlay.Label, Int(p.Point.Nodes), Int(p.Replicate), .. row, .. extra.Select(c => SweptValue(p, c))])
            .ToList();
    }

    /// <summary>Writes a per-run file: its header, then every run's rows in the order given (plan order).</summary>
    public static void Write(string path, Scenario scenario, PerRunFile file, IReadOnlyList<RunRecord> runs)
    {
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        using var csv = CsvWriter.Create(writer, Options);
        WriteRecord(csv, Header(scenario, file));
        foreach (RunRecord run in runs)
            foreach (string[] row in run.Rows(file.Name))
                WriteRecord(csv, row);
    }

    private static void WriteRecord(CsvWriter csv, IEnumerable<string> fields)
    {
        foreach (string f in fields) csv.WriteField(f);
        csv.EndRecord();
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
