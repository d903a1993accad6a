using System.Globalization;
using System.Text;
using System.Xml;
using MathNet.Numerics.Distributions;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>The verdict on one expectation for one overlay (and, for a comparison, one sweep point).</summary>
/// <param name="Point">The swept values of the point ("nodes=1024"), empty without a sweep or for a fit across it.</param>
/// <param name="Interval">The confidence interval of the mean (or of the slope) in statistical mode, else empty.</param>
/// <param name="Message">Why it failed, or a note on how it passed; empty otherwise.</param>
public sealed record CheckOutcome(Expectation Expectation, string Overlay, string Point, string Expected, string Measured, string Interval, bool Passed, string Message)
{
    public string Name => Expectation.Describe() + (Point.Length > 0 ? $" @ {Point}" : "");
}

/// <summary>
/// Evaluates a scenario's expectations on its runs' rows (as runs.csv holds them): comparisons per sweep point and
/// overlay, growth fitted across the sweep, golden trace hashes. With two or more replicates a comparison is
/// statistical: it fails only when the confidence interval of the mean (Student's t) lies wholly outside what is
/// expected; with one replicate the measured value itself is compared.
/// </summary>
public static class Checks
{
    /// <summary>The scenario's expectations, checked against it.</summary>
    public static ExpectationSet Load(Scenario scenario) => Expectations.Load(scenario, CsvResults.MetricColumns);

    /// <summary>The rows of finished runs, as runs.csv would hold them.</summary>
    public static IReadOnlyList<(PlannedRun Plan, IReadOnlyDictionary<string, string> Row)> Rows(Scenario scenario, IReadOnlyList<CompletedRun> runs) =>
        runs.Select(r => (r.Plan, CsvResults.RowOf(scenario, r))).ToList();

    /// <summary>
    /// The rows of an existing result folder's runs.csv, matched to the scenario's plan run by run (a folder written by
    /// <c>overlaysim run</c> of the same scenario and overrides has one row per run, in plan order).
    /// </summary>
    public static IReadOnlyList<(PlannedRun Plan, IReadOnlyDictionary<string, string> Row)> Rows(Scenario scenario, string folder)
    {
        string path = Path.Combine(folder, "runs.csv");
        if (!File.Exists(path))
            throw new ScenarioException(Origin.FromCommandLine($"--results {folder}"), $"no runs.csv in '{Diagnostic.Clip(folder, 200)}': expected a result folder written by 'overlaysim run'" +
                                                                                     (File.Exists(Path.Combine(folder, Sweep.FileName)) ? " (this is a shard folder: check the folder 'overlaysim merge' writes)" : ""));
        IReadOnlyList<PlannedRun> plan = Runner.Plan(scenario);
        InputFile.Check(path, "runs.csv", 4L << 30);
        string? different = DifferentRuns(scenario, Path.Combine(folder, "manifest.json"));
        if (different is not null)
            throw new ScenarioException(Origin.FromCommandLine($"--results {folder}"), $"the folder holds the results of other runs: {different}");
        List<Dictionary<string, string>> rows = CsvTable.Read(path, plan.Count + 1);
        Origin at = Origin.FromCommandLine($"--results {folder}");
        if (rows.Count != plan.Count)
            throw new ScenarioException(at, $"runs.csv in '{Diagnostic.Clip(folder, 200)}' has {(rows.Count > plan.Count ? "more than " + plan.Count : rows.Count.ToString(CultureInfo.InvariantCulture))} rows, but the scenario (with these overrides) plans {plan.Count} runs: the folder holds the results of another scenario");
        for (int i = 0; i < plan.Count; i++)
        {
            PlannedRun p = plan[i];
            Dictionary<string, string> row = rows[i];
            bool same = row.GetValueOrDefault("scenario") == p.Point.Name && row.GetValueOrDefault("overlay") == p.Overlay.Label
                        && row.GetValueOrDefault("nodes") == p.Point.Nodes.ToString(CultureInfo.InvariantCulture)
                        && row.GetValueOrDefault("replicate") == p.Replicate.ToString(CultureInfo.InvariantCulture)
                        && row.GetValueOrDefault("seed") == p.Point.Seed.ToString(CultureInfo.InvariantCulture);
            if (!same)
                throw new ScenarioException(at, $"row {i + 2} of runs.csv is not run {i + 1} of the scenario ({p.Describe()}): the folder holds the results of another scenario or other overrides");
        }
        return plan.Select((p, i) => (p, (IReadOnlyDictionary<string, string>)rows[i])).ToList();
    }

