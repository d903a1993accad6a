using OverlaySim.Core;

namespace OverlaySim.Scenarios;

/// <summary>A model as the scenario names it (a latency or churn model): its formula and parameters, for validation and <c>list</c>.</summary>
public sealed record ModelInfo(string Name, string Formula, IReadOnlyList<ParamSpec> Parameters);

/// <summary>
/// Every parameter a scenario file can hold, with its default and range: the single source for validation,
/// <c>--set</c>, sweeps, <c>overlaysim list</c> and the manifest.
/// </summary>
public static class Schema
{
    public const long MaxNodes = 100_000_000;

    /// <summary>Top-level scalar keys (the sections latency, workload, overlays and sweep are apart).</summary>
    public static IReadOnlyList<ParamSpec> Top { get; } =
    [
        new ParamSpec("name", ParamKind.Text, "", "scenario name: names the result folder and the 'scenario' column (default: the file name without .yaml)"),
        new ParamSpec("description", ParamKind.Text, "", "free text, copied into manifest.json"),
        ParamSpec.Int("seed", 1, 0, long.MaxValue, "master seed; with the replicate index it derives every random stream"),
        ParamSpec.Int("nodes", 1000, 1, MaxNodes, "N: number of nodes"),
        ParamSpec.Int("id_bits", 160, IdSpace.MinBits, IdSpace.MaxBits, "m: width of the circular id space in bits (160 = SHA-1)"),
        ParamSpec.Int("replicates", 1, 1, 10_000, "independent repetitions of each run, with streams derived from (seed, replicate)"),
        ParamSpec.Duration("duration", 0, 0, 365L * 86_400_000_000, "simulated time the run lasts; 0 = until the workload is done (static overlays without churn only)"),
        ParamSpec.Duration("measure_after", 0, 0, 365L * 86_400_000_000, "warm-up: lookups issued and traffic sent before this time are not measured"),
        ParamSpec.Duration("sample_every", 60_000_000, 0, 365L * 86_400_000_000, "interval of the rows of timeseries.csv (0 = no time series)"),
    ];

    /// <summary>The per-message extra delay every latency model takes (see JitteredLatency).</summary>
    public static ParamSpec Jitter { get; } = ParamSpec.Duration("jitter", 0, 0, 3_600_000_000,
        "mean of an exponential extra delay drawn for every message (0 = none); timeouts and proximity use the pair's delay + jitter");

    public static IReadOnlyList<ModelInfo> LatencyModels { get; } =
    [
        new ModelInfo("constant", "delay(a,b) = delay",
            [ParamSpec.Duration("delay", 50_000, 0, 3_600_000_000, "one-way delay of every message"), Jitter]),
        new ModelInfo("uniform", "delay(a,b) = min + u(a,b)*(max-min), u uniform in [0,1), fixed per unordered pair",
            [
                ParamSpec.Duration("min", 10_000, 0, 3_600_000_000, "smallest one-way delay"),
                ParamSpec.Duration("max", 100_000, 0, 3_600_000_000, "largest one-way delay"),
                Jitter,
            ]),
        new ModelInfo("exponential", "delay(a,b,message) = an exponential draw of mean 'mean' for every message (the Chord ToN simulator's per-packet delays)",
            [ParamSpec.Duration("mean", 50_000, 0, 3_600_000_000, "mean one-way delay of a message")]),
        new ModelInfo("coordinates",
            "delay(a,b) = access(a) + mean*|x_a - x_b|/D_d + access(b); x uniform in the unit d-cube, D_d the mean distance there, access(n) uniform in [access_min, access_max]",
            [
                ParamSpec.Int("dimensions", 2, 1, 16, "d: dimensions of the coordinate space"),
                ParamSpec.Duration("mean", 50_000, 0, 3_600_000_000, "mean one-way delay between two random nodes, access delays excluded"),
                ParamSpec.Duration("access_min", 0, 0, 3_600_000_000, "smallest per-node access delay (added at each end)"),
                ParamSpec.Duration("access_max", 0, 0, 3_600_000_000, "largest per-node access delay"),
                Jitter,
            ]),
        new ModelInfo("matrix",
            "delay(a,b) = RTT[host(a), host(b)] / 2; node i on host perm[i mod H], perm a random permutation of the H hosts",
            [new ParamSpec("file", ParamKind.File, null, "RTT matrix in milliseconds: H lines of H numbers, whitespace or comma separated (relative to the scenario file)"), Jitter]),
    ];

