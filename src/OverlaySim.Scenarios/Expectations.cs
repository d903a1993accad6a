using System.Globalization;
using OverlaySim.Core;
using OverlaySim.Overlays;
using YamlDotNet.RepresentationModel;

namespace OverlaySim.Scenarios;

/// <summary>How an expectation compares a metric with what is expected.</summary>
public enum ExpectKind : byte
{
    AtLeast,
    AtMost,
    Near,
    Between,
    /// <summary>The slope of the metric against an expression of the parameters, fitted across the sweep, lies in a range.</summary>
    GrowsLike,
    /// <summary>The run's trace hash equals a golden value (bit-exact regression).</summary>
    TraceHash,
}

/// <summary>The tolerance of <c>near</c>: absolute, or relative to the expected value (<c>within: 8%</c>).</summary>
public readonly record struct Tolerance(double Value, bool Relative)
{
    public double Of(double expected) => Relative ? Math.Abs(expected) * Value : Value;

    public override string ToString() => Relative
        ? (Value * 100).ToString("0.###", CultureInfo.InvariantCulture) + "%"
        : Value.ToString("G6", CultureInfo.InvariantCulture);
}

/// <summary>One entry of a scenario's <c>expect:</c> list, checked against the scenario when loaded.</summary>
public sealed record Expectation
{
    public required Origin Origin { get; init; }
    /// <summary>runs.csv column the expectation is about (null for a trace hash).</summary>
    public string? Metric { get; init; }
    /// <summary>The overlay labels it applies to (every overlay that reports the metric, unless one is named).</summary>
    public required IReadOnlyList<string> Overlays { get; init; }
    public required ExpectKind Kind { get; init; }
    /// <summary>at_least, at_most, near, grows_like: the expression; between: the lower bound.</summary>
    public Expression? A { get; init; }
    /// <summary>between: the upper bound.</summary>
    public Expression? B { get; init; }
    public Tolerance Within { get; init; }
    public double SlopeLow { get; init; }
    public double SlopeHigh { get; init; }
    /// <summary>The golden hash as written, and where its scalar lies in the file (character offsets) for --update-golden.</summary>
    public string? Hash { get; init; }
    public long HashStart { get; init; }
    public long HashEnd { get; init; }
    /// <summary>Whether the file writes the hash as its plain 16 digits (quoted or not), so that it can be rewritten in place.</summary>
    public bool HashInPlace { get; init; }
    /// <summary>Confidence of the interval in statistical mode (runs with two or more replicates).</summary>
    public double Confidence { get; init; } = 0.95;

    /// <summary>"paper_hops_mean near 0.5 * log2(nodes) ± 0.25", for reports.</summary>
    public string Describe() => Kind switch
    {
        ExpectKind.AtLeast => $"{Metric} >= {A}",
        ExpectKind.AtMost => $"{Metric} <= {A}",
        ExpectKind.Near => $"{Metric} near {A} ± {Within}",
        ExpectKind.Between => $"{Metric} in [{A}, {B}]",
        ExpectKind.GrowsLike => string.Create(CultureInfo.InvariantCulture, $"{Metric} grows like {A}, slope in [{SlopeLow:G6}, {SlopeHigh:G6}]"),
        _ => $"trace_hash = {Hash}",
    };
}

/// <summary>The expectations of a scenario file, and the file's text (for rewriting golden hashes in place).</summary>
public sealed record ExpectationSet(string File, string Text, IReadOnlyList<Expectation> Items);

/// <summary>
/// Reads a scenario's <c>expect:</c> list as strictly as the rest of the file: an unknown key, metric, overlay or
/// parameter, a malformed expression or tolerance, a comparison that cannot apply, each is reported at its
/// <c>FILE:LINE:COL</c>. Every expression is evaluated at every sweep point when loaded, so a parameter it names
/// that some point lacks is found before anything runs.
/// </summary>
public static class Expectations
{
    private static readonly string[] Keys = ["metric", "overlay", "at_least", "at_most", "near", "within", "between", "grows_like", "slope", "confidence", "trace_hash"];
    private static readonly string[] Comparisons = ["at_least", "at_most", "near", "between", "grows_like", "trace_hash"];

    /// <summary>The keys an entry of <c>expect:</c> may hold (for the JSON Schema).</summary>
    public static IReadOnlyList<string> KeyNames => Keys;

