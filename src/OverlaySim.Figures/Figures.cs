using System.Globalization;
using System.Text.Json;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Figures;

/// <summary>One line of a figure: its points (and their 95% half-widths, when there are replicates).</summary>
/// <param name="Color">Index of the overlay's colour and marker, the same in every figure of a result folder.</param>
/// <param name="Theory">A theory curve (drawn dashed, without markers), stated in its label.</param>
/// <param name="PointsOnly">Drawn as markers without a line (a scatter of settings, not a curve).</param>
public sealed record Series(string Label, double[] X, double[] Y, double[]? Error, int Color, bool Theory = false, bool PointsOnly = false);

/// <summary>What one figure shows, before it is drawn: the plotting model, which the tests compare with the CSV files.</summary>
/// <param name="Name">File name without extension, e.g. <c>hops_mean-vs-nodes</c>.</param>
/// <param name="LogX">Whether the x axis is logarithmic (network sizes).</param>
/// <param name="XCategories">For a swept parameter that is not a number (a replication strategy): the value at x = 0, 1, ...</param>
public sealed record Figure(string Name, string Title, string XLabel, string YLabel, bool LogX, IReadOnlyList<Series> Series,
    IReadOnlyList<string>? XCategories = null);

/// <summary>
/// The figures a result folder's files call for: each plotted metric against each swept parameter (one line per overlay,
/// error bars of the 95% interval with replicates, theory curves where an overlay has one), the hop-count distribution
/// (PDF and CDF) per overlay, and the time series of the first run of each overlay when the runs have one.
/// </summary>
public static class FigureSet
{
    /// <summary>The metrics drawn against each swept parameter, with their axis labels.</summary>
    private static readonly (string Column, string Label)[] Plotted =
    [
        ("hops_mean", "hops (mean)"),
        ("paper_hops_mean", "path length, Chord paper (mean)"),
        ("latency_mean_ms", "lookup latency (ms, mean)"),
        ("success_rate", "success rate"),
        ("msgs_per_lookup", "messages per lookup"),
        ("load_max_node_share", "busiest machine's share of messages"),
        ("maint_bytes_per_node_s", "maintenance (bytes per node per s)"),
        ("rpcs_per_lookup", "RPCs per lookup"),
        ("visited_mean", "nodes a query reached (mean)"),
        ("queue_delay_mean_ms", "wait in the index server's queue (ms, mean)"),
        ("server_utilisation", "index server utilisation"),
        ("keys_per_node_p99", "keys per node (p99)"),
        ("load_p99", "messages per lookup at a machine (p99)"),
    ];

    /// <summary>The files a folder must hold to be drawn.</summary>
    public static readonly string[] Needs = ["manifest.json", "summary.csv", "hops.csv"];

    /// <summary>A sweep point as the manifest records it: its swept values and every parameter resolved (for theory curves).</summary>
    public sealed record PointParameters(IReadOnlyDictionary<string, string> Swept, IReadOnlyList<KeyValuePair<string, string>> Resolved);

    /// <summary>Reads a result folder and returns its figures; a folder that is not one (or lacks a file) is a <see cref="ScenarioException"/>.</summary>
    public static IReadOnlyList<Figure> From(string folder)
    {
        Origin at = Origin.FromCommandLine(folder);
        if (!Directory.Exists(folder)) throw new ScenarioException(at, "no such folder (expected a result folder written by 'overlaysim run')");
        if (ResultFolder.NotAResultFolder(folder) is { } why) throw new ScenarioException(at, $"is not a result folder: {why}");
        if (File.Exists(Path.Combine(folder, Sweep.FileName)))
            throw new ScenarioException(at, "is a shard folder (run records of one shard of a sweep): merge the shards with 'overlaysim merge' and draw the merged folder");
        foreach (string f in Needs)
            if (!File.Exists(Path.Combine(folder, f)))
                throw new ScenarioException(at, $"is not a result folder of this version: it has no {f} (expected the files 'overlaysim run' writes: {string.Join(", ", Needs)} ...)");
        var (swept, overlayOf, points, plots) = ReadManifest(Path.Combine(folder, "manifest.json"), at);
        foreach (string f in (string[])["summary.csv", "hops.csv", "timeseries.csv"])
            if (File.Exists(Path.Combine(folder, f))) InputFile.Check(Path.Combine(folder, f), f, 4L << 30);
        try
        {
            return Build(folder, swept, overlayOf, points, plots);
        }
        catch (Exception e) when (e is FormatException or OverflowException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new ScenarioException(at, $"its files cannot be read as OverlaySim results ({e.Message}); rerun the scenario to write them again");
        }
    }

