using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using OverlaySim.Core;
using OverlaySim.Overlays;

namespace OverlaySim.Scenarios;

/// <summary>
/// A JSON Schema (draft-07) of scenario files, made from the same tables as validation and <c>overlaysim list</c>
/// (<see cref="Schema"/>, the overlay registry's options records, the keys of <c>expect:</c> and <c>plots:</c>), so
/// that an editor with a YAML language server completes keys and flags unknown ones, wrong types, values out of
/// range and misspelt choices as the file is written. Shipped as <c>schema/scenario.schema.json</c>; every shipped
/// scenario names it on its first line (<c># yaml-language-server: $schema=../schema/scenario.schema.json</c>).
/// </summary>
/// <remarks>
/// What it leaves to the loader: relations between parameters (one that takes effect only with another's value, a
/// replica count against its list, durations against each other), the ranges of durations and rates (a pattern
/// checks their form), the ranges of numbers written as text (quoted, or with underscores: <c>1_000_000</c>, a string to
/// a YAML 1.2 reader), sweep paths and the expressions of <c>expect:</c>.
/// </remarks>
public static class ScenarioJsonSchema
{
    /// <summary>Where the shipped copy lives, relative to the repository (and to an <c>examples</c> folder).</summary>
    public const string ShippedPath = "schema/scenario.schema.json";

    private const string Number = @"[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?";
    private const string Unit = "(us|µs|ms|s|min|m|h|d)";

    /// <summary>A duration: 0, or a number and a unit (80ms, 1.5s, 2h).</summary>
    public const string DurationPattern = @"^\s*(0|" + Number + @"\s*" + Unit + @")\s*$";

    /// <summary>A whole number written as text (quoted, or with underscores), whose range the loader checks.</summary>
    public const string WholePattern = @"^\s*[-+]?[0-9_]*[0-9][0-9_]*\s*$";

    /// <summary>A real number written as text.</summary>
    public const string RealPattern = @"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$";

    /// <summary>A rate: COUNT/DURATION (100/s, 1/10min) or a bare count per second.</summary>
    public const string RatePattern = @"^\s*" + Number + @"\s*(/\s*(" + Number + @"\s*)?" + Unit + @")?\s*$";

    /// <summary>The schema as JSON text: indented, keys in a fixed order, '\n' line ends, a final newline.</summary>
    public static string Text()
    {
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        return Build().ToJsonString(options).Replace("\r\n", "\n") + "\n";
    }

    public static JsonObject Build()
    {
        var properties = new JsonObject();
        foreach (ParamSpec p in Schema.Top) properties[p.Name] = Param(p);
        properties["name"] = Name("scenario name: names the result folder and the 'scenario' column (default: the file name without .yaml)");
        properties["latency"] = Model("latency", Schema.LatencyModel, Schema.LatencyModels);
        properties["churn"] = Model("churn", Schema.ChurnModel, Schema.ChurnModels);
        properties["workload"] = Section("workload: the lookups, their keys and popularity", Schema.Workload);
        properties["overlays"] = new JsonObject
        {
            ["description"] = "the overlays to run, each on the same nodes, latencies and workload: - NAME: { parameters }",
            ["type"] = "array",
            ["minItems"] = 1,
            ["items"] = new JsonObject
            {
                ["oneOf"] = new JsonArray([
                    .. OverlayRegistry.All.Select(Overlay),
                    new JsonObject { ["description"] = "an overlay with its defaults", ["enum"] = new JsonArray([.. OverlayRegistry.All.Select(o => (JsonNode)JsonValue.Create(o.Name))]) },
                ]),
            },
        };
        properties["sweep"] = new JsonObject
        {
            ["description"] = "PATH: [v1, v2, ...] for any parameter path (nodes, workload.lookups, overlays.LABEL.PARAM, ...): the runs are the cartesian product",
            ["type"] = new JsonArray("object", "null"),
            ["additionalProperties"] = new JsonObject { ["type"] = "array", ["minItems"] = 1 },
        };
        JsonObject expect = Items("routing properties that 'overlaysim check' verifies: metric, overlay, and one comparison", Expectations.KeyNames, []);
        ((JsonObject)expect["items"]!)["oneOf"] = new JsonArray([.. Expectations.ComparisonNames.Select(c => (JsonNode)new JsonObject { ["required"] = new JsonArray(c) })]);
        properties["expect"] = expect;
        properties["plots"] = Items("figures of the scenario's own, drawn before the standard ones", PlotSpecs.KeyNames, ["name", "x", "y"]);
        return new JsonObject
        {
            ["$schema"] = "http://json-schema.org/draft-07/schema#",
            ["title"] = "OverlaySim scenario",
            ["description"] = "An OverlaySim scenario file, as 'overlaysim validate' reads it (written by 'overlaysim schema'; 'overlaysim list' describes every key)",
            ["type"] = "object",
            ["required"] = new JsonArray("overlays"),
            ["additionalProperties"] = false,
            ["properties"] = properties,
        };
    }

