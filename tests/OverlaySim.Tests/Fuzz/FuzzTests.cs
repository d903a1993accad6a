using System.Diagnostics;
using System.Text;
using OverlaySim.Tests.Cli;
using CommandLine = OverlaySim.Tests.Cli.Cli;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Fuzz;

/// <summary>
/// The project's own fuzzer: malformed scenarios (mutations of every shipped and golden scenario), latency
/// matrices, churn traces and <c>--set</c> values, each fed to the real command line. Every input must end in
/// exit 0 or a clean refusal (exit 2 or 3 with <c>error:</c> lines of bounded length), never an internal
/// error, a stack trace or a hang; a small run of the inputs that validate must write all of its results or
/// nothing.
/// </summary>
/// <remarks>
/// The sample in <c>make test</c> is a few hundred inputs of each kind, from fixed seeds, and takes seconds. Set
/// <c>OVERLAYSIM_FUZZ=long</c> for fifty times as many (a release check, several minutes) and
/// <c>OVERLAYSIM_FUZZ_SEED=N</c> to explore other inputs; a failure names the seed and case that reproduce it.
/// </remarks>
[Collection("Console")]
public class FuzzTests
{
    private static readonly bool Long = Environment.GetEnvironmentVariable("OVERLAYSIM_FUZZ") == "long";

    private static readonly int Seed =
        int.TryParse(Environment.GetEnvironmentVariable("OVERLAYSIM_FUZZ_SEED"), out int s) ? s : 20261201;

    private static int Count(int sample) => Long ? sample * 50 : sample;

    /// <summary>Values that once broke, or could break, a parser or a range check.</summary>
    private static readonly string[] Hostile =
    [
        "NaN", "-NaN", "Infinity", "-Infinity", "1e309", "-1e309", "-1", "0", "-0", "1", "9223372036854775807",
        "9223372036854775808", "99999999999999999999", "1e-320", "0x10", "1_000", "1.5", "1e3", "1us", "0us", "-5ms",
        "1/0s", "NaN/s", "1e308/1us", "/s", "1/", "5/-1s", "..", ".", "/", "", "''", "\"\"", "~", "null", "true",
        "[]", "{}", "[[[[", "{{{{", "&a", "*a", "!!binary", "%YAML", "? x", "|", ">", "#", "\t", "\u0000", "\u0007",
        "\u001b[2J", "\u202e", "é", "\uFEFF", new string('9', 400), new string('a', 5000), "dynamic", "static",
        "iterative", "matrix", "trace", "/dev/zero", "/etc/passwd", "../../..", "1h", "365d", "366d", "100000001",
        "2147483648", "4294967296", "1e10", "1/1us", "1000000000/s",
    ];

    private static readonly string[] Tokens = [":", "- ", "[", "]", "{", "}", ",", "'", "\"", "\n", "\n  ", "  ", "#", "&x ", "*x", "!", "%", "@", "`", "|", ">"];

    [Fact]
    public void MutatedScenariosAreRefusedCleanlyOrValid()
    {
        var corpus = Corpus();
        var rng = new Random(Seed);
        using var dir = new TempFolder();
        dir.Write("rtt.txt", "0 10\n10 0\n");
        dir.Write("trace.csv", "time,node,event\n0,0,join\n10,1,leave\n");
        int refused = 0, valid = 0;
        for (int i = 0; i < Count(300); i++)
        {
            string text = Mutate(corpus[rng.Next(corpus.Count)], rng, 1 + rng.Next(3));
            string path = dir.Write("s.yaml", text);
            CliResult r = Validate(path, [], $"scenario case {i} (seed {Seed})", text);
            if (r.ExitCode == 0) valid++;
            else refused++;
        }
        // Both outcomes must occur, or the mutations are too weak (all valid) or too strong (nothing parses).
        Assert.True(refused > 0 && valid > 0, $"{refused} refused, {valid} valid");
    }

