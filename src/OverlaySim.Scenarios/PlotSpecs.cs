using YamlDotNet.RepresentationModel;

namespace OverlaySim.Scenarios;

/// <summary>A figure a scenario names itself (its <c>plots:</c> list): a metric against a swept parameter.</summary>
/// <param name="Name">The file name (without extension) in figures/.</param>
/// <param name="X">The swept path on the x axis (<c>nodes</c>, <c>overlays.chord.successors</c>, <c>workload.rate</c>).</param>
/// <param name="Y">The metric (a numeric column of runs.csv).</param>
/// <param name="Overlay">Only this overlay's line; null for every overlay that reports the metric.</param>
/// <param name="Theory">A curve drawn beside each overlay's line, evaluated at each point's parameters; null for none.</param>
public sealed record PlotSpec(string Name, string X, string Y, string? Overlay, bool LogX, string? Theory, string? TheoryLabel, string? Title, string? YLabel);

/// <summary>Reads a scenario's <c>plots:</c> list as strictly as the rest of the file (FILE:LINE:COL for every problem).</summary>
public static class PlotSpecs
{
    private static readonly string[] Keys = ["name", "x", "y", "overlay", "log_x", "theory", "theory_label", "title", "y_label"];

    /// <summary>The keys an entry of <c>plots:</c> may hold (for the JSON Schema).</summary>
    public static IReadOnlyList<string> KeyNames => Keys;

    public const int MaxEntries = 200;

    /// <param name="commonMetrics">The numeric columns of runs.csv every overlay reports.</param>
    public static IReadOnlyList<PlotSpec> Load(Scenario scenario, IReadOnlyCollection<string> commonMetrics)
    {
        string file = scenario.File;
        YamlMappingNode root = ScenarioLoader.ReadRoot(file, out _);
        var specs = new List<PlotSpec>();
        if (!root.Children.TryGetValue(new YamlScalarNode("plots"), out YamlNode? node)) return specs;
        if (node is not YamlSequenceNode list)
            throw new ScenarioException(ScenarioLoader.At(file, node), $"key 'plots': expected a list of figures, e.g. - {{ name: hops-vs-n, x: nodes, y: hops_mean }} (found a {ScenarioLoader.Kind(node)})");
        if (list.Children.Count > MaxEntries)
            throw new ScenarioException(ScenarioLoader.At(file, node), $"key 'plots': {list.Children.Count} entries; at most {MaxEntries}");
        var problems = new List<Diagnostic>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        int index = 0;
        foreach (YamlNode entry in list.Children)
        {
            index++;
            try
            {
                PlotSpec spec = Read(scenario, file, entry, index, commonMetrics);
                if (!names.Add(spec.Name)) throw new ScenarioException(ScenarioLoader.At(file, entry), $"plots[{index}]: a figure named '{spec.Name}' is already in the list");
                specs.Add(spec);
            }
            catch (ScenarioException e)
            {
                problems.AddRange(e.Diagnostics);
            }
        }
        if (problems.Count > 0) throw new ScenarioException(problems);
        return specs;
    }

