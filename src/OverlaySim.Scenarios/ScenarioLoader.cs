using System.Globalization;
using OverlaySim.Core;
using OverlaySim.Overlays;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OverlaySim.Scenarios;

/// <summary>
/// Reads a scenario file strictly: every key must be known, every value of the right type and in range, and
/// every problem is reported as <c>FILE:LINE:COL: message</c> (all of them, not just the first).
/// </summary>
/// <remarks>
/// Order of precedence for a parameter: a <c>--set path=value</c> override, then the sweep value of the
/// current point, then the file, then the documented default. A <c>--set</c> of a swept path fixes it and
/// removes it from the sweep.
/// </remarks>
public static class ScenarioLoader
{
    private static readonly string[] Sections = ["latency", "churn", "workload", "overlays", "sweep", "expect", "plots"];
    private static readonly HashSet<string> NotSweepable = ["name", "description", "replicates"];

    /// <summary>The most sweep points a scenario may have.</summary>
    public const int MaxPoints = 10_000;

    /// <summary>The most runs (points x overlays x replicates) a scenario may plan.</summary>
    public const long MaxRuns = 100_000;

    public static Scenario Load(string path, IReadOnlyList<string>? sets = null)
    {
        sets ??= [];
        string display = path;
        string text = InputFile.ReadAllText(path, "scenario file", InputFile.MaxScenarioBytes);
        YamlMappingNode root = ParseYaml(text, display);
        var overrides = ParseSets(sets);

        // The sweep: an ordered list of (path, values); --set of a swept path fixes it.
        var sweep = ReadSweep(root, display);
        sweep.RemoveAll(s => overrides.ContainsKey(s.Path));

        var diagnostics = new List<Diagnostic>();
        var seen = new HashSet<string>();
        var points = new List<ScenarioPoint>();
        long total = 1, planned = 0;
        foreach (var (_, values) in sweep) total *= values.Count;
        foreach (var combination in Cartesian(sweep))
        {
            var values = new Dictionary<string, RawValue>(StringComparer.Ordinal);
            foreach (var (p, v) in combination) values[p] = v;
            foreach (var (p, v) in overrides) values[p] = v;
            var binder = new Binder(root, display, Path.GetDirectoryName(Path.GetFullPath(path))!, values);
            ScenarioPoint? point = binder.Bind(combination.Select(c => c.Path).ToList());
            foreach (Diagnostic d in binder.Diagnostics)
                if (seen.Add(d.ToString())) diagnostics.Add(d);
            if (point is not null)
            {
                points.Add(point);
                if (points.Count == 1 && planned == 0)
                {
                    planned = (long)point.Overlays.Count * point.Replicates * total;
                    if (planned > MaxRuns)
                        throw new ScenarioException(RunsOrigin(root, display, overrides),
                            $"the scenario plans {planned:N0} runs ({total:N0} sweep points x {point.Overlays.Count} overlays x {point.Replicates} replicates); the most one scenario may plan is {MaxRuns:N0}: split it, or use fewer replicates");
                }
            }
            if (diagnostics.Count >= Diagnostic.MaxReported) break; // a bad value in a long sweep: report the first ones
        }
        if (diagnostics.Count > 0) throw new ScenarioException(InFileOrder(diagnostics, display));

        return new Scenario(path, points[0].Name, sweep.Select(s => s.Path).ToList(), points, sets.ToList());
    }

    /// <summary>
    /// The binder finds problems section by section (top level, latency, workload, overlays, overrides); a
    /// reader wants them in the order of the file: the scenario's own positions by line and column, then those
    /// in other files (a latency matrix), then the command-line overrides. The sort is stable.
    /// </summary>
    private static List<Diagnostic> InFileOrder(List<Diagnostic> diagnostics, string file) =>
        diagnostics
            .OrderBy(d => d.Origin.CommandLine is not null ? 2 : d.Origin.File == file ? 0 : 1)
            .ThenBy(d => d.Origin.Line)
            .ThenBy(d => d.Origin.Column)
            .ToList();

    /// <summary>The top-level mapping of a scenario file, read and checked as <see cref="Load"/> reads it (for the expect: list).</summary>
    internal static YamlMappingNode ReadRoot(string path, out string text)
    {
        text = InputFile.ReadAllText(path, "scenario file", InputFile.MaxScenarioBytes);
        return ParseYaml(text, path);
    }

    /// <summary>The deepest nesting of mappings and lists read; a scenario needs four.</summary>
    public const int MaxDepth = 32;