    /// <summary>The comparisons, exactly one of which an entry holds.</summary>
    public static IReadOnlyList<string> ComparisonNames => Comparisons;

    /// <summary>Most entries one scenario may hold.</summary>
    public const int MaxEntries = 1000;

    /// <param name="commonMetrics">The numeric columns of runs.csv every overlay reports.</param>
    public static ExpectationSet Load(Scenario scenario, IReadOnlyCollection<string> commonMetrics)
    {
        string file = scenario.File;
        YamlMappingNode root = ScenarioLoader.ReadRoot(file, out string text);
        var items = new List<Expectation>();
        var problems = new List<Diagnostic>();
        if (!root.Children.TryGetValue(new YamlScalarNode("expect"), out YamlNode? node)) return new ExpectationSet(file, text, items);
        if (node is not YamlSequenceNode list)
            throw new ScenarioException(ScenarioLoader.At(file, node), $"key 'expect': expected a list of expectations, e.g. - {{ metric: success_rate, at_least: 1.0 }} (found a {ScenarioLoader.Kind(node)})");
        if (list.Children.Count > MaxEntries)
            throw new ScenarioException(ScenarioLoader.At(file, node), $"key 'expect': {list.Children.Count} entries; at most {MaxEntries}");
        int index = 0;
        foreach (YamlNode entry in list.Children)
        {
            index++;
            try
            {
                items.Add(Read(scenario, file, text, entry, index, commonMetrics));
            }
            catch (ScenarioException e)
            {
                problems.AddRange(e.Diagnostics);
            }
        }
        if (problems.Count > 0) throw new ScenarioException(problems);
        return new ExpectationSet(file, text, items);
    }

