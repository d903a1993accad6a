using System.Globalization;
using System.Text.RegularExpressions;
using OverlaySim.Core;
using OverlaySim.Overlays;
using YamlDotNet.RepresentationModel;

namespace OverlaySim.Scenarios;

/// <summary>
/// Binds one sweep point: walks the YAML tree against <see cref="Schema"/> and the overlay registry, applies
/// overrides, parses and range-checks every value, and collects every problem as a <see cref="Diagnostic"/>.
/// </summary>
internal sealed partial class Binder
{
    private readonly YamlMappingNode _root;
    private readonly string _file;
    private readonly string _dir;
    private readonly Dictionary<string, RawValue> _overrides;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);
    private readonly List<KeyValuePair<string, string>> _resolved = [];

    public Binder(YamlMappingNode root, string file, string directory, Dictionary<string, RawValue> overrides)
    {
        _root = root;
        _file = file;
        _dir = directory;
        _overrides = overrides;
    }

    public List<Diagnostic> Diagnostics { get; } = [];

    public ScenarioPoint? Bind(IReadOnlyList<string> sweptPaths)
    {
        var (top, _) = BindSection(_root, "", Schema.Top, "the scenario", ScenarioLoader.TopLevelKeys);
        string name = top.Has("name") ? top.Text("name") : "";
        if (name.Length == 0) name = Path.GetFileNameWithoutExtension(_file);
        if (!IsSafeName(name))
            Report(OriginOf(_root, "name", "name", ScenarioLoader.At(_file, _root)), $"key 'name': '{Diagnostic.Clip(name)}' cannot name a result folder (expected letters, digits, '.', '_' or '-', not starting with '.')");
        ReplaceResolved("name", name);

        if (top.Has("nodes") && top.Has("id_bits"))
        {
            long nodes = top.Int("nodes");
            int bits = (int)top.Int("id_bits");
            if (bits < 62 && nodes * 2 > 1L << bits)
                Report(OriginOf(_root, "nodes", "nodes", ScenarioLoader.At(_file, _root)), $"key 'nodes': {nodes} nodes need an id space of at least {nodes * 2} ids; id_bits: {bits} gives {1L << bits} (raise id_bits)");
        }

        var (latencyInfo, latencyValues, matrix) = BindLatency();
        // A value that failed to parse (already reported) is unknown: the checks that depend on it are skipped rather
        // than reported again against a stand-in value.
        bool durationKnown = top.Has("duration");
        long duration = durationKnown ? top.Duration("duration") : 0;
        Origin durationOrigin = OriginOf(_root, "duration", "duration", ScenarioLoader.At(_file, _root));
        ChurnOptions? churn = BindChurn(durationKnown ? duration : null, durationOrigin);
        WorkloadOptions? workload = BindWorkload(out YamlMappingNode? workloadMap, out HashSet<string> workloadExplicit);
        List<OverlayConfig> overlays = BindOverlays(top.Has("nodes") ? top.Int("nodes") : 0, top.Has("id_bits") ? (int)top.Int("id_bits") : IdSpace.MaxBits);
        foreach (OverlayConfig o in overlays)
        {
            bool dynamic = o.Info.SupportsChurn(o.Options);
            if (churn is not null && churn.Kind != ChurnKind.None && !dynamic)
                Report(o.Origin, $"overlay '{o.Label}' runs a converged (static) model, which cannot follow churn: {o.Info.ChurnHint}");
            if (dynamic && durationKnown && duration <= 0)
                Report(durationOrigin, $"key 'duration': overlay '{o.Label}' runs its protocol with periodic maintenance, which never ends by itself: set the run's duration (e.g. duration: 1h)");
        }
        if (workload is not null && top.Has("nodes")) workload = BindReplication(workload, overlays, workloadMap, workloadExplicit, top.Int("nodes"));
        if (top.Has("measure_after") && duration > 0 && top.Duration("measure_after") >= duration)
            Report(OriginOf(_root, "measure_after", "measure_after", ScenarioLoader.At(_file, _root)), "key 'measure_after': the warm-up must end before the run does (duration)");

        // Times that fall after the run's end would silently do nothing: a strict loader refuses them.
        if (workload is not null && duration > 0 && workload.Start >= duration)
            Report(OriginOf(workloadMap, "workload.start", "start", durationOrigin), $"key 'workload.start': the first lookup at {Units.FormatDuration(workload.Start)} comes after the run's end (duration {Units.FormatDuration(duration)})");
        if (churn is { Kind: ChurnKind.MassFailure } && duration > 0 && churn.At > duration) // at the end itself still runs
        {
            Report(OriginOf(SectionMap("churn"), "churn.at", "at", durationOrigin), $"key 'churn.at': the failure at {Units.FormatDuration(churn.At)} comes after the run's end (duration {Units.FormatDuration(duration)})");
        }

        if (workload is not null && churn is not null && top.Has("sample_every") && durationKnown)
            CheckGrowth(top, duration, durationOrigin, workload, churn);

        foreach (var (path, raw) in _overrides)
        {
            if (_consumed.Contains(path)) continue;
            string what = raw.Origin.CommandLine is not null ? "" : "sweep: ";
            if (path.StartsWith("overlays.", StringComparison.Ordinal) && path.EndsWith(".label", StringComparison.Ordinal))
            {
                Report(raw.KeyOrigin ?? raw.Origin, $"{what}'{path}' cannot be overridden: an overlay's label names its entry in the results and in these paths, so it is set in the file only");
                continue;
            }
            string hint = Spelling.Hint(path, _resolved.Select(kv => kv.Key));
            Report(raw.KeyOrigin ?? raw.Origin, $"{what}unknown parameter '{path}'{hint}");
        }

        if (Diagnostics.Count > 0 || latencyInfo is null || workload is null || churn is null) return null;

        var resolved = _resolved.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return new ScenarioPoint
        {
            Name = name,
            Description = top.Text("description"),
            Seed = top.Int("seed"),
            Nodes = (int)top.Int("nodes"),
            IdBits = (int)top.Int("id_bits"),
            Replicates = (int)top.Int("replicates"),
            Latency = latencyInfo,
            LatencyValues = latencyValues!,
            Matrix = matrix,
            Workload = workload,
            Overlays = overlays,
            Churn = churn,
            Duration = duration,
            MeasureAfter = top.Duration("measure_after"),
            SampleEvery = top.Duration("sample_every"),
            Swept = sweptPaths.Select(p => new KeyValuePair<string, string>(p, resolved.GetValueOrDefault(p, ""))).ToList(),
            Resolved = _resolved.ToList(),
        };
    }

    /// <summary>The longest simulated run: the upper bound of <c>duration</c>, 365 days.</summary>
    public const long MaxSpan = 365L * 86_400_000_000;

    /// <summary>The most rows of timeseries.csv one run may have.</summary>
    public const long MaxTimeSeriesRows = 1_000_000;

    /// <summary>
    /// Bounds what grows with simulated time, which validation would otherwise pass and the run would chase for
    /// hours: rows of the time series (<c>sample_every: 1us</c> over an hour is 3.6·10^9 samples) and machines
    /// added by rate churn (joins at 10^6/s). Memory of what stays in bounds is the estimate's job.
    /// </summary>
    private void CheckGrowth(ParamValues top, long duration, Origin durationOrigin, WorkloadOptions workload, ChurnOptions churn)
    {
        // The run's span: its duration, or (count mode, no duration) until the last lookup is issued.
        double span = duration > 0 ? duration
            : workload.Start + (workload.RateMode ? workload.Duration : workload.Lookups / workload.Rate * 1e6);
        if (duration == 0 && !workload.RateMode && span > MaxSpan)
        {
            // Until the workload is done would outlast any run (and, far enough, the microsecond clock itself).
            Report(OriginOf(SectionMap("workload"), "workload.rate", "rate", ScenarioLoader.At(_file, _root)),
                $"key 'workload.rate': {workload.Lookups:N0} lookups at {Units.FormatRate(workload.Rate)} take about {span / 86_400e6:N0} days of simulated time " +
                $"(no duration is set, so the run lasts until the workload is done); a run may last at most {Units.FormatDuration(MaxSpan)}: raise the rate, lower the lookups or set a duration");
            return;
        }
        long every = top.Duration("sample_every");
        if (every > 0 && span / every > MaxTimeSeriesRows)
            Report(OriginOf(_root, "sample_every", "sample_every", ScenarioLoader.At(_file, _root)),
                $"key 'sample_every': {Units.FormatDuration(every)} gives {span / every:N0} rows of timeseries.csv over the run's {Units.FormatDuration((long)span)}; " +
                $"at most {MaxTimeSeriesRows:N0}: raise sample_every (0 = no time series)");
        if (churn.Kind == ChurnKind.Rate && duration > 0 && top.Has("nodes"))
        {
            double added = churn.JoinRate * (duration / 1e6);
            if (top.Int("nodes") + added > Schema.MaxNodes)
            {
                YamlMappingNode? map = SectionMap("churn");
                string key = map is not null && map.Children.ContainsKey(new YamlScalarNode("rate")) || _overrides.ContainsKey("churn.rate") ? "rate" : "join_rate";
                Origin at = OriginOf(map, "churn." + key, key, durationOrigin);
                Report(at, $"churn: joins at {Units.FormatRate(churn.JoinRate)} for {Units.FormatDuration(duration)} add {added:N0} machines; " +
                           $"with the {top.Int("nodes"):N0} nodes that is more than the {Schema.MaxNodes:N0} a run may have");
            }
        }
    }

    /// <summary>
    /// Binds a section that names a model (<c>latency:</c>, <c>churn:</c>): the model key first, then the
    /// parameters of that model. Returns null for the model when its name is not known (already reported).
    /// </summary>
    private (ModelInfo? Info, ParamValues? Values, YamlMappingNode? Map, Origin Origin) BindModel(
        string section, ParamSpec modelSpec, IReadOnlyList<ModelInfo> models)
    {
        YamlMappingNode? map = Section(section, out Origin origin);
        RawValue? rawModel = Raw(map, $"{section}.model", "model");
        string modelName = rawModel?.Text ?? (string)modelSpec.Default!;
        ModelInfo? info = models.FirstOrDefault(m => m.Name == modelName);
        if (info is null)
        {
            // Reported by BindSection as a bad choice; bind the model key alone so that it is.
            BindSection(map, $"{section}.", [modelSpec], section, models.SelectMany(l => l.Parameters.Select(p => p.Name)).ToArray());
            return (null, null, map, origin);
        }
        var (values, _) = BindSection(map, $"{section}.", [modelSpec, .. info.Parameters], $"{section} model '{info.Name}'", []);
        return (info, values, map, origin);
    }

    private (ModelInfo?, ParamValues?, RttMatrix?) BindLatency()
    {
        var (info, values, map, origin) = BindModel("latency", Schema.LatencyModel, Schema.LatencyModels);
        if (info is null || values is null) return (null, null, null);

        RttMatrix? matrix = null;
        switch (info.Name)
        {
            case "uniform" when values.Has("min") && values.Has("max") && values.Duration("min") > values.Duration("max"):
                Report(OriginOf(map, "latency.min", "min", origin), "key 'latency.min': must not exceed latency.max");
                break;
            case "coordinates" when values.Has("access_min") && values.Has("access_max") && values.Duration("access_min") > values.Duration("access_max"):
                Report(OriginOf(map, "latency.access_min", "access_min", origin), "key 'latency.access_min': must not exceed latency.access_max");
                break;
            case "matrix" when values.Has("file"):
                string file = values.Text("file");
                string full = Path.IsPathRooted(file) ? file : Path.GetFullPath(Path.Combine(_dir, file));
                Origin at = OriginOf(map, "latency.file", "file", origin);
                if (!InputFile.Exists(full))
                {
                    Report(at, $"key 'latency.file': file '{file}' not found (looked for {full})");
                    break;
                }
                try
                {
                    matrix = ParsedFiles.Load(full, MatrixFile.Load);
                }
                catch (ScenarioException e)
                {
                    foreach (Diagnostic d in e.Diagnostics) Report(d.Origin, d.Message + $" (latency matrix named at {at})");
                }
                break;
        }
        return (info, values, matrix);
    }

    /// <param name="duration">The run's duration, or null when it failed to parse.</param>
    private ChurnOptions? BindChurn(long? duration, Origin durationOrigin)
    {
        var (info, v, map, origin) = BindModel("churn", Schema.ChurnModel, Schema.ChurnModels);
        if (info is null || v is null || info.Parameters.Any(p => !v.Has(p.Name))) return null;
        if (info.Name != "none" && duration is <= 0)
            Report(durationOrigin, $"key 'duration': churn model '{info.Name}' needs the run's duration (e.g. duration: 1h)");
        switch (info.Name)
        {
            case "none":
                return ChurnOptions.None;
            case "lifetime":
            {
                var family = v.Text("distribution") switch
                {
                    "pareto" => LifetimeDistribution.Pareto,
                    "weibull" => LifetimeDistribution.Weibull,
                    _ => LifetimeDistribution.Exponential,
                };
                if (family == LifetimeDistribution.Pareto && v.Real("shape") <= 1)
                    Report(OriginOf(map, "churn.shape", "shape", origin), "key 'churn.shape': a Pareto distribution needs shape > 1 for its mean to exist");
                return new ChurnOptions(ChurnKind.Lifetime, family, v.Duration("session_mean"), v.Real("shape"), v.Duration("downtime_mean"),
                    v.Real("leave_fraction"), v.Bool("new_id_on_rejoin"));
            }
            case "rate":
            {
                double joins = v.Rate("join_rate"), failures = v.Rate("failure_rate"), both = v.Rate("rate");
                if (both > 0)
                {
                    if (joins > 0 || failures > 0)
                        Report(OriginOf(map, "churn.rate", "rate", origin), "key 'churn.rate': set either rate (both processes) or join_rate and failure_rate, not both");
                    joins = failures = both;
                }
                return new ChurnOptions(ChurnKind.Rate, LeaveFraction: v.Real("leave_fraction"), JoinRate: joins, FailureRate: failures);
            }
            case "mass_failure":
                return new ChurnOptions(ChurnKind.MassFailure, LeaveFraction: 0, At: v.Duration("at"), FailProbability: v.Real("probability"), StopMaintenance: v.Bool("stop_maintenance"));
            default:
            {
                string file = v.Text("file");
                string full = Path.IsPathRooted(file) ? file : Path.GetFullPath(Path.Combine(_dir, file));
                Origin at = OriginOf(map, "churn.file", "file", origin);
                if (!InputFile.Exists(full))
                {
                    Report(at, $"key 'churn.file': file '{file}' not found (looked for {full})");
                    return null;
                }
                try
                {
                    return new ChurnOptions(ChurnKind.Trace, Trace: ParsedFiles.Load(full, TraceFile.Load));
                }
                catch (ScenarioException e)
                {
                    foreach (Diagnostic d in e.Diagnostics) Report(d.Origin, d.Message + $" (churn trace named at {at})");
                    return null;
                }
            }
        }
    }

    private WorkloadOptions? BindWorkload(out YamlMappingNode? map, out HashSet<string> explicitNames)
    {
        map = Section("workload", out Origin origin);
        (ParamValues v, explicitNames) = BindSection(map, "workload.", Schema.Workload, "workload", []);
        if (Schema.Workload.Any(s => !v.Has(s.Name))) return null;
        if (v.Rate("per_node_rate") > 0)
        {
            Origin at = OriginOf(map, "workload.per_node_rate", "per_node_rate", origin);
            if (explicitNames.Contains("lookups"))
                Report(at, "key 'workload.per_node_rate': set either workload.lookups (count mode) or workload.per_node_rate (rate mode), not both");
            if (v.Duration("duration") <= 0)
                Report(at, "key 'workload.per_node_rate': rate mode needs workload.duration > 0");
        }
        return new WorkloadOptions(
            Lookups: v.Int("lookups"),
            Rate: v.Rate("rate"),
            PerNodeRate: v.Rate("per_node_rate"),
            Duration: v.Duration("duration"),
            Keys: (int)v.Int("keys"),
            Popularity: v.Text("popularity") == "zipf" ? Popularity.Zipf : Popularity.Uniform,
            ZipfExponent: v.Real("zipf_exponent"),
            Start: v.Duration("start"))
        {
            Targets = v.Text("targets") == "nodes" ? LookupTargets.Nodes : LookupTargets.Keys,
            Replication = new ReplicationOptions(
                v.Text("replication") switch
                {
                    "proportional" => ReplicationStrategy.Proportional,
                    "square_root" => ReplicationStrategy.SquareRoot,
                    _ => ReplicationStrategy.Uniform,
                },
                (int)v.Int("replicas"),
                v.Int("replica_budget") > 0 ? v.Int("replica_budget") : v.Int("replicas") * v.Int("keys")),
        };
    }

    /// <summary>
    /// The replication keys take effect only for overlays without a placement rule of their own: with none in the
    /// scenario, setting them is an error and they are left out of the resolved scenario. Otherwise they are checked
    /// against each other, the keys and the nodes.
    /// </summary>
    private WorkloadOptions BindReplication(WorkloadOptions workload, List<OverlayConfig> overlays, YamlMappingNode? map, HashSet<string> explicitNames, long nodes)
    {
        Origin Where(string key) => OriginOf(map, "workload." + key, key, ScenarioLoader.At(_file, _root));
        ReplicationOptions r = workload.Replication!;
        if (workload.Targets == LookupTargets.Nodes && overlays.FirstOrDefault(o => !o.Info.PlacesKeys) is { } unplaced)
            Report(Where("targets"), $"key 'workload.targets': nodes routes lookups to node ids, which only overlays that place keys by a rule of their own (DHTs) can do; '{unplaced.Label}' searches for items held by replicas: use targets: keys");
        if (overlays.Count > 0 && overlays.All(o => o.Info.PlacesKeys))
        {
            foreach (string key in Schema.ReplicationKeys)
            {
                _resolved.RemoveAll(kv => kv.Key == "workload." + key);
                if (explicitNames.Contains(key))
                    Report(Where(key), $"key 'workload.{key}' places the items of overlays without a placement rule of their own, and every overlay here ({string.Join(", ", overlays.Select(o => o.Label))}) places keys by its own rule: remove the key");
            }
            return workload with { Replication = null };
        }
        if (r.Strategy == ReplicationStrategy.Uniform && explicitNames.Contains("replica_budget"))
        {
            // Uniform under a total budget: the budget shared equally (Cohen and Shenker's uniform allocation), so that the
            // three strategies can be swept at the same budget.
            _resolved.RemoveAll(kv => kv.Key == "workload.replicas");
            if (explicitNames.Contains("replicas"))
                Report(Where("replicas"), "keys 'workload.replicas' and 'workload.replica_budget' both set the copies of uniform replication: set replicas (copies of each item) or replica_budget (the total, shared equally)");
            if (r.Budget < workload.Keys || r.Budget > workload.Keys * nodes)
                Report(Where("replica_budget"), $"key 'workload.replica_budget': {r.Budget} copies cannot give each of the {workload.Keys} items between one copy and one per node ({nodes} nodes): expected {workload.Keys}..{workload.Keys * nodes}");
            return workload with { Replication = r with { Copies = 0 } };
        }
        if (r.Strategy == ReplicationStrategy.Uniform)
        {
            _resolved.RemoveAll(kv => kv.Key == "workload.replica_budget");
            if (r.Copies > nodes)
                Report(Where("replicas"), $"key 'workload.replicas': {r.Copies} copies of each item need as many distinct nodes, but there are {nodes}");
        }
        else
        {
            _resolved.RemoveAll(kv => kv.Key == "workload.replicas");
            if (explicitNames.Contains("replicas"))
                Report(Where("replicas"), "key 'workload.replicas' takes effect only with replication: uniform (set replica_budget, the total copies, for proportional and square_root)");
            ReplaceResolved("workload.replica_budget", r.Budget.ToString(CultureInfo.InvariantCulture));
            if (r.Budget < workload.Keys || r.Budget > workload.Keys * nodes)
                Report(Where("replica_budget"), $"key 'workload.replica_budget': {r.Budget} copies cannot give each of the {workload.Keys} items between one copy and one per node ({nodes} nodes): expected {workload.Keys}..{workload.Keys * nodes}");
        }
        return workload;
    }

    /// <summary>
    /// Binds every overlay entry against its options record: its parameters (each checked as any other), the ones that
    /// take their default from another, the ones that cannot take effect in the entry's variant (an error when given),
    /// and the record's own checks across parameters (<see cref="IOptionsCheck"/>).
    /// </summary>
    private List<OverlayConfig> BindOverlays(long nodes, int idBits)
    {
        var result = new List<OverlayConfig>();
        if (!_root.Children.TryGetValue(new YamlScalarNode("overlays"), out YamlNode? node))
        {
            Report(ScenarioLoader.At(_file, _root), "missing key 'overlays': list at least one overlay, e.g. overlays: [ { chord: { successors: 8 } } ]");
            return result;
        }
        if (node is not YamlSequenceNode seq || seq.Children.Count == 0)
        {
            Report(ScenarioLoader.At(_file, node), "key 'overlays': expected a non-empty list, e.g. overlays: [ { chord: { successors: 8 } } ]");
            return result;
        }
        var labels = new HashSet<string>(StringComparer.Ordinal);
        string known = string.Join(", ", OverlayRegistry.All.Select(o => o.Name));
        foreach (YamlNode item in seq.Children)
        {
            string name;
            YamlNode nameNode;
            YamlMappingNode? parameters = null;
            switch (item)
            {
                case YamlScalarNode s:
                    name = s.Value ?? "";
                    nameNode = s;
                    break;
                case YamlMappingNode m when m.Children.Count == 1 && m.Children.First().Key is YamlScalarNode:
                    var (k, v) = m.Children.First();
                    name = ((YamlScalarNode)k).Value ?? "";
                    nameNode = k;
                    if (v is YamlMappingNode pm) parameters = pm;
                    else if (v is not YamlScalarNode { Value: null or "" })
                    {
                        Report(ScenarioLoader.At(_file, v), $"overlay '{name}': expected a mapping of its parameters, e.g. {name}: {{ ... }}, got a {ScenarioLoader.Kind(v)}");
                        continue;
                    }
                    break;
                default:
                    Report(ScenarioLoader.At(_file, item), "each overlay entry must be one overlay name mapping to its parameters, e.g. - chord: { successors: 8 }");
                    continue;
            }
            OverlayInfo? info = OverlayRegistry.Find(name);
            if (info is null)
            {
                Report(ScenarioLoader.At(_file, nameNode), $"unknown overlay '{name}'{Spelling.Hint(name, OverlayRegistry.All.Select(o => o.Name))} (available: {known})");
                continue;
            }
            string label = name;
            if (parameters is not null && parameters.Children.TryGetValue(new YamlScalarNode("label"), out YamlNode? labelNode) && labelNode is YamlScalarNode ls)
            {
                label = ls.Value ?? "";
                if (!IsSafeName(label))
                {
                    Report(ScenarioLoader.At(_file, labelNode), $"overlay '{name}': label '{label}' cannot name an overlay in the results and in --set paths (expected letters, digits, '.', '_' or '-', not starting with '.')");
                    continue;
                }
            }
            if (!labels.Add(label))
            {
                Report(ScenarioLoader.At(_file, nameNode), $"overlay '{label}' appears twice: give each entry a distinct 'label' to tell them apart in the results");
                continue;
            }
            var labelSpec = new ParamSpec("label", ParamKind.Text, name, "name of this entry in the results (default: the overlay name)");
            var specs = new List<ParamSpec> { labelSpec };
            specs.AddRange(info.Parameters);
            _resolved.Add(new($"overlays.{label}.overlay", name));
            string prefix = $"overlays.{label}.";
            Origin entry = ScenarioLoader.At(_file, nameNode);
            var (values, explicitNames) = BindSection(parameters, prefix, specs, $"overlay '{name}'", [], consumeOverrides: true, skipOverride: "label");
            if (info.Parameters.Any(p => !values.Has(p.Name))) continue; // a value was refused (reported): nothing to check further

            foreach (ParamSpec p in info.Parameters)
            {
                if (p.DefaultFrom is not { } from || explicitNames.Contains(p.Name)) continue;
                values.Set(p.Name, values.Get(from));
                ReplaceResolved(prefix + p.Name, Units.Format(p.Kind, values.Get(from)));
            }
            foreach (ParamSpec p in info.Parameters)
            {
                if (p.Conditions is null) continue;
                ParamCondition? unmet = p.Conditions.Cast<ParamCondition?>().FirstOrDefault(c => Units.Format(Spec(info, c!.Value.Name).Kind, values.Get(c.Value.Name)) != c.Value.Value);
                if (unmet is not { } c) continue;
                _resolved.RemoveAll(kv => kv.Key == prefix + p.Name);
                if (!explicitNames.Contains(p.Name)) continue;
                string actual = Units.Format(Spec(info, c.Name).Kind, values.Get(c.Name));
                Report(OriginOf(parameters, prefix + p.Name, p.Name, entry),
                    $"key '{prefix}{p.Name}' takes effect only with {p.ConditionText}, but this entry has {c.Name}: {actual} (remove the key, or set {c.Name}: {c.Value})");
            }
            object options = info.Bind(values);
            if (options is IOptionsCheck check)
                foreach (var (param, problem) in check.Check(new OptionsContext(nodes, idBits)))
                    Report(OriginOf(parameters, prefix + param, param, entry), $"key '{prefix}{param}': {problem}");
            result.Add(new OverlayConfig(label, info, values, options) { Origin = entry });
        }
        return result;
    }

    /// <summary>
    /// Binds the keys of one mapping against <paramref name="specs"/>: reports unknown keys (with a suggestion),
    /// takes each value from an override, the file or the default, and parses and range-checks it.
    /// Returns the values and the names given explicitly (in the file or by an override).
    /// </summary>
    private (ParamValues Values, HashSet<string> Explicit) BindSection(
        YamlMappingNode? map, string prefix, IReadOnlyList<ParamSpec> specs, string section, string[] extraKeys,
        bool consumeOverrides = true, string? skipOverride = null)
    {
        var values = new ParamValues();
        var explicitNames = new HashSet<string>(StringComparer.Ordinal);
        if (map is not null)
        {
            foreach (var (k, _) in map.Children)
            {
                string key = (k as YamlScalarNode)?.Value ?? "";
                if (specs.Any(s => s.Name == key) || extraKeys.Contains(key)) continue;
                // Distinct: the top level passes its scalar keys both as specs and among the known keys.
                var names = specs.Select(s => s.Name).Concat(extraKeys).Distinct().ToList();
                string where = prefix.Length == 0 ? "at the top level" : $"in {section}";
                Report(ScenarioLoader.At(_file, k), $"unknown key '{prefix}{key}' {where}{Spelling.Hint(key, names)} (expected one of: {string.Join(", ", names)})");
            }
        }
        foreach (ParamSpec spec in specs)
        {
            string path = prefix + spec.Name;
            RawValue? raw = spec.Name == skipOverride ? Raw(map, null, spec.Name) : Raw(map, consumeOverrides ? path : null, spec.Name);
            if (raw is null)
            {
                if (spec.Default is null)
                {
                    Report(map is null ? ScenarioLoader.At(_file, _root) : ScenarioLoader.At(_file, map), $"{section} needs key '{path}': {spec.Description}");
                    continue;
                }
                values.Set(spec.Name, spec.Default);
                _resolved.Add(new(path, Units.Format(spec.Kind, spec.Default)));
                continue;
            }
            explicitNames.Add(spec.Name);
            RawValue r = raw.Value;
            if (!r.IsScalar)
            {
                Report(r.Origin, $"key '{path}': expected {Expected(spec)}, got a {r.NonScalarKind}");
                continue;
            }
            if (!TryParse(spec, r.Text, out object? value, out string? problem))
            {
                Report(r.Origin, $"key '{path}': {problem}");
                continue;
            }
            values.Set(spec.Name, value!);
            _resolved.Add(new(path, Units.Format(spec.Kind, value!)));
        }
        return (values, explicitNames);
    }

    /// <summary>The raw value of a key: an override (marked consumed) or the file's, or null when neither has it.</summary>
    private RawValue? Raw(YamlMappingNode? map, string? overridePath, string key)
    {
        if (overridePath is not null && _overrides.TryGetValue(overridePath, out RawValue o))
        {
            _consumed.Add(overridePath);
            return o;
        }
        if (map is null || !map.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? node)) return null;
        return node is YamlScalarNode s
            ? new RawValue(s.Value ?? "", ScenarioLoader.At(_file, node), true)
            : new RawValue("", ScenarioLoader.At(_file, node), false, ScenarioLoader.Kind(node));
    }

    private YamlMappingNode? Section(string name, out Origin origin)
    {
        origin = ScenarioLoader.At(_file, _root);
        if (!_root.Children.TryGetValue(new YamlScalarNode(name), out YamlNode? node)) return null;
        origin = ScenarioLoader.At(_file, node);
        if (node is YamlMappingNode map) return map;
        if (node is YamlScalarNode { Value: null or "" }) return null;
        Report(origin, $"key '{name}': expected a mapping of its parameters, got a {ScenarioLoader.Kind(node)}");
        return null;
    }

    /// <summary>A top-level section's mapping, or null (absent or not a mapping, which <see cref="Section"/> reports).</summary>
    private YamlMappingNode? SectionMap(string name) =>
        _root.Children.TryGetValue(new YamlScalarNode(name), out YamlNode? node) ? node as YamlMappingNode : null;

    /// <summary>Where a key's value came from (an override or the file), for reporting cross-checks.</summary>
    private Origin OriginOf(YamlMappingNode? map, string path, string key, Origin fallback)
    {
        if (_overrides.TryGetValue(path, out RawValue o)) return o.Origin;
        if (map is not null && map.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? node)) return ScenarioLoader.At(_file, node);
        return map is null ? fallback : ScenarioLoader.At(_file, map);
    }

    private void ReplaceResolved(string path, string value)
    {
        int i = _resolved.FindIndex(kv => kv.Key == path);
        if (i >= 0) _resolved[i] = new(path, value);
    }

    private void Report(Origin origin, string message) => Diagnostics.Add(new Diagnostic(origin, message));

    private static ParamSpec Spec(OverlayInfo info, string name) => info.Parameters.First(p => p.Name == name);

    private static string Expected(ParamSpec spec) => spec.Kind switch
    {
        ParamKind.Int => $"a whole number in {spec.RangeText}",
        ParamKind.Real => $"a number in {spec.RangeText}",
        ParamKind.Duration => $"a duration with a unit (us, ms, s, min, h, d) in {spec.RangeText}",
        ParamKind.Rate => $"a rate such as 100/s or 1/10min, in {spec.RangeText}",
        ParamKind.Bool => "true or false",
        ParamKind.Choice => $"one of {spec.RangeText}",
        ParamKind.File => "a file path",
        _ => "a text value",
    };

    internal static bool TryParse(ParamSpec spec, string text, out object? value, out string? problem)
    {
        value = null;
        problem = null;
        string t = text.Trim();
        // .NET's number parsing ignores trailing NULs ("100\0" reads as 100), and no value of ours holds a
        // control character: refuse them for every kind rather than accept text the user cannot see.
        // Free text (a description) may span lines and hold tabs.
        int control = -1;
        for (int i = 0; i < t.Length && control < 0; i++)
            if (char.IsControl(t[i]) && !(spec.Kind == ParamKind.Text && t[i] is '\t' or '\n' or '\r')) control = i;
        if (control >= 0)
        {
            problem = $"'{Diagnostic.Clip(text)}' holds a control character (U+{(int)t[control]:X4}); expected {Expected(spec)}";
            return false;
        }
        double numeric;
        switch (spec.Kind)
        {
            case ParamKind.Int:
                string digits = t.Replace("_", "");
                if (long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) { value = l; numeric = l; break; }
                if (double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out double dl) && dl == Math.Floor(dl) && Math.Abs(dl) < 9e18)
                {
                    value = (long)dl;
                    numeric = dl;
                    break;
                }
                problem = $"expected {Expected(spec)}, got '{text}'";
                return false;
            case ParamKind.Real:
                if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                {
                    problem = $"expected {Expected(spec)}, got '{text}'";
                    return false;
                }
                value = d;
                numeric = d;
                break;
            case ParamKind.Duration:
                if (!Units.TryParseDuration(t, out long us, out string? derr))
                {
                    problem = $"expected {Expected(spec)}: {derr}";
                    return false;
                }
                value = us;
                numeric = us;
                break;
            case ParamKind.Rate:
                if (!Units.TryParseRate(t, out double perSecond, out string? rerr))
                {
                    problem = $"expected {Expected(spec)}: {rerr}";
                    return false;
                }
                value = perSecond;
                numeric = perSecond;
                break;
            case ParamKind.Bool:
                if (t is "true" or "false") { value = t == "true"; return true; }
                problem = $"expected true or false, got '{text}'";
                return false;
            case ParamKind.Choice:
                if (spec.Choices!.Contains(t)) { value = t; return true; }
                problem = $"expected one of {spec.RangeText}, got '{text}'{Spelling.Hint(t, spec.Choices!)}";
                return false;
            default:
                value = t;
                return true;
        }
        if (!double.IsFinite(numeric) || numeric < spec.Min || numeric > spec.Max)
        {
            problem = $"{text.Trim()} is out of range (expected {spec.RangeText})";
            value = null;
            return false;
        }
        return true;
    }

    /// <summary>
    /// A plain file name: it names the result folder, so '.', '..' and hidden names (which the result folder's
    /// own staging and lock files use) are refused along with separators.
    /// </summary>
    internal static bool IsSafeName(string name) => name.Length <= 100 && SafeName().IsMatch(name) && name[0] != '.';

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex SafeName();
}

/// <summary>
/// Parsed input files (latency matrices, churn traces) by full path, so that a sweep or a repeated
/// validation reads and checks each file once.
/// </summary>
internal static class ParsedFiles
{
    private static readonly Dictionary<(string, Type), object> Cache = new();

    public static T Load<T>(string fullPath, Func<string, T> parse) where T : class
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue((fullPath, typeof(T)), out object? value))
            {
                // A bad file is remembered too: each point of a long sweep would read it again to fail again.
                try { value = parse(fullPath); }
                catch (ScenarioException e) { value = e; }
                Cache[(fullPath, typeof(T))] = value;
            }
            if (value is ScenarioException failed) throw new ScenarioException(failed.Diagnostics);
            return (T)value;
        }
    }
}