    private static JsonObject Name(string description) => new()
    {
        ["description"] = description,
        ["anyOf"] = new JsonArray(
            new JsonObject { ["type"] = "string", ["pattern"] = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$" },
            new JsonObject { ["type"] = "integer", ["minimum"] = 0 }),   // name: 2024 is the text 2024 to the loader
    };

    /// <summary>One parameter: its type, range or choices, default and description.</summary>
    public static JsonObject Param(ParamSpec p)
    {
        var s = new JsonObject { ["description"] = p.Conditions is null ? p.Description : $"{p.Description} (only with {p.ConditionText})" };
        switch (p.Kind)
        {
            case ParamKind.Int:
                // The loader also takes a whole number as text: quoted, or with underscores (1_000_000).
                s["anyOf"] = new JsonArray(Ranged("integer", p), new JsonObject { ["type"] = "string", ["pattern"] = WholePattern });
                break;
            case ParamKind.Real:
                s["anyOf"] = new JsonArray(Ranged("number", p), new JsonObject { ["type"] = "string", ["pattern"] = RealPattern });
                break;
            case ParamKind.Duration:
                s["anyOf"] = new JsonArray(new JsonObject { ["type"] = "string", ["pattern"] = DurationPattern }, new JsonObject { ["const"] = 0 });
                break;
            case ParamKind.Rate:
                s["anyOf"] = new JsonArray(new JsonObject { ["type"] = "string", ["pattern"] = RatePattern }, new JsonObject { ["type"] = "number", ["minimum"] = 0 });
                break;
            case ParamKind.Bool:
                s["type"] = "boolean";
                break;
            case ParamKind.Choice:
                s["enum"] = new JsonArray([.. p.Choices!.Select(c => (JsonNode)JsonValue.Create(c))]);
                break;
            default:
                s["type"] = "string";
                break;
        }
        if (p.Default is not null && p.DefaultFrom is null)
            s["default"] = p.Kind switch
            {
                ParamKind.Int => JsonValue.Create((long)p.Default),
                ParamKind.Real => JsonValue.Create((double)p.Default),
                ParamKind.Bool => JsonValue.Create((bool)p.Default),
                _ => JsonValue.Create(p.DefaultText),
            };
        return s;
    }

    private static JsonObject Ranged(string type, ParamSpec p)
    {
        var s = new JsonObject { ["type"] = type };
        if (double.IsFinite(p.Min)) s["minimum"] = Bound(p.Min);
        if (double.IsFinite(p.Max)) s["maximum"] = Bound(p.Max);
        return s;
    }

    private static JsonNode Bound(double v) => v == Math.Floor(v) && Math.Abs(v) < 9e15 ? JsonValue.Create((long)v) : JsonValue.Create(v);

    private static JsonObject Section(string description, IEnumerable<ParamSpec> specs)
    {
        var properties = new JsonObject();
        foreach (ParamSpec p in specs) properties[p.Name] = Param(p);
        return new JsonObject { ["description"] = description, ["type"] = new JsonArray("object", "null"), ["additionalProperties"] = false, ["properties"] = properties };
    }

    /// <summary>A section chosen by its <c>model</c> key: every model's parameters, and only the chosen one's allowed.</summary>
    private static JsonObject Model(string section, ParamSpec model, IReadOnlyList<ModelInfo> models)
    {
        var properties = new JsonObject { ["model"] = Param(model) };
        foreach (ModelInfo m in models)
            foreach (ParamSpec p in m.Parameters)
                properties[p.Name] ??= Param(p);
        var cases = new JsonArray();
        foreach (ModelInfo m in models)
        {
            JsonNode names = new JsonArray(["model", .. m.Parameters.Select(p => p.Name)]);
            JsonObject when = m.Name == (string)model.Default!
                ? new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["not"] = new JsonObject { ["required"] = new JsonArray("model") } }, Is(m.Name)) }
                : Is(m.Name);
            cases.Add(new JsonObject
            {
                ["if"] = when,
                ["then"] = new JsonObject { ["propertyNames"] = new JsonObject { ["enum"] = names } },
            });
        }
        return new JsonObject
        {
            ["description"] = $"{section}: {{ model: NAME, parameters of that model }} (default model {model.Default})",
            ["type"] = new JsonArray("object", "null"),
            ["additionalProperties"] = false,
            ["properties"] = properties,
            ["allOf"] = cases,
        };

        static JsonObject Is(string name) => new()
        {
            ["required"] = new JsonArray("model"),
            ["properties"] = new JsonObject { ["model"] = new JsonObject { ["const"] = name } },
        };
    }

    private static JsonObject Overlay(OverlayInfo o)
    {
        var properties = new JsonObject { ["label"] = Name($"the entry's name in the results and in --set paths (default {o.Name}); needed when {o.Name} appears twice") };
        foreach (ParamSpec p in o.Parameters) properties[p.Name] = Param(p);
        return new JsonObject
        {
            ["type"] = "object",
            ["required"] = new JsonArray(o.Name),
            ["additionalProperties"] = false,
            ["properties"] = new JsonObject
            {
                [o.Name] = new JsonObject
                {
                    ["description"] = o.Description,
                    ["type"] = new JsonArray("object", "null"),
                    ["additionalProperties"] = false,
                    ["properties"] = properties,
                },
            },
        };
    }

    private static JsonObject Items(string description, IEnumerable<string> keys, string[] required) => new()
    {
        ["description"] = description,
        ["type"] = "array",
        ["items"] = new JsonObject
        {
            ["type"] = "object",
            ["required"] = new JsonArray([.. required.Select(r => (JsonNode)JsonValue.Create(r))]),
            ["propertyNames"] = new JsonObject { ["enum"] = new JsonArray([.. keys.Select(k => (JsonNode)JsonValue.Create(k))]) },
        },
    };
}
