using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OverlaySim.Output;
using OverlaySim.Scenarios;

namespace OverlaySim.Cli;

/// <summary>
/// <c>overlaysim merge SHARD_DIR... --out DIR</c>: the result folder of a sweep carried out in shards
/// (<c>run --shard I/N</c>), byte-identical to what one <c>run</c> of the whole sweep writes.
/// </summary>
public static class MergeCommand
{
    public static Command Create()
    {
        var shards = new Argument<string[]>("shards") { Description = "the shard folders written by 'overlaysim run --shard I/N', every shard of the sweep once", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string?>("--out") { Description = "result folder (default: results/<scenario name>/)" };
        var scenario = new Option<string?>("--scenario") { Description = "the scenario file, when it is no longer where the shards were run from (it must describe the same runs)" };
        var force = new Option<bool>("--force") { Description = "replace an existing result folder" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "no summary table" };
        var noFigures = new Option<bool>("--no-figures") { Description = "write no figures/ folder" };
        var command = new Command("merge",
            "Merge the shard folders of a sweep into its result folder, byte-identical to a single 'run' of the whole sweep. " +
            "Refuses shards of different scenarios, overrides or versions, and names any run that is missing or given twice. " + ExitCodes.Help)
        {
            shards, outDir, scenario, force, quiet, noFigures,
        };
        command.SetAction(parse => Execute(parse.GetValue(shards)!, parse.GetValue(outDir), parse.GetValue(scenario), parse.GetValue(force), parse.GetValue(quiet), !parse.GetValue(noFigures)));
        return command;
    }

    private sealed record Shard(string Folder, Sweep.Info Info, ShardSpec Spec);

    public static int Execute(IReadOnlyList<string> folders, string? outDir, string? scenarioPath, bool force, bool quiet, bool figures)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        if (outDir is not null) ResultFolder.Check(outDir, force);
        List<Shard> shards = folders.Select(ReadShard).ToList();

        // Every shard of one sweep, each once.
        Shard first = shards[0];
        foreach (Shard s in shards.Skip(1))
        {
            string? why = Sweep.Difference(first.Info, s.Info) ?? (s.Spec.Count != first.Spec.Count ? $"it is one of {s.Spec.Count} shards, and '{first.Folder}' one of {first.Spec.Count}" : null);
            if (why is not null)
                throw new ScenarioException(At(s.Folder), $"is not a shard of the same sweep as '{Diagnostic.Clip(first.Folder, 200)}': {why}");
        }
        if (first.Info.Version != Manifest.Version)
            throw new ScenarioException(At(first.Folder), $"the shards were written by OverlaySim {first.Info.Version}, and this is {Manifest.Version}: merge them with the version that ran them");
        var problems = new List<string>();
        foreach (var twice in shards.GroupBy(s => s.Spec.Index).Where(g => g.Count() > 1))
            problems.Add($"shard {twice.Key}/{first.Spec.Count} is given twice: {string.Join(" and ", twice.Select(s => $"'{Diagnostic.Clip(s.Folder, 200)}'"))}");

        Scenario scenario = ScenarioLoader.Load(scenarioPath ?? first.Info.ScenarioFile, first.Info.Overrides);
        IReadOnlyList<PlotSpec> plots = PlotSpecs.Load(scenario, CsvResults.MetricColumns);
        string fingerprint = Sweep.Fingerprint(scenario);
        if (fingerprint != first.Info.Fingerprint)
            throw new ScenarioException(new Origin(scenario.File, 0, 0),
                $"does not describe the runs of the shards (its resolved parameters or input files differ from those the shards were run with, sweep fingerprint {fingerprint} against {first.Info.Fingerprint}); " +
                "give the scenario file the shards were run from with --scenario");
        IReadOnlyList<PlannedRun> plan = Runner.Plan(scenario);
        if (plan.Count != first.Info.Runs)
            throw new ScenarioException(At(first.Folder), $"the shards' sweep has {first.Info.Runs} runs; the scenario plans {plan.Count}");
        int[] shardOf = Shards.Assign(plan, first.Spec.Count);

        // Every run once: from the shard it belongs to.
        var from = new Dictionary<int, Shard>();
        foreach (Shard s in shards.Where(s => Directory.Exists(Path.Combine(s.Folder, RunRecord.Folder)))) // (a shard of no runs may have lost its empty runs/)
            foreach (string file in Directory.EnumerateFiles(Path.Combine(s.Folder, RunRecord.Folder), "run-*.csv").Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileNameWithoutExtension(file);
                if (!int.TryParse(name.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number < 1 || number > plan.Count || RunRecord.FileName(number - 1) != Path.GetFileName(file))
                {
                    problems.Add($"'{Diagnostic.Clip(file, 200)}' is not the record of a run of this sweep (it has runs 1 to {plan.Count})");
                    continue;
                }
                int index = number - 1;
                if (from.TryGetValue(index, out Shard? other))
                    problems.Add($"run {number} ({plan[index].Describe()}) is given twice: in '{Diagnostic.Clip(other.Folder, 200)}' and '{Diagnostic.Clip(s.Folder, 200)}'");
                else if (shardOf[index] != s.Spec.Index)
                    problems.Add($"run {number} ({plan[index].Describe()}) is in '{Diagnostic.Clip(s.Folder, 200)}' (shard {s.Spec}), but belongs to shard {shardOf[index]}/{first.Spec.Count}");
                else from[index] = s;
            }
        var given = shards.Select(s => s.Spec.Index).ToHashSet();
        for (int i = 0; i < plan.Count; i++)
            if (!from.ContainsKey(i))
                problems.Add($"run {i + 1} ({plan[i].Describe()}) is missing: it belongs to shard {shardOf[i]}/{first.Spec.Count}" +
                             (given.Contains(shardOf[i]) ? ", whose folder lacks it" : ", which is not given"));
        if (problems.Count > 0)
            throw new ScenarioException(problems.Select(p => new Diagnostic(Origin.FromCommandLine("merge"), p)).ToList());

        var records = new List<RunRecord>(plan.Count);
        for (int i = 0; i < plan.Count; i++)
            records.Add(RunRecord.Load(Path.Combine(from[i].Folder, RunRecord.Folder), i, scenario, plan, fingerprint)!);

        string target = outDir ?? Path.Combine("results", scenario.Name);
        using var interrupt = new Interrupt();
        using ResultFolder folder = ResultFolder.Open(target, force);
        var context = new RunContext(Program.CommandLine(Environment.GetCommandLineArgs()[1..]), started, clock.Elapsed, Program.PeakMemory(), 1);
        if (ResultWriter.Write(folder, scenario, records, context, figures, plots, interrupt, json => WriteShards(json, shards)) is { } stopped) return stopped;
        if (interrupt.Signal is not null) return interrupt.Report();
        interrupt.Hold();
        folder.Commit(keepRecords: false);
        if (!quiet) Summary.Print(Console.Out, scenario, records, folder.TargetPath, clock.Elapsed, Program.PeakMemory());
        return ExitCodes.Ok;
    }

    private static Origin At(string folder) => new(folder, 0, 0);

    private static Shard ReadShard(string folder)
    {
        Origin at = At(folder);
        if (!Directory.Exists(folder)) throw new ScenarioException(at, "no such shard folder");
        string sweep = Path.Combine(folder, Sweep.FileName);
        if (!File.Exists(sweep))
            throw new ScenarioException(at, $"is not a shard folder (it has no {Sweep.FileName}): expected a folder written by 'overlaysim run --shard I/N'");
        if (ResultFolder.NotAResultFolder(folder) is { } why)
            throw new ScenarioException(at, $"is not a finished shard folder: {why}");
        Sweep.Info info = Sweep.Read(sweep);
        if (info.Shard is not { } spec)
            throw new ScenarioException(new Origin(sweep, 0, 0), "is the sweep file of a whole run, not of a shard");
        return new Shard(Path.GetFullPath(folder), info, spec);
    }

    /// <summary>The manifest's record of the shards: where each was, and when, how and in how long it ran.</summary>
    private static void WriteShards(Utf8JsonWriter json, IReadOnlyList<Shard> shards)
    {
        json.WriteStartArray("shards");
        foreach (Shard s in shards.OrderBy(s => s.Spec.Index))
        {
            json.WriteStartObject();
            json.WriteString("shard", s.Spec.ToString());
            json.WriteString("folder", s.Folder);
            try
            {
                using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(s.Folder, "manifest.json")));
                foreach (string key in (string[])["command_line", "started_utc", "wall_time_s", "peak_memory_bytes", "os", "processors", "jobs"])
                    if (doc.RootElement.TryGetProperty(key, out JsonElement v))
                    {
                        json.WritePropertyName(key);
                        v.WriteTo(json);
                    }
                if (doc.RootElement.TryGetProperty("runs", out JsonElement runs) && runs.ValueKind == JsonValueKind.Array)
                    json.WriteNumber("runs", runs.GetArrayLength());
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                json.WriteString("manifest_error", e.Message);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }
}