    private static Expectation Read(Scenario scenario, string file, string text, YamlNode entry, int index, IReadOnlyCollection<string> commonMetrics)
    {
        string where = $"expect[{index}]";
        if (entry is not YamlMappingNode map)
            throw new ScenarioException(ScenarioLoader.At(file, entry), $"{where}: expected a mapping such as {{ metric: success_rate, at_least: 1.0 }} (found a {ScenarioLoader.Kind(entry)})");
        var values = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var keyAt = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
        {
            string key = k is YamlScalarNode ks ? ks.Value ?? "" : "";
            if (!Keys.Contains(key))
                throw new ScenarioException(ScenarioLoader.At(file, k), $"{where}: unknown key '{Diagnostic.Clip(key)}'{Spelling.Hint(key, Keys)} (expected {string.Join(", ", Keys)})");
            values[key] = v;
            keyAt[key] = k;
        }
        string[] given = Comparisons.Where(values.ContainsKey).ToArray();
        if (given.Length != 1)
            throw new ScenarioException(ScenarioLoader.At(file, given.Length > 1 ? keyAt[given[1]] : map),
                given.Length == 0
                    ? $"{where}: no comparison: expected one of {string.Join(", ", Comparisons)}"
                    : $"{where}: '{given[0]}' and '{given[1]}' both given: one comparison per entry (write two entries, or use between: [low, high])");
        string comparison = given[0];
        Origin origin = ScenarioLoader.At(file, map);
        ScenarioPoint first = scenario.Points[0];
        string[] labels = first.Overlays.Select(o => o.Label).ToArray();

        Only("within", "near");
        Only("slope", "grows_like");
        if (comparison == "near" && !values.ContainsKey("within")) throw At(map, $"{where}: 'near' needs 'within': an absolute tolerance (0.25) or a relative one (8%)");
        if (comparison == "grows_like" && !values.ContainsKey("slope")) throw At(map, $"{where}: 'grows_like' needs 'slope: [low, high]', the range the fitted slope must lie in");

        // Which overlays: the one named, or every overlay of the scenario that reports the metric.
        string? overlay = values.TryGetValue("overlay", out YamlNode? on) ? Scalar(on, "overlay") : null;
        if (overlay is not null && !labels.Contains(overlay))
            throw At(on!, $"{where}: key 'overlay': '{Diagnostic.Clip(overlay)}' is not an overlay of this scenario{Spelling.Hint(overlay, labels)} (expected one of {string.Join(", ", labels)})");

        if (comparison == "trace_hash")
        {
            if (values.TryGetValue("metric", out YamlNode? m)) throw At(keyAt["metric"], $"{where}: 'trace_hash' compares the run's trace hash: remove 'metric'");
            if (values.ContainsKey("confidence")) throw At(keyAt["confidence"], $"{where}: 'confidence' applies to metrics of runs with replicates, not to a trace hash");
            YamlNode h = values["trace_hash"];
            string hash = Scalar(h, "trace_hash");
            if (hash.Length != 16 || !hash.All(char.IsAsciiHexDigitLower))
                throw At(h, $"{where}: key 'trace_hash': '{Diagnostic.Clip(hash)}' is not a trace hash (expected 16 lowercase hex digits, as in runs.csv's trace_hash column; 'overlaysim check --update-golden' writes it)");
            string[] targets = overlay is not null ? [overlay] : labels;
            long runs = (long)scenario.Points.Count * first.Replicates;
            if (targets.Length != 1 || runs != 1)
                throw At(h, $"{where}: a trace hash is of one run: this scenario has {runs} run(s) per overlay and {targets.Length} overlay(s) here{(targets.Length > 1 ? " (name one with 'overlay')" : "")}; golden runs need one sweep point and one replicate");
            return new Expectation
            {
                Origin = origin, Overlays = targets, Kind = ExpectKind.TraceHash, Hash = hash,
                HashStart = h.Start.Index, HashEnd = h.End.Index,
                // --update-golden rewrites the digits in place: only when the file holds them as written (no escapes).
                HashInPlace = text.Substring((int)h.Start.Index, (int)(h.End.Index - h.Start.Index)).Trim('"', '\'', ' ') == hash,
            };
        }

        if (!values.TryGetValue("metric", out YamlNode? metricNode)) throw At(map, $"{where}: 'metric' is missing: which column of runs.csv (e.g. success_rate, hops_mean)");
        string metric = Scalar(metricNode, "metric");
        string[] reporting = Reporting(first, metric, commonMetrics);
        if (!commonMetrics.Contains(metric) && !OverlayRegistry.All.Any(i => OwnColumns(i).Contains(metric)))
        {
            string[] known = KnownMetrics(first, commonMetrics);
            throw At(metricNode, $"{where}: key 'metric': '{Diagnostic.Clip(metric)}' is not a metric of runs.csv{Spelling.Hint(metric, known)} (expected one of {string.Join(", ", known)})");
        }
        if (overlay is not null && !reporting.Contains(overlay))
            throw At(metricNode, $"{where}: key 'metric': overlay '{overlay}' does not report '{metric}' (it is another overlay's metric)");
        if (reporting.Length == 0)
            throw At(metricNode, $"{where}: key 'metric': no overlay of this scenario reports '{metric}'");
        string[] applies = overlay is not null ? [overlay] : reporting;

        double confidence = 0.95;
        if (values.TryGetValue("confidence", out YamlNode? cn))
        {
            if (!double.TryParse(Scalar(cn, "confidence"), NumberStyles.Float, CultureInfo.InvariantCulture, out confidence) || !(confidence > 0 && confidence <= 0.999))
                throw At(cn, $"{where}: key 'confidence': expected a probability above 0 and at most 0.999, e.g. 0.95 (beyond, the t quantile of a few replicates is not computed reliably)");
            if (first.Replicates < 2)
                throw At(cn, $"{where}: key 'confidence' takes effect only with replicates >= 2 (with one replicate the measured value itself is compared)");
        }

        Expression? a = null, b = null;
        Tolerance within = default;
        double slopeLow = 0, slopeHigh = 0;
        ExpectKind kind;
        switch (comparison)
        {
            case "at_least": kind = ExpectKind.AtLeast; a = Expr(values["at_least"], "at_least"); break;
            case "at_most": kind = ExpectKind.AtMost; a = Expr(values["at_most"], "at_most"); break;
            case "near":
                kind = ExpectKind.Near;
                a = Expr(values["near"], "near");
                within = ReadTolerance(values["within"]);
                break;
            case "between":
            {
                kind = ExpectKind.Between;
                var (lo, hi) = Pair(values["between"], "between");
                a = Expr(lo, "between");
                b = Expr(hi, "between");
                break;
            }
            default:
            {
                kind = ExpectKind.GrowsLike;
                a = Expr(values["grows_like"], "grows_like");
                var (lo, hi) = Pair(values["slope"], "slope");
                slopeLow = Number(lo, "slope");
                slopeHigh = Number(hi, "slope");
                if (slopeLow > slopeHigh) throw At(values["slope"], $"{where}: key 'slope': [{slopeLow}, {slopeHigh}] is empty (low above high)");
                break;
            }
        }

        // Every expression must evaluate at every point for every overlay it applies to, to a finite number, and a range
        // must not be empty.
        YamlNode an = comparison == "between" ? Pair(values["between"], "between").Low : values[comparison];
        YamlNode? bn = b is null ? null : Pair(values["between"], "between").High;
        foreach (ScenarioPoint point in scenario.Points)
            foreach (OverlayConfig o in point.Overlays.Where(o => applies.Contains(o.Label)))
            {
                Check(a, an, point, o);
                if (b is not null) Check(b, bn!, point, o);
                double av = a!.Evaluate(n => Parameter(point, o, n)!.Value);
                string at = point.Swept.Count > 0 ? $" at {string.Join(", ", point.Swept.Select(kv => $"{kv.Key}={kv.Value}"))}" : "";
                if (!double.IsFinite(av)) throw At(an, $"{where}: '{a}' is {av.ToString(CultureInfo.InvariantCulture)}{at}, not a finite number");
                if (b is not null)
                {
                    double bv = b.Evaluate(n => Parameter(point, o, n)!.Value);
                    if (!double.IsFinite(bv)) throw At(bn!, $"{where}: '{b}' is {bv.ToString(CultureInfo.InvariantCulture)}{at}, not a finite number");
                    if (av > bv) throw At(values["between"], $"{where}: between [{a}, {b}] is empty{at} ({av.ToString("G6", CultureInfo.InvariantCulture)} > {bv.ToString("G6", CultureInfo.InvariantCulture)})");
                }
            }
        if (kind == ExpectKind.GrowsLike)
            foreach (string label in applies)
            {
                var xs = scenario.Points.Select(p => a!.Evaluate(n => Parameter(p, p.Overlays.First(o => o.Label == label), n)!.Value)).Distinct().Count();
                if (xs < 2)
                    throw At(values["grows_like"], $"{where}: 'grows_like' fits the metric against '{a}' across the sweep, which needs at least two sweep points where it differs (it has {xs})");
            }

        return new Expectation
        {
            Origin = origin, Metric = metric, Overlays = applies, Kind = kind, A = a, B = b, Within = within,
            SlopeLow = slopeLow, SlopeHigh = slopeHigh, Confidence = confidence,
        };

        void Only(string key, string with)
        {
            if (values.ContainsKey(key) && comparison != with)
                throw At(keyAt[key], $"{where}: '{key}' takes effect only with '{with}'");
        }

        ScenarioException At(YamlNode n, string message) => new(ScenarioLoader.At(file, n), message);

        string Scalar(YamlNode n, string key) => n is YamlScalarNode s
            ? s.Value ?? ""
            : throw At(n, $"{where}: key '{key}': expected a single value (found a {ScenarioLoader.Kind(n)})");

        (YamlNode Low, YamlNode High) Pair(YamlNode n, string key) => n is YamlSequenceNode { Children.Count: 2 } seq
            ? (seq.Children[0], seq.Children[1])
            : throw At(n, $"{where}: key '{key}': expected a list of two values [low, high]");

        double Number(YamlNode n, string key)
        {
            string t = Scalar(n, key);
            return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
                ? v
                : throw At(n, $"{where}: key '{key}': '{Diagnostic.Clip(t)}' is not a number");
        }

        Expression Expr(YamlNode n, string key)
        {
            string t = Scalar(n, key);
            try
            {
                return Expression.Parse(t);
            }
            catch (ExpressionException e)
            {
                throw new ScenarioException(Inside(n, e.Offset), $"{where}: key '{key}': {e.Message} in '{Diagnostic.Clip(t)}'");
            }
        }

        Tolerance ReadTolerance(YamlNode n)
        {
            string t = Scalar(n, "within").Trim();
            bool relative = t.EndsWith('%');
            string number = relative ? t[..^1].TrimEnd() : t;
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0)
                throw At(n, $"{where}: key 'within': '{Diagnostic.Clip(t)}' is not a tolerance (expected a number >= 0, e.g. 0.25, or a percentage, e.g. 8%)");
            return new Tolerance(relative ? v / 100 : v, relative);
        }