    /// <summary>
    /// The figures of the CSV files in <paramref name="folder"/> (summary.csv, hops.csv, timeseries.csv), given what the
    /// manifest records: the swept paths, which overlay each label runs, the points' parameters, and the scenario's own
    /// figures (<c>plots:</c>), drawn first.
    /// </summary>
    public static IReadOnlyList<Figure> Build(string folder, IReadOnlyList<string> swept, IReadOnlyDictionary<string, string> overlayOf,
        IReadOnlyList<PointParameters>? points = null, IReadOnlyList<PlotSpec>? plots = null)
    {
        List<Dictionary<string, string>> summary = CsvTable.Read(Path.Combine(folder, "summary.csv"));
        string[] labels = summary.Select(r => r["overlay"]).Distinct().ToArray();
        int ColorOf(string label) => Array.IndexOf(labels, label);

        var figures = new List<Figure>();
        // x axes: every swept path, and the network size when it varies (sweeping nodes makes it the column 'nodes').
        var axes = swept.Where(p => p != "nodes").ToList();
        if (summary.Select(r => r["nodes"]).Distinct().Count() > 1) axes.Insert(0, "nodes");

        // One figure per value of the other swept parameters (a panel each), one line per overlay in it; a parameter that
        // is not a number (popularity, a replication strategy) is drawn at x = 0, 1, ... in sweep order.
        // theory(label, row): the curve's value for that overlay at that point, or null; theoryLabel(label): its legend.
        void Against(string x, string column, string name, string title, string yLabel, bool logX, string? overlay,
            Func<string, Dictionary<string, string>, double?>? theory, Func<string, string?>? theoryLabel)
        {
            string others(Dictionary<string, string> r) => string.Join(", ", axes.Where(a => a != x && Cell(r, a).Length > 0).Select(a => $"{Short(a)}={Cell(r, a)}"));
            string[] values = summary.Select(r => Cell(r, x)).Where(v => v.Length > 0).Distinct().ToArray();
            string[]? categories = values.All(v => Number(v) is not null) ? null : values;
            double? X(Dictionary<string, string> r) => categories is null ? Number(Cell(r, x)) : Array.IndexOf(categories, Cell(r, x)) is int i and >= 0 ? i : null;
            foreach (var panel in summary.Where(r => Cell(r, column + "_mean").Length > 0 && X(r) is not null && (overlay is null || r["overlay"] == overlay)).GroupBy(others))
            {
                var series = new List<Series>();
                foreach (var group in panel.GroupBy(r => r["overlay"]))
                {
                    var rows = group.OrderBy(r => X(r)!.Value).ToList();
                    double[] xs = rows.Select(r => X(r)!.Value).ToArray();
                    double[] ys = rows.Select(r => Number(r[column + "_mean"])!.Value).ToArray();
                    double[]? err = rows.All(r => Cell(r, column + "_ci95").Length > 0) ? rows.Select(r => Number(r[column + "_ci95"])!.Value).ToArray() : null;
                    series.Add(new Series(group.Key, xs, ys, err, ColorOf(group.Key)));
                    if (theory is not null && theoryLabel?.Invoke(group.Key) is { } curve && rows.Select(r => theory(group.Key, r)).ToArray() is var ty && ty.All(v => v is not null))
                        series.Add(new Series($"{group.Key}: {curve}", xs, ty.Select(v => v!.Value).ToArray(), null, ColorOf(group.Key), Theory: true));
                }
                if (series.Count == 0) continue;
                string at = panel.Key.Length > 0 ? $" ({panel.Key})" : "";
                string suffix = panel.Key.Length > 0 ? "@" + SafeName(panel.Key.Replace(", ", ",")) : "";
                figures.Add(new Figure(name + suffix, title + at, x == "nodes" ? "nodes (N)" : Short(x) + Unit(values), yLabel, logX && categories is null, series, categories));
            }
        }

        // The scenario's own figures, with their theory evaluated at each point's parameters.
        foreach (PlotSpec spec in plots ?? [])
        {
            Func<string, Dictionary<string, string>, double?>? theory = null;
            if (spec.Theory is not null && points is not null)
            {
                Expression e = Expression.Parse(spec.Theory);
                theory = (label, row) =>
                {
                    PointParameters? p = points.FirstOrDefault(p => p.Swept.All(kv => Cell(row, kv.Key).Length == 0 || Cell(row, kv.Key) == kv.Value));
                    if (p is null) return null;
                    try { return e.Evaluate(n => Expectations.Parameter(p.Resolved, label, n) ?? throw new KeyNotFoundException(n)); }
                    catch (KeyNotFoundException) { return null; }
                };
            }
            Against(spec.X, spec.Y, spec.Name, spec.Title ?? $"{spec.Y} against {Short(spec.X)}", spec.YLabel ?? spec.Y, spec.LogX, spec.Overlay, theory, _ => spec.TheoryLabel);
        }

        // The standard figures (one the scenario names itself takes its place); against the network size, each overlay's
        // theory curve where it has one.
        foreach (string x in axes)
            foreach (var (column, yLabel) in Plotted)
            {
                if (!summary.Any(r => Cell(r, column + "_mean").Length > 0)) continue;
                Against(x, column, $"{column}-vs-{Short(x)}", $"{yLabel} against {Short(x)}", yLabel, x == "nodes", null,
                    x != "nodes" ? null : (label, row) => Theory.For(overlayOf.GetValueOrDefault(label, ""), column) is { } t && Number(Cell(row, "nodes")) is double n ? t.Curve(n) : null,
                    label => Theory.For(overlayOf.GetValueOrDefault(label, ""), column)?.Label);
            }

        // Cost against performance (Li et al.'s presentation of DHTs under churn): one point per sweep point and
        // overlay, maintenance bytes per node per second against mean latency and against the failure rate.
        if (summary.Count >= 2 && summary.Any(r => Number(Cell(r, "maint_bytes_per_node_s_mean")) is > 0))
            foreach (var (column, yLabel, name) in new[] { ("latency_mean_ms", "lookup latency (ms, mean)", "cost-vs-latency"), ("success_rate", "failure rate (1 − success)", "cost-vs-failure") })
            {
                var series = new List<Series>();
                foreach (var group in summary.Where(r => Number(Cell(r, "maint_bytes_per_node_s_mean")) is not null && Number(Cell(r, column + "_mean")) is not null).GroupBy(r => r["overlay"]))
                {
                    double[] xs = group.Select(r => Number(r["maint_bytes_per_node_s_mean"])!.Value).ToArray();
                    double[] ys = group.Select(r => Number(r[column + "_mean"])!.Value).Select(v => column == "success_rate" ? 1 - v : v).ToArray();
                    series.Add(new Series(group.Key, xs, ys, null, ColorOf(group.Key), PointsOnly: true));
                }
                figures.Add(new Figure(name, $"{yLabel} against maintenance cost", "maintenance (bytes per node per s)", yLabel, false, series));
            }

        // The hop-count distribution of each overlay, over all its runs at one sweep point (the last, e.g. the largest).
        List<Dictionary<string, string>> hops = CsvTable.Read(Path.Combine(folder, "hops.csv"));
        string lastPoint = summary.Count == 0 ? "" : PointKey(summary[^1], axes);
        var pdf = new List<Series>();
        var cdf = new List<Series>();
        foreach (string label in labels)
        {
            var counts = new SortedDictionary<int, long>();
            foreach (var row in hops.Where(r => r["overlay"] == label && PointKey(r, axes) == lastPoint))
            {
                int h = int.Parse(row["hops"], CultureInfo.InvariantCulture);
                counts[h] = counts.GetValueOrDefault(h) + long.Parse(row["count"], CultureInfo.InvariantCulture);
            }
            if (counts.Count == 0) continue;
            double total = counts.Values.Sum();
            double[] xs = counts.Keys.Select(k => (double)k).ToArray();
            double[] p = counts.Values.Select(c => c / total).ToArray();
            double running = 0;
            pdf.Add(new Series(label, xs, p, null, ColorOf(label)));
            cdf.Add(new Series(label, xs, p.Select(v => running += v).ToArray(), null, ColorOf(label)));
        }
        string at_ = lastPoint.Length > 0 ? $" ({lastPoint})" : "";
        if (pdf.Count > 0)
        {
            figures.Add(new Figure("hops-pdf", "hop count distribution" + at_, "hops", "share of lookups", false, pdf));
            figures.Add(new Figure("hops-cdf", "hop count CDF" + at_, "hops", "share of lookups with at most this many hops", false, cdf));
        }

        // Zones by volume (CAN), at the same sweep point: the CAN paper's Fig. 9.
        string zonesFile = Path.Combine(folder, "zones.csv");
        if (File.Exists(zonesFile))
        {
            var volumes = new List<Series>();
            foreach (string label in labels)
            {
                var counts = new SortedDictionary<int, long>();
                foreach (var row in CsvTable.Read(zonesFile).Where(r => r["overlay"] == label && PointKey(r, axes) == lastPoint))
                {
                    int k = int.Parse(row["volume_log2"], CultureInfo.InvariantCulture);
                    counts[k] = counts.GetValueOrDefault(k) + long.Parse(row["zones"], CultureInfo.InvariantCulture);
                }
                if (counts.Count == 0) continue;
                double total = counts.Values.Sum();
                volumes.Add(new Series(label, counts.Keys.Select(k => (double)k).ToArray(), counts.Values.Select(c => c / total).ToArray(), null, ColorOf(label)));
            }
            if (volumes.Count > 0)
                figures.Add(new Figure("zone-volumes", "zones by volume" + at_, "zone volume (log2 of V_T/N)", "share of zones", false, volumes));
        }

        // Time series: the first run of each overlay, when the runs sampled one.
        string ts = Path.Combine(folder, "timeseries.csv");
        if (File.Exists(ts))
        {
            // Only the first run of each overlay is drawn: the others are not kept while the file is read.
            var firstRun = new Dictionary<string, (string Point, string Replicate)>(StringComparer.Ordinal);
            List<Dictionary<string, string>> rows = CsvTable.Read(ts, r =>
            {
                if (!firstRun.TryGetValue(r["overlay"], out var run)) firstRun[r["overlay"]] = run = (PointKey(r, axes), r["replicate"]);
                return PointKey(r, axes) == run.Point && r["replicate"] == run.Replicate;
            });
            foreach (var (column, yLabel) in new[] { ("success_rate", "success rate"), ("live_nodes", "live nodes"), ("maint_bytes_per_node_s", "maintenance (bytes per node per s)") })
            {
                var series = new List<Series>();
                foreach (string label in labels)
                {
                    var mine = rows.Where(r => r["overlay"] == label).ToList();
                    if (mine.Count == 0) continue;
                    string first = PointKey(mine[0], axes), replicate = mine[0]["replicate"];
                    mine = mine.Where(r => PointKey(r, axes) == first && r["replicate"] == replicate && (column != "success_rate" || Cell(r, "lookups_finished") != "0")).ToList();
                    if (mine.Count < 2) continue;
                    series.Add(new Series(label, mine.Select(r => Number(r["time_s"])!.Value / 60).ToArray(), mine.Select(r => Number(r[column]) ?? 0).ToArray(), null, ColorOf(label)));
                }
                if (series.Count > 0) figures.Add(new Figure($"timeseries-{column}", $"{yLabel} over time (first run of each overlay)", "simulated time (min)", yLabel, false, series));
            }
        }
        return figures.DistinctBy(f => f.Name).ToList(); // the scenario's own come first
    }