    private static PlotSpec Read(Scenario scenario, string file, YamlNode entry, int index, IReadOnlyCollection<string> commonMetrics)
    {
        string where = $"plots[{index}]";
        if (entry is not YamlMappingNode map)
            throw new ScenarioException(ScenarioLoader.At(file, entry), $"{where}: expected a mapping such as {{ name: hops-vs-n, x: nodes, y: hops_mean }} (found a {ScenarioLoader.Kind(entry)})");
        var values = new Dictionary<string, YamlScalarNode>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
        {
            string key = k is YamlScalarNode ks ? ks.Value ?? "" : "";
            if (!Keys.Contains(key))
                throw new ScenarioException(ScenarioLoader.At(file, k), $"{where}: unknown key '{Diagnostic.Clip(key)}'{Spelling.Hint(key, Keys)} (expected {string.Join(", ", Keys)})");
            values[key] = v as YamlScalarNode ?? throw new ScenarioException(ScenarioLoader.At(file, v), $"{where}: key '{key}': expected a single value (found a {ScenarioLoader.Kind(v)})");
        }
        foreach (string required in (string[])["name", "x", "y"])
            if (!values.ContainsKey(required)) throw new ScenarioException(ScenarioLoader.At(file, map), $"{where}: '{required}' is missing (a figure needs name, x and y)");
        ScenarioException At(YamlNode n, string message) => new(ScenarioLoader.At(file, n), $"{where}: {message}");
        string Text(string key) => values[key].Value ?? "";

        string name = Text("name");
        if (!IsSafeName(name))
            throw At(values["name"], $"key 'name': '{Diagnostic.Clip(name)}' cannot name a figure file (expected letters, digits, '-', '_' or '.', not starting with '.')");

        ScenarioPoint first = scenario.Points[0];
        string[] labels = first.Overlays.Select(o => o.Label).ToArray();
        string x = Text("x");
        string[] axes = scenario.Points.Select(p => p.Nodes).Distinct().Count() > 1 ? ["nodes", .. scenario.SweptPaths.Where(p => p != "nodes")] : [.. scenario.SweptPaths];
        if (!axes.Contains(x))
            throw At(values["x"], axes.Length == 0
                ? $"key 'x': the scenario has no sweep, so there is nothing to put on the x axis (sweep a parameter, e.g. nodes)"
                : $"key 'x': '{Diagnostic.Clip(x)}' is not swept here{Spelling.Hint(x, axes)} (expected one of {string.Join(", ", axes)})");

        string? overlay = values.TryGetValue("overlay", out YamlScalarNode? on) ? on.Value : null;
        if (overlay is not null && !labels.Contains(overlay))
            throw At(on!, $"key 'overlay': '{Diagnostic.Clip(overlay)}' is not an overlay of this scenario{Spelling.Hint(overlay, labels)} (expected one of {string.Join(", ", labels)})");
        string y = Text("y");
        string[] reporting = Expectations.Reporting(first, y, commonMetrics);
        if (reporting.Length == 0 || overlay is not null && !reporting.Contains(overlay))
        {
            string[] known = Expectations.KnownMetrics(first, commonMetrics);
            throw At(values["y"], known.Contains(y)
                ? $"key 'y': {(overlay is not null ? $"overlay '{overlay}' does" : "no overlay of this scenario does")} not report '{y}'"
                : $"key 'y': '{Diagnostic.Clip(y)}' is not a metric of runs.csv{Spelling.Hint(y, known)}");
        }

        bool logX = false;
        if (values.TryGetValue("log_x", out YamlScalarNode? lx))
        {
            if (lx.Value is not ("true" or "false")) throw At(lx, "key 'log_x': expected true or false");
            logX = lx.Value == "true";
            if (logX && scenario.Points.Any(p => Numeric(p, x) is not > 0))
                throw At(lx, $"key 'log_x': a logarithmic axis needs positive numbers, and '{x}' has values that are not");
        }
        string? theory = null, theoryLabel = null;
        if (values.TryGetValue("theory", out YamlScalarNode? th))
        {
            theory = th.Value ?? "";
            Expression e;
            try
            {
                e = Expression.Parse(theory);
            }
            catch (ExpressionException ex)
            {
                throw new ScenarioException(ScenarioLoader.At(file, th) with { Column = (int)th.Start.Column + ex.Offset + (th.Style is YamlDotNet.Core.ScalarStyle.Plain ? 0 : 1) },
                    $"{where}: key 'theory': {ex.Message} in '{Diagnostic.Clip(theory)}'");
            }
            foreach (ScenarioPoint p in scenario.Points)
                foreach (OverlayConfig o in p.Overlays.Where(o => overlay is null ? reporting.Contains(o.Label) : o.Label == overlay))
                    foreach (var (n, _) in e.Names)
                        if (Expectations.Parameter(p, o, n) is null)
                            throw At(th, $"key 'theory': unknown parameter '{Diagnostic.Clip(n)}' in '{Diagnostic.Clip(theory)}' (expected a number, or a parameter such as nodes, keys, or one of overlay '{o.Label}')");
            theoryLabel = values.TryGetValue("theory_label", out YamlScalarNode? tl) ? tl.Value : theory;
        }
        else if (values.TryGetValue("theory_label", out YamlScalarNode? tl)) throw At(tl, "'theory_label' takes effect only with 'theory'");
        return new PlotSpec(name, x, y, overlay, logX, theory, theoryLabel, values.GetValueOrDefault("title")?.Value, values.GetValueOrDefault("y_label")?.Value);
    }

    /// <summary>Whether <paramref name="name"/> can name a figure file: 1 to 100 letters, digits, '-', '_' or '.', not starting with '.'.</summary>
    public static bool IsSafeName(string name) =>
        name.Length is > 0 and <= 100 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static double? Numeric(ScenarioPoint p, string path)
    {
        if (path == "nodes") return p.Nodes;
        foreach (var (k, v) in p.Resolved)
            if (k == path) return Expectations.NumberOf(v);
        return null;
    }
}
