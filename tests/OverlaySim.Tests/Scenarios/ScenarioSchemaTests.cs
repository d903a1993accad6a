using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace OverlaySim.Tests.Scenarios;

/// <summary>
/// The JSON Schema of scenario files: the shipped copy is what 'overlaysim schema' writes now, every shipped scenario
/// names it and validates against it (read as an editor's YAML 1.2 language server reads the file), and on bad files
/// it refuses what the loader refuses.
/// </summary>
public partial class ScenarioSchemaTests
{
    private static readonly Lazy<JsonSchema> Generated = new(() => JsonSchema.FromText(ScenarioJsonSchema.Text()));

    /// <summary>A YAML document as JSON, scalars typed by the YAML 1.2 core schema (plain true/false, numbers, null; quoted: strings).</summary>
    internal static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(ToJson)]),
        YamlScalarNode s when s.Style is ScalarStyle.Plain => Plain(s.Value ?? ""),
        YamlScalarNode s => JsonValue.Create(s.Value ?? ""),
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType}"),
    };

    private static JsonNode? Plain(string text)
    {
        if (text is "" or "~" or "null" or "Null" or "NULL") return null;
        if (text is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (text is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (IntegerPattern().IsMatch(text)) return JsonValue.Create(long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        if (text.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex))
            return JsonValue.Create(hex);
        if (text.StartsWith("0o", StringComparison.Ordinal) && text.Length > 2 && text[2..].All(c => c is >= '0' and <= '7'))
            return JsonValue.Create(Convert.ToInt64(text[2..], 8));
        if (FloatPattern().IsMatch(text)) return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
        // .inf and .nan are numbers to YAML 1.2, but JSON has no such values: a string stands in (no parameter takes them).
        return JsonValue.Create(text);
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    private static JsonElement Instance(string yamlText)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yamlText));
        return JsonSerializer.SerializeToElement(ToJson(stream.Documents[0].RootNode));
    }

    /// <summary>The schema's verdict: null when valid, else its first errors.</summary>
    private static string? Problems(string yamlText)
    {
        EvaluationResults r = Generated.Value.Evaluate(Instance(yamlText), new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (r.IsValid) return null;
        var errors = (r.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")).Take(5).ToList();
        return errors.Count == 0 ? "invalid" : string.Join("; ", errors);
    }

    [Fact]
    public void TheShippedSchemaIsWhatOverlaysimSchemaWrites()
    {
        string shipped = File.ReadAllText(Path.Combine(Repository.Root, ScenarioJsonSchema.ShippedPath));
        Assert.True(shipped == ScenarioJsonSchema.Text(),
            $"{ScenarioJsonSchema.ShippedPath} is out of date: run 'overlaysim schema --out {ScenarioJsonSchema.ShippedPath}' after changing a parameter");
    }

    [Fact]
    public void EveryShippedScenarioNamesTheSchemaAndValidatesAgainstIt()
    {
        string root = Repository.Root, schema = Path.Combine(root, ScenarioJsonSchema.ShippedPath);
        string[] files = Directory.GetFiles(Path.Combine(root, "scenarios"), "*.yaml", SearchOption.AllDirectories);
        Assert.True(files.Length > 30);
        foreach (string file in files)
        {
            string text = File.ReadAllText(file);
            string first = text.Split('\n')[0];
            const string Prefix = "# yaml-language-server: $schema=";
            Assert.True(first.StartsWith(Prefix, StringComparison.Ordinal), $"{file}: the first line does not name the schema");
            string named = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, first[Prefix.Length..].Trim()));
            Assert.Equal(schema, named);
            Assert.True(Problems(text) is null, $"{file}: {Problems(text)}");
        }
    }

    /// <summary>Files the loader refuses, each for a reason the schema can see too.</summary>
    public static TheoryData<string, string> BadFiles => new()
    {
        { "unknown top-level key", "nodez: 100\noverlays:\n  - chord: {}\n" },
        { "no overlays", "nodes: 100\n" },
        { "nodes out of range", "nodes: 0\noverlays:\n  - chord: {}\n" },
        { "nodes not a number", "nodes: many\noverlays:\n  - chord: {}\n" },
        { "duration without a unit", "duration: 10\noverlays:\n  - chord: {}\n" },
        { "unknown overlay", "overlays:\n  - chordd: {}\n" },
        { "unknown overlay parameter", "overlays:\n  - chord: { succesors: 4 }\n" },
        { "overlay parameter out of range", "overlays:\n  - can: { dimensions: 0 }\n" },
        { "misspelt choice", "overlays:\n  - can: { partition: uniformm }\n" },
        { "boolean as a word", "overlays:\n  - can: { rtt_weighted: yes }\n" },
        { "latency parameter of another model", "latency: { model: constant, mean: 5ms }\noverlays:\n  - chord: {}\n" },
        { "latency parameter of the default model's neighbour", "latency: { delay: 5ms }\noverlays:\n  - chord: {}\n" },
        { "unknown latency model", "latency: { model: planar }\noverlays:\n  - chord: {}\n" },
        { "churn parameter of another model", "duration: 1h\nchurn: { model: rate, session_mean: 1h }\noverlays:\n  - chord: { protocol: dynamic }\n" },
        { "bad rate", "workload: { rate: fast }\noverlays:\n  - chord: {}\n" },
        { "unknown workload key", "workload: { lookup: 10 }\noverlays:\n  - chord: {}\n" },
        { "two overlays in one entry", "overlays:\n  - { chord: {}, pastry: {} }\n" },
        { "hidden scenario name", "name: .hidden\noverlays:\n  - chord: {}\n" },
        { "expect with two comparisons", "sweep: { nodes: [100, 200] }\noverlays:\n  - chord: {}\nexpect:\n  - { metric: hops_mean, at_least: 1, at_most: 9 }\n" },
        { "plot without y", "sweep: { nodes: [100, 200] }\noverlays:\n  - chord: {}\nplots:\n  - { name: a, x: nodes }\n" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void TheSchemaRefusesWhatTheLoaderRefuses(string why, string yaml)
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", yaml);
        Assert.Throws<ScenarioException>(() =>
        {
            Scenario scenario = ScenarioLoader.Load(path);
            Expectations.Load(scenario, []);
            PlotSpecs.Load(scenario, []);
        });
        Assert.True(Problems(yaml) is not null, $"{why}: the loader refuses it but the schema accepts it");
    }

    [Theory]
    [InlineData("duration: 1.5h\nsample_every: 0\nworkload: { rate: 1/10min, start: 90s }\noverlays:\n  - chord: {}\n")]
    [InlineData("latency: { model: matrix, file: m.tsv, jitter: 2ms }\noverlays:\n  - can: { dimensions: 3, label: can-3d }\n  - can: { label: can-2d }\n")]
    [InlineData("workload: { rate: 250 }\nsweep: { nodes: [100, 1000], overlays.chord.successors: [2, 4] }\noverlays:\n  - chord: { successors: 4 }\n")]
    [InlineData("name: 2024\nnodes: 1_000\nseed: \"7\"\nworkload:\nlatency:\noverlays: [chord, kademlia]\n")]
    [InlineData("nodes: 0100\nworkload: { zipf_exponent: \"0.5\", popularity: zipf }\noverlays:\n  - chord:\n  - pastry\n")]
    public void TheSchemaTakesWhatTheLoaderTakes(string yaml)
    {
        using var dir = new TempFolder();
        dir.Write("m.tsv", "0 10\n10 0\n");
        ScenarioLoader.Load(dir.Write("s.yaml", yaml));   // the loader takes it
        Assert.True(Problems(yaml) is null, Problems(yaml));
    }
}