    private static (List<string> Swept, Dictionary<string, string> OverlayOf, List<PointParameters> Points, List<PlotSpec> Plots) ReadManifest(string path, Origin at)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement root = doc.RootElement;
            var swept = root.GetProperty("sweep").EnumerateArray().Select(e => e.GetString()!).ToList();
            var overlayOf = new Dictionary<string, string>(StringComparer.Ordinal);
            var points = new List<PointParameters>();
            foreach (JsonElement point in root.GetProperty("points").EnumerateArray())
            {
                var resolved = point.GetProperty("resolved").EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString() ?? "")).ToList();
                points.Add(new PointParameters(point.GetProperty("swept").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal), resolved));
                foreach (var (k, v) in resolved)
                    if (k.StartsWith("overlays.", StringComparison.Ordinal) && k.EndsWith(".overlay", StringComparison.Ordinal))
                        overlayOf[k["overlays.".Length..^".overlay".Length]] = v;
            }
            var plots = new List<PlotSpec>();
            if (root.TryGetProperty("plots", out JsonElement list))
                foreach (JsonElement p in list.EnumerateArray())
                {
                    string? S(string key) => p.TryGetProperty(key, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                    // Checked again: a manifest is a file like any other, and a figure's name becomes a path.
                    string? name = S("name"), x = S("x"), y = S("y"), theory = S("theory");
                    if (name is null || !PlotSpecs.IsSafeName(name) || x is null || y is null)
                        throw new ScenarioException(at, "manifest.json lists a figure without a valid name, x and y: it was not written by this version of OverlaySim");
                    if (theory is not null)
                    {
                        try { Expression.Parse(theory); }
                        catch (ExpressionException e) { throw new ScenarioException(at, $"manifest.json: figure '{name}': theory '{Diagnostic.Clip(theory)}': {e.Message}"); }
                    }
                    plots.Add(new PlotSpec(name, x, y, S("overlay"), p.TryGetProperty("log_x", out JsonElement lx) && lx.ValueKind == JsonValueKind.True,
                        theory, S("theory_label"), S("title"), S("y_label")));
                }
            return (swept, overlayOf, points, plots);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ScenarioException(at, $"manifest.json is not an OverlaySim manifest ({e.Message})");
        }
    }

    /// <summary>A file name from swept values: anything but letters, digits and . _ = @ , - becomes '_' (a rate's '/' included).</summary>
    public static string SafeName(string text) => string.Concat(text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '=' or '@' or ',' or '-' ? c : '_'));

    /// <summary>" (s)" for times and " (per s)" for rates, which <see cref="Number"/> reads in those units; "" otherwise.</summary>
    private static string Unit(string[] values)
    {
        string? v = values.FirstOrDefault();
        if (v is null || double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return "";
        if (OverlaySim.Core.Units.TryParseDuration(v, out _, out _)) return " (s)";
        return OverlaySim.Core.Units.TryParseRate(v, out _, out _) ? " (per s)" : "";
    }

    private static string PointKey(Dictionary<string, string> row, List<string> axes) => string.Join(", ", axes.Select(a => $"{Short(a)}={Cell(row, a)}"));

    private static string Cell(Dictionary<string, string> row, string column) => row.GetValueOrDefault(column) ?? "";

    /// <summary>"overlays.gnutella.ttl" → "ttl"; "workload.rate" → "rate".</summary>
    private static string Short(string path) => path.Contains('.') ? path[(path.LastIndexOf('.') + 1)..] : path;

    /// <summary>A number from a cell: a plain number, a time (in seconds) or a rate (per second); null otherwise (booleans too).</summary>
    public static double? Number(string text) => text is "true" or "false" ? null : Expectations.NumberOf(text);
}

/// <summary>The theory curves figures draw beside the measurements, by overlay and metric.</summary>
public static class Theory
{
    public static (string Label, Func<double, double> Curve)? For(string overlay, string column) => (overlay, column) switch
    {
        ("chord", "paper_hops_mean") => ("½·log₂ N", n => 0.5 * Math.Log2(n)),
        ("chord", "hops_mean") => ("½·log₂ N + 1", n => 0.5 * Math.Log2(n) + 1),
        ("napster", "hops_mean") => ("1", _ => 1),
        _ => null,
    };
}