    /// <summary>Churn models (scenario section <c>churn:</c>), with their parameters.</summary>
    public static IReadOnlyList<ModelInfo> ChurnModels { get; } =
    [
        new ModelInfo("none", "no node joins or leaves", []),
        new ModelInfo("lifetime",
            "each machine alternates sessions and downtimes drawn from the distribution (OverSim's lifetime churn); machines start up with probability session_mean / (session_mean + downtime_mean)",
            [
                ParamSpec.Choice("distribution", "exponential", "family of session and downtime lengths", "exponential", "pareto", "weibull"),
                ParamSpec.Duration("session_mean", 3_600_000_000, 1_000, 365L * 86_400_000_000, "mean session (time up)"),
                ParamSpec.Real("shape", 2.0, 0.05, 100, "shape: Pareto alpha (> 1 for a finite mean) or Weibull k; unused for exponential"),
                ParamSpec.Duration("downtime_mean", 3_600_000_000, 1_000, 365L * 86_400_000_000, "mean downtime between sessions"),
                ParamSpec.Real("leave_fraction", 0.5, 0, 1, "share of departures that are graceful leaves; the rest are crashes"),
                new ParamSpec("new_id_on_rejoin", ParamKind.Bool, true, "a machine coming back takes a new id (false: it keeps its old id)"),
            ]),
        new ModelInfo("rate", "joins of new machines and departures of random live machines as Poisson processes (the Chord paper's dynamic experiments)",
            [
                ParamSpec.Rate("rate", 0, 0, 1e6, "R: joins and departures per second each, as in the Chord paper (excludes join_rate and failure_rate)"),
                ParamSpec.Rate("join_rate", 0, 0, 1e6, "joins per second"),
                ParamSpec.Rate("failure_rate", 0, 0, 1e6, "departures per second"),
                ParamSpec.Real("leave_fraction", 0, 0, 1, "share of departures that are graceful leaves; the rest are crashes"),
            ]),
        new ModelInfo("mass_failure", "at time 'at', each live machine crashes with probability p",
            [
                ParamSpec.Duration("at", 0, 0, 365L * 86_400_000_000, "when the failure strikes"),
                ParamSpec.Real("probability", 0.5, 0, 1, "p: chance that each live machine fails"),
                new ParamSpec("stop_maintenance", ParamKind.Bool, false, "stop stabilization and finger repair from then on, to measure routing on stale state"),
            ]),
        new ModelInfo("trace", "replays a CSV trace of 'time, node, event' lines (event: join, leave or crash; node: machine index; time in seconds or with a unit)",
            [new ParamSpec("file", ParamKind.File, null, "the trace CSV (relative to the scenario file)")]),
    ];

    public static readonly ParamSpec ChurnModel =
        ParamSpec.Choice("model", "none", "churn model", "none", "lifetime", "rate", "mass_failure", "trace");

    public static ModelInfo? FindChurn(string name)
    {
        foreach (ModelInfo l in ChurnModels)
            if (l.Name == name) return l;
        return null;
    }

    public static readonly ParamSpec LatencyModel =
        ParamSpec.Choice("model", "coordinates", "latency model", "constant", "uniform", "exponential", "coordinates", "matrix");