    private static YamlMappingNode ParseYaml(string text, string display)
    {
        CheckPrintable(text, display);
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try
        {
            CheckDepth(scanner, display);
            scanner = new Scanner(new StringReader(text));
            stream.Load(new Parser(scanner));
        }
        catch (YamlException e)
        {
            string message = e.InnerException is { } inner ? inner.Message : e.Message;
            // YamlDotNet's messages start with "(Line: 3, Col: 5, ...): " when they have a position; we print our own.
            int close = message.IndexOf("): ", StringComparison.Ordinal);
            if (message.StartsWith("(Line:", StringComparison.Ordinal) && close > 0) message = message[(close + 3)..];
            throw new ScenarioException(new Origin(display, (int)e.Start.Line, (int)e.Start.Column), "malformed YAML: " + message);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16's scanner throws this, without a position, for some unclosed flow collections
            // (e.g. "nodes: [1, 2" followed by more keys); where the scanner stopped is the best position we have.
            Mark at = scanner.CurrentPosition;
            throw new ScenarioException(new Origin(display, (int)at.Line, (int)at.Column),
                "malformed YAML: cannot read on from here; look above for an unclosed '[' or '{'");
        }
        catch (ArgumentException e) // YamlDotNet reports a duplicate mapping key this way
        {
            throw new ScenarioException(new Origin(display, 0, 0), "malformed YAML: " + e.Message);
        }
        if (stream.Documents.Count == 0)
            throw new ScenarioException(new Origin(display, 1, 1), "the scenario file is empty (expected a mapping with at least 'overlays')");
        if (stream.Documents.Count > 1)
            throw new ScenarioException(At(display, stream.Documents[1].RootNode), "the scenario file holds more than one YAML document");
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ScenarioException(At(display, stream.Documents[0].RootNode), "expected a mapping of keys (name, nodes, latency, workload, overlays, ...) at the top of the file");
        return root;
    }

    /// <summary>
    /// YAML allows only printable characters, tab and line breaks; the parser takes a NUL for the end of the
    /// file and would silently drop everything after it.
    /// </summary>
    private static void CheckPrintable(string text, string display)
    {
        int bad = text.AsSpan().IndexOfAnyInRange('\0', '\u0008');
        if (bad < 0) bad = text.AsSpan().IndexOfAny('\u000b', '\u000c', '\u007f');
        int others = text.AsSpan().IndexOfAnyInRange('\u000e', '\u001f');
        if (others >= 0 && (bad < 0 || others < bad)) bad = others;
        if (bad < 0) return;
        int line = 1, lineStart = 0;
        for (int i = 0; i < bad; i++)
            if (text[i] == '\n') { line++; lineStart = i + 1; }
        throw new ScenarioException(new Origin(display, line, bad - lineStart + 1),
            $"malformed YAML: control character U+{(int)text[bad]:X4} (a YAML file holds only printable characters, tabs and line breaks)");
    }