    /// <summary>Null when the folder's manifest records this scenario's points (every parameter resolved) and overrides; else what differs.</summary>
    private static string? DifferentRuns(Scenario scenario, string manifest)
    {
        if (!File.Exists(manifest)) return "it has no manifest.json";
        InputFile.Check(manifest, "manifest.json", 64L << 20);
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            var root = doc.RootElement;
            var overrides = root.GetProperty("overrides").EnumerateArray().Select(e => e.GetString() ?? "").ToList();
            if (!overrides.SequenceEqual(scenario.Overrides)) return $"it was run with overrides [{string.Join(" ", overrides)}], and these are [{string.Join(" ", scenario.Overrides)}]";
            var points = root.GetProperty("points").EnumerateArray().ToList();
            if (points.Count != scenario.Points.Count) return $"it has {points.Count} sweep points, the scenario {scenario.Points.Count}";
            for (int i = 0; i < points.Count; i++)
            {
                var resolved = points[i].GetProperty("resolved").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
                foreach (var (k, v) in scenario.Points[i].Resolved)
                    if (resolved.GetValueOrDefault(k) != v) return $"at sweep point {i + 1}, {k} is '{Diagnostic.Clip(resolved.GetValueOrDefault(k) ?? "(unset)")}' there and '{Diagnostic.Clip(v)}' here";
            }
            return null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"its manifest.json cannot be read ({e.Message})";
        }
    }

    /// <summary>Every expectation's verdicts, in the order of the expect: list.</summary>
    public static IReadOnlyList<CheckOutcome> Evaluate(Scenario scenario, ExpectationSet set, IReadOnlyList<(PlannedRun Plan, IReadOnlyDictionary<string, string> Row)> runs)
    {
        var outcomes = new List<CheckOutcome>();
        foreach (Expectation e in set.Items)
            foreach (string label in e.Overlays)
            {
                var mine = runs.Where(r => r.Plan.Overlay.Label == label).ToList();
                if (e.Kind == ExpectKind.TraceHash)
                {
                    string got = mine.Single().Row.GetValueOrDefault("trace_hash") ?? "";
                    outcomes.Add(new CheckOutcome(e, label, "", e.Hash!, got, "", got == e.Hash, got == e.Hash ? "" : "the run's trace differs from the golden one"));
                }
                else if (e.Kind == ExpectKind.GrowsLike) outcomes.Add(Growth(e, label, mine));
                else
                    foreach (ScenarioPoint point in scenario.Points)
                        outcomes.Add(Compare(e, label, point, mine.Where(r => r.Plan.Point == point).ToList()));
            }
        return outcomes;
    }

    private static CheckOutcome Compare(Expectation e, string label, ScenarioPoint point, List<(PlannedRun Plan, IReadOnlyDictionary<string, string> Row)> runs)
    {
        string where = string.Join(", ", point.Swept.Select(kv => $"{kv.Key}={kv.Value}"));
        OverlayConfig overlay = point.Overlays.First(o => o.Label == label);
        double Param(string n) => Expectations.Parameter(point, overlay, n)!.Value;
        double a = e.A!.Evaluate(Param);
        (double lo, double hi) = e.Kind switch
        {
            ExpectKind.AtLeast => (a, double.PositiveInfinity),
            ExpectKind.AtMost => (double.NegativeInfinity, a),
            ExpectKind.Near => (a - e.Within.Of(a), a + e.Within.Of(a)),
            _ => (a, e.B!.Evaluate(Param)),
        };
        string expected = e.Kind switch
        {
            ExpectKind.AtLeast => $">= {F(lo)}",
            ExpectKind.AtMost => $"<= {F(hi)}",
            ExpectKind.Near => $"{F(a)} ± {F(e.Within.Of(a))}",
            _ => $"[{F(lo)}, {F(hi)}]",
        };
        var values = new List<double>();
        foreach (var (_, row) in runs)
        {
            string text = row.GetValueOrDefault(e.Metric!) ?? "";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                return new CheckOutcome(e, label, where, expected, "(none)", "", false, $"the run reported no value of {e.Metric}");
            values.Add(v);
        }
        if (values.Count == 1)
        {
            double v = values[0];
            bool ok = v >= lo && v <= hi;
            return new CheckOutcome(e, label, where, expected, F(v), "", ok, ok ? "" : v < lo ? $"{F(v)} is below {F(lo)}" : $"{F(v)} is above {F(hi)}");
        }
        var (mean, half) = MeanInterval(values, e.Confidence);
        bool overlaps = mean + half >= lo && mean - half <= hi;
        string interval = $"[{F(mean - half)}, {F(mean + half)}]";
        string level = Percent(e.Confidence);
        string message = overlaps
            ? mean >= lo && mean <= hi ? "" : $"the mean is outside, but the {level} interval reaches what is expected: not excluded"
            : $"the {level} confidence interval of the mean over {values.Count} replicates lies wholly {(mean + half < lo ? "below" : "above")} what is expected";
        return new CheckOutcome(e, label, where, expected, $"{F(mean)} (mean of {values.Count})", interval, overlaps, message);
    }

    private static CheckOutcome Growth(Expectation e, string label, List<(PlannedRun Plan, IReadOnlyDictionary<string, string> Row)> runs)
    {
        string expected = $"slope in [{F(e.SlopeLow)}, {F(e.SlopeHigh)}]";
        var xs = new List<double>();
        var ys = new List<double>();
        foreach (var (plan, row) in runs)
        {
            string text = row.GetValueOrDefault(e.Metric!) ?? "";
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double y))
                return new CheckOutcome(e, label, "", expected, "(none)", "", false, $"a run reported no value of {e.Metric}");
            xs.Add(e.A!.Evaluate(n => Expectations.Parameter(plan.Point, plan.Overlay, n)!.Value));
            ys.Add(y);
        }
        var (slope, se) = Fit(xs, ys);
        bool replicated = runs.Count > 0 && runs[0].Plan.Point.Replicates >= 2;
        if (!replicated || xs.Count < 3 || double.IsNaN(se))
        {
            bool ok = slope >= e.SlopeLow && slope <= e.SlopeHigh;
            return new CheckOutcome(e, label, "", expected, F(slope), "", ok, ok ? "" : $"the fitted slope {F(slope)} is {(slope < e.SlopeLow ? "below" : "above")} the range");
        }
        double half = StudentT.InvCDF(0, 1, xs.Count - 2, (1 + e.Confidence) / 2) * se;
        bool overlaps = slope + half >= e.SlopeLow && slope - half <= e.SlopeHigh;
        string level = Percent(e.Confidence);
        return new CheckOutcome(e, label, "", expected, $"{F(slope)} (fit of {xs.Count} runs)", $"[{F(slope - half)}, {F(slope + half)}]", overlaps,
            overlaps ? "" : $"the {level} confidence interval of the slope lies wholly {(slope + half < e.SlopeLow ? "below" : "above")} the range");
    }

    /// <summary>The sample mean and the half-width of its <paramref name="confidence"/> interval by Student's t (n − 1 degrees of freedom).</summary>
    public static (double Mean, double HalfWidth) MeanInterval(IReadOnlyList<double> values, double confidence)
    {
        int n = values.Count;
        double mean = values.Average();
        if (n < 2) return (mean, double.NaN);
        double ss = 0;
        foreach (double v in values) ss += (v - mean) * (v - mean);
        double sd = Math.Sqrt(ss / (n - 1));
        return (mean, StudentT.InvCDF(0, 1, n - 1, (1 + confidence) / 2) * sd / Math.Sqrt(n));
    }

    /// <summary>The least-squares slope of y on x and its standard error (NaN with fewer than three points).</summary>
    public static (double Slope, double StandardError) Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        double mx = x.Average(), my = y.Average(), sxx = 0, sxy = 0;
        for (int i = 0; i < n; i++)
        {
            sxx += (x[i] - mx) * (x[i] - mx);
            sxy += (x[i] - mx) * (y[i] - my);
        }
        double slope = sxy / sxx;
        if (n < 3) return (slope, double.NaN);
        double sse = 0;
        for (int i = 0; i < n; i++)
        {
            double r = y[i] - (my + slope * (x[i] - mx));
            sse += r * r;
        }
        return (slope, Math.Sqrt(sse / (n - 2) / sxx));
    }

    /// <summary>
    /// The scenario file's text with the golden hashes of failed trace-hash expectations replaced by the measured ones,
    /// and nothing else changed (comments, layout and the quoting of each value are kept). Returns how many changed.
    /// </summary>
    public static string UpdateGolden(ExpectationSet set, IReadOnlyList<CheckOutcome> outcomes, out int changed)
    {
        var edits = outcomes.Where(o => o.Expectation.Kind == ExpectKind.TraceHash && !o.Passed && o.Measured.Length == 16)
            .Select(o => o.Expectation).Distinct().OrderByDescending(e => e.HashStart).ToList();
        var text = new StringBuilder(set.Text);
        foreach (Expectation e in edits)
            if (!e.HashInPlace)
                throw new ScenarioException(e.Origin, "--update-golden rewrites a trace hash written as its 16 digits, and this one is written with escapes: write it as plain digits first (nothing was changed)");
        foreach (Expectation e in edits)
        {
            string measured = outcomes.First(o => o.Expectation == e).Measured;
            int start = (int)e.HashStart, length = (int)(e.HashEnd - e.HashStart);
            string old = set.Text.Substring(start, length);
            int at = old.IndexOf(e.Hash!, StringComparison.Ordinal);
            text.Remove(start + at, e.Hash!.Length).Insert(start + at, measured);
        }
        changed = edits.Count;
        return text.ToString();
    }

    /// <summary>A JUnit XML report: one testsuite per scenario, one testcase per verdict, a failure element for each failed one.</summary>
    public static void WriteJUnit(TextWriter output, IReadOnlyList<(Scenario Scenario, IReadOnlyList<CheckOutcome> Outcomes, TimeSpan Time)> suites)
    {
        using var xml = XmlWriter.Create(output, new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false) });
        xml.WriteStartDocument();
        xml.WriteStartElement("testsuites");
        xml.WriteAttributeString("name", "overlaysim check");
        xml.WriteAttributeString("tests", I(suites.Sum(s => s.Outcomes.Count)));
        xml.WriteAttributeString("failures", I(suites.Sum(s => s.Outcomes.Count(o => !o.Passed))));
        xml.WriteAttributeString("errors", "0");
        xml.WriteAttributeString("time", T(suites.Aggregate(TimeSpan.Zero, (t, s) => t + s.Time)));
        foreach (var (scenario, outcomes, time) in suites)
        {
            xml.WriteStartElement("testsuite");
            xml.WriteAttributeString("name", X(scenario.Name));
            xml.WriteAttributeString("tests", I(outcomes.Count));
            xml.WriteAttributeString("failures", I(outcomes.Count(o => !o.Passed)));
            xml.WriteAttributeString("errors", "0");
            xml.WriteAttributeString("skipped", "0");
            xml.WriteAttributeString("time", T(time));
            xml.WriteAttributeString("file", X(scenario.File));
            foreach (CheckOutcome o in outcomes)
            {
                xml.WriteStartElement("testcase");
                xml.WriteAttributeString("classname", X($"{scenario.Name}.{o.Overlay}"));
                xml.WriteAttributeString("name", X(o.Name));
                xml.WriteAttributeString("file", X(o.Expectation.Origin.File));
                xml.WriteAttributeString("line", I(o.Expectation.Origin.Line));
                xml.WriteAttributeString("time", "0");
                string detail = $"expected {o.Expected}, measured {o.Measured}{(o.Interval.Length > 0 ? $", interval {o.Interval}" : "")}";
                if (!o.Passed)
                {
                    xml.WriteStartElement("failure");
                    xml.WriteAttributeString("message", X($"{o.Expectation.Origin}: {o.Message}"));
                    xml.WriteAttributeString("type", "ExpectationFailed");
                    xml.WriteString(X(detail));
                    xml.WriteEndElement();
                }
                else
                {
                    xml.WriteElementString("system-out", X(detail + (o.Message.Length > 0 ? $" ({o.Message})" : "")));
                }
                xml.WriteEndElement();
            }
            xml.WriteEndElement();
        }
        xml.WriteEndElement();
        xml.WriteEndDocument();
    }

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Text XML can hold: characters it cannot are written as U+XXXX.</summary>
    private static string X(string text) =>
        text.All(XmlConvert.IsXmlChar) ? text : string.Concat(text.Select(c => XmlConvert.IsXmlChar(c) ? c.ToString() : $"U+{(int)c:X4}"));

    private static string T(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Percent(double c) => (c * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    /// <summary>A number for reports: six significant digits.</summary>
    public static string F(double v) => double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("G6", CultureInfo.InvariantCulture);
}