    public static IReadOnlyList<ParamSpec> Workload { get; } =
    [
        ParamSpec.Int("lookups", 10_000, 0, 10_000_000_000, "count mode: total lookups, issued as one Poisson stream at 'rate'"),
        ParamSpec.Rate("rate", 1000, 1e-9, 1e9, "count mode: aggregate lookup issue rate"),
        ParamSpec.Rate("per_node_rate", 0, 0, 1e6, "rate mode (when > 0): Poisson lookup rate of each live node, for 'duration'; excludes 'lookups'"),
        ParamSpec.Duration("duration", 0, 0, 365L * 86_400_000_000, "rate mode: how long lookups are issued"),
        ParamSpec.Int("keys", 10_000, 1, 100_000_000, "K: number of named keys key-0..key-(K-1), mapped to ids with SHA-1"),
        ParamSpec.Choice("popularity", "uniform", "how lookup keys are drawn (zipf: key-0 most popular)", "uniform", "zipf"),
        ParamSpec.Real("zipf_exponent", 1.0, 0, 10, "s in P(rank r) ~ 1/r^s, with popularity: zipf"),
        ParamSpec.Duration("start", 0, 0, 365L * 86_400_000_000, "simulated time of the first lookup"),
        ParamSpec.Choice("targets", "keys", "what a lookup looks for: keys (one of the K keys, by popularity) or nodes (the id of a live node drawn uniformly among the others: routes between random pairs of nodes, as the Pastry and CAN papers measured; such lookups look for no stored value; DHTs only)", "keys", "nodes"),
        ParamSpec.Choice("replication", "uniform", "for overlays without a placement rule of their own: copies of each item, uniform (replicas each) or proportional / square_root to its popularity under replica_budget (Cohen and Shenker, SIGCOMM 2002), on distinct nodes chosen uniformly; DHTs place keys by their own rule", "uniform", "proportional", "square_root"),
        ParamSpec.Int("replicas", 1, 1, 1_000_000, "replication: uniform: copies of each item"),
        ParamSpec.Int("replica_budget", 0, 0, 1_000_000_000_000, "total copies over all items, at least keys (each item gets one): proportional or square_root share it by popularity, uniform equally (instead of replicas); 0 = replicas * keys"),
    ];

    /// <summary>The workload keys that only overlays without a placement rule use.</summary>
    public static readonly string[] ReplicationKeys = ["replication", "replicas", "replica_budget"];

    public static ModelInfo? FindLatency(string name)
    {
        foreach (ModelInfo l in LatencyModels)
            if (l.Name == name) return l;
        return null;
    }

    /// <summary>The metrics that runs.csv reports, with their definitions (for <c>overlaysim list</c> and the README).</summary>
    public static IReadOnlyList<(string Column, string Definition)> Metrics { get; } =
    [
        ("lookups", "measured lookups issued"),
        ("lookups_ok", "lookups that ended at the node the oracle says is responsible for the key"),
        ("lookups_wrong", "lookups answered by a node that is not responsible for the key"),
        ("lookups_failed", "lookups that got no answer (timed out, dropped, retries spent); they have no hops or latency"),
        ("success_rate", "lookups_ok / lookups"),
        ("hops_mean, hops_p1, hops_p50, hops_p99, hops_max", "overlay messages on the route from the origin until the responsible node holds the request (nearest-rank percentiles)"),
        ("latency_mean_ms, latency_p50_ms, latency_p99_ms", "simulated time from issue until the origin learns the answer"),
        ("degree_mean, degree_max", "distinct other nodes in a node's routing state"),
        ("msgs_per_lookup", "all messages a lookup caused, replies included, until it ended (its last message was done)"),
        ("bytes_per_lookup", "bytes of those messages: header plus payload, by each overlay's size table (20 bytes of header + 4 per id or address carried)"),
        ("keys_per_node_mean, _p1, _p99, _max, _zero_frac", "how many of the K keys each node is responsible for, over all live nodes (per machine with virtual nodes)"),
        ("load_mean, load_p99, load_max", "per machine up in the measurement window: messages of measured lookups sent to it, per measured lookup"),
        ("load_max_node_share", "the busiest machine's share of all messages of measured lookups"),
        ("lookups_abandoned", "measured lookups whose origin left before they were answered (excluded from the rates)"),
        ("timeouts_mean, timeouts_p99", "request timeouts a lookup met"),
        ("maint_msgs_per_node_s, maint_bytes_per_node_s", "maintenance messages and bytes per live node per second (20 bytes of header + 4 per id or address carried)"),
        ("keys_lost, value_found_rate", "stored keys no live node holds; share of lookups for stored keys that returned the value (overlays that store keys)"),
        ("live_nodes_mean, joins, leaves, crashes", "mean live nodes over the measurement window; churn events of the whole run"),
        ("events", "events dispatched by the engine"),
        ("trace_hash", "64-bit hash of the dispatched-event trace: equal hashes, equal runs"),
    ];
}