    /// <summary>
    /// Reads the file's events once, without building nodes, and refuses nesting deeper than
    /// <see cref="MaxDepth"/>: the node model is built recursively, and a few kilobytes of '[' would overflow
    /// the stack, a crash no handler can catch.
    /// </summary>
    private static void CheckDepth(Scanner scanner, string display)
    {
        var parser = new Parser(scanner);
        int depth = 0;
        // An alias must name a node complete before it: an anchor counts from the end of its node, so that an alias
        // inside the node it names (a recursive structure, on which YamlDotNet overflows its stack) is refused too.
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var open = new Stack<string?>();
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias when !anchors.Contains(alias.Value.Value):
                    string a = Diagnostic.Clip(alias.Value.Value);
                    throw new ScenarioException(new Origin(display, (int)alias.Start.Line, (int)alias.Start.Column),
                        $"malformed YAML: the alias '*{a}' names no anchor ('&{a}') of a node complete before it (an alias cannot stand inside the node it names)");
                case YamlDotNet.Core.Events.Scalar { Anchor.IsEmpty: false } scalar:
                    anchors.Add(scalar.Anchor.Value);
                    break;
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > MaxDepth)
                        throw new ScenarioException(new Origin(display, (int)parser.Current.Start.Line, (int)parser.Current.Start.Column),
                            $"malformed YAML: nested more than {MaxDepth} levels deep (a scenario needs four)");
                    var start = (YamlDotNet.Core.Events.NodeEvent)parser.Current;
                    open.Push(start.Anchor.IsEmpty ? null : start.Anchor.Value);
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    if (open.TryPop(out string? anchor) && anchor is not null) anchors.Add(anchor);
                    break;
            }
        }
    }

    private static Dictionary<string, RawValue> ParseSets(IReadOnlyList<string> sets)
    {
        var overrides = new Dictionary<string, RawValue>(StringComparer.Ordinal);
        var diagnostics = new List<Diagnostic>();
        foreach (string s in sets)
        {
            int eq = s.IndexOf('=');
            var origin = Origin.FromCommandLine($"--set {s}");
            if (eq <= 0)
            {
                diagnostics.Add(new Diagnostic(origin, "expected key.path=value, e.g. --set nodes=4096"));
                continue;
            }
            overrides[s[..eq].Trim()] = new RawValue(s[(eq + 1)..].Trim(), origin, true);
        }
        if (diagnostics.Count > 0) throw new ScenarioException(diagnostics);
        return overrides;
    }

    private static List<(string Path, List<RawValue> Values)> ReadSweep(YamlMappingNode root, string file)
    {
        var sweep = new List<(string, List<RawValue>)>();
        if (!root.Children.TryGetValue(new YamlScalarNode("sweep"), out YamlNode? node)) return sweep;
        if (node is YamlScalarNode { Value: null or "" }) return sweep;
        if (node is not YamlMappingNode map)
            throw new ScenarioException(At(file, node), "key 'sweep': expected a mapping of parameter paths to lists of values, e.g. sweep: { nodes: [1000, 10000] }");
        var diagnostics = new List<Diagnostic>();
        foreach (var (k, v) in map.Children)
        {
            if (k is not YamlScalarNode keyNode)
            {
                diagnostics.Add(new Diagnostic(At(file, k), $"sweep: expected a parameter path as the key (e.g. nodes or overlays.chord.successors), got a {Kind(k)}"));
                continue;
            }
            string key = keyNode.Value ?? "";
            if (NotSweepable.Contains(key))
            {
                diagnostics.Add(new Diagnostic(At(file, k), $"sweep: '{key}' cannot be swept"));
                continue;
            }
            if (v is not YamlSequenceNode seq || seq.Children.Count == 0)
            {
                diagnostics.Add(new Diagnostic(At(file, v), $"sweep '{key}': expected a non-empty list of values, e.g. [1000, 10000]"));
                continue;
            }
            var values = new List<RawValue>();
            foreach (YamlNode item in seq.Children)
            {
                if (item is YamlScalarNode sc) values.Add(new RawValue(sc.Value ?? "", At(file, item), true, KeyOrigin: At(file, k)));
                else diagnostics.Add(new Diagnostic(At(file, item), $"sweep '{key}': expected a scalar value, got a {Kind(item)}"));
            }
            sweep.Add((key, values));
        }
        if (diagnostics.Count > 0) throw new ScenarioException(diagnostics);
        // The product is bounded before a single point is made: a few short lists multiply to millions.
        long points = 1;
        foreach (var (key, values) in sweep)
        {
            points *= values.Count;
            if (points > MaxPoints)
                throw new ScenarioException(values[0].KeyOrigin ?? At(file, node),
                    $"sweep '{key}': the sweep reaches more than {MaxPoints:N0} points here ({string.Join(" x ", sweep.TakeWhile(s => s.Item1 != key).Append((key, values)).Select(s => s.Item2.Count))}); split it into several scenarios");
        }
        return sweep;
    }

    /// <summary>Sweep points in order: the first swept parameter varies slowest.</summary>
    private static IEnumerable<List<(string Path, RawValue Value)>> Cartesian(List<(string Path, List<RawValue> Values)> sweep)
    {
        var index = new int[sweep.Count];
        while (true)
        {
            var point = new List<(string, RawValue)>(sweep.Count);
            for (int i = 0; i < sweep.Count; i++) point.Add((sweep[i].Path, sweep[i].Values[index[i]]));
            yield return point;
            int d = sweep.Count - 1;
            while (d >= 0 && ++index[d] == sweep[d].Values.Count)
            {
                index[d] = 0;
                d--;
            }
            if (d < 0) yield break;
        }
    }

    /// <summary>Where the count of runs is set: the replicates, else the sweep, else the top of the file.</summary>
    private static Origin RunsOrigin(YamlMappingNode root, string file, Dictionary<string, RawValue> overrides)
    {
        if (overrides.TryGetValue("replicates", out RawValue set)) return set.Origin;
        foreach (string key in (string[])["replicates", "sweep"])
            if (root.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? node)) return At(file, node);
        return new Origin(file, 1, 1);
    }

    internal static Origin At(string file, YamlNode node) => new(file, (int)node.Start.Line, (int)node.Start.Column);

    internal static string Kind(YamlNode node) => node switch
    {
        YamlMappingNode => "mapping",
        YamlSequenceNode => "list",
        _ => "scalar",
    };

    public static string[] TopLevelKeys => Schema.Top.Select(s => s.Name).Concat(Sections).ToArray();
}

/// <summary>A value as written (in the file, a sweep or a --set), before it is parsed against its spec.</summary>
/// <param name="KeyOrigin">For a swept value, where its path is written: an unknown path is reported there,
/// once, rather than at each of its values.</param>
internal readonly record struct RawValue(string Text, Origin Origin, bool IsScalar, string? NonScalarKind = null, Origin? KeyOrigin = null);