        void Check(Expression e, YamlNode n, ScenarioPoint point, OverlayConfig o)
        {
            foreach (var (name, offset) in e.Names)
                if (Parameter(point, o, name) is null)
                {
                    string[] known = KnownNames(point, o);
                    bool exists = point.Resolved.Any(kv => kv.Key == name) || known.Contains(name);
                    throw new ScenarioException(Inside(n, offset), exists
                        ? $"{where}: parameter '{name}' is not a number and cannot be used in an expression"
                        : $"{where}: unknown parameter '{Diagnostic.Clip(name)}' in '{Diagnostic.Clip(e.Text)}'{Spelling.Hint(name, known)} (expected a number, or a parameter such as nodes, keys, id_bits, lookups, or one of overlay '{o.Label}': {string.Join(", ", o.Values.Names)})");
                }
        }

        Origin Inside(YamlNode n, int offset)
        {
            Origin at = ScenarioLoader.At(file, n);
            bool quoted = n is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.DoubleQuoted or YamlDotNet.Core.ScalarStyle.SingleQuoted };
            return at with { Column = at.Column + offset + (quoted ? 1 : 0) };
        }
    }

    /// <summary>The labels of the scenario's overlays that report <paramref name="metric"/> (a common column, or one of their own).</summary>
    public static string[] Reporting(ScenarioPoint point, string metric, IReadOnlyCollection<string> commonMetrics) =>
        point.Overlays.Where(o => commonMetrics.Contains(metric) || OwnColumns(o.Info).Contains(metric)).Select(o => o.Label).ToArray();

    /// <summary>Every metric the scenario's runs.csv can hold: the common columns and its overlays' own.</summary>
    public static string[] KnownMetrics(ScenarioPoint point, IReadOnlyCollection<string> commonMetrics) =>
        [.. commonMetrics, .. point.Overlays.SelectMany(o => OwnColumns(o.Info)).Distinct()];

    /// <summary>The columns an overlay's own metrics add to runs.csv.</summary>
    public static IReadOnlyCollection<string> OwnColumns(OverlayInfo info) =>
        info.Metrics.SelectMany(m => m.Columns).Select(c => c.Name).ToArray();

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        ["keys"] = "workload.keys",
        ["lookups"] = "workload.lookups",
    };

    /// <summary>The names an expression may use at a point for an overlay: the top-level parameters, the aliases, every path, the overlay's own.</summary>
    private static string[] KnownNames(ScenarioPoint point, OverlayConfig o) =>
        [.. point.Resolved.Select(kv => kv.Key), .. Aliases.Keys, .. o.Values.Names];

    /// <summary>
    /// The value of parameter <paramref name="name"/> at <paramref name="point"/> for overlay <paramref name="o"/>: a full
    /// path (<c>workload.keys</c>, <c>overlays.chord.successors</c>), a top-level name (<c>nodes</c>), <c>keys</c> and
    /// <c>lookups</c> for the workload's, or a bare parameter of the overlay (<c>successors</c>). Times are in seconds,
    /// rates per second, booleans 1 or 0. Null when there is no such parameter or it is not a number.
    /// </summary>
    public static double? Parameter(ScenarioPoint point, OverlayConfig o, string name) => Parameter(point.Resolved, o.Label, name);

    /// <summary>A parameter's canonical text as a number: a plain number, a time in seconds, a rate per second, a boolean as 1 or 0; null otherwise.</summary>
    public static double? NumberOf(string text)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        if (text is "true" or "false") return text == "true" ? 1 : 0;
        if (Units.TryParseDuration(text, out long micros, out _)) return micros / 1e6;
        if (Units.TryParseRate(text, out double rate, out _)) return rate;
        return null;
    }

    /// <summary>The same, over a point's resolved parameters as the manifest records them, for the overlay labelled <paramref name="label"/>.</summary>
    public static double? Parameter(IReadOnlyList<KeyValuePair<string, string>> resolved, string label, string name)
    {
        string? text = Lookup(name) ?? (Aliases.TryGetValue(name, out string? path) ? Lookup(path) : null) ?? Lookup($"overlays.{label}.{name}");
        return text is null ? null : NumberOf(text);

        string? Lookup(string key)
        {
            foreach (var (k, value) in resolved)
                if (k == key) return value;
            return null;
        }
    }
}