    [Fact]
    public void HostileSetValuesAreRefusedCleanlyOrValid()
    {
        string[] paths =
        [
            "nodes", "seed", "id_bits", "replicates", "duration", "measure_after", "sample_every", "name", "description",
            "latency.model", "latency.delay", "latency.min", "latency.max", "latency.file", "latency.dimensions",
            "workload.lookups", "workload.rate", "workload.per_node_rate", "workload.duration", "workload.keys",
            "workload.popularity", "workload.zipf_exponent", "workload.start", "workload.replication", "workload.replicas",
            "churn.model", "churn.rate", "churn.join_rate", "churn.session_mean", "churn.file", "churn.at",
            "overlays.chord.successors", "overlays.chord.protocol", "overlays.chord.virtual_nodes", "overlays.chord.fingers",
            "overlays.chord.lookup", "overlays.chord.rpc_timeout", "overlays.kademlia.k", "overlays.kademlia.alpha",
            "overlays.kademlia.replacement_cache", "overlays.kademlia.protocol",
            "", ".", "..", "overlays..successors", "overlays.chord.", "overlays", "sweep.nodes", "nodes.x", "a=b",
        ];
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "nodes: 200\nduration: 10min\noverlays:\n  - chord: {}\n  - kademlia: {}\n");
        var rng = new Random(Seed + 1);
        for (int i = 0; i < Count(200); i++)
        {
            var sets = new List<string>();
            for (int j = rng.Next(1, 4); j > 0; j--)
                sets.Add(rng.Next(8) == 0 ? Hostile[rng.Next(Hostile.Length)] : $"{paths[rng.Next(paths.Length)]}={Hostile[rng.Next(Hostile.Length)]}");
            Validate(scenario, sets, $"--set case {i} (seed {Seed + 1})", string.Join(" ", sets.Select(x => $"--set '{x}'")));
        }
    }

    [Fact]
    public void MalformedMatrixFilesAreRefusedCleanly()
    {
        string[] cells = ["0", "10", "12.5", "-3", "NaN", "inf", "1e400", "2147484", "x", "", ",", ",,", "\t", "1,2", "#", "0x1", "٣"];
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "nodes: 20\nlatency: { model: matrix, file: rtt.txt }\noverlays: [chord]\n");
        var rng = new Random(Seed + 2);
        for (int i = 0; i < Count(150); i++)
        {
            int h = rng.Next(1, 6);
            var sb = new StringBuilder();
            if (rng.Next(4) == 0) sb.Append("# hosts\n");
            for (int row = 0; row < h + rng.Next(-1, 2); row++)
            {
                int width = rng.Next(5) == 0 ? h + rng.Next(-1, 2) : h;
                for (int c = 0; c < width; c++)
                    sb.Append(rng.Next(6) == 0 ? cells[rng.Next(cells.Length)] : (row == c ? "0" : rng.Next(1, 300).ToString(System.Globalization.CultureInfo.InvariantCulture)))
                      .Append(rng.Next(3) == 0 ? ", " : " ");
                sb.Append(rng.Next(10) == 0 ? "\r\n" : "\n");
                if (rng.Next(10) == 0) sb.Append('\n');
            }
            string text = sb.ToString();
            dir.Write("rtt.txt", text);
            Validate(scenario, [], $"matrix case {i} (seed {Seed + 2})", text);
        }
    }

    [Fact]
    public void MalformedTracesAreRefusedCleanly()
    {
        string[] times = ["0", "1.5", "10s", "2min", "-1", "NaN", "1e400", "5parsecs", "", "9999999999999", "1e-9"];
        string[] nodes = ["0", "1", "7", "-1", "x", "", "99999999", "100000000", "2147483648", "1.5"];
        string[] events = ["join", "leave", "crash", "JOIN", "explode", ""];
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "nodes: 10\nduration: 1h\nchurn: { model: trace, file: trace.csv }\noverlays:\n  - chord: { protocol: dynamic }\n");
        var rng = new Random(Seed + 3);
        for (int i = 0; i < Count(150); i++)
        {
            var sb = new StringBuilder(rng.Next(3) == 0 ? "time,node,event\n" : "");
            double t = 0;
            for (int line = rng.Next(1, 8); line > 0; line--)
            {
                t += rng.Next(0, 20);
                string time = rng.Next(5) == 0 ? times[rng.Next(times.Length)] : t.ToString(System.Globalization.CultureInfo.InvariantCulture);
                string node = rng.Next(5) == 0 ? nodes[rng.Next(nodes.Length)] : rng.Next(12).ToString(System.Globalization.CultureInfo.InvariantCulture);
                string ev = events[rng.Next(rng.Next(6) == 0 ? events.Length : 3)];
                string[] fields = [time, node, ev];
                int count = rng.Next(8) == 0 ? rng.Next(1, 5) : 3;
                sb.Append(string.Join(", ", Enumerable.Range(0, count).Select(k => k < 3 ? fields[k] : "extra"))).Append('\n');
            }
            string text = sb.ToString();
            dir.Write("trace.csv", text);
            Validate(scenario, [], $"trace case {i} (seed {Seed + 3})", text);
        }
    }

    /// <summary>
    /// Mutants of a small scenario that validate are run for real, as a child process with a time limit: each run
    /// writes its whole result folder or nothing, and never fails inside.
    /// </summary>
    [Fact]
    public async Task ValidMutantsRunAndWriteAllOrNothing()
    {
        const string Small = """
            name: small
            nodes: 100
            duration: 2min
            latency: { model: constant, delay: 10ms }
            churn: { model: lifetime, session_mean: 1min, downtime_mean: 1min }
            workload: { per_node_rate: 1/10s, duration: 2min, keys: 50 }
            overlays:
              - chord: { protocol: dynamic, stabilize_every: 5s }
              - kademlia: { protocol: dynamic }
            """;
        string[] files = ["figures", "hops.csv", "manifest.json", "runs.csv", "summary.csv", "timeseries.csv", "traffic.csv"];
        var rng = new Random(Seed + 4);
        int ran = 0;
        for (int i = 0; i < Count(40) && ran < Count(4); i++)
        {
            string text = Mutate(Small, rng, 1, valuesOnly: true);
            using var dir = new TempFolder();
            string path = dir.Write("s.yaml", text);
            if (CommandLine.Run("validate", path).ExitCode != 0) continue;
            ran++;
            var start = ChildCli.Start("run", path, "--out", dir["out"], "-q");
            using Process p = Process.Start(start)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                p.Kill(entireProcessTree: true); // a valid scenario may simply be long: not a failure, but nothing may be in place
                p.WaitForExit();
                Assert.False(Directory.Exists(dir["out"]), $"run case {i}: a killed run left a result folder\n{text}");
                continue;
            }
            string error = await stderr;
            Assert.DoesNotContain("internal error", error);
            Assert.True(p.ExitCode is 0 or 2 or 3, $"run case {i} (seed {Seed + 4}): exit {p.ExitCode}\n{error}\n{text}");
            if (p.ExitCode == 0)
                Assert.Equal(files, Directory.EnumerateFileSystemEntries(dir["out"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            else
                Assert.False(Directory.Exists(dir["out"]), $"run case {i}: a failed run left a result folder\n{error}");
            Assert.DoesNotContain(dir.Entries(), e => e.StartsWith(".out.", StringComparison.Ordinal));
        }
        Assert.True(ran > 0, "no mutant validated: the mutations are too strong to test runs");
    }

    /// <summary>Runs <c>validate</c> in process with a time limit and checks that the outcome is clean.</summary>
    private static CliResult Validate(string scenario, IReadOnlyList<string> sets, string what, string input)
    {
        var args = new List<string> { "validate", scenario };
        foreach (string s in sets) args.AddRange(["--set", s]);
        var run = Task.Run(() => CommandLine.Run(args.ToArray()));
        string shown = input.Length > 2000 ? input[..2000] + "…" : input;
        Assert.True(run.Wait(TimeSpan.FromSeconds(20)), $"{what}: validate did not finish in 20 s\n{shown}");
        CliResult r = run.Result;
        Assert.True(r.ExitCode is 0 or 2 or 3, $"{what}: exit {r.ExitCode}\n{r}\n--- input\n{shown}");
        Assert.DoesNotContain("internal error", r.Error);
        Assert.DoesNotContain("   at ", r.Error);
        if (r.ExitCode == 0)
            Assert.Contains(": ok:", r.Out);
        else
        {
            Assert.NotEmpty(r.Errors);
            foreach (string line in r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.True(line.StartsWith("error: ", StringComparison.Ordinal) || line.StartsWith("overlaysim: ", StringComparison.Ordinal) || line.StartsWith("Try ", StringComparison.Ordinal),
                    $"{what}: a stray line on stderr: {line}\n--- input\n{shown}");
                Assert.True(line.Length < 1000, $"{what}: an error line of {line.Length} characters\n--- input\n{shown}");
                Assert.False(line.Any(c => char.IsControl(c) && c != '\r'), $"{what}: a control character on stderr\n--- input\n{shown}");
            }
        }
        return r;
    }

    private static string Mutate(string text, Random rng, int times, bool valuesOnly = false)
    {
        for (int t = 0; t < times; t++)
        {
            int kind = valuesOnly ? 2 : rng.Next(8);
            int at = text.Length == 0 ? 0 : rng.Next(text.Length);
            string[] lines = text.Split('\n');
            switch (kind)
            {
                case 0: // delete a span
                    text = text.Remove(at, Math.Min(text.Length - at, 1 + rng.Next(10)));
                    break;
                case 1: // insert a token
                    text = text.Insert(at, Tokens[rng.Next(Tokens.Length)]);
                    break;
                case 2: // replace a scalar value with a hostile one
                {
                    var values = System.Text.RegularExpressions.Regex.Matches(text, @"(?<=: )[^\s,{}\[\]]+");
                    if (values.Count == 0) break;
                    var m = values[rng.Next(values.Count)];
                    string v = valuesOnly ? Hostile[rng.Next(Hostile.Length)].Replace("\n", "") : Hostile[rng.Next(Hostile.Length)];
                    text = text[..m.Index] + v + text[(m.Index + m.Length)..];
                    break;
                }
                case 3: // duplicate a line
                {
                    int l = rng.Next(lines.Length);
                    text = string.Join('\n', lines.Take(l + 1).Append(lines[l]).Concat(lines.Skip(l + 1)));
                    break;
                }
                case 4: // truncate
                    text = text[..at];
                    break;
                case 5: // a random character, control characters and odd Unicode included
                    text = text.Insert(at, ((char)(rng.Next(4) == 0 ? rng.Next(0, 32) : rng.Next(32, 0x3000))).ToString());
                    break;
                case 6: // swap two lines
                {
                    int a = rng.Next(lines.Length), b = rng.Next(lines.Length);
                    (lines[a], lines[b]) = (lines[b], lines[a]);
                    text = string.Join('\n', lines);
                    break;
                }
                default: // indent or dedent a line
                {
                    int l = rng.Next(lines.Length);
                    lines[l] = rng.Next(2) == 0 ? "  " + lines[l] : lines[l].TrimStart();
                    text = string.Join('\n', lines);
                    break;
                }
            }
        }
        return text;
    }

    /// <summary>Every shipped scenario (scenarios/checks/ included) and every golden one: the seeds of the mutations.</summary>
    private static List<string> Corpus()
    {
        var texts = new List<string>();
        string? root = AppContext.BaseDirectory;
        while (root is not null && !Directory.Exists(Path.Combine(root, "scenarios"))) root = Path.GetDirectoryName(root);
        if (root is not null)
            texts.AddRange(Directory.EnumerateFiles(Path.Combine(root, "scenarios"), "*.yaml", SearchOption.AllDirectories) // checks/ too: their expect: lists
                .Order(StringComparer.Ordinal).Select(File.ReadAllText));
        texts.AddRange(Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Golden"), "*.yaml").Order(StringComparer.Ordinal).Select(File.ReadAllText));
        texts.Add("nodes: 100\nlatency: { model: matrix, file: rtt.txt }\nsweep:\n  nodes: [10, 20]\noverlays: [chord, kademlia]\n");
        texts.Add("nodes: 10\nduration: 1h\nchurn: { model: trace, file: trace.csv }\noverlays:\n  - chord: { protocol: dynamic }\n");
        return texts;
    }
}
