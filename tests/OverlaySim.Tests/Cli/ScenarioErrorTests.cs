using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>
/// Every kind of scenario mistake, through the real command line: exit code 2, a first error line of the form
/// <c>FILE:LINE:COL: message</c> at the exact position of the mistake, naming the key (and suggesting the
/// right one for a misspelling), and nothing written: neither the result folder nor a staging folder.
/// </summary>
/// <remarks>Columns are 1-based and were counted by hand from the YAML text; each case says what is there.</remarks>
[Collection("Console")]
public class ScenarioErrorTests
{
    public static TheoryData<string, string, int, int, string[]> Cases => new()
    {
        // name, YAML, line, column, fragments the first error message must hold
        { "unknown top-level key", "name: bad\nnodes: 500\nnodse: 3\noverlays: [chord]\n", 3, 1, ["unknown key 'nodse'", "did you mean 'nodes'?"] },
        { "unknown workload key", "nodes: 500\nworkload: { lookups: 1000, kyes: 100 }\noverlays: [chord]\n", 2, 28, ["unknown key 'workload.kyes'", "did you mean 'keys'?"] },
        { "unknown latency key", "nodes: 500\nlatency: { model: constant, dealy: 5ms }\noverlays: [chord]\n", 2, 29, ["unknown key 'latency.dealy'", "did you mean 'delay'?"] },
        { "unknown overlay parameter", "nodes: 500\noverlays:\n  - chord: { sucessors: 4 }\n", 3, 14, ["unknown key 'overlays.chord.sucessors'", "did you mean 'successors'?"] },
        { "word for a whole number", "nodes: many\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "expected a whole number", "'many'"] },
        { "list for a whole number", "nodes: [1, 2]\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "expected a whole number", "got a list"] },
        { "fraction for a whole number", "nodes: 500.5\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "expected a whole number", "'500.5'"] },
        { "duration without unit", "nodes: 500\nlatency: { model: constant, delay: 10 }\noverlays: [chord]\n", 2, 36, ["key 'latency.delay'", "no unit"] },
        { "rate that is not a rate", "nodes: 500\nworkload: { rate: fast }\noverlays: [chord]\n", 2, 19, ["key 'workload.rate'", "not a rate"] },
        { "section that is not a mapping", "nodes: 500\nworkload: 5\noverlays: [chord]\n", 2, 11, ["key 'workload'", "expected a mapping"] },
        { "overlay parameters that are not a mapping", "nodes: 500\noverlays:\n  - chord: 4\n", 3, 12, ["overlay 'chord'", "expected a mapping"] },
        { "nodes below range", "nodes: 0\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "out of range", "1..100000000"] },
        { "nodes above range", "nodes: 100000001\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "out of range", "1..100000000"] },
        { "successors above range", "nodes: 500\noverlays:\n  - chord: { successors: 65 }\n", 3, 26, ["key 'overlays.chord.successors'", "out of range", "1..64"] },
        { "duration above range", "nodes: 500\nlatency: { model: constant, delay: 2h }\noverlays: [chord]\n", 2, 36, ["key 'latency.delay'", "out of range", "0..1h"] },
        { "negative seed", "seed: -1\nnodes: 500\noverlays: [chord]\n", 1, 7, ["key 'seed'", "out of range"] },
        { "misspelled choice", "nodes: 500\nworkload: { popularity: zipff }\noverlays: [chord]\n", 2, 25, ["key 'workload.popularity'", "uniform|zipf", "did you mean 'zipf'?"] },
        { "misspelled latency model", "nodes: 500\nlatency: { model: constnat }\noverlays: [chord]\n", 2, 19, ["key 'latency.model'", "did you mean 'constant'?"] },
        { "latency min above max", "nodes: 500\nlatency: { model: uniform, min: 50ms, max: 10ms }\noverlays: [chord]\n", 2, 33, ["key 'latency.min'", "latency.max"] },
        { "id space too small for the nodes", "nodes: 500\nid_bits: 8\noverlays: [chord]\n", 1, 8, ["key 'nodes'", "id_bits"] },
        { "rate mode and count mode together", "nodes: 500\nworkload: { lookups: 100, per_node_rate: 1/s, duration: 10s }\noverlays: [chord]\n", 2, 42, ["key 'workload.per_node_rate'", "workload.lookups"] },
        { "name unfit for a folder", "name: \"a b\"\nnodes: 500\noverlays: [chord]\n", 1, 7, ["key 'name'", "'a b'"] },
        { "missing overlays", "# a scenario without overlays\nnodes: 500\n", 2, 1, ["missing key 'overlays'"] },
        { "empty overlays", "nodes: 500\noverlays: []\n", 2, 11, ["key 'overlays'", "non-empty list"] },
        { "missing matrix file key", "nodes: 500\nlatency: { model: matrix }\noverlays: [chord]\n", 2, 10, ["needs key 'latency.file'"] },
        { "matrix file not found", "nodes: 500\nlatency: { model: matrix, file: nope.txt }\noverlays: [chord]\n", 2, 33, ["key 'latency.file'", "'nope.txt' not found"] },
        { "misspelled overlay", "nodes: 500\noverlays:\n  - chrod: { successors: 4 }\n", 3, 5, ["unknown overlay 'chrod'", "did you mean 'chord'?", "available: chord"] },
        { "unknown overlay in short form", "nodes: 500\noverlays: [pastri]\n", 2, 12, ["unknown overlay 'pastri'", "available: chord"] },
        { "same overlay twice", "nodes: 500\noverlays: [chord, chord]\n", 2, 19, ["overlay 'chord' appears twice", "label"] },
        { "unclosed flow mapping", "nodes: 500\noverlays: {chord\n", 3, 1, ["malformed YAML", "'}'"] },
        { "unclosed flow sequence", "nodes: [1, 2\noverlays: [chord]\n", 2, 1, ["malformed YAML", "unclosed '['"] },
        { "bad indentation", "nodes: 500\n  bad: x\noverlays: [chord]\n", 2, 6, ["malformed YAML"] },
        { "duplicate key", "nodes: 500\nnodes: 600\noverlays: [chord]\n", 2, 1, ["malformed YAML", "nodes"] },
        { "empty file", "", 1, 1, ["empty"] },
        { "list at the top", "- nodes\n- overlays\n", 1, 1, ["expected a mapping"] },
        { "two documents", "nodes: 500\noverlays: [chord]\n---\nnodes: 600\n", 4, 1, ["more than one YAML document"] },
        { "sweep not a mapping", "nodes: 500\noverlays: [chord]\nsweep: [nodes]\n", 3, 8, ["key 'sweep'", "expected a mapping"] },
        { "sweep of a scalar", "nodes: 500\noverlays: [chord]\nsweep:\n  nodes: 300\n", 4, 10, ["sweep 'nodes'", "non-empty list"] },
        { "sweep of an empty list", "nodes: 500\noverlays: [chord]\nsweep:\n  nodes: []\n", 4, 10, ["sweep 'nodes'", "non-empty list"] },
        { "unknown swept path", "nodes: 500\noverlays: [chord]\nsweep:\n  nodse: [200, 300]\n", 4, 3, ["sweep: unknown parameter 'nodse'", "did you mean 'nodes'?"] },
        { "sweep of a fixed key", "nodes: 500\noverlays: [chord]\nsweep:\n  replicates: [1, 2]\n", 4, 3, ["'replicates' cannot be swept"] },
        { "sweep of a list", "nodes: 500\noverlays: [chord]\nsweep:\n  nodes: [200, [300]]\n", 4, 16, ["sweep 'nodes'", "expected a scalar"] },
        { "sweep value of a wrong type", "nodes: 500\noverlays: [chord]\nsweep:\n  nodes: [200, abc]\n", 4, 16, ["key 'nodes'", "'abc'"] },
        { "sweep value out of range", "nodes: 500\noverlays: [chord]\nsweep:\n  overlays.chord.successors: [4, 0]\n", 4, 34, ["key 'overlays.chord.successors'", "out of range"] },
        // Keys that cannot take effect in the entry's variant, and relations between an overlay's parameters.
        { "protocol parameter on a converged ring", "nodes: 500\noverlays:\n  - chord: { lookup: iterative }\n", 3, 22, ["key 'overlays.chord.lookup'", "only with protocol: dynamic", "protocol: static"] },
        { "join_over without start: joins", "nodes: 500\nduration: 1h\noverlays:\n  - chord: { protocol: dynamic, join_over: 5s }\n", 4, 44, ["key 'overlays.chord.join_over'", "start: joins", "start: converged"] },
        { "replicas beyond the successor list", "nodes: 500\nduration: 1h\noverlays:\n  - chord: { protocol: dynamic, successors: 4, replicas: 6 }\n", 4, 58, ["key 'overlays.chord.replicas'", "successors is 4"] },
        { "virtual nodes beyond the id space", "nodes: 100\nid_bits: 8\noverlays:\n  - chord: { virtual_nodes: 4 }\n", 4, 29, ["key 'overlays.chord.virtual_nodes'", "id_bits"] },
        { "unknown protocol", "nodes: 500\noverlays:\n  - chord: { protocol: dynamik }\n", 3, 24, ["key 'overlays.chord.protocol'", "static|dynamic", "did you mean 'dynamic'?"] },
        { "fixed timeout beside a timeout in round trips", "nodes: 500\nduration: 1h\noverlays:\n  - chord: { protocol: dynamic, rpc_timeout_rtts: 3, rpc_timeout: 2s }\n", 4, 67, ["key 'overlays.chord.rpc_timeout'", "rpc_timeout_rtts: 0", "rpc_timeout_rtts: 3"] },
        { "alpha above k", "nodes: 500\noverlays:\n  - kademlia: { k: 4, alpha: 5 }\n", 3, 30, ["key 'overlays.kademlia.alpha'", "k = 4"] },
        // Hostile input (issue: bad input never crashes, hangs or runs away): each of these once gave an internal
        // error, a crash, a silently wrong run or a run without end.
        { "NaN rate", "nodes: 500\nworkload: { rate: NaN/s }\noverlays: [chord]\n", 2, 19, ["key 'workload.rate'", "not a rate"] },
        { "bare NaN rate", "nodes: 500\nworkload: { rate: NaN }\noverlays: [chord]\n", 2, 19, ["key 'workload.rate'", "not a rate"] },
        { "infinite rate", "nodes: 500\nworkload: { rate: Infinity/s }\noverlays: [chord]\n", 2, 19, ["key 'workload.rate'", "not a rate"] },
        { "rate that overflows to infinity", "nodes: 500\nworkload: { rate: 1e308/1us }\noverlays: [chord]\n", 2, 19, ["key 'workload.rate'", "out of range"] },
        { "NaN churn rate", "nodes: 500\nduration: 1h\nchurn: { model: rate, rate: NaN/s }\noverlays:\n  - chord: { protocol: dynamic }\n", 3, 29, ["key 'churn.rate'", "not a rate"] },
        { "nesting deeper than a scenario needs", "nodes: 500\noverlays: [chord]\ndescription: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", 3, 45, ["malformed YAML", "nested more than 32 levels"] },
        { "NUL after a number", "nodes: 500\u0000\noverlays: [chord]\n", 1, 11, ["malformed YAML", "control character U+0000"] },
        { "non-scalar sweep key", "nodes: 500\noverlays: [chord]\nsweep:\n  [nodes]: [200, 300]\n", 4, 3, ["sweep", "expected a parameter path", "got a list"] },
        { "non-scalar overlay name", "nodes: 500\noverlays:\n  - [chord]: {}\n", 3, 5, ["overlay"] },
        { "sweep of more points than a scenario may have", "nodes: 500\noverlays: [chord]\nsweep:\n  nodes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100]\n  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101]\n", 5, 3, ["sweep 'seed'", "more than 10,000 points", "100 x 101"] },
        { "more runs than a scenario may plan", "nodes: 500\nreplicates: 10000\noverlays: [chord]\nsweep:\n  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n", 2, 13, ["110,000 runs", "the most one scenario may plan is 100,000"] },
        { "time series sampled without end", "nodes: 500\nduration: 1h\nsample_every: 1us\nworkload: { per_node_rate: 1/min, duration: 1h }\noverlays:\n  - chord: { protocol: dynamic }\n", 3, 15, ["key 'sample_every'", "3,600,000,000 rows", "raise sample_every"] },
        { "lookups that start after the run ends", "nodes: 100\nduration: 1h\nworkload: { per_node_rate: 1/min, duration: 30min, start: 2h }\noverlays:\n  - chord: { protocol: dynamic }\n", 3, 59, ["key 'workload.start'", "after the run's end"] },
        { "a mass failure after the run ends", "nodes: 100\nduration: 1h\nchurn: { model: mass_failure, at: 3h, probability: 0.5 }\noverlays:\n  - chord: { protocol: dynamic }\n", 3, 35, ["key 'churn.at'", "after the run's end"] },
        { "an alias that names no anchor", "nodes: 100\nworkload: { lookups: 100, keys: *nope }\noverlays: [chord]\n", 2, 33, ["alias '*nope'", "names no anchor"] },
        { "an alias inside the node it names", "? &k [*k]\n: 1\n", 1, 7, ["alias '*k'", "cannot stand inside the node it names"] },
        { "a workload that would outlast any run (and the clock)", "nodes: 50\nworkload: { lookups: 20000, keys: 100, rate: 1e-9/s }\noverlays: [chord]\n", 2, 46, ["key 'workload.rate'", "231,481,481 days", "at most 365d"] },
        { "joins that add more machines than a run may have", "nodes: 500\nduration: 1h\nchurn: { model: rate, join_rate: 1000000/s, failure_rate: 1/s }\noverlays:\n  - chord: { protocol: dynamic }\n", 3, 34, ["churn", "3,600,000,000 machines", "100,000,000"] },
        { "empty label", "nodes: 500\noverlays:\n  - chord: { label: '' }\n", 3, 21, ["label ''"] },
        { "name that is the parent folder", "name: ..\nnodes: 500\noverlays: [chord]\n", 1, 7, ["key 'name'", "'..'", "cannot name a result folder"] },
        { "name that is the working folder", "name: .\nnodes: 500\noverlays: [chord]\n", 1, 7, ["key 'name'", "cannot name a result folder"] },
        { "hidden name", "name: .x\nnodes: 500\noverlays: [chord]\n", 1, 7, ["key 'name'", "not starting with '.'"] },
        { "value size without stored values", "nodes: 500\noverlays:\n  - kademlia: { store_keys: false, value_bytes: 100 }\n", 3, 49, ["key 'overlays.kademlia.value_bytes'", "store_keys: true"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RunReportsTheMistakeWhereItIsAndWritesNothing(string what, string yaml, int line, int column, string[] fragments)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", yaml);
        string output = dir["out"];

        CliResult r = Cli.Run("run", scenario, "--out", output);

        Assert.True(r.ExitCode == 2, $"{what}: {r}");
        Assert.NotEmpty(r.Errors);
        string first = r.Errors[0];
        Expect.StartsWith($"{scenario}:{line}:{column}: ", first);
        foreach (string f in fragments) Assert.Contains(f, first);
        Assert.False(Directory.Exists(output), $"{what}: the result folder was created");
        Assert.Equal(["s.yaml"], dir.Entries()); // no staging folder either
        Assert.Equal("", r.Out);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValidateReportsTheSameMistake(string what, string yaml, int line, int column, string[] fragments)
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", yaml);

        CliResult r = Cli.Run("validate", scenario);

        Assert.True(r.ExitCode == 2, $"{what}: {r}");
        Expect.StartsWith($"{scenario}:{line}:{column}: ", r.Errors[0]);
        foreach (string f in fragments) Assert.Contains(f, r.Errors[0]);
        Assert.DoesNotContain(": ok:", r.Out);
    }

    [Fact]
    public void MissingScenarioFileIsABadScenario()
    {
        using var dir = new TempFolder();
        string scenario = dir["absent.yaml"];
        string output = dir["out"];

        CliResult r = Cli.Run("run", scenario, "--out", output);

        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"{scenario}: scenario file not found", Assert.Single(r.Errors));
        Assert.False(Directory.Exists(output));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void EveryMistakeIsReportedNotJustTheFirstInFileOrder()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            overlays:
              - chord: { successors: 0 }
            nodes: many
            workload: { kyes: 5 }
            """);

        CliResult r = Cli.Run("run", scenario, "--out", dir["out"]);

        Assert.Equal(2, r.ExitCode);
        Assert.Equal(3, r.Errors.Length);
        Expect.StartsWith($"{scenario}:2:26: key 'overlays.chord.successors'", r.Errors[0]);
        Expect.StartsWith($"{scenario}:3:8: key 'nodes'", r.Errors[1]);
        Expect.StartsWith($"{scenario}:4:13: unknown key 'workload.kyes'", r.Errors[2]);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void UnknownTopLevelKeyListsEachExpectedKeyOnce()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "nodes: 500\nwrkload: {}\noverlays: [chord]\n");

        CliResult r = Cli.Run("validate", scenario);

        string message = Assert.Single(r.Errors);
        Assert.Contains("did you mean 'workload'?", message);
        string list = message[(message.IndexOf("expected one of: ", StringComparison.Ordinal) + "expected one of: ".Length)..].TrimEnd(')');
        string[] keys = list.Split(", ");
        Assert.Equal(keys.Distinct().Count(), keys.Length);
        foreach (string k in new[] { "name", "seed", "nodes", "id_bits", "replicates", "latency", "workload", "overlays", "sweep" })
            Assert.Contains(k, keys);
    }
}
