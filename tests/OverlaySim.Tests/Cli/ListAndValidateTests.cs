using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary><c>overlaysim list</c> documents every parameter there is; <c>overlaysim validate</c> checks without running.</summary>
[Collection("Console")]
public class ListAndValidateTests
{
    private static string[] ListLines()
    {
        CliResult r = Cli.Run("list");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("", r.Error);
        return r.Out.Split('\n');
    }

    /// <summary>The line documenting <paramref name="path"/> shows its default and (for a checked kind) its range.</summary>
    private static void Documents(string[] lines, string path, ParamSpec spec)
    {
        // Two latency models may share a parameter's name (coordinates and exponential both have 'mean'): the line is
        // the one with this parameter's description.
        string[] named = lines.Where(l => l.TrimStart().StartsWith(path + " = ", StringComparison.Ordinal)).ToArray();
        Assert.True(named.Length > 0, $"list does not document {path}");
        string? line = named.FirstOrDefault(l => l.Contains(spec.Description, StringComparison.Ordinal));
        Assert.True(line is not null, $"no line of {path} has its description '{spec.Description}': {string.Join(" | ", named)}");
        Assert.Contains($" = {spec.DefaultText}", line);
        if (spec.Kind is not (ParamKind.Text or ParamKind.File)) Assert.Contains($"[{spec.RangeText}]", line);
    }

    [Fact]
    public void ListDocumentsEveryParameterOfTheSchemaAndTheRegistry()
    {
        string[] lines = ListLines();

        foreach (ParamSpec p in Schema.Top) Documents(lines, p.Name, p);
        foreach (ParamSpec p in Schema.Workload) Documents(lines, "workload." + p.Name, p);
        foreach (ModelInfo model in Schema.LatencyModels)
        {
            Assert.Contains(lines, l => l.TrimStart().StartsWith($"{model.Name}: {model.Formula}", StringComparison.Ordinal));
            foreach (ParamSpec p in model.Parameters) Documents(lines, "latency." + p.Name, p);
        }
        Assert.Contains(lines, l => l.Contains($"model: NAME") && l.Contains($"default model: {Schema.LatencyModel.Default}"));
        foreach (OverlayInfo overlay in OverlayRegistry.All)
        {
            Assert.Contains(lines, l => l.TrimStart().StartsWith($"{overlay.Name}: {overlay.Description}", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.Trim() == overlay.HopsDefinition);
            foreach (ParamSpec p in overlay.Parameters) Documents(lines, $"overlays.{overlay.Name}.{p.Name}", p);
        }
        foreach (var (column, definition) in Schema.Metrics)
            Assert.Contains(lines, l => l.Trim() == $"{column}: {definition}");
    }

    [Fact]
    public void EveryRunsCsvColumnIsDefinedByList()
    {
        string text = string.Join("\n", ListLines());
        string metrics = text[text.IndexOf("METRICS", StringComparison.Ordinal)..];

        // Columns that say what the run was rather than what it measured.
        string[] identity = ["scenario", "overlay", "nodes", "replicate", "seed"];
        foreach (string column in OverlaySim.Output.CsvResults.EveryRunColumn.Except(identity))
        {
            // "keys_per_node_mean, _p1, ..., _zero_frac" lists a family by its stem and suffixes.
            bool listed = metrics.Contains(column) || Enumerable.Range(1, column.Length - 1)
                .Any(k => column[k] == '_' && metrics.Contains(column[..k]) && metrics.Contains(", " + column[k..]));
            Assert.True(listed, $"runs.csv column '{column}' is not defined by 'overlaysim list'");
        }
    }

    [Fact]
    public void ValidateAcceptsAGoodScenarioAndCountsItsRunsWithoutWritingAnything()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: validate-test
            nodes: 300
            replicates: 3
            overlays: [chord]
            sweep:
              nodes: [200, 300]
            """);

        CliResult r = Cli.Run("validate", scenario);

        Assert.True(r.ExitCode == 0, r.ToString());
        Expect.StartsWith($"{scenario}: ok: scenario 'validate-test', 2 sweep point(s), 6 run(s)", r.Out);
        Assert.Equal(["s.yaml"], dir.Entries());
        Assert.False(Directory.Exists(Path.Combine(Environment.CurrentDirectory, "results", "validate-test")));
    }

    [Fact]
    public void ValidateTakesSetOverridesWithTheSameChecks()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", "nodes: 300\noverlays: [chord]\n");

        CliResult good = Cli.Run("validate", scenario, "--set", "replicates=4");
        CliResult bad = Cli.Run("validate", scenario, "--set", "replicates=0");

        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Contains("4 run(s)", good.Out);
        Assert.Equal(2, bad.ExitCode);
        Expect.StartsWith("--set replicates=0: key 'replicates'", Assert.Single(bad.Errors));
    }

    [Fact]
    public void ValidateOfAMissingFileExitsWith2()
    {
        using var dir = new TempFolder();

        CliResult r = Cli.Run("validate", dir["absent.yaml"]);

        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"{dir["absent.yaml"]}: scenario file not found", Assert.Single(r.Errors));
    }

    [Fact]
    public void TheCheckedInScenariosAreValid()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "scenarios");
        string[] files = Directory.GetFiles(folder, "*.yaml", SearchOption.AllDirectories);
        Assert.NotEmpty(files);

        foreach (string file in files)
        {
            CliResult r = Cli.Run("validate", file);
            Assert.True(r.ExitCode == 0, $"{file}: {r}");
        }
    }
}
